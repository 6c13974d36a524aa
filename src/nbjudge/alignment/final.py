"""The production judges: aligned on every labelled notebook, registered in MLflow.

Cross-validation measures how well aligned judges generalise; the judges a
team then uses are aligned once more on all labels and registered under
stable names (``nbjudge_<dimension>``) in the experiment's scorer registry.
:func:`load_registered_judges` gets them back (MemAlign re-reads its episodic
examples from the same tracking store), and :func:`score_notebook` grades a
new notebook with them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nbjudge.alignment.memalign import (
    AlignedJudge,
    ConsensusRule,
    MemAlignSettings,
    align_dimension,
    human_consensus,
)
from nbjudge.judges.batch import attach_judges, baseline_judges
from nbjudge.judges.dimension import call_judge, parse_score
from nbjudge.llm.backends import Backend, LLMConfig
from nbjudge.schemas import DIMENSIONS, Label, RegisteredJudge, Registration

__all__ = [
    "align_final",
    "load_registered_judges",
    "log_registration_run",
    "register_judges",
    "registered_name",
    "score_notebook",
]


def registered_name(dimension: str, prefix: str = "nbjudge") -> str:
    return f"{prefix}_{dimension}"


def align_final(traces: Mapping[str, Any], labelled: Mapping[str, set[str]], *,
                llm: LLMConfig, backend: Backend, settings: MemAlignSettings,
                dimensions: Sequence[str] = DIMENSIONS, labels: Sequence[Label] = (),
                consensus_rule: ConsensusRule | None = None) -> dict[str, AlignedJudge]:
    """Each dimension's judge aligned on every notebook labelled for it; with ``labels``,
    on one HUMAN grade per notebook, the raters' consensus (as in cross-validation)."""
    human = human_consensus(labels, consensus_rule or ConsensusRule()) if labels else {}
    base = baseline_judges(llm, dimensions)
    attach_judges(base, backend)
    aligned = {}
    for dimension in dimensions:
        # as in cross-validation: with labels, only notebooks with a consensus grade teach
        teach = [traces[n] for n in sorted(labelled.get(dimension, set())) if n in traces
                 and (not labels or (n, dimension) in human)]
        if not teach:
            raise ValueError(f"no labelled notebook for {dimension}: nothing to align on")
        aligned[dimension] = align_dimension(
            base[dimension].judge, teach, settings=settings,
            reflection_model=backend.judge_model, embedding_model=str(backend.embedding_model),
            usage=backend.usage,
            human={traces[n].info.trace_id: human[n, dimension] for n in traces
                   if (n, dimension) in human})
    return aligned


def register_judges(aligned: Mapping[str, AlignedJudge], experiment_id: str,
                    prefix: str = "nbjudge") -> list[RegisteredJudge]:
    """Register every aligned judge; returns name, version and memory size of each."""
    registered = []
    for dimension, result in aligned.items():
        name = registered_name(dimension, prefix)
        scorer = result.aligned.register(name=name, experiment_id=experiment_id)
        registered.append(RegisteredJudge(
            dimension=dimension, name=name,
            version=getattr(scorer, "version", None) or getattr(scorer, "_version", None),
            guidelines=len(result.snapshot.guidelines),
            episodic_examples=len(result.snapshot.episodic_ids),
            seconds=result.seconds))
    return registered


def load_registered_judges(experiment_id: str, prefix: str = "nbjudge",
                           dimensions: Sequence[str] = DIMENSIONS) -> dict[str, Any]:
    """The registered judges by dimension; a clear error names any that is missing."""
    from mlflow.genai.scorers import get_scorer

    judges, missing = {}, []
    for dimension in dimensions:
        try:
            judges[dimension] = get_scorer(name=registered_name(dimension, prefix),
                                           experiment_id=experiment_id)
        except Exception:  # MLflow raises its own exception types for a missing scorer
            missing.append(registered_name(dimension, prefix))
    if missing:
        raise ValueError(f"no registered judge named {', '.join(missing)} in this tracking "
                         "store: run the pipeline first (`make repro`, stage `register`)")
    return judges


def score_notebook(judges: Mapping[str, Any], outputs: str) -> list[dict[str, Any]]:
    """Grade one notebook's judge text with every judge; failures are reported, not hidden."""
    rows = []
    for dimension, judge in judges.items():
        try:
            answer = call_judge(judge, outputs)
            rows.append({"dimension": dimension, "score": parse_score(answer.value),
                         "rationale": answer.rationale or "", "error": None})
        except Exception as error:  # one judge failing must not hide the other eight
            rows.append({"dimension": dimension, "score": None, "rationale": "",
                         "error": " ".join(str(error).split())[:300]})
    return rows


def log_registration_run(registration: Registration, banner: str | None = None) -> str:
    """An MLflow run ``register-judges`` with the settings the judges were aligned with."""
    import mlflow

    with mlflow.start_run(run_name="register-judges") as run:
        mlflow.log_params(dict(registration.params))
        mlflow.log_dict({"judges": [j.model_dump(mode="json") for j in registration.judges]},
                        "registered_judges.json")
        if banner:
            mlflow.set_tag("mlflow.note.content", banner)
    return run.info.run_id
