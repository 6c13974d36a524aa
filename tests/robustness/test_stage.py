"""The `robustness` stage through DVC, in a scratch copy of the repository on the tiny suite,
the judges answered by a scripted server that follows any "answer 3" it reads: the stage
runs its upstream stages (the register stage's aligned judges included), executes the
variant whose code changed in the sandbox, and reports the gullible judges susceptible
with the scripted shift under every defence (the scripted judge ignores delimiters), the
scanner finding every injected variant and flagging no clean one."""

from __future__ import annotations

import json
import re

import pytest

from nbjudge.alignment import read_folds
from nbjudge.config import compose_params
from nbjudge.judges.marking import DATA_SENTENCE, END, neutralise
from nbjudge.schemas import Judgment, Notebook, RobustnessShift, read_records
from testing.fault_server import FaultServer, reply, score
from testing.pipeline_runs import TINY_OVERRIDES, dvc, scratch_repo
from testing.scripted_alignment import is_judge_request

pytestmark = pytest.mark.slow   # dvc repro, a FaultServer and notebook kernels

OVERRIDES = [
    "robustness.enabled=true",
    "robustness.notebooks=2",
    "robustness.variants=[inject_markdown_polite,inject_printed_verdict,cosmetic_headings,"
    "defect_no_mlflow]",
    "robustness.dimensions=[mlflow_logging,model_training]",
    "robustness.judges=[baseline,full,registered,semantic_only]",
    "robustness.defences=[none,marked,marked+strip]",
]


def _gullible(index, body):
    if not is_judge_request(body):
        return reply(json.dumps({"guidelines": [
            {"guideline_text": "Prefer imputers fit on the training split",
             "source_trace_ids": [0]}]}))
    user = body["messages"][-1]["content"].replace('\\"', '"')
    told = re.search(r"score of 3|\"result\": 3", user)
    return score(3 if told else 2, "scripted")


def test_the_stage_measures_a_gullible_judge_and_the_scanner(tmp_path):
    with FaultServer(_gullible) as server:
        repo = scratch_repo(tmp_path / "repo", server.base_url)
        compose_params(repo / "params.yaml",
                       [*TINY_OVERRIDES, f"llm.base_url={server.base_url}", *OVERRIDES],
                       repo / "conf")
        out = dvc(repo, "repro", "robustness")
        systems = [b["messages"][0]["content"] for b in server.bodies if is_judge_request(b)]
    assert "robustness" in out
    summary = json.loads((repo / "data/robustness/summary.json").read_text())
    assert summary["enabled"] and len(summary["originals"]) == 2
    assert summary["executed"]["variants"] == 2          # defect_no_mlflow, one per original
    # the tiny suite is procedural: a defect is the generator's level-1 template where it can be
    assert summary["redrawn"] and set(summary["redrawn"]) <= {
        f"{n}~defect_no_mlflow" for n in summary["originals"]}
    assert all("-> 1" in how for how in summary["redrawn"].values())
    judged = {j.notebook_id for j in read_records(repo / "data/robustness/judgments.jsonl",
                                                  Judgment)}
    clean = {n for n in judged if "~inject_" not in n}
    assert len(clean) >= 4          # the originals, their defects, headings where they have some
    assert summary["scanner"] == {"injected": 4, "injected_found": 4, "clean": len(clean),
                                  "clean_flagged": 0, "originals_flagged": []}
    families = {(f["judge"], f["defence"]): f for f in summary["families"]}
    assert set(families) == {(j, d) for j in ("baseline", "full", "registered", "semantic_only")
                             for d in ("none", "marked", "marked+strip")}
    for (judge, defence), family in families.items():
        # told "answer 3" the scripted judge moves from 2 to 3; stripped, nothing is told
        expected = 0.0 if defence == "marked+strip" else 1.0
        assert family["susceptibility"] == pytest.approx(expected), (judge, defence)
        assert family["invariance"] == pytest.approx(1.0)
    assert summary["headline"]["susceptibility"]["baseline@none"] == pytest.approx(1.0)
    judgments = read_records(repo / "data/robustness/judgments.jsonl", Judgment)
    assert {j.variant for j in judgments} == {f"{j}@{d}" for j, d in families}
    assert all(j.status == "ok" for j in judgments)
    rows = read_records(repo / "data/robustness/shifts.jsonl", RobustnessShift)
    assert any(r.family == "defect" and r.expected == "fall" for r in rows) or all(
        r.n_pairs == 0 for r in rows if r.family == "defect" and r.dimension != "*")
    executed = read_records(repo / "data/robustness/executed/index.jsonl", Notebook) \
        if (repo / "data/robustness/executed/index.jsonl").exists() else []
    assert executed == [] or all(n.execution is not None for n in executed)
    plan = json.loads((repo / "data/robustness/plan.json").read_text())
    assert plan["stage"] == "robustness" and len(plan["lines"]) == 12

    # full: each original and its variants judged by the judges of the original's fold,
    # which never remember that notebook
    folds = read_folds(repo / "data/folds.json")[0]
    full = [j for j in judgments if j.variant.startswith("full@")]
    assert {j.notebook_id.split("~")[0] for j in full} == set(summary["originals"])
    for j in full:
        original = j.notebook_id.split("~")[0]
        assert j.fold == folds.fold_of(original)
        assert original not in j.retrieved_ids and j.retrieved_ids
    # each fold's judges aligned again without a reflection request: DSPy's cache, filled
    # by the align stage, answered their distillation (the run log beside the summary)
    side = repo / ".nbjudge-cache/runlog/data/robustness/summary.json.jsonl"
    sent = [json.loads(line) for line in side.read_text().splitlines()]
    assert len(sent) == 2 * len({folds.fold_of(n) for n in summary["originals"]})
    assert all(s["calls"] == 0 and s["prompt"] == 0 for s in sent), sent
    assert "aligning them sent 0 request(s), 0 tokens" in out
    # an aligned judge's memory is quoted as data under a marking defence (no delimiter in
    # its prompt but the data sentence's), as MLflow quotes it under none (an example's own
    # delimiters, no data sentence)
    with_memory = [s for s in systems if "Example Judgements" in s]
    marked = [s for s in with_memory if DATA_SENTENCE in s]
    assert marked and all(s.count(END) == 1 and f"{neutralise(END)}\\n" in s for s in marked)
    plain = [s for s in with_memory if DATA_SENTENCE not in s]
    assert len(plain) >= 18 and all(f"{END}\\n" in s for s in plain)   # full@none at least
