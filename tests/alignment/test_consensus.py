"""MemAlign learns one HUMAN grade per (trace, dimension): the raters' consensus, as the
statistics compute it, rounded half up."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pytest
from mlflow.entities import AssessmentSource, AssessmentSourceType

from nbjudge.alignment import memalign
from nbjudge.alignment.memalign import (
    ConsensusRule,
    MemAlignSettings,
    align_dimension,
    human_consensus,
    round_half_up,
    with_consensus,
)
from nbjudge.llm.usage import UsageLog
from nbjudge.schemas import DIMENSIONS, AlignmentAudit, Label
from nbjudge.stats.tables import build_table, consensus
from testing.scripted_alignment import judge_or_guideline


def _label(notebook, rater, score, dimension="data_imputation"):
    return Label(notebook_id=notebook, dimension=dimension, score=score,
                 rationale=f"{rater} says {score}", rater_id=rater, source="human")


@pytest.mark.parametrize(("value", "score"), [(0.0, 0), (0.33, 0), (0.5, 1), (1.0, 1),
                                              (1.49, 1), (1.5, 2), (2.33, 2), (2.5, 3),
                                              (2.67, 3), (3.0, 3)])
def test_half_rounds_up(value, score):
    assert round_half_up(value) == score


def test_the_consensus_of_several_raters():
    labels = [_label("a", "e1", 2), _label("a", "e2", 3),                        # 2.5 -> 3
              _label("b", "e1", "N/A"), _label("b", "e2", 3),                    # majority: 3
              _label("c", "e1", "N/A"), _label("c", "e2", "N/A"), _label("c", "e3", 3),
              _label("d", "e2", 1)]                                              # one rater
    got = human_consensus(labels, ConsensusRule())
    assert {k[0]: v.score for k, v in got.items()} == {"a": 3, "b": 3, "c": "N/A", "d": 1}
    assert got["a", "data_imputation"].raters == ("e1", "e2")
    assert "e1 gave 2: e1 says 2" in got["a", "data_imputation"].rationale
    assert "e2 gave 3" in got["a", "data_imputation"].rationale
    assert got["d", "data_imputation"].rationale == "e2 says 1"
    zero = human_consensus(labels, ConsensusRule(consensus_na="zero"))
    assert zero["b", "data_imputation"].score == 2                   # (0 + 3) / 2 = 1.5 -> 2
    one = human_consensus(labels, ConsensusRule(consensus="rater:e2"))
    assert one["a", "data_imputation"].score == 3
    assert one["a", "data_imputation"].raters == ("e2",)
    # a cell e1 did not grade has no consensus under rater:e1 (it is not scored either)
    assert set(human_consensus(labels, ConsensusRule(consensus="rater:e1"))) == {
        ("a", "data_imputation"), ("b", "data_imputation"), ("c", "data_imputation")}


def test_it_is_the_statistics_consensus_rounded():
    rng = np.random.default_rng(7)
    labels = []
    for n in range(40):
        for rater in rng.choice(["e1", "e2", "e3"], size=rng.integers(1, 4), replace=False):
            for dimension in DIMENSIONS[:3]:
                labels.append(_label(f"nb{n}", str(rater), rng.choice([1, 2, 3, "N/A"]).item()
                                     if rng.random() < 0.9 else "N/A", dimension))
    for rule in (ConsensusRule(), ConsensusRule("median"), ConsensusRule(consensus_na="zero")):
        table = build_table(labels, [])
        expected = consensus(table.ratings, rule.consensus, raters=table.raters,
                             na_policy=rule.na_policy, na_rule=rule.consensus_na)
        got = human_consensus(labels, rule)
        for i, notebook in enumerate(table.notebooks):
            for j, dimension in enumerate(table.dimensions):
                value = expected[i, j]
                rounded = int(np.floor(value + 0.5))
                want = "N/A" if rounded == 0 else rounded
                assert got[notebook, dimension].score == want


@pytest.fixture
def trace(tmp_path, new_mlflow_store):
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(new_mlflow_store(tmp_path))
    mlflow.set_experiment("consensus")   # not the experiment id an earlier test left active
    try:
        with mlflow.start_span(name="notebook a") as span:
            span.set_inputs({"task": "t"})
            span.set_outputs("text")
        mlflow.flush_trace_async_logging()
        for rater, value in (("e1", 2), ("e2", 3)):
            mlflow.log_feedback(trace_id=span.trace_id, name="data_imputation", value=value,
                                rationale=rater, source=AssessmentSource(
                                    source_type=AssessmentSourceType.HUMAN, source_id=rater))
        mlflow.log_feedback(trace_id=span.trace_id, name="data_imputation", value=1,
                            rationale="judge", source=AssessmentSource(
                                source_type=AssessmentSourceType.LLM_JUDGE, source_id="m"))
        yield mlflow.get_trace(span.trace_id)
    finally:
        mlflow.set_tracking_uri(previous)


@pytest.mark.slow  # imports MemAlign and dspy: about 6 s of CPU, more than any other test here
def test_memalign_sees_one_human_grade_the_store_keeps_all(trace, monkeypatch):
    grade = human_consensus([_label("a", "e1", 2), _label("a", "e2", 3)],
                            ConsensusRule())["a", "data_imputation"]
    copied = with_consensus(trace, "data_imputation", grade)
    human = [a for a in copied.info.assessments if a.source.source_type == "HUMAN"]
    assert [(a.name, a.feedback.value, a.source.source_id) for a in human] == [
        ("data_imputation", 3, "consensus:e1+e2")]
    assert any(a.source.source_type == "LLM_JUDGE" for a in copied.info.assessments)
    assert sum(a.source.source_type == "HUMAN" for a in trace.info.assessments) == 2

    seen = []

    class Judge:
        name = "data_imputation"

        def align(self, traces, optimizer):
            seen.extend(traces)
            return self

        def model_dump(self):
            return {}

    class Optimizer:
        def __init__(self, **kwargs):
            pass

    monkeypatch.setattr("mlflow.genai.judges.optimizers.MemAlignOptimizer", Optimizer)
    result = align_dimension(Judge(), [trace], settings=MemAlignSettings(retrieval_k=1),
                             reflection_model="m", embedding_model="e", usage=UsageLog(),
                             human={trace.info.trace_id: grade})
    assert [sum(a.source.source_type == "HUMAN" for a in t.info.assessments)
            for t in seen] == [1]
    assert result.consensus_raters == {trace.info.trace_id: ("e1", "e2")}
    audit = AlignmentAudit(variant="full", fold=0, dimension="data_imputation", seconds=0.0,
                           reflection_model="m", retrieval_k=1,
                           consensus_raters={"a": ["e1", "e2"]},
                           consensus_rule=ConsensusRule().describe())
    assert "rounded half up" in audit.consensus_rule
    assert memalign.__doc__ and "half up" in memalign.__doc__


GUIDELINE = "CONSENSUS-MARK"


_script = judge_or_guideline(GUIDELINE)


@pytest.mark.slow
def test_cross_validation_teaches_the_consensus_and_audits_its_raters(tmp_path, monkeypatch):
    from nbjudge.alignment import assign_folds
    from nbjudge.alignment.crossval import cross_validate
    from nbjudge.judges.requests import NotebookView
    from nbjudge.judges.tracing import (
        NotebookTrace,
        ensure_traces,
        log_human_labels,
        setup_tracking,
    )
    from nbjudge.llm.backends import LLMConfig, open_backend
    from testing.fault_server import FaultServer

    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("MLFLOW_MODEL_CATALOG_URI", "")
    experiment_id = setup_tracking(f"sqlite:///{tmp_path / 'mlflow.db'}", "consensus-test")
    views, labels = [], []
    for c in range(4):
        for n in range(2):
            notebook_id = f"case{c}__0{n + 1}"
            views.append(NotebookView(notebook_id, f"case{c}", f"Task {c}",
                                      f"# Task prompt\n\nTask {c}\n\n# Notebook\n\ncell {n}\n"))
            labels.append(Label(notebook_id=notebook_id, dimension="data_imputation",
                                score=1, rationale=f"RATER-ONE on {notebook_id}",
                                rater_id="r1", source="human"))
            if n == 0:   # a second, conflicting rater: the consensus of 1 and 2 is 1.5 -> 2
                labels.append(Label(notebook_id=notebook_id, dimension="data_imputation",
                                    score=2, rationale=f"RATER-TWO on {notebook_id}",
                                    rater_id="r2", source="human"))
    trace_ids = ensure_traces([NotebookTrace(v.notebook_id, v.task_prompt, v.outputs)
                               for v in views], experiment_id)
    log_human_labels(labels, trace_ids)
    traces = {n: mlflow.get_trace(t) for n, t in trace_ids.items()}
    labelled = {"data_imputation": {v.notebook_id for v in views}}
    folds = assign_folds([(v.notebook_id, v.case_id, "binary") for v in views], 4, seed=3)
    with FaultServer(_script) as server:
        llm = LLMConfig.from_mapping({
            "backend": "openai_compatible", "model": "scripted", "context_size": 32768,
            "notebook_tokens": 1000, "concurrency": 2, "timeout": 30, "max_retries": 0,
            "temperature": 0.0, "max_output_tokens": 100, "rationale_max_chars": 100,
            "embedding_model": "hashing", "base_url": server.base_url})
        with open_backend(llm, embeddings=True, cache_dir=tmp_path / "cache") as backend:
            _, _, audits = cross_validate(
                views, traces, labelled, [folds], variant="full", llm=llm,
                judge={"cache_dir": str(tmp_path / "answers")},
                settings=MemAlignSettings(retrieval_k=1), backend=backend,
                audit_root=tmp_path / "alignment", dimensions=("data_imputation",),
                progress=False, labels=labels, consensus_rule=ConsensusRule())
            sent = json.dumps(server.bodies)
            # Scored against r2 alone, MemAlign learns only what r2 graded (the __01
            # notebooks): r1's grades of the others are in the store, never in a prompt.
            server.bodies.clear()
            _, _, only_r2 = cross_validate(
                views, traces, labelled, [folds], variant="full", llm=llm,
                judge={"cache_dir": str(tmp_path / "answers-r2")},
                settings=MemAlignSettings(retrieval_k=1), backend=backend,
                audit_root=tmp_path / "alignment-r2", dimensions=("data_imputation",),
                progress=False, labels=labels, consensus_rule=ConsensusRule("rater:r2"))
            sent_r2 = json.dumps(server.bodies)
    assert "RATER-TWO on case" in sent_r2
    assert "RATER-ONE on case0__02" not in sent_r2 and "RATER-ONE" not in sent_r2
    for audit in only_r2:
        assert audit.consensus_raters
        assert all(n.endswith("__01") and raters == ["r2"]
                   for n, raters in audit.consensus_raters.items())
        assert all(n.endswith("__01") for n in audit.episodic_ids), audit.episodic_ids
    # MemAlign read one grade per notebook, quoting both raters where there were two.
    assert "r1 gave 1: RATER-ONE on case0__01 | r2 gave 2: RATER-TWO on case0__01" in sent \
        or "r1 gave 1: RATER-ONE on case1__01 | r2 gave 2: RATER-TWO on case1__01" in sent
    assert len(audits) == 4
    for audit in audits:
        assert audit.consensus_rule and "half up" in audit.consensus_rule
        assert audit.consensus_raters            # the training notebooks' raters
        for notebook, raters in audit.consensus_raters.items():
            assert raters == (["r1", "r2"] if notebook.endswith("__01") else ["r1"])
    # The store keeps each rater's own feedback.
    stored = mlflow.get_trace(trace_ids["case0__01"]).info.assessments
    assert sorted(a.source.source_id for a in stored if a.source.source_type == "HUMAN") \
        == ["r1", "r2"]
