"""Each arm of a comparison as an MLflow run, in the judges' experiment.

A run per arm, named ``compare/<comparison>/<arm>`` (the comparison is the DVC experiment's
name when ``dvc exp run`` sets it), with the arm's settings as params (an ``llm`` arm names
the environment variable of its key, never the key), its mean score, interval, N/A and
failure rates per dimension as metrics (and PPI's estimate of the human score where experts
graded some notebooks), and per comparison the difference against the reference, so that
MLflow's run comparison shows the arms side by side. The notebooks are the traces the
compare-judge stage logged, with the judges' assessments: each arm's run is linked to its
notebooks' traces (the run's Traces tab lists them; ``mlflow.search_traces(run_id=...)``
finds them), and its tag ``nbjudge.traces`` counts them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from nbjudge.stats.compare import ComparisonStats

__all__ = ["arm_metrics", "arm_traces", "log_arm_runs"]

LINK_BATCH = 100   # MLflow links at most this many traces to a run per call


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


def arm_traces(experiment_id: str, arm_of: Mapping[str, str]) -> dict[str, list[str]]:
    """Arm -> the trace ids of its notebooks in ``experiment_id`` (the traces compare-judge
    logged; of a notebook traced more than once, with other outputs, the latest)."""
    import mlflow

    from nbjudge.judges.tracing import TAG_NOTEBOOK

    latest: dict[str, tuple[int, str]] = {}
    for trace in mlflow.search_traces(locations=[experiment_id], return_type="list",
                                      max_results=100_000):
        notebook_id = str((trace.info.tags or {}).get(TAG_NOTEBOOK, ""))
        if notebook_id not in arm_of:
            continue
        when = int(trace.info.timestamp_ms or 0)
        if notebook_id not in latest or when > latest[notebook_id][0]:
            latest[notebook_id] = (when, trace.info.trace_id)
    traces: dict[str, list[str]] = {}
    for notebook_id, (_, trace_id) in sorted(latest.items()):
        traces.setdefault(arm_of[notebook_id], []).append(trace_id)
    return traces


def log_arm_runs(result: ComparisonStats, *, tracking_uri: str, experiment: str,
                 settings: Mapping[str, Mapping[str, str]], backends: Mapping[str, str],
                 reference: str, extra_params: Mapping[str, Any],
                 banner: str | None = None,
                 arm_of: Mapping[str, str] | None = None) -> dict[str, str]:
    """One run per arm, linked to the traces of its notebooks (``arm_of``: notebook id ->
    arm); returns arm -> run id."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    experiment_id = mlflow.set_experiment(experiment).experiment_id
    traces = arm_traces(experiment_id, arm_of) if arm_of else {}
    client = mlflow.MlflowClient()
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
            mine = traces.get(arm, [])
            mlflow.set_tag("nbjudge.traces", str(len(mine)))
            for start in range(0, len(mine), LINK_BATCH):
                client.link_traces_to_run(mine[start:start + LINK_BATCH], run.info.run_id)
            runs[arm] = run.info.run_id
    return runs
