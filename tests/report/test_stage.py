"""The `report` stage on fabricated experiments.

The slow test runs the stage as DVC does, ``python -m stages.report`` from
the repository root.
"""

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nbjudge.config import run_stage as run_stage_main

REPO = Path(__file__).parents[2]


def load_stage():
    return importlib.import_module("stages.report")


def stage_arguments(root: Path, *extra: str) -> list[str]:
    arguments = [
        "--params", root / "params.yaml", "--metrics", root / "reports/metrics.json",
        "--stats", root / "reports/stats", "--labels", root / "data/labels/labels.jsonl",
        "--judgments", root / "data/judgments", "--index", root / "data/notebooks/index.jsonl",
        "--executed-index", root / "data/notebooks/executed/index.jsonl",
        "--alignment", root / "data/alignment", "--curve", root / "data/curve", "--root", root,
        "--html", root / "reports/report.html", "--pdf", root / "reports/report.pdf",
        "--figures", root / "reports/figures", *extra,
    ]
    return [str(a) for a in arguments]


def run_stage(root: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stages.report", *stage_arguments(root, *extra)],
                          cwd=REPO, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ))


@pytest.fixture(scope="module")
def stage():
    return load_stage()


def test_html_only(stage, baseline_root, capsys):
    stage.main(stage_arguments(baseline_root, "--no-pdf"))
    html = baseline_root / "reports/report.html"
    assert capsys.readouterr().out == (f"report: wrote {html} and 4 figure files under "
                                       f"{baseline_root / 'reports/figures'}\n")
    assert "Only the baseline judge has been run" in html.read_text()
    assert sorted(p.name for p in (baseline_root / "reports/figures").iterdir()) == [
        "bias.png", "bias.svg", "confusion_baseline.png", "confusion_baseline.svg"]


def failure(stage, arguments, capsys) -> str:
    """What the stage prints when it exits 1 on a problem it knows (no traceback)."""
    assert run_stage_main(stage.main, arguments) == 1
    return capsys.readouterr().err


def test_without_chromium_the_error_names_the_install_command(stage, unjudged_root,
                                                              monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(unjudged_root / "no-such-folder"))
    message = failure(stage, stage_arguments(unjudged_root), capsys)
    assert message.startswith("report: error: cannot print report.pdf: no Chromium on PATH")
    assert "apt-get install -y --no-install-recommends chromium" in message
    assert (unjudged_root / "reports/report.html").exists()


def test_missing_metrics_is_a_clear_error(stage, unjudged_root, tmp_path, capsys):
    message = failure(stage, stage_arguments(unjudged_root, "--no-pdf", "--metrics",
                                             str(tmp_path / "none.json")), capsys)
    assert "none.json: metrics file not found" in message


def test_missing_params_is_a_clear_error(stage, unjudged_root, tmp_path, capsys):
    message = failure(stage, stage_arguments(unjudged_root, "--no-pdf", "--params",
                                             str(tmp_path / "params.yaml")), capsys)
    assert "params.yaml not found: run `make params`" in message


def test_missing_stats_tables_are_named(stage, experiment_root, tmp_path, capsys):
    stats = tmp_path / "stats"
    shutil.copytree(experiment_root / "reports/stats", stats)
    (stats / "mae.csv").unlink()
    message = failure(stage, stage_arguments(experiment_root, "--no-pdf", "--stats",
                                             str(stats)), capsys)
    assert "lacks mae.csv: rerun the stats stage" in message
