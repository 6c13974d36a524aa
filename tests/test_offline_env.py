"""Importing nbjudge changes nothing in the environment; stages, commands and open
backends set litellm's and MLflow's offline switches for their duration only."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nbjudge.config import run_stage
from nbjudge.offline import OFFLINE_SWITCHES, environment, offline

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "nbjudge"

# scikit-learn sets KMP_DUPLICATE_LIB_OK and KMP_INIT_AT_FORK for OpenMP when it is
# imported: its doing, so it is imported before the environment is compared.
_IMPORT_ALL = """
import importlib, json, os, sys
import sklearn
before = dict(os.environ)
for name in sys.argv[1:]:
    importlib.import_module(name)
after = dict(os.environ)
print(json.dumps({k: [before.get(k), after.get(k)] for k in before.keys() | after.keys()
                  if before.get(k) != after.get(k)}))
"""


def _modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@pytest.mark.slow  # a Python subprocess imports the whole package (about 10 s)
def test_importing_every_nbjudge_module_changes_nothing_in_the_environment():
    env = {k: v for k, v in os.environ.items() if k not in OFFLINE_SWITCHES}
    modules = _modules()
    assert "nbjudge.llm.backends" in modules and "nbjudge.stats.bootstrap" in modules
    result = subprocess.run([sys.executable, "-c", _IMPORT_ALL, *modules], env=env,
                            capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == {}


def test_a_stage_runs_offline_and_leaves_the_environment_as_it_found_it(monkeypatch):
    for name in OFFLINE_SWITCHES:
        monkeypatch.delenv(name, raising=False)
    seen = {}

    def main(argv):
        seen.update({name: os.environ.get(name) for name in OFFLINE_SWITCHES})

    main.__module__ = "stages.stats"
    assert run_stage(main, []) == 0
    assert seen == OFFLINE_SWITCHES
    assert not any(name in os.environ for name in OFFLINE_SWITCHES)


def test_a_value_the_user_set_wins(monkeypatch):
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "False")
    monkeypatch.setenv("MLFLOW_MODEL_CATALOG_URI", "https://catalog.example")
    with offline():
        assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "False"
        assert os.environ["MLFLOW_MODEL_CATALOG_URI"] == "https://catalog.example"


def test_the_environment_is_restored_after_an_error(monkeypatch):
    monkeypatch.setenv("NBJUDGE_TEST_KEPT", "before")
    monkeypatch.delenv("NBJUDGE_TEST_NEW", raising=False)
    with pytest.raises(RuntimeError), \
            environment({"NBJUDGE_TEST_KEPT": "during", "NBJUDGE_TEST_NEW": "during"}):
        assert os.environ["NBJUDGE_TEST_KEPT"] == "during"
        raise RuntimeError("stage failed")
    assert os.environ["NBJUDGE_TEST_KEPT"] == "before"
    assert "NBJUDGE_TEST_NEW" not in os.environ
