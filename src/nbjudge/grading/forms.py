"""The review form: nine label schemas and one review queue per rater (MLflow 3.14+).

MLflow's Review tab shows a queue's traces one at a time beside a form whose questions
are the queue's label schemas. Each dimension is one categorical question (1, 2, 3,
N/A) whose instruction is the rubric's one line per score, with a comment box for the
rationale; an answer is stored as HUMAN feedback named after the dimension, which the
reader (:mod:`nbjudge.grading.reader`) imports like any other grade.

Each rater gets a custom queue holding only their traces and exactly the nine schemas
(a user queue would also carry every other schema of the experiment, such as the
built-in "Feedback"). A grade made in a queue names no queue, but its trace belongs to
one rater's queue only, so the trace tells whose grade it is.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nbjudge.grading.traces import QUEUE_PREFIX
from nbjudge.schemas import DIMENSIONS

__all__ = ["OPTIONS", "FormResult", "make_forms", "queue_name", "schema_instruction"]

OPTIONS = ("1", "2", "3", "N/A")
_LEVELS = {3: "3 good", 2: "2 average", 1: "1 bad", "N/A": "N/A"}


@dataclass(frozen=True)
class FormResult:
    schemas_created: int
    queues: dict[str, str]     # rater -> queue id
    items_added: int


def queue_name(rater: str) -> str:
    return QUEUE_PREFIX + rater


def schema_instruction(rubric: Any) -> str:
    """What the form shows under a dimension's question: one line per score."""
    return "\n\n".join(f"{_LEVELS[score]}: {level.summary}" for score, level in rubric.levels())


def _schemas(exp_id: str, rubrics: Mapping[str, Any]) -> tuple[dict[str, str], int]:
    from mlflow.genai.label_schemas import (
        InputCategorical,
        create_label_schema,
        list_label_schemas,
    )

    existing: dict[str, str] = {}
    token = None
    while True:
        page = list_label_schemas(exp_id, max_results=100, page_token=token)
        existing |= {schema.name: str(schema.schema_id) for schema in page}
        token = page.token
        if not token:
            break
    created = 0
    # MLflow lists schemas newest first and the form asks them in that order: create the
    # last dimension first, apart in time (equal times fall back to random ids).
    for dimension in reversed(DIMENSIONS):
        if dimension in existing:
            continue
        rubric = rubrics.get(dimension)
        schema = create_label_schema(
            dimension, type="feedback", input=InputCategorical(options=list(OPTIONS)),
            instruction=schema_instruction(rubric) if rubric is not None else None,
            enable_comment=True, experiment_id=exp_id)
        existing[dimension] = str(schema.schema_id)   # set by the store
        created += 1
        time.sleep(0.005)
    return {d: existing[d] for d in DIMENSIONS}, created


def make_forms(exp_id: str, traces_by_rater: Mapping[str, Sequence[str]],
               rubrics: Mapping[str, Any]) -> FormResult:
    """Create what is missing of the nine schemas and each rater's queue, and put each
    rater's traces in their queue; a rerun adds only new traces.
    The tracking URI is the current one."""
    from mlflow.exceptions import MlflowException
    from mlflow.genai.review_queues import (
        add_items_to_review_queue,
        create_review_queue,
        get_review_queue,
        list_review_queue_items,
    )

    schema_ids, created = _schemas(exp_id, rubrics)
    queues: dict[str, str] = {}
    added = 0
    for rater, trace_ids in traces_by_rater.items():
        try:
            queue = get_review_queue(name=queue_name(rater), experiment_id=exp_id)
        except MlflowException:
            queue = create_review_queue(queue_name(rater), queue_type="custom", users=[rater],
                                        schema_ids=list(schema_ids.values()),
                                        experiment_id=exp_id)
        queues[rater] = queue.queue_id
        held = _items(list_review_queue_items, queue.queue_id)
        new = [t for t in trace_ids if t not in held]
        if new:
            add_items_to_review_queue(queue.queue_id, item_ids=new)
            added += len(new)
    return FormResult(created, queues, added)


def _items(list_items: Any, queue_id: str) -> set[str]:
    found: set[str] = set()
    token = None
    while True:
        page = list_items(queue_id, max_results=500, page_token=token)
        found |= {item.item_id for item in page}
        token = page.token
        if not token:
            break
    return found
