"""Each arm of a comparison as an MLflow run, in the judges' experiment.

A run per arm, named ``compare/<comparison>/<arm>`` (the comparison is the DVC experiment's
name when ``dvc exp run`` sets it), with the arm's settings as params (an ``llm`` arm names
the environment variable of its key, never the key), its mean score, interval, N/A and
failure rates per dimension as metrics (and PPI's estimate of the human score where experts
graded some notebooks), and per comparison the difference against the reference, so that
MLflow's run comparison shows the arms side by side. The notebooks are the traces the
compare-judge stage logged, with the judges' assessments.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from nbjudge.stats.compare import ComparisonStats

__all__ = ["arm_metrics", "log_arm_runs"]


def arm_metrics(result: ComparisonStats, arm: str) -> dict[str, float]:
    """The numeric results of ``arm``, MLflow-named (``mean.<dimension>``, ...)."""
    stats = result.arms
    a = stats.arms.index(arm)
    out: dict[str, float] = {}
    fields = {"mean": stats.mean, "ci_low": stats.low, "ci_high": stats.high,
              "na_rate": stats.na_rate, "failure_rate": stats.failure_rate,
              "ppi_mean": stats.ppi_mean, "ppi_ci_low": stats.ppi_low,
              "ppi_ci_high": stats.ppi_high, "n_graded": stats.n_graded}
    for name, values in fields.items():
        for d, dimension in enumerate(stats.dimensions):
            value = float(values[a, d])
            if np.isfinite(value):
                out[f"{name}.{dimension}"] = value
    for c, (_, candidate) in enumerate(result.comparisons):
        if candidate != arm:
            continue
        for name, values in {"difference": result.difference, "p_holm": result.p_holm,
                             "ppi_difference": result.ppi_difference,
                             "ppi_p_holm": result.ppi_p_holm}.items():
            for d, dimension in enumerate(result.dimensions):
                value = float(values[c, d])
                if np.isfinite(value):
                    out[f"{name}.{dimension}"] = value
    return out


def log_arm_runs(result: ComparisonStats, *, tracking_uri: str, experiment: str,
                 settings: Mapping[str, Mapping[str, str]], backends: Mapping[str, str],
                 reference: str, extra_params: Mapping[str, Any],
                 banner: str | None = None) -> dict[str, str]:
    """One run per arm; returns arm -> run id."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(experiment)
    comparison = os.environ.get("DVC_EXP_NAME") or "workspace"
    runs = {}
    for arm in result.arms.arms:
        with mlflow.start_run(run_name=f"compare/{comparison}/{arm}") as run:
            mlflow.set_tags({"nbjudge.compare": comparison, "nbjudge.arm": arm,
                             "nbjudge.reference": str(arm == reference).lower()})
            if banner:
                mlflow.set_tag("mlflow.note.content", banner)
                mlflow.set_tag("nbjudge.smoke", "true")
            params = {"arm": arm, "backend": backends.get(arm, ""), "reference": reference,
                      **{f"arm.{k}": v for k, v in settings.get(arm, {}).items()},
                      **{k: str(v)[:500] for k, v in extra_params.items()}}
            mlflow.log_params(params)
            mlflow.log_metrics(arm_metrics(result, arm))
            runs[arm] = run.info.run_id
    return runs
