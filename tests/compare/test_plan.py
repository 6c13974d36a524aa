"""`python -m nbjudge plan` counts the comparison's requests when arms are set."""

from __future__ import annotations

import pytest

from nbjudge.compare.build import arm_notebook_id
from nbjudge.config import compose_params
from nbjudge.params import load_params
from nbjudge.plan.pipeline import plan_pipeline
from nbjudge.schemas import DIMENSIONS, Case, Notebook, write_records
from testing.stage_runs import ROOT


def _params(folder, *overrides):
    compose_params(folder / "params.yaml", list(overrides), ROOT / "conf")
    return load_params(folder / "params.yaml")


def _compare_plans(plans):
    return {p.stage: p for p in plans if p.stage.startswith("compare")}


def test_no_arms_no_compare_plan(tmp_path):
    plans, _ = plan_pipeline(_params(tmp_path), root=tmp_path)
    assert not _compare_plans(plans)


def test_arms_not_built_yet_are_counted_from_the_suite(tmp_path):
    params = _params(tmp_path, "compare=demo", "compare.arms.candidate.notebooks_per_case=2")
    plans, _ = plan_pipeline(params, root=tmp_path)
    (line,) = _compare_plans(plans)["compare-judge"].lines
    cases = 4   # the demo suite
    assert line.requests == (cases * 4 + cases * 2) * len(DIMENSIONS)
    assert line.bound == "estimate" and line.cached == 0
    assert "compare.judges=registered" in line.how


def test_built_arms_are_counted_from_their_index_and_llm_arms_write(tmp_path):
    params = _params(tmp_path, "compare=demo", "compare.judges=baseline",
                     "+compare.arms.writer={backend: llm, writer: null, notebooks_per_case: 1}")
    plans, notes = plan_pipeline(params, root=tmp_path)
    # no cases built yet: the writer's requests cannot be counted, and the plan says so
    assert any("arm writer's writer requests are not counted" in n for n in notes)

    folder = tmp_path / "data/compare/notebooks"
    folder.mkdir(parents=True)
    (folder / "n.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, '
                                    '"nbformat_minor": 5}')
    ids = [arm_notebook_id(arm, f"c1__{k:02d}") for arm in ("reference", "candidate")
           for k in range(3)]
    write_records(folder / "index.jsonl", [
        Notebook(notebook_id=i, case_id="c1", path="data/compare/notebooks/n.ipynb",
                 sha256="0" * 64, origin="procedural") for i in ids])
    write_records(folder / "cases.jsonl", [Case(
        case_id="c1", suite="s", prompt="Fit a model.", task_type="binary", dataset="titanic",
        tables={"train": "t_train", "test": "t_test"}, target="y", notebooks=3)])
    plans, _ = plan_pipeline(params, root=tmp_path)
    compare = _compare_plans(plans)
    assert set(compare) == {"compare-judge"}   # built: nothing left to write
    (line,) = compare["compare-judge"].lines
    assert line.requests == len(ids) * len(DIMENSIONS)
    assert line.bound == "exact"               # the baseline judges' prompts, as sent
    assert line.how.startswith(f"the {len(ids)} compared notebooks")


@pytest.mark.parametrize("judges", ["semantic_only", "full"])
def test_aligned_judge_sets_are_estimates(tmp_path, judges):
    params = _params(tmp_path, "compare=demo", f"compare.judges={judges}")
    (line,) = _compare_plans(plan_pipeline(params, root=tmp_path)[0])["compare-judge"].lines
    assert line.bound == "estimate" and f"compare.judges={judges}" in line.how
