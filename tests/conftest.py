"""Test isolation: MLflow keeps state in environment variables (``set_experiment``
exports ``MLFLOW_EXPERIMENT_ID``); no test may hand its store to the next."""

import os

import pytest


@pytest.fixture(autouse=True)
def _restore_mlflow_environment():
    saved = {k: v for k, v in os.environ.items() if k.startswith("MLFLOW_")}
    yield
    for key in [k for k in os.environ if k.startswith("MLFLOW_")]:
        if key not in saved:
            del os.environ[key]
    os.environ.update(saved)

