"""The headline (metrics.json) against the detail, and what DVC lists from dvc.yaml."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nbjudge.mlflow_run import flatten
from nbjudge.stats import StatsConfig, analyze_experiment
from nbjudge.stats.headline import headline_metrics, write_headline

from ._simulate import DIMENSIONS, records

ROOT = Path(__file__).resolve().parents[2]
LIGHT = {"bootstrap": {"n_resamples": 200}, "permutation": {"n_resamples": 99},
         "power": {"n_simulations": 50, "max_notebooks": 100}}
# What a team compares across experiments fits in a few dozen columns; the detail has
# about a thousand.
MAX_COLUMNS = 60


@pytest.fixture(scope="module")
def detail():
    labels, judgments = records(np.random.default_rng(3), n=14)
    return analyze_experiment(labels, judgments, StatsConfig.from_mapping(LIGHT),
                              seed=5).metrics


def test_headline_is_a_few_dozen_columns_taken_from_the_detail(detail):
    headline = headline_metrics(detail, reference="baseline")
    assert len(flatten(headline)) <= MAX_COLUMNS < len(flatten(detail))
    assert set(headline["mae_mean"]) == {"baseline", "full", "semantic_only"}
    for variant in ("baseline", "full", "semantic_only"):
        assert headline["mae_mean"][variant] == detail["summary"][variant]["mae_mean"]
    assert set(headline["mae"]) == {"baseline"}
    assert set(headline["improvement"]) == set(headline["significant"]) == {"full",
                                                                           "semantic_only"}
    for dimension in DIMENSIONS:
        assert headline["mae"]["baseline"][dimension] == detail["mae"]["baseline"][dimension][
            "value"]
        for variant in ("full", "semantic_only"):
            row = detail["improvement"][variant][dimension]
            assert headline["improvement"][variant][dimension] == row["value"]
            assert headline["significant"][variant][dimension] is row["significant"]


def test_warning_first_and_status_without_judgments():
    headline = headline_metrics({"status": "no_judgments", "message": "no judgments exist yet",
                                 "labels": {"n_labels": 3}}, reference="baseline",
                                warning="SMOKE TEST")
    assert headline == {"warning": "SMOKE TEST", "status": "no_judgments",
                        "message": "no judgments exist yet"}


def test_a_reference_without_mae_is_named(detail):
    with pytest.raises(ValueError, match=r"'judge_a' has no MAE .*set stats.reference"):
        headline_metrics(detail, reference="judge_a")
    with pytest.raises(ValueError, match="no 'status'"):
        headline_metrics({}, reference="baseline")


def _dvc(repo: Path, *args: str) -> str:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "COLUMNS": "200",
           "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    result = subprocess.run([str(bin_dir / "dvc"), *args], cwd=repo, capture_output=True,
                            text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo,
                   check=True, capture_output=True)


def test_dvc_lists_the_headline_not_the_detail(detail, tmp_path):
    """The repository's dvc.yaml: plain `dvc exp show` and `dvc metrics diff` list the
    headline's leaves only; the detail is shown when named."""
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    _git(tmp_path, "init", "-q")
    _dvc(tmp_path, "init", "-q")
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "metrics_detail.json").write_text(json.dumps(detail))
    headline = write_headline(reports / "metrics.json", detail, reference="baseline")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "first")

    columns = _dvc(tmp_path, "exp", "show", "--no-pager", "--csv").splitlines()[0].split(",")
    metric_columns = [c for c in columns if c in flatten(headline)]
    assert len(metric_columns) == len(flatten(headline))
    assert not any(c.startswith(("intervals.", "ceiling.", "contrast.")) for c in columns)

    changed = json.loads(json.dumps(detail))
    for row in changed["improvement"]["full"].values():
        row["value"] = (row["value"] or 0.0) + 0.5
    write_headline(reports / "metrics.json", changed, reference="baseline")
    diff = _dvc(tmp_path, "metrics", "diff", "--no-path").splitlines()
    assert len(diff) == 1 + len(DIMENSIONS)  # the header, one line per changed dimension
    assert "metrics_detail" not in "".join(diff)
    named = _dvc(tmp_path, "metrics", "show", "reports/metrics_detail.json", "--json")
    assert "intervals" in named
