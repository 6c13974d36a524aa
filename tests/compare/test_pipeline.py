"""The comparison end to end with known truth (conf/compare/demo.yaml), in a scratch copy of
the repository: `dvc repro` with compare=demo, the judges answered by a scripted server.

The demo's two procedural arms differ in truth on two dimensions only: the candidate fits
its imputer before the split (data_imputation worse) and logs to MLflow (mlflow_logging
better). The scripted judge answers 2 to everything, so the judge alone sees no
difference anywhere (as a judge reading too little would); the simulated panel grades half
of each arm's notebooks, and PPI, leaning on those grades, must find the true direction on
the two changed dimensions and nothing significant on the seven unchanged ones.

Size: six cases (all with missing values, so that imputation applies), three notebooks per
case and arm: 36 executed notebooks. At this size and seed PPI's Holm-adjusted verdict
separates the changed dimensions; in simulations of the same design with other seeds it
does so on each changed dimension about 70% of the time (direction: always), so the test
asserts significance for this seed only where it is computed, and direction always.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from nbjudge.compare.gate import GateSettings, evaluate_gate
from nbjudge.config import compose_params
from nbjudge.schemas import (
    DIMENSIONS,
    ArmComparison,
    ArmSummary,
    Judgment,
    Label,
    Notebook,
    read_records,
)
from testing.fault_server import FaultServer
from testing.pipeline_runs import TINY_OVERRIDES, dvc, scratch_repo
from testing.scripted_alignment import judge_or_guideline
from testing.stage_runs import TITANIC_CASE, suite_yaml

pytestmark = pytest.mark.slow  # dvc repro, a scripted server and 42 notebook kernels

SUITE = suite_yaml("compare6", TITANIC_CASE, """\
  - case_id: telco_churn
    prompt: Predict churn for the customers in churn_test from churn_train.
    task_type: binary_imbalanced
    dataset: {name: churn, rows: 300, positive_rate: 0.1, missing_rate: 0.05,
              missing_mechanism: MAR}
    notebooks: 1
  - case_id: house_prices
    prompt: Estimate sale prices for house_prices_test from house_prices_train.
    task_type: regression
    dataset: {name: house_prices, rows: 200, missing_rate: 0.1, missing_mechanism: MAR}
    notebooks: 1
  - case_id: store_sales_forecast
    prompt: Forecast the next 14 days of store_sales_history (dates in store_sales_future).
    task_type: forecasting
    dataset: {name: store_sales, rows: 200, horizon: 14, missing_rate: 0.03,
              missing_mechanism: MCAR}
    notebooks: 1
  - case_id: titanic_small
    prompt: Who survived? Passenger tables titanic_train and titanic_test.
    task_type: binary
    dataset: {name: titanic, rows: 120, missing_rate: 0.15, missing_mechanism: MCAR}
    notebooks: 1
  - case_id: house_small
    prompt: Price the houses in house_prices_test; past sales in house_prices_train.
    task_type: regression
    dataset: {name: house_prices, rows: 150, missing_rate: 0.2, missing_mechanism: MCAR}
    notebooks: 1
""")
CHANGED = {"data_imputation": -1, "mlflow_logging": +1}   # true direction, candidate - reference
PER_CASE = 3


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    with FaultServer(judge_or_guideline("Prefer imputers fit on the training split")) as server:
        repo = scratch_repo(tmp_path_factory.mktemp("repo"), server.base_url)
        (repo / "data/suites/compare6.yaml").write_text(SUITE)
        compose_params(repo / "params.yaml", [
            *TINY_OVERRIDES, f"llm.base_url={server.base_url}", "suite.name=compare6",
            "suite.path=data/suites/compare6.yaml", "curve.fractions=null", "compare=demo",
            f"compare.arms.reference.notebooks_per_case={PER_CASE}",
            f"compare.arms.candidate.notebooks_per_case={PER_CASE}"], repo / "conf")
        seconds = {}
        start = time.perf_counter()
        # compare_judge depends on the experiment's labels and judgments (what compare.judges
        # calibrated* learns from), so on the judge stage as well as register
        dvc(repo, "repro", "register", "judge")
        seconds["experiment up to register"] = time.perf_counter() - start
        for stage in ("compare_notebooks", "compare_judge", "compare_stats"):
            start = time.perf_counter()
            dvc(repo, "repro", "--single-item", stage)
            seconds[stage] = time.perf_counter() - start
        print("stage seconds:", {k: round(v, 1) for k, v in seconds.items()})
        yield repo


def test_records_and_metrics(run):
    index = read_records(run / "data/compare/notebooks/index.jsonl", Notebook)
    assert len(index) == 2 * 6 * PER_CASE
    assert all(n.execution is not None and n.execution.mode == "run" for n in index)
    judgments = read_records(run / "data/compare/judgments.jsonl", Judgment)
    assert len(judgments) == len(index) * len(DIMENSIONS)
    assert {j.variant for j in judgments} == {"registered"}
    grades = read_records(run / "data/compare/grades.jsonl", Label)
    graded = {g.notebook_id for g in grades}
    assert len(graded) == len(index) // 2          # half of each arm
    assert {g.source for g in grades} == {"simulated"}
    arms = read_records(run / "data/compare/arms.jsonl", ArmSummary)
    assert {(a.arm, a.dimension) for a in arms} == {
        (arm, d) for arm in ("reference", "candidate") for d in DIMENSIONS}
    comparisons = read_records(run / "data/compare/comparisons.jsonl", ArmComparison)
    assert {(c.reference, c.candidate) for c in comparisons} == {("reference", "candidate")}
    metrics = json.loads((run / "reports/compare.json").read_text())
    assert set(metrics["arms"]) == {"reference", "candidate"}
    pair = metrics["comparisons"]["candidate_vs_reference"]
    assert set(pair) == {"difference", "ppi_difference"}
    shown = dvc(run, "metrics", "show", "--json")
    assert "candidate_vs_reference" in shown


def test_the_judge_sees_nothing_and_ppi_recovers_the_truth(run):
    rows = {c.dimension: c for c in
            read_records(run / "data/compare/comparisons.jsonl", ArmComparison)}
    # the scripted judge answers 2 to every notebook: no difference anywhere
    assert all(row.difference == 0 for row in rows.values())
    for dimension, sign in CHANGED.items():
        ppi = rows[dimension].ppi
        assert ppi is not None and ppi.difference * sign > 0.5, (dimension, ppi)
        assert ppi.p_holm < 0.05, (dimension, ppi)   # this seed (see the module docstring)
        assert ppi.judge_outside_ppi   # the judge's 0 lies outside PPI's interval
    for dimension in set(DIMENSIONS) - set(CHANGED):
        ppi = rows[dimension].ppi
        assert ppi is not None and (ppi.p_holm is None or ppi.p_holm >= 0.05), (dimension, ppi)


def test_gate_exit_code_is_the_computed_verdict(run):
    settings = ["--tolerances", "default=0.25", "--min-cases", "5", "--min-graded-cases", "5"]
    result = subprocess.run([sys.executable, "-m", "nbjudge", "gate",
                             "data/compare/comparisons.jsonl", *settings,
                             "--junit", "gate.xml"], cwd=run, capture_output=True, text=True)
    expected = evaluate_gate(
        read_records(run / "data/compare/comparisons.jsonl", ArmComparison),
        GateSettings({"default": 0.25}, min_cases=5, min_graded_cases=5))
    assert result.returncode in (0, 1, 2)
    assert result.returncode == expected.exit_code, result.stdout + result.stderr
    # the candidate's leaky imputation is a regression PPI can see
    assert expected.exit_code == 1, result.stdout
    assert "data_imputation" in result.stdout
    assert (run / "gate.xml").is_file()
