"""Notebooks, human labels and judgments as MLflow traces and assessments.

One trace per notebook: inputs are the case's task prompt, outputs are the
text the judges read (task prompt + rendered notebook), which is also what
MemAlign's episodic memory stores. Human labels become ``HUMAN`` feedback
named after the dimension's judge (MemAlign aligns on them); judgments become
``LLM_JUDGE`` feedback tagged with their variant and fold. Every function is
idempotent: a rerun finds the traces and assessments it made before by their
tags and metadata and adds only what is missing.

The tracking URI is always absolute: queued ``dvc exp run`` experiments
execute in a temporary copy inside ``.dvc``, where a relative store
would silently collect records that vanish with the copy.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from typing import Any

from nbjudge.config import project_root
from nbjudge.judges.dimension import judge_name
from nbjudge.schemas import Judgment, Label

__all__ = [
    "NotebookTrace",
    "ensure_traces",
    "labels_digest",
    "log_human_labels",
    "log_judgments",
    "resolve_tracking_uri",
    "setup_tracking",
]

TAG_NOTEBOOK = "nbjudge.notebook_id"
TAG_OUTPUTS = "nbjudge.outputs_sha256"
TAG_LABELS = "nbjudge.labels_sha256"
META_KEY = "nbjudge.key"


def resolve_tracking_uri(configured: str | None = None,
                         environ: Mapping[str, str] | None = None,
                         root: str | os.PathLike[str] | None = None) -> str:
    """``configured``, else ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<repo>/mlflow.db``;
    a relative sqlite path is resolved against the repository, never the working folder."""
    environ = os.environ if environ is None else environ
    uri = configured or environ.get("MLFLOW_TRACKING_URI") or "mlflow.db"
    base = project_root(root)
    if "://" not in uri:
        return f"sqlite:///{(base / uri).resolve()}"
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return f"sqlite:///{(base / uri[len('sqlite:///'):]).resolve()}"
    return uri


def setup_tracking(uri: str, experiment: str) -> str:
    """Point MLflow at ``uri`` and return the id of ``experiment`` (created if needed)."""
    import mlflow

    mlflow.set_tracking_uri(uri)
    return mlflow.set_experiment(experiment).experiment_id


class NotebookTrace:
    """What one notebook's trace holds.

    ``labels_digest`` fingerprints the human labels the trace will carry: a
    trace's HUMAN feedback is what MemAlign learns from, so notebooks labelled
    differently (an edited label file, another experiment's panel) get their own
    trace instead of piling a second set of labels onto a shared one.
    """

    def __init__(self, notebook_id: str, task_prompt: str, outputs: str,
                 labels_digest: str = "") -> None:
        self.notebook_id = notebook_id
        self.task_prompt = task_prompt
        self.outputs = outputs
        self.labels_digest = labels_digest

    @property
    def outputs_sha256(self) -> str:
        return hashlib.sha256(self.outputs.encode("utf-8")).hexdigest()


def _search(experiment_id: str) -> list[Any]:
    import mlflow

    return list(mlflow.search_traces(locations=[experiment_id], return_type="list",
                                     max_results=100_000))


def ensure_traces(notebooks: Iterable[NotebookTrace], experiment_id: str) -> dict[str, str]:
    """Trace id per notebook id; traces already in the store with the same outputs and
    the same labels digest are reused."""
    import mlflow

    wanted = list(notebooks)
    found: dict[tuple[str, str, str], str] = {}
    for trace in _search(experiment_id):
        tags = trace.info.tags or {}
        if TAG_NOTEBOOK in tags and TAG_OUTPUTS in tags:
            key = (tags[TAG_NOTEBOOK], tags[TAG_OUTPUTS], tags.get(TAG_LABELS, ""))
            found.setdefault(key, trace.info.trace_id)
    ids: dict[str, str] = {}
    for item in wanted:
        key = (item.notebook_id, item.outputs_sha256, item.labels_digest)
        if key in found:
            ids[item.notebook_id] = found[key]
            continue
        with mlflow.start_span(name=f"notebook {item.notebook_id}") as span:
            span.set_inputs({"task": item.task_prompt})
            span.set_outputs(item.outputs)
            tags = {TAG_NOTEBOOK: item.notebook_id, TAG_OUTPUTS: item.outputs_sha256}
            if item.labels_digest:
                tags[TAG_LABELS] = item.labels_digest
            mlflow.update_current_trace(tags=tags)
            ids[item.notebook_id] = span.trace_id
    mlflow.flush_trace_async_logging()
    return ids


def _existing_keys(trace_ids: Iterable[str]) -> set[str]:
    import mlflow

    keys: set[str] = set()
    for trace_id in set(trace_ids):
        trace = mlflow.get_trace(trace_id)
        for assessment in (trace.info.assessments if trace else None) or []:
            key = (assessment.metadata or {}).get(META_KEY)
            if key:
                keys.add(key)
    return keys


def _key(*parts: Any) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()[:32]


def labels_digest(labels: Iterable[Label]) -> str:
    """A fingerprint of one notebook's labels (order does not matter)."""
    rows = sorted((label.dimension, label.rater_id, str(label.score), label.rationale or "",
                   label.source) for label in labels)
    return _key(*("\x1e".join(row) for row in rows)) if rows else ""


def log_human_labels(labels: Iterable[Label], trace_ids: Mapping[str, str]) -> int:
    """Log each label as HUMAN feedback on its notebook's trace; returns how many were new."""
    import mlflow
    from mlflow.entities import AssessmentSource, AssessmentSourceType

    labels = [label for label in labels if label.notebook_id in trace_ids]
    existing = _existing_keys(trace_ids[label.notebook_id] for label in labels)
    added = 0
    for label in labels:
        key = _key("human", label.notebook_id, label.dimension, label.rater_id, label.score,
                   label.rationale)
        if key in existing:
            continue
        mlflow.log_feedback(
            trace_id=trace_ids[label.notebook_id], name=judge_name(label.dimension),
            value=label.score, rationale=label.rationale or None,
            source=AssessmentSource(source_type=AssessmentSourceType.HUMAN,
                                    source_id=label.rater_id),
            metadata={META_KEY: key, "nbjudge.label_source": label.source},
        )
        existing.add(key)
        added += 1
    return added


def log_judgments(judgments: Iterable[Judgment], trace_ids: Mapping[str, str]) -> int:
    """Log each judgment as LLM_JUDGE feedback (a failure as an assessment error)."""
    import mlflow
    from mlflow.entities import AssessmentError, AssessmentSource, AssessmentSourceType

    judgments = [j for j in judgments if j.notebook_id in trace_ids]
    existing = _existing_keys(trace_ids[j.notebook_id] for j in judgments)
    added = 0
    for j in judgments:
        key = _key("judge", j.notebook_id, j.dimension, j.variant, j.fold, j.repeat,
                   j.prompt_sha256, j.status, j.score)
        if key in existing:
            continue
        metadata = {META_KEY: key, "nbjudge.variant": j.variant, "nbjudge.fold": str(j.fold),
                    "nbjudge.repeat": str(j.repeat)}
        if j.retrieved_ids:
            metadata["retrieved_notebook_ids"] = ",".join(j.retrieved_ids)
        error = (AssessmentError(error_code="JUDGE_FAILED", error_message=j.error or "")
                 if j.status == "failed" else None)
        mlflow.log_feedback(
            trace_id=trace_ids[j.notebook_id], name=judge_name(j.dimension),
            value=j.score if j.status == "ok" else None, rationale=j.rationale, error=error,
            source=AssessmentSource(source_type=AssessmentSourceType.LLM_JUDGE,
                                    source_id=f"{j.model} [{j.variant}]"),
            metadata=metadata,
        )
        existing.add(key)
        added += 1
    return added
