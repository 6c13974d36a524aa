"""The grading experiment: one MLflow trace per notebook and rater, made by ``grading start``.

A grading trace is tagged ``nbjudge.grading``, with the notebook id and the rater it is
meant for. Its root span holds what the grader reads first: the rater, the task prompt,
the notebook as the judges see it but whole (no token budget) and how it ran; one child
span per dimension holds that dimension's rubric (what it covers and one line per score),
so the span tree on the left of MLflow's trace view lists the nine dimensions
(:mod:`nbjudge.grading.start` logs them).

Graders answer one form per notebook in MLflow's review queue (nine questions, one per
dimension, made by :mod:`nbjudge.grading.forms`), or add a Feedback per dimension in the
trace view (name = dimension, value 1, 2, 3 or N/A, a rationale);
:mod:`nbjudge.grading.reader` reads them back.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nbjudge.config import project_root
from nbjudge.errors import InputError
from nbjudge.schemas import DIMENSIONS

__all__ = [
    "DEFAULT_EXPERIMENT",
    "QUEUE_PREFIX",
    "TAG_GRADING",
    "TAG_NOTEBOOK",
    "TAG_RATER",
    "UI_ANONYMOUS",
    "GradingTrace",
    "experiment_id",
    "grading_traces",
    "how_to_grade",
    "resolve_tracking_uri",
]

DEFAULT_EXPERIMENT = "nbjudge-grading"
TAG_GRADING = "nbjudge.grading"
TAG_NOTEBOOK = "nbjudge.grading.notebook_id"
TAG_RATER = "nbjudge.grading.rater"
# Source ids MLflow's UI gives a feedback when nobody is signed in: "User" from the trace
# view's Add feedback, "default" from a review queue's form. A grade carries no queue id,
# but each grading trace sits in its own rater's queue only, so such a grade belongs to
# the rater the trace was made for (with sign-in, the source id is the user name).
UI_ANONYMOUS = frozenset({"", "User", "default"})
# A rater's review queue is named QUEUE_PREFIX + rater ("default" is reserved by MLflow).
QUEUE_PREFIX = "grading: "


def resolve_tracking_uri(configured: str | None = None,
                         environ: Mapping[str, str] | None = None) -> str:
    """``configured``, else ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<repo>/mlflow.db``;
    a relative sqlite path is resolved against the repository, never the working folder."""
    environ = os.environ if environ is None else environ
    uri = configured or environ.get("MLFLOW_TRACKING_URI") or "mlflow.db"
    base = project_root()
    if "://" not in uri:
        return f"sqlite:///{(base / uri).resolve()}"
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return f"sqlite:///{(base / uri[len('sqlite:///'):]).resolve()}"
    return uri


@dataclass(frozen=True)
class GradingTrace:
    """A grading trace found in the store, with its feedback."""

    trace_id: str
    notebook_id: str
    rater: str
    assessments: tuple[Any, ...]   # mlflow.entities.Assessment


def how_to_grade(dimensions: Sequence[str] = DIMENSIONS) -> str:
    return (
        "In the experiment's Review tab, open your queue ('" + QUEUE_PREFIX + "<your rater "
        "id>'): one form per notebook, one question per dimension with its rubric; pick 1, "
        "2, 3 or N/A, write the reason in the comment box, answer all nine, Submit; the next "
        "notebook follows. To change a grade, answer the question again: the latest wins. "
        "Without the queue: press Assess on the trace, Add feedback > Human feedback; Name: "
        "the dimension (" + ", ".join(dimensions) + "); Data Type: Number (1, 2 or 3) or "
        "String (N/A); a rationale of one sentence; Create. Cells are numbered from 1, as "
        "Jupyter and the notebook's text here show them ([cell 3: code]): cite them so."
    )


def experiment_id(client: Any, experiment: str, *, create: bool) -> str | None:
    found = client.get_experiment_by_name(experiment)
    if found is not None:
        return str(found.experiment_id)
    if not create:
        return None
    return str(client.create_experiment(experiment))


def grading_traces(tracking_uri: str, experiment: str) -> tuple[list[GradingTrace], list[Any]]:
    """The grading traces of ``experiment`` and the other traces' ids with feedback.

    Returns ``(grading, others)``: ``others`` are ``(trace_id, assessments)`` of traces
    that are not grading traces but carry feedback (never imported). Raises
    :class:`~nbjudge.errors.InputError` when the experiment does not exist.
    """
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    exp_id = experiment_id(client, experiment, create=False)
    if exp_id is None:
        raise InputError(
            f"no MLflow experiment {experiment!r} at {tracking_uri}; make it with "
            f"`python -m nbjudge grading start --experiment {experiment}`"
        )
    grading: list[GradingTrace] = []
    others: list[Any] = []
    token = None
    while True:
        page = client.search_traces(locations=[exp_id], max_results=500,
                                    page_token=token, include_spans=False)
        for trace in page:
            tags = trace.info.tags or {}
            assessments = tuple(trace.info.assessments or ())
            if tags.get(TAG_GRADING) and TAG_NOTEBOOK in tags and TAG_RATER in tags:
                grading.append(GradingTrace(trace.info.trace_id, tags[TAG_NOTEBOOK],
                                            tags[TAG_RATER], assessments))
            elif assessments:
                others.append((trace.info.trace_id, assessments))
        token = page.token
        if not token:
            break
    return grading, others
