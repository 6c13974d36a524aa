"""Human ceiling and power: how well raters agree, and what the experiment can detect."""

from __future__ import annotations

from dataclasses import dataclass

from ..figures import dimension_label
from ..inputs import ReportInputs
from ..view import ReportView
from .cells import fmt, fmt_int, fmt_share, get, lookup, missing

__all__ = ["Ceiling", "CeilingRow", "ceiling"]

_STATUS = {"ok": "ok", "low_agreement": "raters disagree", "insufficient": "too few ratings"}


@dataclass(frozen=True)
class CeilingRow:
    dimension: str
    n_notebooks: str
    human_mae: str
    human_alpha: str
    status: str
    trusted: bool
    gap_closed: str
    power_n: str
    detectable: str
    needed: str


@dataclass(frozen=True)
class Ceiling:
    rows: tuple[CeilingRow, ...]
    has_power: bool
    aligned: str | None
    reference: str
    min_alpha: str
    target_improvement: str
    target_power: str


def ceiling(inputs: ReportInputs, view: ReportView) -> Ceiling:
    tables, reference, aligned, stats = inputs.tables, view.reference, view.aligned, view.stats
    improvement, power = tables.get("improvement"), tables.get("power")
    rows = []
    for dimension in view.dimensions:
        human = lookup(tables.get("ceiling"), dimension=dimension)
        change = (lookup(improvement, kind="improvement", reference=reference,
                         variant=aligned, dimension=dimension) if aligned else None)
        test = (lookup(power, reference=reference, variant=aligned, dimension=dimension)
                if aligned else None)
        status = get(human, "status")
        needed = get(test, "notebooks_needed")
        rows.append(CeilingRow(
            dimension=dimension_label(dimension),
            n_notebooks=fmt_int(get(human, "n_notebooks")),
            human_mae=fmt(get(human, "human_mae")),
            human_alpha=fmt(get(human, "human_alpha")),
            status=_STATUS.get(status, status or "—"),
            trusted=status == "ok",
            gap_closed=fmt_share(get(change, "gap_closed")),
            power_n=fmt_int(get(test, "n_notebooks")),
            detectable=fmt(get(test, "minimal_detectable_improvement")),
            needed=("—" if test is None else
                    f"> {fmt_int(stats.max_notebooks)}" if missing(needed)
                    else fmt_int(needed)),
        ))
    return Ceiling(rows=tuple(rows), has_power=aligned is not None and power is not None,
                   aligned=aligned, reference=reference, min_alpha=fmt(stats.min_alpha, 3),
                   target_improvement=fmt(stats.target_improvement),
                   target_power=fmt_share(stats.target_power))
