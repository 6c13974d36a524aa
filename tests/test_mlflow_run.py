"""The experiment's MLflow run: flattened params, numeric metrics, artifacts, the banner."""

import json

import pytest

from nbjudge.mlflow_run import flatten, log_experiment_run, metric_items


def test_flatten_joins_nested_keys_and_keeps_lists():
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": None}) == {"a.b": 1, "a.c": [1, 2],
                                                               "d": None}


def test_metric_items_keep_numbers_only_under_safe_names():
    metrics = {"warning": "SMOKE", "mae": {"baseline": {"data_imputation": 0.5}},
               "n": 3, "ok": True, "gap": float("nan"), "weird key!": 1.5}
    assert metric_items(metrics) == {"mae.baseline.data_imputation": 0.5, "n": 3.0,
                                     "weird key_": 1.5}


@pytest.mark.slow  # creates an MLflow store
def test_one_run_holds_params_metrics_reports_and_the_banner(tmp_path, monkeypatch):
    import mlflow

    monkeypatch.setenv("DVC_EXP_NAME", "pious-tuna")
    report = tmp_path / "report.html"
    report.write_text("<html>verdict</html>")
    figures = tmp_path / "figures"
    figures.mkdir()
    (figures / "forest.svg").write_text("<svg/>")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run = log_experiment_run(
        tracking_uri=uri, experiment="nbjudge-test",
        params={"llm": {"model": "m", "api_key_env": "OPENAI_API_KEY"}, "seed": 42},
        metrics={"mae": {"baseline": 0.7}}, artifacts=[report, figures, tmp_path / "missing"],
        banner="SMOKE TEST: meaningless")
    assert run["run_name"] == "pious-tuna"
    logged = mlflow.get_run(run["run_id"])
    assert logged.data.params["llm.model"] == "m" and logged.data.params["seed"] == "42"
    assert logged.data.metrics == {"mae.baseline": 0.7}
    assert logged.data.tags["mlflow.note.content"] == "SMOKE TEST: meaningless"
    names = {a.path for a in mlflow.MlflowClient().list_artifacts(run["run_id"])}
    assert names == {"report.html", "figures"}
    assert json.dumps(run)  # serialisable for reports/mlflow_run.json
