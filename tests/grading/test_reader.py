"""The reader of human grades given in MLflow (labels=mlflow), on a real MLflow store."""

from __future__ import annotations

import itertools
import json
import os
import re

import mlflow
import pytest
from mlflow.entities import AssessmentSource, AssessmentSourceType

from nbjudge.benchmark.labels import read_label_file
from nbjudge.errors import InputError
from nbjudge.grading import (
    GradeError,
    export_grades,
    grading_traces,
    import_grades,
    read_grades,
    status_lines,
    write_digest,
)
from nbjudge.grading.start import (
    GradingNotebook,
    request_preview,
    response_preview,
    start_grading,
)
from nbjudge.grading.traces import TAG_NOTEBOOK, TAG_RATER, how_to_grade
from nbjudge.schemas import DIMENSIONS, Label, read_records

NOTEBOOKS = ("nb_a", "nb_b")
_names = itertools.count()


@pytest.fixture(scope="module")
def store(tmp_path_factory, new_mlflow_store):
    uri = new_mlflow_store(tmp_path_factory.mktemp("grading"))
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    yield uri
    mlflow.set_tracking_uri(previous)


def _start(uri: str, raters=("expert_1", "expert_2")) -> tuple[str, dict[tuple[str, str], str]]:
    experiment = f"grading-{next(_names)}"
    notebooks = [GradingNotebook(n, f"task of {n}", f"[cell 1: code]\nprint('{n}')\n", "ok")
                 for n in NOTEBOOKS]
    result = start_grading(notebooks, raters, tracking_uri=uri, experiment=experiment)
    assert result.created == len(NOTEBOOKS) * len(raters)
    traces = {(t.notebook_id, t.rater): t.trace_id
              for t in grading_traces(uri, experiment)[0]}
    return experiment, traces


def _feedback(trace_id: str, name: str, value, rationale="a reason", source_id="User"):
    # "User" is what MLflow's open-source UI records as the source of every grade.
    return mlflow.log_feedback(
        trace_id=trace_id, name=name, value=value, rationale=rationale,
        source=AssessmentSource(source_type=AssessmentSourceType.HUMAN, source_id=source_id))


def test_several_raters_each_get_their_label(store):
    experiment, traces = _start(store)
    _feedback(traces["nb_a", "expert_1"], "data_imputation", 1.0, "fillna before the split")
    _feedback(traces["nb_a", "expert_2"], "data_imputation", 3, "imputer inside the pipeline")
    _feedback(traces["nb_b", "expert_1"], "Model Training", "N/A", "nothing trained")
    # Logged through the API with a real source id: that rater's grade, whoever's trace.
    _feedback(traces["nb_b", "expert_1"], "model_training", 2, "one split only", "carol")
    grades = read_grades(store, experiment, NOTEBOOKS)
    assert not grades.problems
    got = {(lb.notebook_id, lb.dimension, lb.rater_id): lb.score for lb in grades.labels}
    assert got == {("nb_a", "data_imputation", "expert_1"): 1,
                   ("nb_a", "data_imputation", "expert_2"): 3,
                   ("nb_b", "model_training", "expert_1"): "N/A",
                   ("nb_b", "model_training", "carol"): 2}
    assert all(lb.source == "human" for lb in grades.labels)
    assert grades.assigned == {"expert_1": NOTEBOOKS, "expert_2": NOTEBOOKS}


def test_the_latest_edit_wins(store):
    experiment, traces = _start(store, raters=("expert_1",))
    trace_id = traces["nb_a", "expert_1"]
    first = _feedback(trace_id, "data_imputation", 2, "looks fine")
    # What the UI's edit does: a new feedback that overrides the old one (now invalid).
    mlflow.override_feedback(trace_id=trace_id, assessment_id=first.assessment_id, value=1,
                             rationale="on second look: fillna on the full frame",
                             source=AssessmentSource(source_type="HUMAN", source_id="User"))
    # A second, separate feedback of another name, then a later one of the same name.
    _feedback(trace_id, "cell_organization", 3, "clean")
    _feedback(trace_id, "cell_organization", 2, "one cell does too much")
    grades = read_grades(store, experiment, NOTEBOOKS)
    by_dimension = {lb.dimension: lb for lb in grades.labels}
    assert by_dimension["data_imputation"].score == 1
    assert by_dimension["data_imputation"].rationale.startswith("on second look")
    assert by_dimension["cell_organization"].score == 2
    assert len(grades.labels) == 2
    assert grades.superseded == 2


def test_invalid_grades_are_listed_and_nothing_is_imported(store, tmp_path):
    experiment, traces = _start(store, raters=("expert_1",))
    trace_id = traces["nb_a", "expert_1"]
    _feedback(trace_id, "data_imputation", 1, "leakage")                 # fine
    _feedback(trace_id, "model_training", 4, "excellent")                # out of range
    _feedback(trace_id, "imputation", 2, "median")                       # unknown name
    _feedback(trace_id, "metrics_evaluation", True, "good")              # the UI's Boolean
    _feedback(traces["nb_b", "expert_1"], "data_exploration", 2, "  ")   # empty rationale
    grades = read_grades(store, experiment, NOTEBOOKS)
    assert [lb.dimension for lb in grades.labels] == ["data_imputation"]
    messages = [str(p) for p in grades.problems]
    assert len(messages) == 4
    assert any("value 4 is not 1, 2, 3 or N/A" in m and trace_id in m for m in messages)
    assert any("'imputation'" in m and "did you mean 'data_imputation'" in m for m in messages)
    assert any("value True" in m for m in messages)
    assert any("empty rationale" in m and "nb_b" in m for m in messages)
    out = tmp_path / "labels.jsonl"
    with pytest.raises(GradeError, match=r"4 grade.*cannot be imported; no label was imported"):
        import_grades(store, experiment, NOTEBOOKS, out)
    assert not out.exists()
    with pytest.raises(GradeError):
        export_grades(grades, tmp_path / "labels.csv", experiment)
    text = "\n".join(status_lines(grades, experiment))
    assert "cannot be imported (4" in text


def test_feedback_on_a_trace_that_is_not_a_grading_trace_is_ignored(store):
    experiment, traces = _start(store, raters=("expert_1",))
    with mlflow.start_span(name="some other trace",
                           trace_destination=_location(store, experiment)) as span:
        span.set_inputs({"q": "hello"})
    mlflow.flush_trace_async_logging()
    _feedback(span.trace_id, "data_imputation", 1, "not a grading trace")
    _feedback(traces["nb_a", "expert_1"], "data_imputation", 3, "pipeline imputer")
    grades = read_grades(store, experiment, NOTEBOOKS)
    assert [(lb.notebook_id, lb.score) for lb in grades.labels] == [("nb_a", 3)]
    assert grades.ignored == 1
    assert not grades.problems


def test_judge_feedback_and_notebooks_outside_the_index(store):
    experiment, traces = _start(store, raters=("expert_1",))
    mlflow.log_feedback(trace_id=traces["nb_a", "expert_1"], name="data_imputation", value=2,
                        rationale="judge", source=AssessmentSource(
                            source_type=AssessmentSourceType.LLM_JUDGE, source_id="model"))
    _feedback(traces["nb_b", "expert_1"], "data_imputation", 2, "median imputer")
    grades = read_grades(store, experiment, ["nb_a"])   # nb_b is no longer in the index
    assert not grades.labels                            # the judge's feedback is not a grade
    assert len(grades.problems) == 1 and "not in the notebook index" in str(grades.problems[0])


def test_an_empty_experiment(store, tmp_path):
    experiment = f"empty-{next(_names)}"
    with pytest.raises(InputError, match=r"no MLflow experiment.*grading start"):
        read_grades(store, experiment, NOTEBOOKS)
    mlflow.MlflowClient(store).create_experiment(experiment)
    grades = read_grades(store, experiment, NOTEBOOKS)
    assert grades.labels == () and grades.problems == () and grades.assigned == {}
    assert "no grading trace yet" in "\n".join(status_lines(grades, experiment))
    with pytest.raises(GradeError, match="holds no grade yet"):
        import_grades(store, experiment, NOTEBOOKS, tmp_path / "labels.jsonl")


def test_digest_import_and_export_meet_labels_file(store, tmp_path):
    experiment, traces = _start(store, raters=("expert_1", "expert_2"))
    first = _feedback(traces["nb_a", "expert_1"], "data_imputation", 1, "fillna, then split")
    _feedback(traces["nb_a", "expert_2"], "data_imputation", "n/a", "no missing values")
    digest = tmp_path / "mlflow_grades.json"
    out = tmp_path / "labels.jsonl"
    with pytest.raises(GradeError, match="no grade digest"):
        import_grades(store, experiment, NOTEBOOKS, out, digest_path=digest)
    grades = read_grades(store, experiment, NOTEBOOKS)
    write_digest(digest, grades, experiment)
    assert json.loads(digest.read_text())["labels"] == 2
    labels = import_grades(store, experiment, NOTEBOOKS, out, digest_path=digest)
    assert read_records(out, Label) == labels
    status = "\n".join(status_lines(grades, experiment))
    assert re.search(r"data_imputation +1/2  missing: nb_b\n", status)
    assert re.search(r"model_training +0/2  missing: nb_a, nb_b\n", status)
    # The same labels as labels=file reads from the export.
    for name in ("labels.csv", "labels.jsonl"):
        path = tmp_path / "export" / name
        assert export_grades(grades, path, experiment) == 2
        assert read_label_file(path, NOTEBOOKS) == sorted(
            labels, key=lambda lb: (lb.notebook_id, lb.dimension, lb.rater_id))
    # A changed grade changes the digest; the stage refuses the stale one.
    mlflow.override_feedback(trace_id=traces["nb_a", "expert_1"],
                             assessment_id=first.assessment_id, value=2,
                             rationale="imputer fit on the training split",
                             source=AssessmentSource(source_type="HUMAN", source_id="User"))
    changed = read_grades(store, experiment, NOTEBOOKS)
    assert changed.digest != grades.digest
    with pytest.raises(GradeError, match="grades changed since the digest was written"):
        import_grades(store, experiment, NOTEBOOKS, out, digest_path=digest)
    assert read_records(out, Label) == labels


def _location(uri: str, experiment: str):
    from mlflow.entities.trace_location import MlflowExperimentLocation

    found = mlflow.MlflowClient(uri).get_experiment_by_name(experiment)
    return MlflowExperimentLocation(found.experiment_id)


def test_start_makes_the_review_form_once(store):
    from mlflow.genai.label_schemas import InputCategorical, list_label_schemas
    from mlflow.genai.review_queues import get_review_queue, list_review_queue_items

    experiment, traces = _start(store)
    exp_id = mlflow.MlflowClient(store).get_experiment_by_name(experiment).experiment_id
    schemas = [s for s in list_label_schemas(exp_id) if s.name != "Feedback"]
    # MLflow lists (and the form asks) the newest schema first: the rubric's order.
    assert [s.name for s in schemas] == list(DIMENSIONS)
    imputation = schemas[DIMENSIONS.index("data_imputation")]
    assert imputation.input == InputCategorical(options=["1", "2", "3", "N/A"])
    assert imputation.enable_comment and imputation.type == "feedback"
    assert imputation.instruction.startswith("3 good: Fill values learned from training data")
    assert "\n\nN/A: " in imputation.instruction
    for rater in ("expert_1", "expert_2"):
        queue = get_review_queue(name=f"grading: {rater}", experiment_id=exp_id)
        assert queue.users == [rater] and queue.queue_type == "custom"
        assert set(queue.schema_ids) == {s.schema_id for s in schemas}   # no "Feedback"
        items = {item.item_id for item in list_review_queue_items(queue.queue_id)}
        assert items == {traces[n, rater] for n in NOTEBOOKS}
    notebooks = [GradingNotebook(n, f"task of {n}", "x = 1\n", "ok") for n in NOTEBOOKS]
    again = start_grading(notebooks, ["expert_1", "expert_2"], tracking_uri=store,
                          experiment=experiment)
    assert (again.created, again.forms.schemas_created, again.forms.items_added) == (0, 0, 0)


def test_the_queue_shows_the_notebook_as_text():
    """The task in the request (a half-width bubble), the notebook in the response (the
    pane's whole width)."""
    notebook = GradingNotebook("nb_a", "Who churns?", "[cell 1: code]\nfor x in y:\n    f(x)\n",
                               "ok")
    request = request_preview(notebook, "expert_1")
    assert request == "**nb_a** (for expert_1; it ran: ok)\n\n**Task:** Who churns?"
    text = response_preview(notebook, "Grade each question.")
    assert text.startswith("~~~~~~~~\n[cell 1: code]\nfor x in y:\n    f(x)\n\n~~~~~~~~")
    assert text.endswith("\n\nIt ran: ok.\n\nGrade each question.")
    long = GradingNotebook("nb_a", "Who churns?", "x = 1\n" * 1000, "ok")
    assert len(response_preview(long, "Grade.")) > 6000
    cut = response_preview(long, "Grade.", whole=False)
    assert len(cut) <= 1000 and "View full trace]\n~~~~~~~~" in cut
    assert cut.endswith("It ran: ok.\n\nGrade.")


def test_two_raters_grading_one_notebook_in_their_queues(store):
    experiment, traces = _start(store)
    # The review form records "default" as the source and the option's text as the value.
    _feedback(traces["nb_a", "expert_1"], "data_imputation", "1", "fillna first", "default")
    _feedback(traces["nb_a", "expert_2"], "data_imputation", "3", "in the pipeline", "default")
    _feedback(traces["nb_a", "expert_2"], "model_use", "N/A", "nothing used", "default")
    grades = read_grades(store, experiment, NOTEBOOKS)
    assert not grades.problems
    got = {(lb.notebook_id, lb.dimension, lb.rater_id): lb.score for lb in grades.labels}
    assert got == {("nb_a", "data_imputation", "expert_1"): 1,
                   ("nb_a", "data_imputation", "expert_2"): 3,
                   ("nb_a", "model_use", "expert_2"): "N/A"}
    assert grades.superseded == 0


def test_partial_forms_and_the_builtin_question_are_flagged(store):
    experiment, traces = _start(store, raters=("expert_1",))
    for dimension in DIMENSIONS[:2]:
        _feedback(traces["nb_a", "expert_1"], dimension, "2", "fine", "default")
    for dimension in DIMENSIONS:
        _feedback(traces["nb_b", "expert_1"], dimension, "3", "good", "default")
    _feedback(traces["nb_b", "expert_1"], "Feedback", "3", "all good", "default")
    grades = read_grades(store, experiment, NOTEBOOKS)
    assert len(grades.labels) == 11
    [problem] = grades.problems
    assert "built-in question 'Feedback'" in str(problem)
    assert "your queue, 'grading: expert_1'" in str(problem)
    text = "\n".join(status_lines(grades, experiment))
    assert "partial forms (1: fewer than 9 answers" in text
    assert "  expert_1: nb_a has 2 of 9" in text
    assert "nb_b has" not in text       # nine answers and the stray "Feedback": not partial


def test_every_queue_item_shows_its_notebook_not_json(store, monkeypatch):
    """The previews set on each trace are the ones stored, for every trace: exported in the
    background, MLflow's span writer replaced them now and then with the root span's
    inputs as JSON, and the queue showed escaped JSON instead of the notebook."""
    monkeypatch.delenv("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", raising=False)
    experiment = f"grading-{next(_names)}"
    notebooks = [GradingNotebook(f"nb_{i:02d}", f"task {i}", f"[cell 1: code]\nx = {i}\n", "ok")
                 for i in range(15)]
    raters = ("expert_1", "expert_2")
    start_grading(notebooks, raters, tracking_uri=store, experiment=experiment)
    exp_id = mlflow.MlflowClient(store).get_experiment_by_name(experiment).experiment_id
    infos = mlflow.MlflowClient(store).search_traces(locations=[exp_id], max_results=100)
    by_id = {n.notebook_id: n for n in notebooks}
    shown = {(t.info.tags[TAG_NOTEBOOK], t.info.tags[TAG_RATER]):
             (t.info.request_preview, t.info.response_preview) for t in infos}
    assert len(shown) == len(notebooks) * len(raters)
    wrong = [key for key, (request, response) in shown.items()
             if request != request_preview(by_id[key[0]], key[1])
             or response != response_preview(by_id[key[0]], how_to_grade())]
    assert not wrong, f"{len(wrong)} of {len(shown)} traces show other previews: {wrong}"
    assert "MLFLOW_ENABLE_ASYNC_TRACE_LOGGING" not in os.environ   # restored
