"""Running stages in tests as DVC runs them: the command from dvc.yaml, a tiny suite."""

import os
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# A case small enough for a kernel to run in seconds, as an item of a suite's `cases`.
TITANIC_CASE = """\
  - case_id: titanic_survival
    prompt: I have passenger data in the tables titanic_train and titanic_test. Who survived?
    task_type: binary
    dataset: {name: titanic, rows: 150, missing_rate: 0.1, missing_mechanism: MAR}
    notebooks: 1
"""


def suite_yaml(name: str, *cases: str) -> str:
    """A suite file named ``name`` holding ``cases`` (items of its list, as TITANIC_CASE)."""
    return f"\nsuite: {name}\ncases:\n{''.join(cases)}"


# Two cases of different task families, small enough for a kernel to run in seconds.
TINY_SUITE = suite_yaml("tiny", TITANIC_CASE, """\
  - case_id: store_sales_forecast
    prompt: Forecast the next 14 days of store_sales_history (dates in store_sales_future).
    task_type: forecasting
    dataset: {name: store_sales, rows: 200, horizon: 14}
    notebooks: 1
""")


def stage_command(name: str, memory: str = "full") -> list[str]:
    """The stage's command as dvc.yaml runs it (``align``'s matrix item is ``memory``)."""
    cmd = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"][name]["cmd"]
    return [sys.executable if word == "python" else word
            for word in shlex.split(cmd.replace("${item.memory}", memory))]


def run_stage_command(repo: Path, name: str, *extra: str,
                      env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run stage ``name`` in ``repo`` with dvc.yaml's command and the library from this tree."""
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
               "LITELLM_LOCAL_MODEL_COST_MAP": "True", **(env or {})}
    return subprocess.run([*stage_command(name), *extra], cwd=repo, env=environ,
                          capture_output=True, text=True, timeout=600)
