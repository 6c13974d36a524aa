"""Importing nbjudge keeps litellm and MLflow from fetching anything at import."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # each test starts a Python subprocess


def _env_after_import(env):
    code = ("import nbjudge, os; print(os.environ.get('LITELLM_LOCAL_MODEL_COST_MAP'), "
            "repr(os.environ.get('MLFLOW_MODEL_CATALOG_URI')))")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, check=True)
    return result.stdout.split()


def test_import_sets_the_offline_switches():
    env = {k: v for k, v in os.environ.items()
           if k not in ("LITELLM_LOCAL_MODEL_COST_MAP", "MLFLOW_MODEL_CATALOG_URI")}
    assert _env_after_import(env) == ["True", "''"]


def test_a_value_the_user_set_wins():
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "False",
           "MLFLOW_MODEL_CATALOG_URI": "https://catalog.example"}
    assert _env_after_import(env) == ["False", "'https://catalog.example'"]
