"""Judge a set of notebooks with one judge per dimension, for the stages.

Builds the requests first and opens the backend (starting the local server)
only when some answer is not in the cache, so a rerun of a finished stage
costs no server start and no request.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbjudge.errors import ConfigError
from nbjudge.judges.dimension import judge_instructions, make_dimension_judge
from nbjudge.judges.requests import (
    EXAMPLE_OVERHEAD_TOKENS,
    FORMAT_OVERHEAD_TOKENS,
    DimensionJudge,
    NotebookView,
    build_requests,
    call_request,
    load_views,
    run_requests,
)
from nbjudge.judges.tracing import (
    NotebookTrace,
    ensure_traces,
    labels_digest,
    log_human_labels,
    resolve_tracking_uri,
    setup_tracking,
)
from nbjudge.llm.backends import Backend, backend_if_needed
from nbjudge.llm.cache import AnswerCache, cache_path
from nbjudge.llm.calls import RetryPolicy, RunSummary
from nbjudge.llm.config import LLMConfig, check_credentials, inference_params, judge_model_uri
from nbjudge.notebooks.render import RenderOptions, estimate_tokens
from nbjudge.params import Params, need
from nbjudge.rubrics import load_rubric
from nbjudge.schemas import DIMENSIONS, Case, Judgment, Label, Notebook, read_records

__all__ = [
    "JudgingInputs",
    "attach_judges",
    "baseline_judges",
    "judge_views",
    "load_judging_inputs",
    "notebook_budget",
    "render_options",
]

def notebook_budget(llm: LLMConfig, retrieval_k: int = 0) -> int:
    """Tokens of notebook text a judge reads: ``llm.notebook_tokens``, or when that is
    null, what the model's context leaves after the longest rubric, the answer format,
    the reply and ``retrieval_k`` retrieved examples (each a notebook of the same size),
    with a tenth kept in reserve because tokens are estimated."""
    if llm.notebook_tokens is not None:
        return llm.notebook_tokens
    rubric = max(estimate_tokens(judge_instructions(load_rubric(d), llm.rubric_detail))
                 for d in DIMENSIONS)
    free = (llm.context_size - rubric - FORMAT_OVERHEAD_TOKENS - llm.max_output_tokens
            - retrieval_k * EXAMPLE_OVERHEAD_TOKENS)
    budget = int(0.9 * free) // (1 + retrieval_k)
    if budget < 100:
        raise ConfigError(
            f"llm.context_size={llm.context_size} leaves {budget} tokens per notebook after "
            f"the rubric, the reply and {retrieval_k} retrieved example(s): raise "
            "llm.context_size, lower memalign.retrieval_k, or set llm.notebook_tokens")
    return budget


def render_options(judge: Mapping[str, Any], llm: LLMConfig | None = None,
                   retrieval_k: int = 0) -> RenderOptions:
    """The ``judge.render`` settings as :class:`RenderOptions`; a null ``max_tokens``
    is :func:`notebook_budget` of ``llm``."""
    render = dict(judge.get("render") or {})
    if render.get("max_tokens") is None:
        if llm is None:
            raise ValueError("judge.render.max_tokens is null and no llm settings were given")
        render["max_tokens"] = notebook_budget(llm, retrieval_k)
    try:
        return RenderOptions(**render)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"invalid judge.render settings {render}: {error}") from None


def baseline_judges(llm: LLMConfig, dimensions: Iterable[str] = DIMENSIONS, *,
                    marked: bool = True) -> dict[str, DimensionJudge]:
    """The rubric judges, not yet bound to a backend (``marked``: their instructions say
    the notebook between the delimiters is data)."""
    return {d: DimensionJudge(d, judge_instructions(load_rubric(d), llm.rubric_detail,
                                                    marked=marked))
            for d in dimensions}


def attach_judges(judges: Mapping[str, DimensionJudge], backend: Backend) -> None:
    """Give every judge without one an MLflow judge on ``backend``."""
    for judge in judges.values():
        if judge.judge is None:
            judge.judge = make_dimension_judge(
                load_rubric(judge.dimension), instructions=judge.instructions,
                inference_params=backend.inference_params(), **backend.judge_kwargs())


def judge_views(
    views: Sequence[NotebookView],
    llm: LLMConfig,
    judge: Mapping[str, Any],
    *,
    variant: str,
    judges: Mapping[str, DimensionJudge] | None = None,
    backend: Backend | None = None,
    fold: int | None = None,
    repeat: int = 0,
    notebook_ids: Iterable[str] | None = None,
    summary: RunSummary | None = None,
    progress: bool = True,
) -> tuple[list[Judgment], RunSummary]:
    """Judge ``views`` (or the ``notebook_ids`` among them) with ``judges``."""
    judges = judges if judges is not None else baseline_judges(llm)
    summary = summary if summary is not None else RunSummary()
    model = judge_model_uri(llm)
    requests = build_requests(views, judges, variant=variant, model=model,
                              inference_params=inference_params(llm), fold=fold, repeat=repeat,
                              notebook_ids=notebook_ids)
    fold_text = "" if fold is None else f" fold {fold}"
    with (AnswerCache(cache_path(judge.get("cache_dir"), ".nbjudge-cache/judgments")) as cache,
          backend_if_needed(llm, requests, cache, backend) as active):
        if active is not None:
            attach_judges(judges, active)
        results = run_requests(
            requests, call_request, model=model, cache=cache,
            concurrency=llm.concurrency, context_tokens=llm.context_size,
            retry=RetryPolicy(max_retries=llm.max_retries), progress=progress,
            description=f"{variant}{fold_text} judges", summary=summary,
            limits=active.limits if active is not None else None)
    return results, summary


@dataclass
class JudgingInputs:
    """What every judging stage starts from: settings, notebooks, labels, their traces."""

    llm: LLMConfig
    judge: dict[str, Any]
    views: list[NotebookView]
    labels: list[Label]
    experiment_id: str = ""
    trace_ids: dict[str, str] = field(default_factory=dict)

    def labelled(self) -> dict[str, set[str]]:
        """Notebook ids with a human label, per dimension."""
        by_dimension: dict[str, set[str]] = defaultdict(set)
        for label in self.labels:
            by_dimension[label.dimension].add(label.notebook_id)
        return by_dimension

    def traces(self) -> dict[str, Any]:
        """Each notebook's MLflow trace, with its HUMAN feedback."""
        import mlflow

        return {n: mlflow.get_trace(t) for n, t in self.trace_ids.items()}


def load_judging_inputs(params: Params, *, index: str | Path, cases: str | Path,
                        labels: str | Path) -> JudgingInputs:
    """Check the ``llm`` settings and credentials (before any work), say when the model is
    the smoke model, render the notebooks, read the labels, and log notebooks and labels
    as MLflow traces (idempotent)."""
    llm, judge = need(params.llm, "llm"), params.judge_settings()
    check_credentials(llm)
    if llm.banner:
        print(llm.banner)
    # Baseline and aligned judges read the same text: the budget leaves room for the
    # examples an aligned judge retrieves whichever stage renders it.
    retrieval_k = params.memalign.retrieval_k if params.memalign else 0
    inputs = JudgingInputs(
        llm, judge,
        load_views(read_records(index, Notebook), read_records(cases, Case),
                   render_options(judge, llm, retrieval_k),
                   on_injection=str(judge.get("on_injection", "judge"))),
        read_records(labels, Label))
    inputs.experiment_id = setup_tracking(resolve_tracking_uri(judge.get("tracking_uri")),
                                          judge["experiment"])
    by_notebook: dict[str, list[Label]] = {}
    for label in inputs.labels:
        by_notebook.setdefault(label.notebook_id, []).append(label)
    inputs.trace_ids = ensure_traces(
        [NotebookTrace(v.notebook_id, v.task_prompt, v.outputs,
                       labels_digest(by_notebook.get(v.notebook_id, [])))
         for v in inputs.views],
        inputs.experiment_id)
    log_human_labels(inputs.labels, inputs.trace_ids)
    return inputs
