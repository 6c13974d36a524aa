"""Table cells as text, and row lookup in the stats stage's tables.

Every number of the report is formatted here, so that a missing value reads
``—`` everywhere and the template only lays text out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

__all__ = [
    "Row",
    "fmt",
    "fmt_ci",
    "fmt_int",
    "fmt_p",
    "fmt_share",
    "get",
    "lookup",
    "missing",
    "plural",
]

# One row of a stats table (``DataFrame.to_dict``): its cells are whatever pandas read.
Row = Mapping[str, Any]


def missing(value: object) -> bool:
    """None or NaN: a cell the stats stage left empty."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt(value: Any, digits: int = 2) -> str:
    if missing(value):
        return "—"
    return f"{float(value):.{digits}f}"


def fmt_ci(estimate: Any, low: Any, high: Any, digits: int = 2) -> str:
    if missing(estimate):
        return "—"
    if missing(low) or missing(high):
        return fmt(estimate, digits)
    return f"{fmt(estimate, digits)} [{fmt(low, digits)}, {fmt(high, digits)}]"


def fmt_p(value: Any) -> str:
    if missing(value):
        return "—"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def fmt_share(value: Any) -> str:
    return "—" if missing(value) else f"{100 * float(value):.0f}%"


def fmt_int(value: Any) -> str:
    return "—" if missing(value) else f"{int(value):,}"


def plural(count: int, word: str) -> str:
    return f"{count:,} {word if count == 1 else word + 's'}"


def lookup(frame: pd.DataFrame | None, **where: object) -> Row | None:
    """The first row of ``frame`` whose columns equal ``where``; None when there is none
    (or ``frame`` lacks one of the columns)."""
    if frame is None or frame.empty:
        return None
    mask = pd.Series(True, index=frame.index)
    for column, value in where.items():
        if column not in frame:
            return None
        mask &= frame[column] == value
    rows = frame[mask]
    return None if rows.empty else rows.iloc[0].to_dict()


def get(row: Row | None, key: str) -> Any:
    return None if row is None else row.get(key)
