"""The DVC pipeline end to end on a tiny suite, in a scratch copy of the repository.

The judges talk to a scripted OpenAI-compatible server (``llm=openai_compatible``)
so that every stage, MemAlign included, runs in seconds; the real offline model
is exercised by tests/llm/test_server.py and by ``make repro``.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fault_server import FaultServer, reply, score

from nbjudge.config import compose_params
from nbjudge.schemas import DIMENSIONS, BlueprintEntry, Judgment, Label, Notebook, read_records

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
    "cv.k=2",
    "llm=openai_compatible",
    "llm.model=scripted",
    "judge.cache_dir=.nbjudge-cache/judgments",
]


def _script(index, body):
    fmt = body.get("response_format") or {}
    if (fmt.get("json_schema") or {}).get("name") == "judgment":
        return score(2, "scripted judgment")
    return reply(json.dumps({"guidelines": [
        {"guideline_text": "Prefer imputers fit on the training split", "source_trace_ids": [0]}]}))


@pytest.fixture(scope="module")
def llm_server():
    with FaultServer(_script) as server:
        yield server


def dvc(repo: Path, *args: str) -> str:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
           "LITELLM_LOCAL_MODEL_COST_MAP": "True", "MLFLOW_MODEL_CATALOG_URI": ""}
    env.pop("MLFLOW_TRACKING_URI", None)  # the scratch repository keeps its own store
    result = subprocess.run([str(bin_dir / "dvc"), *args], cwd=repo, capture_output=True,
                            text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory, llm_server):
    repo = tmp_path_factory.mktemp("repo")
    overrides = [*TINY_OVERRIDES, f"llm.base_url={llm_server.base_url}"]
    for name in ("conf", "stages", "src", "data/suites", "rubrics", "prompts"):
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, repo / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(ROOT / "dvc.yaml", repo / "dvc.yaml")
    (repo / "data/suites/tiny.yaml").write_text(TINY_SUITE)
    compose_params(repo / "params.yaml", overrides, repo / "conf")
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
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    assert metrics
    for variant in ("baseline", "full", "semantic_only"):
        judgments = read_records(repo / f"data/judgments/{variant}.jsonl", Judgment)
        assert sorted((j.notebook_id, j.dimension) for j in judgments) == sorted(
            (e.notebook_id, d) for e in index for d in DIMENSIONS)
    folds = json.loads((repo / "data/folds.json").read_text())
    assert folds["k"] == 2
    registered = json.loads((repo / "data/registered/judges.json").read_text())
    assert len(registered["judges"]) == len(DIMENSIONS)
    html = (repo / "reports/report.html").read_text(encoding="utf-8")
    assert "Labels are simulated" in html
    assert (repo / "reports/report.pdf").stat().st_size > 1000


@pytest.mark.slow
def test_second_repro_does_nothing_and_seed_change_reruns(repo):
    out = dvc(repo, "repro")
    assert "Running stage" not in out
    compose_params(repo / "params.yaml", [*TINY_OVERRIDES, "seed=43"], repo / "conf")
    status = dvc(repo, "status")
    for stage in ("cases", "generate", "label", "folds"):
        assert f"{stage}:" in status
