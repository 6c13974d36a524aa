"""One MLflow run per experiment: params, metrics, figures and both reports.

DVC is the source of truth (``params.yaml``, ``dvc.lock``, ``metrics.json``);
the MLflow run is the browsable log beside the traces and the registered
judges. The run is named after the DVC experiment when ``dvc exp run`` sets
``DVC_EXP_NAME``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["flatten", "log_experiment_run", "metric_items"]

_MAX_PARAM = 500  # MLflow's limit on one param value is larger; long lists stay readable


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists stay values."""
    if isinstance(value, Mapping):
        items: dict[str, Any] = {}
        for key, item in value.items():
            items.update(flatten(item, f"{prefix}{key}."))
        return items
    return {prefix[:-1]: value}


def metric_items(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numeric leaves of ``metrics.json`` under MLflow-safe names."""
    safe = {}
    for key, value in flatten(metrics).items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if value != value:  # NaN
            continue
        safe[re.sub(r"[^A-Za-z0-9_\-. /]", "_", key)] = float(value)
    return safe


def log_experiment_run(*, tracking_uri: str, experiment: str, params: Mapping[str, Any],
                       metrics: Mapping[str, Any], artifacts: Iterable[Path],
                       banner: str | None = None, run_name: str | None = None) -> dict[str, str]:
    """Log one run; returns its id, name, experiment and tracking URI."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(experiment)
    name = run_name or os.environ.get("DVC_EXP_NAME") or "workspace"
    with mlflow.start_run(run_name=name) as run:
        if banner:
            mlflow.set_tag("mlflow.note.content", banner)
            mlflow.set_tag("nbjudge.smoke", "true")
        mlflow.log_params({k: str(v)[:_MAX_PARAM] for k, v in flatten(params).items()})
        for key, value in metric_items(metrics).items():
            mlflow.log_metric(key, value)
        for path in artifacts:
            if path.is_dir():
                mlflow.log_artifacts(str(path), artifact_path=path.name)
            elif path.is_file():
                mlflow.log_artifact(str(path))
    return {"run_id": run.info.run_id, "run_name": name, "experiment": experiment,
            "tracking_uri": tracking_uri}
