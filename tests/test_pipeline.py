"""The DVC pipeline end to end on a tiny suite, in a scratch copy of the repository."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nbjudge.config import compose_params
from nbjudge.schemas import BlueprintEntry, Label, Notebook, read_records

ROOT = Path(__file__).resolve().parents[1]

TINY_SUITE = """
suite: tiny
cases:
  - case_id: titanic_survival
    prompt: I have passenger data in the tables titanic_train and titanic_test. Who survived?
    task_type: binary
    dataset: {name: titanic, rows: 150, missing_rate: 0.1, missing_mechanism: MAR}
    notebooks: 1
  - case_id: store_sales_forecast
    prompt: Forecast the next 14 days of store_sales_history (dates in store_sales_future).
    task_type: forecasting
    dataset: {name: store_sales, rows: 200, horizon: 14}
    notebooks: 1
"""

TINY_OVERRIDES = [
    "suite.name=tiny",
    "suite.path=data/suites/tiny.yaml",
    "stats.bootstrap.n_resamples=500",
    "stats.permutation.n_resamples=200",
    "stats.power.n_simulations=50",
    "execute.cache_dir=null",
]


def dvc(repo: Path, *args: str) -> str:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    result = subprocess.run([str(bin_dir / "dvc"), *args], cwd=repo, capture_output=True,
                            text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("repo")
    for name in ("conf", "stages", "src", "data/suites", "rubrics"):
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, repo / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(ROOT / "dvc.yaml", repo / "dvc.yaml")
    (repo / "data/suites/tiny.yaml").write_text(TINY_SUITE)
    compose_params(repo / "params.yaml", TINY_OVERRIDES, repo / "conf")
    dvc(repo, "init", "--no-scm", "-q")
    dvc(repo, "repro")
    return repo


@pytest.mark.slow
def test_repro_builds_every_output(repo):
    index = read_records(repo / "data/notebooks/executed/index.jsonl", Notebook)
    assert len(index) == 2
    assert all(entry.execution is not None for entry in index)
    blueprint = read_records(repo / "data/blueprint/blueprint.jsonl", BlueprintEntry)
    crashes = {e.notebook_id for e in blueprint if e.crash}
    for entry in index:
        assert (entry.execution.status == "ok") != (entry.notebook_id in crashes)
    labels = read_records(repo / "data/labels/labels.jsonl", Label)
    assert {label.notebook_id for label in labels} == {e.notebook_id for e in index}
    if (repo / "reports/metrics.json").exists():
        json.loads((repo / "reports/metrics.json").read_text())


@pytest.mark.slow
def test_second_repro_does_nothing_and_seed_change_reruns(repo):
    out = dvc(repo, "repro")
    assert "Running stage" not in out
    compose_params(repo / "params.yaml", [*TINY_OVERRIDES, "seed=43"], repo / "conf")
    status = dvc(repo, "status")
    for stage in ("cases", "generate", "label"):
        assert f"{stage}:" in status
