"""Fabricated experiments on disk, built once per test session (tests only read them)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nbjudge.report import ReportInputs, load_inputs

from ._fabricate import fabricate


def load(root: Path, **overrides) -> ReportInputs:
    """The report inputs of a fabricated experiment under ``root``."""
    params = yaml.safe_load((root / "params.yaml").read_text())
    paths = dict(
        metrics=root / "reports/metrics.json", stats=root / "reports/stats",
        labels=root / "data/labels/labels.jsonl", judgments=root / "data/judgments",
        notebook_index=root / "data/notebooks/index.jsonl",
        executed_index=root / "data/notebooks/executed/index.jsonl",
        alignment=root / "data/alignment", root=root)
    return load_inputs(params, **(paths | overrides))


@pytest.fixture(scope="session")
def experiment_root(tmp_path_factory) -> Path:
    """Three variants, failures, N/A, alignment audits, the smoke model, simulated labels."""
    return fabricate(tmp_path_factory.mktemp("experiment"))


@pytest.fixture(scope="session")
def experiment(experiment_root) -> ReportInputs:
    return load(experiment_root)


@pytest.fixture(scope="session")
def baseline_root(tmp_path_factory) -> Path:
    """Only the baseline judge, a hosted model, human labels, no audits and no run.json."""
    return fabricate(tmp_path_factory.mktemp("baseline"), variants=("baseline",), smoke=False,
                     alignment=False, run_facts=False, source="human", n=10)


@pytest.fixture(scope="session")
def baseline(baseline_root) -> ReportInputs:
    return load(baseline_root)


@pytest.fixture(scope="session")
def unjudged_root(tmp_path_factory) -> Path:
    """Labels only: the stats stage reports the ceiling and nothing else."""
    return fabricate(tmp_path_factory.mktemp("unjudged"), variants=(), alignment=False,
                     run_facts=False, n=8)


@pytest.fixture(scope="session")
def unjudged(unjudged_root) -> ReportInputs:
    return load(unjudged_root)
