"""The settings section: parameters, statistics settings, code and package versions."""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from ..inputs import ReportInputs
from ..view import StatsSettings
from .verdict import interval_description

__all__ = ["RunSettings", "run_settings"]


@dataclass(frozen=True)
class RunSettings:
    params_yaml: str
    seed: str
    git_revision: str
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
        git_revision=provenance.git_revision or "not available (not a git checkout)",
        python=provenance.python,
        packages=tuple(sorted(provenance.packages.items())),
        bootstrap=interval_description(inputs.metrics),
        na_policy=stats.na_policy,
        failure_policy=stats.failure_policy,
        consensus=stats.consensus,
    )
