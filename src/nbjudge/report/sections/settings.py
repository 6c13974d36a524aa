"""The settings section: parameters, statistics settings, code and package versions."""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from ..inputs import ReportInputs
from ..view import StatsSettings
from .verdict import interval_description

__all__ = ["CODE", "RunSettings", "run_settings"]

# The page names no commit, so that it follows from its inputs alone (report.inputs.Provenance).
CODE = ("the package versions below, and the inputs dvc.lock records for the report stage. "
        "The commit is not printed, so that the same inputs give the same page: the report "
        "stage logs it in .nbjudge-cache/runlog/reports/report.html.jsonl, and the track "
        "stage's MLflow run carries its own as the tag mlflow.source.git.commit.")


@dataclass(frozen=True)
class RunSettings:
    params_yaml: str
    seed: str
    code: str                               # where the commit is recorded (not here)
    python: str
    packages: tuple[tuple[str, str], ...]   # (name, version), sorted by name
    bootstrap: str                          # how the intervals were made
    na_policy: str
    failure_policy: str
    consensus: str


def run_settings(inputs: ReportInputs, stats: StatsSettings) -> RunSettings:
    provenance = inputs.provenance
    return RunSettings(
        params_yaml=yaml.safe_dump(dict(inputs.params), sort_keys=False,
                                   default_flow_style=False).rstrip(),
        seed=str(inputs.params.get("seed", "—")),
        code=CODE,
        python=provenance.python,
        packages=tuple(sorted(provenance.packages.items())),
        bootstrap=interval_description(inputs.metrics),
        na_policy=stats.na_policy,
        failure_policy=stats.failure_policy,
        consensus=stats.consensus,
    )
