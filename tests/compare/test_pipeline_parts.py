"""The comparison's stages off (no arms), its metrics file, and the grading list."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from nbjudge.compare.build import arm_notebook_id
from nbjudge.compare.grading import grading_list
from nbjudge.compare.results import metrics
from nbjudge.config import compose_params
from nbjudge.errors import InputError
from nbjudge.schemas import (
    DIMENSIONS,
    ArmComparison,
    ArmSummary,
    Judgment,
    Notebook,
    StagePlan,
    read_json_record,
    read_records,
    write_json,
    write_records,
)
from nbjudge.stats.compare import compare_arms
from testing.stage_runs import ROOT, run_stage_command


@pytest.fixture
def off_repo(tmp_path):
    """A working folder with the default params (compare=none) and nothing else."""
    compose_params(tmp_path / "params.yaml", [], ROOT / "conf")
    (tmp_path / "data/cases").mkdir(parents=True)
    return tmp_path


def test_stages_off_write_empty_outputs_and_start_nothing(off_repo):
    for name in ("compare_notebooks", "compare_judge", "compare_stats"):
        # llm=local: a server start would show in the output and take seconds; a missing
        # registration would fail the judge stage if it tried to load the judges
        result = run_stage_command(off_repo, name)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "off (compare.arms is empty)" in result.stdout
        assert "llama" not in result.stdout + result.stderr
    data = off_repo / "data/compare"
    assert read_records(data / "notebooks/index.jsonl", Notebook) == []
    assert json.loads((data / "notebooks/arms.json").read_text())["arms"] == []
    assert read_records(data / "judgments.jsonl", Judgment) == []
    assert read_json_record(data / "plan.json", StagePlan).lines == []
    assert read_records(data / "comparisons.jsonl", ArmComparison) == []
    assert read_records(data / "arms.jsonl", ArmSummary) == []
    assert json.loads((off_repo / "reports/compare.json").read_text()) == {}
    assert not (off_repo / "mlflow.db").exists()


def _result(seed=0):
    rng = np.random.default_rng(seed)
    judge = rng.integers(1, 4, size=(3, 6, 2, len(DIMENSIONS))).astype(float)
    human = np.where(rng.random(judge.shape) < 0.5, judge, np.nan)
    return compare_arms(judge, human=human, arms=["v1", "v2", "v3"], dimensions=DIMENSIONS,
                        n_resamples=99, mdd=False, rng=rng)


def test_metrics_hold_means_and_differences_per_dimension():
    result = _result()
    out = metrics(result)
    assert set(out["arms"]) == {"v1", "v2", "v3"}
    assert list(out["arms"]["v2"]) == list(DIMENSIONS)
    assert out["arms"]["v2"]["model_use"] == pytest.approx(
        result.arms.mean[1, DIMENSIONS.index("model_use")], abs=1e-4)
    assert set(out["comparisons"]) == {"v2_vs_v1", "v3_vs_v1"}
    v3 = out["comparisons"]["v3_vs_v1"]
    assert v3["difference"]["data_imputation"] == pytest.approx(
        result.difference[1, DIMENSIONS.index("data_imputation")], abs=1e-4)
    assert v3["ppi_difference"]["data_imputation"] == pytest.approx(
        result.ppi_difference[1, DIMENSIONS.index("data_imputation")], abs=1e-4)

    def leaves(value):
        return sum(leaves(v) for v in value.values()) if isinstance(value, dict) else 1

    # a few dozen leaves for two arms, as dvc exp show lists every one
    assert leaves(out) == 3 * 9 + 2 * 18
    assert metrics(None) == {}


def test_metrics_leave_out_ppi_without_grades():
    rng = np.random.default_rng(1)
    judge = rng.integers(1, 4, size=(2, 5, 1, len(DIMENSIONS))).astype(float)
    out = metrics(compare_arms(judge, arms=["a", "b"], dimensions=DIMENSIONS, n_resamples=99,
                               mdd=False))
    assert list(out["comparisons"]["b_vs_a"]) == ["difference"]
    json.dumps(out, allow_nan=False)  # valid JSON for DVC


def _built(folder, arms=("v1", "v2"), cases=("c1", "c2", "c3", "c4", "c5"), per_case=4):
    """The compare_notebooks output's records, as the stage writes them (no notebook files:
    the grading list reads only the records)."""
    index, arm_of = [], {}
    for arm in arms:
        for case in cases:
            for k in range(per_case):
                notebook_id = arm_notebook_id(arm, f"{case}__{k:02d}")
                index.append(Notebook(notebook_id=notebook_id, case_id=case,
                                      path=f"x/{notebook_id}.ipynb", sha256="0" * 64,
                                      origin="procedural"))
                arm_of[notebook_id] = arm
    folder.mkdir(parents=True)
    write_records(folder / "index.jsonl", index)
    write_json(folder / "arms.json", {"arms": list(arms), "reference": arms[0] if arms else None,
                                      "backends": dict.fromkeys(arms, "procedural"),
                                      "settings": {a: {} for a in arms}, "arm_of": arm_of})
    return index, arm_of


def test_grading_list_is_seeded_stratified_and_a_label_template(tmp_path):
    index, arm_of = _built(tmp_path / "notebooks")
    out = tmp_path / "grading.csv"
    result = grading_list(tmp_path / "notebooks", fraction=0.2, seed=42, out=out)
    assert result.per_arm == {"v1": 4, "v2": 4}   # 20% of 20 notebooks per arm
    case_of = {n.notebook_id: n.case_id for n in index}
    # spread over cases, and the same cases in both arms (grades pair by case)
    cases = {arm: sorted(case_of[n] for n in result.notebooks if arm_of[n] == arm)
             for arm in ("v1", "v2")}
    assert cases["v1"] == cases["v2"] and len(set(cases["v1"])) == 4
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == result.template_rows == 8 * len(DIMENSIONS)
    assert {r["notebook_id"] for r in rows} == set(result.notebooks)
    assert {r["score"] for r in rows} == {""} and {r["rater_id"] for r in rows} == {"expert_1"}
    again = grading_list(tmp_path / "notebooks", fraction=0.2, seed=42, out=tmp_path / "b.csv")
    assert again.notebooks == result.notebooks
    other = grading_list(tmp_path / "notebooks", fraction=0.2, seed=7, out=tmp_path / "c.csv")
    assert other.notebooks != result.notebooks
    assert result.traces is None   # no --raters: no MLflow traces


def test_grading_list_refuses_an_empty_comparison(tmp_path):
    _built(tmp_path / "notebooks", arms=())
    with pytest.raises(InputError, match="no arms were compared"):
        grading_list(tmp_path / "notebooks", fraction=0.2, seed=1, out=tmp_path / "g.csv")
    _built(tmp_path / "two")
    with pytest.raises(InputError, match="--fraction"):
        grading_list(tmp_path / "two", fraction=1.5, seed=1, out=tmp_path / "g.csv")


def test_a_grades_file_is_a_dependency_of_the_comparison(tmp_path):
    """With compare.grades.source file, DVC re-runs compare_stats when the file changes:
    dvc.yaml depends on compare.grades.input, which must then name the grades file."""
    import shutil

    from dvc.repo import Repo

    from nbjudge.errors import ConfigError
    from nbjudge.params import load_params

    file_source = ["compare.grades.source=file", "compare.grades.path=labels/g.csv"]
    compose_params(tmp_path / "params.yaml", file_source, ROOT / "conf")
    with pytest.raises(ConfigError, match=r"grades\.input: \$\{compare\.grades\.path\}"):
        load_params(tmp_path / "params.yaml")

    def deps(overrides):
        compose_params(tmp_path / "params.yaml", overrides, ROOT / "conf")
        load_params(tmp_path / "params.yaml")   # valid
        (stage,) = [s for s in Repo(str(tmp_path)).index.stages if s.name == "compare_stats"]
        return [d.def_path for d in stage.deps]

    Repo.init(str(tmp_path), no_scm=True)
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    assert "labels/g.csv" in deps([*file_source, "compare.grades.input=${compare.grades.path}"])
    # other sources: a file every checkout has
    assert "conf/compare/none.yaml" in deps([])
