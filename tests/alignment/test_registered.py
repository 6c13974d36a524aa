"""Registered judges rebuild, in a fresh process, the episodic memory they were aligned with:
the raters' consensus, not whichever rater MLflow's conflict resolution keeps.

Three raters grade every notebook 1, 1 and 3 (mean 5/3, consensus 2). MemAlign's own
resolution of those grades on the notebook traces keeps the majority, 1; the registered
judges are aligned on consensus traces and must rebuild 2 everywhere. The chat server is
scripted (it keeps every request body, so the test reads the examples a loaded judge
pastes into its prompt); embeddings are the in-process hashing model.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import mlflow
import nbformat
import pytest
import yaml
from mlflow.entities import AssessmentSource, AssessmentSourceType

from nbjudge.__main__ import main as nbjudge_main
from nbjudge.alignment.final import (
    RegisteredJudgeError,
    align_final,
    check_episodic_memory,
    consensus_traces,
    load_registered_judges,
    rebuilt_memory,
    register_judges,
    verify_registered_judges,
)
from nbjudge.alignment.memalign import ConsensusRule, MemAlignSettings, human_consensus
from nbjudge.judges.requests import NotebookView
from nbjudge.judges.tracing import NotebookTrace, ensure_traces, log_human_labels, setup_tracking
from nbjudge.llm.backends import LLMConfig, open_backend
from nbjudge.schemas import Label, Registration, read_json_record, write_json_record
from testing.fault_server import FaultServer
from testing.scripted_alignment import is_judge_request, judge_or_guideline

ROOT = Path(__file__).resolve().parents[2]
DIMENSION = "model_training"
NOTEBOOKS = 4
GRADES = {"e1": 1, "e2": 1, "e3": 3}      # mean 5/3: consensus 2, majority 1
EXPERIMENT = "registered-test"
pytestmark = pytest.mark.slow

_script = judge_or_guideline("REGISTERED-GUIDELINE")


def _llm(base_url: str) -> dict:
    return {"backend": "openai_compatible", "model": "scripted", "base_url": base_url,
            "context_size": 32768, "notebook_tokens": 1000, "concurrency": 1, "timeout": 30,
            "max_retries": 0, "temperature": 0.0, "max_output_tokens": 100,
            "rationale_max_chars": 100, "embedding_model": "hashing"}


@pytest.fixture
def store(tmp_path, monkeypatch, new_mlflow_store):
    """Notebooks graded 1, 1, 3 by three raters, as traces in a temporary store."""
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("MLFLOW_MODEL_CATALOG_URI", "")
    # the active experiment is process-wide: leave the one later tests expect
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    uri = new_mlflow_store(tmp_path)
    previous = mlflow.get_tracking_uri()
    experiment_id = setup_tracking(uri, EXPERIMENT)
    views, labels = [], []
    for n in range(NOTEBOOKS):
        notebook_id = f"case{n}__01"
        views.append(NotebookView(notebook_id, f"case{n}", f"Task {n}",
                                  f"# Task prompt\n\nTask {n}\n\n# Notebook\n\nmodel.fit(X{n})\n"))
        labels += [Label(notebook_id=notebook_id, dimension=DIMENSION, score=score,
                         rationale=f"{rater} on {notebook_id}", rater_id=rater, source="human")
                   for rater, score in GRADES.items()]
    trace_ids = ensure_traces([NotebookTrace(v.notebook_id, v.task_prompt, v.outputs)
                               for v in views], experiment_id)
    log_human_labels(labels, trace_ids)
    yield {"uri": uri, "experiment_id": experiment_id, "labels": labels, "tmp": tmp_path,
           "traces": {n: mlflow.get_trace(t) for n, t in trace_ids.items()},
           "labelled": {DIMENSION: {v.notebook_id for v in views}}}
    mlflow.set_tracking_uri(previous)


def _register(store, server) -> Registration:
    llm = LLMConfig.from_mapping(_llm(server.base_url))
    with open_backend(llm, embeddings=True, cache_dir=store["tmp"] / "cache") as backend:
        aligned = align_final(store["traces"], store["labelled"], llm=llm, backend=backend,
                              settings=MemAlignSettings(retrieval_k=NOTEBOOKS),
                              labels=store["labels"], experiment_id=store["experiment_id"],
                              dimensions=(DIMENSION,), consensus_rule=ConsensusRule())
    registration = Registration(params={}, judges=register_judges(aligned,
                                                                  store["experiment_id"]))
    write_json_record(store["tmp"] / "judges.json", registration)
    return registration


def _score_args(store, server) -> list[str]:
    params = store["tmp"] / "params.yaml"
    params.write_text(yaml.safe_dump({
        "llm": _llm(server.base_url),
        "judge": {"render": {"max_tokens": 1000, "max_output_chars": 1500},
                  "cache_dir": str(store["tmp"] / "answers"), "tracking_uri": store["uri"],
                  "experiment": EXPERIMENT},
        "memalign": {"retrieval_k": NOTEBOOKS, "embedding_dim": 512,
                     "reflection_model": None}}))
    notebook = store["tmp"] / "new.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("model.fit(X)")]),
                   notebook)
    return ["score", str(notebook), "--params", str(params),
            "--registration", str(store["tmp"] / "judges.json")]


def test_raw_raters_resolve_to_the_majority_not_the_consensus(store, caplog):
    """What the registered judges would learn from the notebook traces themselves: MLflow
    keeps the majority (1) and warns, though the consensus is 2."""
    consensus = human_consensus(store["labels"], ConsensusRule())
    assert {grade.score for grade in consensus.values()} == {2}
    from mlflow.genai.judges import make_judge
    from mlflow.genai.judges.optimizers.dspy_utils import trace_to_dspy_example

    judge = make_judge(name=DIMENSION, instructions="Grade {{ outputs }}",
                       model="openai:/unused")
    with caplog.at_level(logging.WARNING):
        labels = {str(example.result) for trace in store["traces"].values()
                  for example in trace_to_dspy_example(trace, judge)}
    assert labels == {"1"}
    assert "conflicting assessment" in caplog.text


def test_a_fresh_process_rebuilds_the_consensus_in_every_example(store):
    with FaultServer(_script) as server:
        registration = _register(store, server)
        (entry,) = registration.judges
        assert entry.episodic_examples == NOTEBOOKS
        assert entry.rebuilt_examples == NOTEBOOKS and entry.labels_match is True
        assert [e.label for e in entry.examples] == ["2"] * NOTEBOOKS
        assert all(e.raters == ["e1", "e2", "e3"] for e in entry.examples)
        assert sorted(e.notebook_id for e in entry.examples) == sorted(store["traces"])
        # the record on disk says the same
        on_disk = read_json_record(store["tmp"] / "judges.json", Registration)
        assert on_disk.judges[0].examples == entry.examples

        server.bodies.clear()
        env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True",
               "MLFLOW_MODEL_CATALOG_URI": "", "MLFLOW_TRACKING_URI": store["uri"]}
        done = subprocess.run([sys.executable, "-m", "nbjudge", *_score_args(store, server)],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        bodies = list(server.bodies)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "conflicting assessment" not in output
    assert f"{DIMENSION} {NOTEBOOKS}" in done.stdout
    prompts = [body["messages"][0]["content"] for body in bodies if is_judge_request(body)]
    assert len(prompts) == 1
    examples = re.findall(r"Example \d+: (\{.*\})", prompts[0])
    assert len(examples) == NOTEBOOKS
    results = [re.search(r"'result': '([^']*)'", example).group(1) for example in examples]
    assert results == ["2"] * NOTEBOOKS
    # each example carries its consensus rationale, quoting all three raters
    assert all("e1 gave 1" in e and "e2 gave 1" in e and "e3 gave 3" in e for e in examples)


def test_gone_or_changed_traces_stop_registration_checks_and_score(store, capsys):
    with FaultServer(_script) as server:
        registration = _register(store, server)
        (entry,) = registration.judges
        judges = load_registered_judges(store["experiment_id"], dimensions=(DIMENSION,))
        judge = judges[DIMENSION]
        assert check_episodic_memory(judge, entry) == NOTEBOOKS
        traces = rebuilt_memory(judge)
        assert [t.notebook_id for t in traces] == [e.notebook_id for e in entry.examples]
        assert [t.labels for t in traces] == [["2"]] * NOTEBOOKS

        # a rater grades a consensus trace directly: on a tie MLflow keeps the later grade
        changed = traces[0]
        mlflow.log_feedback(trace_id=changed.trace_id, name=DIMENSION, value=3,
                            rationale="late grade", source=AssessmentSource(
                                source_type=AssessmentSourceType.HUMAN, source_id="e4"))
        assert rebuilt_memory(judge)[0].labels == ["3"]
        with pytest.raises(RegisteredJudgeError, match=rf"trace {changed.trace_id} "
                           rf"\(notebook {changed.notebook_id}\) rebuilds as \['3'\] where "
                           r"the alignment taught \['2'\]"):
            check_episodic_memory(judge, entry)
        # an agreeing grade doubles the example: the count is checked too
        doubled = traces[2]
        mlflow.log_feedback(trace_id=doubled.trace_id, name=DIMENSION, value=2,
                            rationale="agrees", source=AssessmentSource(
                                source_type=AssessmentSourceType.HUMAN, source_id="e4"))
        with pytest.raises(RegisteredJudgeError, match=r"rebuilds as \['2', '2'\]"):
            check_episodic_memory(judge, entry)
        assert nbjudge_main(_score_args(store, server)) == 1
        assert "does not rebuild the episodic memory" in capsys.readouterr().err

        gone = traces[1]
        mlflow.MlflowClient().delete_traces(store["experiment_id"], trace_ids=[gone.trace_id])
        with pytest.raises(RegisteredJudgeError,
                           match=rf"trace {gone.trace_id} is gone from the tracking store"):
            check_episodic_memory(judge, entry)
        with pytest.raises(RegisteredJudgeError, match="lists no episodic examples"):
            check_episodic_memory(judge, entry.model_copy(update={"examples": []}))
        assert not [b for b in server.bodies if is_judge_request(b)]   # nothing was scored


def test_consensus_traces_are_reused_and_replaced_when_grades_change(store):
    rule = ConsensusRule()
    grades = human_consensus(store["labels"], rule)
    first = consensus_traces(store["traces"], grades, store["experiment_id"], rule)
    assert sorted(first) == sorted(store["traces"])
    assert consensus_traces(store["traces"], grades, store["experiment_id"], rule) == first
    trace = mlflow.get_trace(first["case0__01"])
    human = [a for a in trace.info.assessments if a.source.source_type == "HUMAN"]
    assert [(a.name, a.feedback.value, a.source.source_id) for a in human] == [
        (DIMENSION, 2, "consensus:e1+e2+e3")]
    assert human[0].metadata["nbjudge.raters"] == "e1,e2,e3"
    # the consensus trace shows the notebook the judges read, and is no notebook trace
    assert trace.data.spans[0].outputs == store["traces"]["case0__01"].data.spans[0].outputs
    assert "nbjudge.notebook_id" not in trace.info.tags

    lower = human_consensus([lb if lb.rater_id != "e3" or lb.notebook_id != "case0__01"
                             else lb.model_copy(update={"score": 1})
                             for lb in store["labels"]], rule)
    second = consensus_traces(store["traces"], lower, store["experiment_id"], rule)
    assert second["case0__01"] != first["case0__01"]
    assert {n: t for n, t in second.items() if n != "case0__01"} == {
        n: t for n, t in first.items() if n != "case0__01"}
    # the notebook traces keep each rater's own grade
    stored = mlflow.get_trace(store["traces"]["case0__01"].info.trace_id)
    assert sorted(a.source.source_id for a in stored.info.assessments
                  if a.source.source_type == "HUMAN") == ["e1", "e2", "e3"]


def test_the_record_names_judges_by_digest_whatever_version_the_store_gives(store):
    """Registering the same judges again makes version 2 with the same digest; the record
    loads the newest version with its digest, a record of version 1 (no digest) its version,
    and an unknown digest is refused after the examples check."""
    with FaultServer(_script) as server:
        (first,) = _register(store, server).judges
        (again,) = _register(store, server).judges
    assert (first.version, again.version) == (1, 2)
    assert first.digest == again.digest and len(first.digest) == 64
    digests = {DIMENSION: again.digest}
    loaded = load_registered_judges(store["experiment_id"], dimensions=(DIMENSION,),
                                    digests=digests)
    assert loaded[DIMENSION].scorer_version == 2
    record = Registration(params={}, judges=[again.model_copy(update={"version": None})])
    assert verify_registered_judges(loaded, record) == {DIMENSION: NOTEBOOKS}
    # a version-1 record: loaded by the version it names
    old = load_registered_judges(store["experiment_id"], dimensions=(DIMENSION,),
                                 versions={DIMENSION: 1})
    assert old[DIMENSION].scorer_version == 1
    assert Registration.model_validate({"schema_version": 1, "params": {}, "judges": [
        first.model_dump(mode="json", exclude={"digest"})]}).judges[0].version == 1
    # a judge the store does not hold: the latest is loaded, and the check refuses it
    other = load_registered_judges(store["experiment_id"], dimensions=(DIMENSION,),
                                   digests={DIMENSION: "0" * 64})
    assert other[DIMENSION].scorer_version == 2
    stranger = Registration(params={}, judges=[again.model_copy(update={"digest": "0" * 64})])
    with pytest.raises(RegisteredJudgeError,
                       match=r"no registered version of \S+ in this tracking store is the"):
        verify_registered_judges(other, stranger)
