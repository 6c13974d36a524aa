"""Two folders of an agent's notebooks, two import arms, one comparison: the stages run as
DVC runs them, the judges answered by a scripted server (no notebook is executed: imported
notebooks keep the outputs they came with)."""

from __future__ import annotations

import json
import shutil

import nbformat
import pytest

from nbjudge.config import compose_params
from nbjudge.schemas import ArmComparison, Judgment, Notebook, read_records
from testing.fault_server import FaultServer
from testing.stage_runs import ROOT, run_stage_command

pytestmark = pytest.mark.slow  # three stage processes, MLflow stores: about a minute

CASES = {"churn": "Predict which customers in churn_test will leave.",
         "prices": "Estimate the sale prices of the houses in prices_test."}

BUILDS = """\
defaults:
  - none
  - _self_
arms:
  v41:
    backend: import
    path: runs/agent-v41
  v42:
    backend: import
    path: runs/agent-v42
reference: v41
judges: baseline
"""


def _notebook(prompt: str, code: str, output: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(code, execution_count=1, outputs=[
        nbformat.v4.new_output("stream", name="stdout", text=output)])
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(prompt), cell])


@pytest.fixture
def repo(tmp_path):
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    (tmp_path / "conf/compare/builds.yaml").write_text(BUILDS)
    shutil.copytree(ROOT / "rubrics", tmp_path / "rubrics")
    for build in ("v41", "v42"):
        folder = tmp_path / f"runs/agent-{build}"
        folder.mkdir(parents=True)
        for case, prompt in CASES.items():
            for sample in range(3):
                nbformat.write(_notebook(prompt, f"print('{build} {case} {sample}')",
                                         f"{build} {case} {sample}\n"),
                               folder / f"{case}__{sample}.ipynb")
    (tmp_path / "data/cases").mkdir(parents=True)
    (tmp_path / "data/cases/cases.jsonl").write_text("")
    return tmp_path


def test_two_folders_two_import_arms_one_comparison(repo):
    with FaultServer() as server:   # every judge answers 2
        compose_params(repo / "params.yaml", [
            "compare=builds", "llm=openai_compatible", "llm.model=scripted",
            f"llm.base_url={server.base_url}", "judge.cache_dir=.nbjudge-cache/judgments"],
            repo / "conf")
        for name in ("compare_notebooks", "compare_judge", "compare_stats"):
            result = run_stage_command(repo, name)
            assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
    index = read_records(repo / "data/compare/notebooks/index.jsonl", Notebook)
    assert len(index) == 12
    # matched to cases by name (<case>__<n>.ipynb), outputs kept as they came
    assert {(n.notebook_id.split("__")[0], n.case_id) for n in index} == {
        (arm, case) for arm in ("v41", "v42") for case in CASES}
    assert all(n.execution is not None and n.execution.mode == "keep" for n in index)
    judgments = read_records(repo / "data/compare/judgments.jsonl", Judgment)
    assert len(judgments) == 12 * 9 and {j.status for j in judgments} == {"ok"}
    rows = read_records(repo / "data/compare/comparisons.jsonl", ArmComparison)
    assert {(r.reference, r.candidate) for r in rows} == {("v41", "v42")}
    assert all(r.n_cases == 2 and r.difference == 0 and r.ppi is None for r in rows)
    metrics = json.loads((repo / "reports/compare.json").read_text())
    assert set(metrics["arms"]) == {"v41", "v42"}
    assert set(metrics["comparisons"]) == {"v42_vs_v41"}
    # a rerun asks the judges nothing: every answer is cached
    with FaultServer() as server:
        compose_params(repo / "params.yaml", [
            "compare=builds", "llm=openai_compatible", "llm.model=scripted",
            f"llm.base_url={server.base_url}", "judge.cache_dir=.nbjudge-cache/judgments"],
            repo / "conf")
        assert run_stage_command(repo, "compare_judge").returncode == 0
        assert server.count == 0
