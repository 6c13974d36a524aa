"""Each arm's MLflow run leads to its notebooks' traces (a real SQLite tracking store)."""

from __future__ import annotations

import time

import mlflow
import numpy as np
import pytest

from nbjudge.compare.build import arm_notebook_id
from nbjudge.compare.tracking import log_arm_runs
from nbjudge.judges.tracing import NotebookTrace, ensure_traces, setup_tracking
from nbjudge.schemas import DIMENSIONS
from nbjudge.stats.compare import compare_arms


@pytest.fixture
def store(tmp_path, monkeypatch, new_mlflow_store):
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    previous = mlflow.get_tracking_uri()
    yield new_mlflow_store(tmp_path)
    mlflow.set_tracking_uri(previous)


def test_each_arm_run_is_linked_to_its_notebooks_traces(store):
    experiment = setup_tracking(store, "compare-links")
    arm_of = {arm_notebook_id(arm, f"c{c}__01"): arm for arm in ("v1", "v2") for c in range(3)}
    ids = ensure_traces([NotebookTrace(n, "task", f"notebook {n}") for n in arm_of], experiment)
    # a notebook judged again with other outputs: its run links the newer trace only
    renewed = arm_notebook_id("v2", "c0__01")
    time.sleep(0.01)   # a later trace, to the millisecond
    newer = ensure_traces([NotebookTrace(renewed, "task", "changed")], experiment)[renewed]
    # the experiment's own notebooks share the store and belong to no arm
    ensure_traces([NotebookTrace("c0__01", "task", "experiment notebook")], experiment)

    rng = np.random.default_rng(0)
    result = compare_arms(rng.integers(1, 4, size=(2, 3, 1, len(DIMENSIONS))).astype(float),
                          arms=["v1", "v2"], dimensions=DIMENSIONS, n_resamples=99, mdd=False)
    runs = log_arm_runs(result, tracking_uri=store, experiment="compare-links",
                        settings={}, backends={}, reference="v1", extra_params={},
                        arm_of=arm_of)
    expected = {"v1": {ids[n] for n, a in arm_of.items() if a == "v1"},
                "v2": {ids[n] for n, a in arm_of.items() if a == "v2" and n != renewed}
                | {newer}}
    for arm, run_id in runs.items():
        linked = mlflow.search_traces(locations=[experiment], run_id=run_id,
                                      return_type="list")
        assert {t.info.trace_id for t in linked} == expected[arm], arm
        assert mlflow.get_run(run_id).data.tags["nbjudge.traces"] == "3"
