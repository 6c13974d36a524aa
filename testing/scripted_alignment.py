"""Inputs of the tests that align through real MLflow judges against a scripted server.

Eight notebooks of four cases (two each: one that imputes before the split, scored 1 by
the rater, and a pipeline, scored 3), their MLflow traces and human labels in a
temporary tracking store, and grouped folds over them; and the server's script, which
answers judge requests with a score and MemAlign's reflection with one guideline.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow

from nbjudge.alignment import FoldAssignment, assign_folds
from nbjudge.judges.requests import NotebookView
from nbjudge.judges.tracing import NotebookTrace, ensure_traces, log_human_labels, setup_tracking
from nbjudge.schemas import Label
from testing.fault_server import reply, score

CODE = {
    0: "df = df.fillna(df.mean())\nX_train, X_test = train_test_split(df)",
    1: "pipe = Pipeline([('imp', SimpleImputer()), ('m', LogisticRegression())])",
}
TASK_TYPES = ["binary", "regression", "multiclass", "forecasting"]


@dataclass
class ScriptedExperiment:
    views: list[NotebookView]
    labels: list[Label]
    traces: dict
    labelled: dict[str, set[str]]
    folds: FoldAssignment
    trace_ids: dict[str, str]


def scripted_experiment(tmp_path: Path, name: str, dimensions) -> ScriptedExperiment:
    """The eight notebooks with traces and labels on ``dimensions``, in ``tmp_path``'s store.
    The caller keeps litellm and MLflow offline (LITELLM_LOCAL_MODEL_COST_MAP,
    MLFLOW_MODEL_CATALOG_URI)."""
    experiment_id = setup_tracking(f"sqlite:///{tmp_path / 'mlflow.db'}", name)
    views, labels = [], []
    for c in range(4):
        for n in range(2):
            notebook_id = f"case{c}__0{n + 1}"
            outputs = f"# Task prompt\n\nTask {c}\n\n# Notebook\n\n```python\n{CODE[n]}\n```\n"
            views.append(NotebookView(notebook_id, f"case{c}", f"Task {c}", outputs))
            labels += [Label(notebook_id=notebook_id, dimension=dimension,
                             score=1 if n == 0 else 3, rationale=f"rater on {n}",
                             rater_id="r1", source="simulated")
                       for dimension in dimensions]
    trace_ids = ensure_traces([NotebookTrace(v.notebook_id, v.task_prompt, v.outputs)
                               for v in views], experiment_id)
    log_human_labels(labels, trace_ids)
    traces = {n: mlflow.get_trace(t) for n, t in trace_ids.items()}
    labelled: dict[str, set[str]] = defaultdict(set)
    for label in labels:
        labelled[label.dimension].add(label.notebook_id)
    folds = assign_folds([(v.notebook_id, v.case_id, TASK_TYPES[int(v.case_id[-1])])
                          for v in views], 4, seed=3)
    return ScriptedExperiment(views, labels, traces, labelled, folds, trace_ids)


def is_judge_request(body) -> bool:
    """A judge's request (its answer format is named ``judgment``), not a reflection."""
    return ((body.get("response_format") or {}).get("json_schema") or {}).get("name") \
        == "judgment"


def split_requests(bodies) -> tuple[list, list]:
    """The server's request bodies as (judge requests, distillation requests)."""
    judged = [b for b in bodies if is_judge_request(b)]
    return judged, [b for b in bodies if not is_judge_request(b)]


def judge_or_guideline(guideline: str):
    """The server's script: a score for a judge request, ``guideline`` for a reflection."""
    def script(index, body):
        if is_judge_request(body):
            return score(2, "scripted judgment")
        return reply(json.dumps({"guidelines": [
            {"guideline_text": guideline, "source_trace_ids": [0, 1]}]}))
    return script


@contextmanager
def aligned_judge(llm: Any, dimension: str, traces: Sequence[Any], cache_dir: Path,
                  retrieval_k: int = 2) -> Iterator[Any]:
    """MemAlign of ``dimension``'s baseline judge on ``traces``, through the backend that
    ``llm`` (a scripted server's config) opens; the backend stays open in the block, so
    the aligned judge can still be asked. Yields the
    :class:`~nbjudge.alignment.memalign.AlignedJudge`."""
    from nbjudge.alignment.memalign import MemAlignSettings, align_dimension
    from nbjudge.judges.batch import attach_judges, baseline_judges
    from nbjudge.llm.backends import open_backend

    with open_backend(llm, embeddings=True, cache_dir=cache_dir) as backend:
        judges = baseline_judges(llm, [dimension])
        attach_judges(judges, backend)
        yield align_dimension(judges[dimension].judge, traces,
                              settings=MemAlignSettings(retrieval_k=retrieval_k),
                              reflection_model=backend.judge_model,
                              embedding_model=str(backend.embedding_model),
                              usage=backend.usage)
