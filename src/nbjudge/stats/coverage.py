"""Measured coverage of nbjudge's intervals, where simulation found it below the nominal level.

``coverage.json`` beside this module is written by ``bench/validate_intervals.py``
(never by hand): per statistic (the improvement and the baseline's MAE), simulated
world, number of notebooks and interval method, the share of experiments whose 95%
interval covered the true value. :func:`measured_coverage` finds the rows that
resemble an analysis (its method, its number of notebooks, whether notebooks share
cases) and returns the lowest measured coverage among them when it lies below the
binomial tolerance of a 95% interval, so that the report can print it beside the
interval instead of letting "95%" stand unqualified.

Which rows resemble an analysis:

- the nearest validated size at or below its number of notebooks (the smallest
  validated size below that, the largest above it);
- with cases of several notebooks, the clustered layouts only; with independent
  notebooks every layout, because the tie-heavy world exists only with cases and real
  data can be tie-heavy either way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["MeasuredCoverage", "coverage_table", "measured_coverage"]

RESOURCE = "coverage.json"
# The bench measures these statistics; "auto" is the stage default ("default" column).
_STATISTICS = ("improvement", "mae")


@dataclass(frozen=True)
class MeasuredCoverage:
    """The lowest measured coverage of the rows resembling an analysis, below tolerance.

    Attributes
    ----------
    statistic : str
        ``"improvement"`` or ``"mae"``.
    method : str
        The interval method measured (``"cr2"``, ``"wild"``, ``"hall"``, ...).
    coverage : float
        Share of simulated 95% intervals that covered the truth.
    n_notebooks : int
        The validated size of that row.
    layout : str
        The simulated world and case layout of that row.
    tolerance_low : float
        Lower end of the binomial tolerance of the simulation (95% of its indicators).
    experiments : int
        Simulated experiments per row.
    """

    statistic: str
    method: str
    coverage: float
    n_notebooks: int
    layout: str
    tolerance_low: float
    experiments: int

    def describe(self) -> str:
        """``measured 0.934 at n=50 (today, cases of 4-5)``."""
        return f"measured {self.coverage:.3f} at n={self.n_notebooks} ({self.layout})"


@cache
def coverage_table() -> dict[str, Any]:
    """The packaged ``coverage.json``: settings, tolerance and rows."""
    text = resources.files(__package__).joinpath(RESOURCE).read_text(encoding="utf-8")
    table: dict[str, Any] = json.loads(text)
    return table


def measured_coverage(statistic: str, method: str, n_notebooks: int, *, clustered: bool,
                      level: float = 0.95,
                      table: dict[str, Any] | None = None) -> MeasuredCoverage | None:
    """The measured coverage to print beside an interval, or None where none is due.

    None when the interval is not one the simulation measured (another statistic,
    method or level), or when every resembling row covers within tolerance.

    Parameters
    ----------
    statistic : str
        ``"improvement"`` or ``"mae"`` (other statistics were not simulated: None).
    method : str
        The interval's method as the stats tables name it (``ci_method``).
    n_notebooks : int
        Notebooks the interval rests on.
    clustered : bool
        Whether some case holds several of them.
    level : float
        The interval's level; only 0.95 was simulated.
    table : dict, optional
        Default: the packaged table (:func:`coverage_table`).
    """
    table = coverage_table() if table is None else table
    if statistic not in _STATISTICS or abs(level - float(table["level"])) > 1e-9:
        return None
    rows = [row for row in table["rows"]
            if row["statistic"] == statistic and method in row["methods"]
            and (row["clustered"] or not clustered)]
    if not rows:
        return None
    sizes = sorted({int(row["n_notebooks"]) for row in rows})
    below = [size for size in sizes if size <= n_notebooks]
    size = below[-1] if below else sizes[0]
    low = float(table["tolerance"]["low"])
    worst = min((row for row in rows if row["n_notebooks"] == size),
                key=lambda row: float(row["methods"][method]["coverage"]))
    coverage = float(worst["methods"][method]["coverage"])
    if coverage >= low - 1e-6:   # at the tolerance's end (to the 6 digits stored) is within it
        return None
    return MeasuredCoverage(statistic=statistic, method=method, coverage=coverage,
                            n_notebooks=size, layout=str(worst["layout"]),
                            tolerance_low=low, experiments=int(table["experiments"]))
