"""Judge a set of notebooks with one judge per dimension, for the stages.

Builds the requests first and opens the backend (starting the local server)
only when some answer is not in the cache, so a rerun of a finished stage
costs no server start and no request.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from nbjudge.judges.backends import (
    Backend,
    LLMConfig,
    inference_params,
    judge_model_uri,
    open_backend,
)
from nbjudge.judges.cache import AnswerCache
from nbjudge.judges.dimension import judge_instructions, make_dimension_judge
from nbjudge.judges.pipeline import DimensionJudge, NotebookView, build_requests, call_request
from nbjudge.judges.runner import RetryPolicy, RunSummary, run_requests
from nbjudge.notebooks.render import RenderOptions
from nbjudge.rubrics import load_rubric
from nbjudge.schemas import DIMENSIONS, Judgment

__all__ = ["attach_judges", "baseline_judges", "judge_views", "render_options"]

def _cache_root() -> Path:
    """``.nbjudge-cache`` of the repository, also from a queued experiment's copy
    (which runs in ``.dvc/tmp/exps/...``), so experiments share finished answers."""
    from nbjudge.judges.tracing import project_root

    return project_root() / ".nbjudge-cache"


CACHE_ROOT = _cache_root()


def cache_path(configured: str | None, default: str) -> Path:
    """A configured cache folder; relative ones live under the repository."""
    from nbjudge.judges.tracing import project_root

    return project_root() / (configured or default)


def render_options(judge: Mapping[str, Any]) -> RenderOptions:
    """The ``judge.render`` settings as :class:`RenderOptions`."""
    render = dict(judge.get("render") or {})
    try:
        return RenderOptions(**render)
    except (TypeError, ValueError) as error:
        raise ValueError(f"invalid judge.render settings {render}: {error}") from None


def baseline_judges(llm: LLMConfig, dimensions: Iterable[str] = DIMENSIONS
                    ) -> dict[str, DimensionJudge]:
    """The rubric judges, not yet bound to a backend."""
    return {d: DimensionJudge(d, judge_instructions(load_rubric(d), llm.rubric_detail))
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
    with AnswerCache(cache_path(judge.get("cache_dir"), ".nbjudge-cache/judgments")) as cache:
        missing = [r for r in requests if r.key not in cache]
        if backend is not None or not missing:
            opened: contextlib.AbstractContextManager[Backend | None] = (
                contextlib.nullcontext(backend))
        else:
            opened = open_backend(llm, cache_dir=CACHE_ROOT, log_dir=CACHE_ROOT / "logs")
        with opened as active:
            if active is not None:
                attach_judges(judges, active)
            results = run_requests(
                requests, call_request, model=model, cache=cache,
                concurrency=llm.concurrency, context_tokens=llm.context_size,
                retry=RetryPolicy(max_retries=llm.max_retries), progress=progress,
                description=f"{variant}{fold_text} judges", summary=summary)
    return results, summary
