"""MemAlign cross-validation through real MLflow judges against a scripted chat server.

The server answers MemAlign's reflection with one marked guideline and every
judge request with a score, and keeps every request body, so the tests can
read exactly what each memory variant put in its prompts. Embeddings are the
in-process hashing model, as offline runs use.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nbjudge.alignment import LeakageError
from nbjudge.alignment.crossval import audit_path, cross_validate
from nbjudge.alignment.memalign import MemAlignSettings
from nbjudge.llm.backends import LLMConfig, open_backend
from nbjudge.schemas import AlignmentAudit, read_json_record
from testing.fault_server import FaultServer
from testing.scripted_alignment import is_judge_request, judge_or_guideline, scripted_experiment

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
GUIDELINE = "GUIDELINE-MARK fit imputers on training rows only"
DIMENSIONS = ("data_imputation", "model_training")


_script = judge_or_guideline(GUIDELINE)


@pytest.fixture
def experiment(tmp_path, monkeypatch):
    """Eight notebooks of four cases with traces and human labels in a temporary store."""
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("MLFLOW_MODEL_CATALOG_URI", "")
    built = scripted_experiment(tmp_path, "crossval-test", DIMENSIONS)
    return {"views": built.views, "traces": built.traces, "labelled": built.labelled,
            "folds": built.folds, "trace_ids": built.trace_ids, "tmp": tmp_path}


def _run(experiment, server, variant, folds=None):
    llm = LLMConfig.from_mapping({
        "backend": "openai_compatible", "model": "scripted", "base_url": server.base_url,
        "context_size": 32768, "notebook_tokens": 1000, "concurrency": 2, "timeout": 30,
        "max_retries": 0, "temperature": 0.0, "max_output_tokens": 100,
        "rationale_max_chars": 100, "embedding_model": "hashing"})
    judge = {"cache_dir": str(experiment["tmp"] / "answers")}
    audit_root = experiment["tmp"] / "alignment" / variant
    with open_backend(llm, embeddings=True, cache_dir=experiment["tmp"] / "cache") as backend:
        return cross_validate(
            experiment["views"], experiment["traces"], experiment["labelled"],
            [folds or experiment["folds"]], variant=variant, llm=llm, judge=judge,
            settings=MemAlignSettings(retrieval_k=2), backend=backend, audit_root=audit_root,
            dimensions=DIMENSIONS, progress=False)


def _judge_prompts(server):
    prompts = []
    for body in server.bodies:
        if is_judge_request(body):
            prompts.append(body["messages"][0]["content"])
    return prompts


def test_full_variant_prompts_carry_retrieved_examples_and_guidelines(experiment):
    with FaultServer(_script) as server:
        judgments, _summary, _audits = _run(experiment, server, "full")
    prompts = _judge_prompts(server)
    assert len(prompts) == 8 * len(DIMENSIONS)
    assert all("Example Judgements (2)" in p for p in prompts)
    assert all(GUIDELINE in p for p in prompts)
    # every judgment names the two examples retrieved into its prompt
    assert all(len(j.retrieved_ids) == 2 for j in judgments)


def test_semantic_only_prompts_have_guidelines_and_no_examples(experiment):
    with FaultServer(_script) as server:
        judgments, _, audits = _run(experiment, server, "semantic_only")
    prompts = _judge_prompts(server)
    assert len(prompts) == 8 * len(DIMENSIONS)
    assert all(GUIDELINE in p for p in prompts)
    assert not any("Example Judgements" in p for p in prompts)
    assert all(j.retrieved_ids == [] for j in judgments)
    assert all(a.retrievals == {} for a in audits)


def test_every_notebook_is_judged_once_out_of_fold(experiment):
    with FaultServer(_script) as server:
        judgments, _, audits = _run(experiment, server, "full")
    folds = experiment["folds"]
    keys = [(j.notebook_id, j.dimension) for j in judgments]
    assert sorted(keys) == sorted((v.notebook_id, d) for v in experiment["views"]
                                  for d in DIMENSIONS)
    for j in judgments:
        assert j.status == "ok" and j.variant == "full"
        assert j.fold == folds.fold_of(j.notebook_id)
    # the audits name notebooks, never a held-out one of their own fold
    for audit in audits:
        held_out = set(folds.test_ids(audit.fold))
        remembered = {i for g in audit.guidelines for i in g.source_ids} | set(audit.episodic_ids)
        assert remembered and not remembered & held_out
        for notebook_id, retrieved in audit.retrievals.items():
            assert notebook_id in held_out and not set(retrieved) & held_out
        path = audit_path(experiment["tmp"] / "alignment" / "full", audit.fold, audit.dimension)
        # the file leaves out the alignment's wall-clock time and the calls and tokens it
        # sent past DSPy's cache (nbjudge.runlog keeps both)
        assert read_json_record(path, AlignmentAudit) == audit.model_copy(
            update={"seconds": None, "tokens": None})


def test_a_rerun_sends_no_judge_request(experiment):
    with FaultServer(_script) as server:
        first, _, _ = _run(experiment, server, "semantic_only")
    with FaultServer(_script) as server:
        second, summary, _ = _run(experiment, server, "semantic_only")
        assert _judge_prompts(server) == []
    assert summary.sent == 0 and summary.cached == len(first)
    assert [j.model_dump() for j in second] == [j.model_dump() for j in first]


def test_full_answers_name_notebooks_so_a_fresh_store_reuses_them(experiment, tmp_path_factory):
    """Answers name retrieved examples by notebook: the cache outlives the MLflow store."""
    with FaultServer(_script) as server:
        first, _, _ = _run(experiment, server, "full")
    notebooks = {v.notebook_id for v in experiment["views"]}
    assert all(j.retrieved_ids and set(j.retrieved_ids) <= notebooks for j in first)
    fresh = scripted_experiment(tmp_path_factory.mktemp("fresh"), "crossval-fresh", DIMENSIONS)
    assert not set(fresh.traces[n].info.trace_id for n in notebooks) & set(
        experiment["traces"][n].info.trace_id for n in notebooks)
    again = dict(experiment, traces=fresh.traces, labelled=fresh.labelled)
    with FaultServer(_script) as server:
        second, summary, _ = _run(again, server, "full")
        assert _judge_prompts(server) == []
    assert summary.sent == 0
    assert [j.model_dump() for j in second] == [j.model_dump() for j in first]


def test_a_planted_leak_stops_the_run_naming_the_notebooks(experiment):
    folds = experiment["folds"]
    held_out = folds.test_ids(0)[0]
    # a broken assignment that trains fold 0 on its own held-out notebook
    leaky = folds.model_copy(update={"folds": {**folds.folds}})

    class Leaky(type(leaky)):
        def train_ids(self, fold):
            return sorted(set(super().train_ids(fold)) | {held_out})

    leaky = Leaky.model_validate(leaky.model_dump())
    with FaultServer(_script) as server, pytest.raises(LeakageError) as error:
        _run(experiment, server, "full", folds=leaky)
    assert held_out in str(error.value) and "fold 0" in str(error.value)


def test_matrix_stages_are_listed_by_dvc():
    result = subprocess.run([sys.executable, "-m", "dvc", "stage", "list"], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    names = [line.split()[0] for line in result.stdout.splitlines() if line.strip()]
    assert "align@full" in names and "align@semantic_only" in names
    assert {"judge", "folds", "register", "stats", "report"} <= set(names)
