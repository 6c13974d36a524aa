"""Test isolation: MLflow keeps state in environment variables (``set_experiment``
exports ``MLFLOW_EXPERIMENT_ID``); no test may hand its store to the next. New MLflow
stores are copies of one made per session."""

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _restore_mlflow_environment():
    saved = {k: v for k, v in os.environ.items() if k.startswith("MLFLOW_")}
    yield
    for key in [k for k in os.environ if k.startswith("MLFLOW_")]:
        if key not in saved:
            del os.environ[key]
    os.environ.update(saved)


@pytest.fixture(scope="session")
def new_mlflow_store(tmp_path_factory) -> Callable[[Path], str]:
    """``new_mlflow_store(folder)``: the URI of a new, empty SQLite store in ``folder``.

    MLflow makes a store's tables by running every migration, about 10 s on 2 cores;
    each store here is a copy of one made once per session, which takes milliseconds.
    """
    from mlflow.tracking import MlflowClient

    template = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{template}").search_experiments()

    def new_store(folder: Path) -> str:
        shutil.copyfile(template, folder / "mlflow.db")
        return f"sqlite:///{folder / 'mlflow.db'}"

    return new_store
