"""MLflow traces and assessments: absolute store, idempotent traces, labels and judgments."""

from pathlib import Path

import pytest

from nbjudge.config import project_root
from nbjudge.judges.tracing import (
    NotebookTrace,
    ensure_traces,
    labels_digest,
    log_human_labels,
    log_judgments,
    resolve_tracking_uri,
    setup_tracking,
)
from nbjudge.schemas import Judgment, Label


def test_store_is_the_repositorys_even_inside_a_queued_experiment(tmp_path):
    inside = tmp_path / "repo" / ".dvc" / "tmp" / "exps" / "tmpabc123"
    assert project_root(inside) == tmp_path / "repo"
    uri = resolve_tracking_uri(None, environ={}, root=inside)
    assert uri == f"sqlite:///{tmp_path / 'repo' / 'mlflow.db'}"


def test_relative_sqlite_uris_are_made_absolute(tmp_path):
    assert resolve_tracking_uri("sqlite:///runs/m.db", environ={}, root=tmp_path) == (
        f"sqlite:///{tmp_path / 'runs' / 'm.db'}")
    assert resolve_tracking_uri(None, environ={"MLFLOW_TRACKING_URI": "http://mlflow:5000"},
                                root=tmp_path) == "http://mlflow:5000"
    absolute = f"sqlite:///{tmp_path}/x.db"
    assert resolve_tracking_uri(absolute, environ={}, root=Path("/elsewhere")) == absolute


@pytest.fixture
def store(tmp_path):
    return setup_tracking(f"sqlite:///{tmp_path / 'mlflow.db'}", "tracing-test")


@pytest.mark.slow  # creates an MLflow store
def test_traces_are_reused_and_labels_and_judgments_logged_once(store):
    import mlflow

    notebooks = [NotebookTrace("nb1", "Predict churn", "# Task prompt\n...one"),
                 NotebookTrace("nb2", "Predict churn", "# Task prompt\n...two")]
    ids = ensure_traces(notebooks, store)
    assert ensure_traces(notebooks, store) == ids  # a rerun finds them
    changed = ensure_traces([NotebookTrace("nb1", "Predict churn", "new text")], store)
    assert changed["nb1"] != ids["nb1"]  # other outputs, another trace

    labels = [Label(notebook_id="nb1", dimension="data_imputation", score=1,
                    rationale="fillna before the split", rater_id="r1", source="human"),
              Label(notebook_id="nb1", dimension="data_imputation", score="N/A",
                    rationale="no gaps", rater_id="r2", source="human")]
    assert log_human_labels(labels, ids) == 2
    assert log_human_labels(labels, ids) == 0
    judgments = [
        Judgment(notebook_id="nb1", dimension="data_imputation", variant="baseline",
                 status="ok", score=3, rationale="looks fine", model="m", prompt_sha256="k1"),
        Judgment(notebook_id="nb2", dimension="data_imputation", variant="baseline",
                 status="failed", error="invalid answer: 7", model="m", prompt_sha256="k2"),
    ]
    assert log_judgments(judgments, ids) == 2
    assert log_judgments(judgments, ids) == 0

    trace = mlflow.get_trace(ids["nb1"])
    sources = sorted((a.source.source_type, a.name) for a in trace.info.assessments)
    assert sources == [("HUMAN", "data_imputation"), ("HUMAN", "data_imputation"),
                       ("LLM_JUDGE", "data_imputation")]
    assert trace.data.spans[0].outputs == "# Task prompt\n...one"
    failed = mlflow.get_trace(ids["nb2"]).info.assessments[0]
    assert failed.error is not None and "invalid answer" in failed.error.error_message


@pytest.mark.slow  # creates an MLflow store
def test_notebooks_labelled_differently_get_their_own_trace(store):
    import mlflow

    first = [Label(notebook_id="nb1", dimension="data_imputation", score=1,
                   rationale="fillna before the split", rater_id="r1", source="human")]
    edited = [first[0].model_copy(update={"score": 2, "rationale": "imputes after the split"})]
    assert labels_digest(first) == labels_digest(list(reversed(first)))
    assert labels_digest(first) != labels_digest(edited) and labels_digest([]) == ""

    def trace_for(labels):
        ids = ensure_traces([NotebookTrace("nb1", "Predict churn", "same notebook text",
                                           labels_digest(labels))], store)
        log_human_labels(labels, ids)
        return ids["nb1"]

    old, new = trace_for(first), trace_for(edited)
    assert new != old and trace_for(first) == old  # the first set finds its trace again
    human = [(a.value, a.rationale) for a in mlflow.get_trace(new).info.assessments
             if a.source.source_type == "HUMAN"]
    assert human == [(2, "imputes after the split")]  # no stale label from the first set
