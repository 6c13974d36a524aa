"""``grading start``: one grading trace per notebook and rater in the grading experiment,
and the review form (:mod:`nbjudge.grading.forms`) that puts them in each rater's queue."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbjudge.config import project_root
from nbjudge.errors import InputError
from nbjudge.grading.forms import FormResult, make_forms
from nbjudge.grading.traces import (
    DEFAULT_EXPERIMENT,
    TAG_GRADING,
    TAG_NOTEBOOK,
    TAG_RATER,
    UI_ANONYMOUS,
    experiment_id,
    grading_traces,
    how_to_grade,
)
from nbjudge.offline import environment
from nbjudge.schemas import DIMENSIONS

__all__ = ["GradingNotebook", "StartResult", "notebook_for_grading", "request_preview",
           "response_preview", "start_grading"]


@dataclass(frozen=True)
class GradingNotebook:
    """What a grader reads about one notebook."""

    notebook_id: str
    task_prompt: str
    text: str                 # the notebook as the judges read it, whole
    execution: str            # how it ran: ok, error (with the message), timeout, not_run...


@dataclass(frozen=True)
class StartResult:
    experiment_id: str
    created: int              # traces logged now
    existing: int             # (notebook, rater) pairs that already had a trace
    raters: tuple[str, ...]
    forms: FormResult         # the label schemas and each rater's review queue


def _rubric_text(dimension: str, rubrics: Mapping[str, Any]) -> str:
    from nbjudge.rubrics import render_rubric

    rubric = rubrics.get(dimension)
    return render_rubric(rubric, "summary") if rubric is not None else dimension


def start_grading(
    notebooks: Iterable[GradingNotebook],
    raters: Sequence[str],
    *,
    tracking_uri: str,
    experiment: str = DEFAULT_EXPERIMENT,
    rubrics_root: str | os.PathLike[str] | None = None,
) -> StartResult:
    """Log one grading trace per notebook and rater (pairs that have one already keep
    it), then make the review form and put each rater's traces in their queue."""
    import mlflow
    from mlflow import MlflowClient

    from nbjudge.rubrics import load_rubrics

    notebooks = list(notebooks)
    raters = tuple(dict.fromkeys(r.strip() for r in raters if r.strip()))
    if not raters:
        raise InputError("name at least one rater (--raters expert_1,expert_2)")
    if UI_ANONYMOUS & set(raters):
        raise InputError(f"{sorted(UI_ANONYMOUS & set(raters))} cannot be a rater: it is the "
                         "name MLflow's UI gives every grade")
    client = MlflowClient(tracking_uri)
    exp_id = experiment_id(client, experiment, create=True)
    assert exp_id is not None
    rubrics = load_rubrics(rubrics_root)
    guide = how_to_grade()
    whole = _whole_preview(tracking_uri)
    previous_uri = mlflow.get_tracking_uri()
    # Traces exported in the background lose their previews now and then: MLflow's worker
    # threads write a trace's spans and its info concurrently, and when the spans land
    # last the root span's inputs (JSON) replace the previews set here, so the queue shows
    # escaped JSON instead of the notebook (14 of 90 traces in three runs of the test
    # below, tests/grading/test_reader.py). Exported in the foreground, the info is
    # written after the spans and keeps them (0 of 150). The tracer is set up again on
    # both sides so the setting holds for these traces only.
    with environment({"MLFLOW_ENABLE_ASYNC_TRACE_LOGGING": "false"}):
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.tracing.reset()
        try:
            created, existing, forms = _log_and_queue(
                mlflow, tracking_uri, experiment, exp_id, notebooks, raters, rubrics, guide,
                whole)
        finally:
            mlflow.set_tracking_uri(previous_uri)
            mlflow.tracing.reset()
    return StartResult(exp_id, created, existing, raters, forms)


def _log_and_queue(mlflow: Any, tracking_uri: str, experiment: str, exp_id: str,
                   notebooks: Sequence[GradingNotebook], raters: Sequence[str],
                   rubrics: Mapping[str, Any], guide: str, whole: bool
                   ) -> tuple[int, int, FormResult]:
    done = {(t.notebook_id, t.rater) for t in grading_traces(tracking_uri, experiment)[0]}
    created = existing = 0
    for notebook in notebooks:
        for rater in raters:
            if (notebook.notebook_id, rater) in done:
                existing += 1
                continue
            _log_trace(mlflow, exp_id, notebook, rater, rubrics, guide, whole)
            created += 1
    mlflow.flush_trace_async_logging()
    order = {notebook.notebook_id: i for i, notebook in enumerate(notebooks)}
    found = sorted((order.get(t.notebook_id, len(order)), t.notebook_id, t.rater, t.trace_id)
                   for t in grading_traces(tracking_uri, experiment)[0])
    by_rater = {rater: [trace_id for *_, r, trace_id in found if r == rater]
                for rater in raters}
    forms = make_forms(exp_id, by_rater, rubrics)
    return created, existing, forms


# What MLflow's SQL store keeps of a request preview: the column is VARCHAR(1000), which
# SQLite does not enforce (the whole notebook fits) and other databases do.
_PREVIEW_LIMIT = 1000


def _whole_preview(tracking_uri: str) -> bool:
    return tracking_uri.startswith("sqlite:")


def request_preview(notebook: GradingNotebook, rater: str, whole: bool = True) -> str:
    """What a review queue shows first beside the form: the notebook and its task.

    MLflow would otherwise show the root span's inputs as JSON, with every line break
    escaped, cut at 1,000 characters. The queue draws the request as a chat bubble half
    as wide as its pane, so the notebook itself is in :func:`response_preview`.
    """
    del whole  # the header is always short
    return (f"**{notebook.notebook_id}** (for {rater}; it ran: {notebook.execution})\n\n"
            f"**Task:** {notebook.task_prompt}")


def response_preview(notebook: GradingNotebook, guide: str, whole: bool = True) -> str:
    """The notebook as text, then how to grade: the queue draws the response across the
    whole width of its pane (the request only half of it).

    The queue renders the preview as markdown: the notebook goes in a code fence so its
    lines and indentation stay as they are. Cut at 1,000 characters unless ``whole``.
    """
    fence = "~~~~~~~~"
    body = notebook.text
    tail = f"\n\nIt ran: {notebook.execution}.\n\n{guide}"
    cut = "\n[... cut here: the whole notebook is under View full trace]"
    if not whole:
        tail = tail if len(tail) <= _PREVIEW_LIMIT // 4 else ""
        room = _PREVIEW_LIMIT - len(tail) - 2 * len(fence) - len(cut) - 2
        body = body if len(body) <= room else body[:max(room, 0)] + cut
    return f"{fence}\n{body}\n{fence}{tail}"


def _log_trace(mlflow: Any, exp_id: str, notebook: GradingNotebook, rater: str,
               rubrics: Mapping[str, Any], guide: str, whole: bool) -> None:
    from mlflow.entities.trace_location import MlflowExperimentLocation

    with mlflow.start_span(name=f"{notebook.notebook_id} for {rater}",
                           trace_destination=MlflowExperimentLocation(exp_id)) as root:
        root.set_inputs({"grader": rater, "notebook_id": notebook.notebook_id,
                         "task": notebook.task_prompt, "notebook": notebook.text})
        root.set_outputs({"execution": notebook.execution, "how_to_grade": guide})
        for dimension in DIMENSIONS:
            with mlflow.start_span(name=dimension) as span:
                span.set_inputs({"rubric": _rubric_text(dimension, rubrics)})
                span.set_outputs({"grade": f"the question {dimension} of the review form "
                                           "(or Add feedback named so): 1, 2, 3 or N/A, "
                                           "with a rationale"})
        mlflow.update_current_trace(tags={TAG_GRADING: "1", TAG_NOTEBOOK: notebook.notebook_id,
                                          TAG_RATER: rater},
                                    request_preview=request_preview(notebook, rater, whole),
                                    response_preview=response_preview(notebook, guide, whole))


def notebook_for_grading(index_entry: Any, prompt: str, root: Path | None = None
                         ) -> GradingNotebook:
    """A :class:`GradingNotebook` from a notebook index entry and its case's prompt."""
    import nbformat

    from nbjudge.notebooks.render import RenderOptions, render

    base = root or project_root()
    execution = index_entry.execution
    path = base / (execution.path if execution is not None else index_entry.path)
    text = render(nbformat.read(path, as_version=4), RenderOptions(max_tokens=10**9)).text
    if execution is None:
        ran = "not executed"
    else:
        ran = execution.status + (f": {execution.error}" if execution.error else "")
    return GradingNotebook(index_entry.notebook_id, prompt, text, ran)
