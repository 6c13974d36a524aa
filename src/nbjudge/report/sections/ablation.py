"""Ablation: every judged variant's MAE side by side, and the contrasts between variants."""

from __future__ import annotations

from dataclasses import dataclass

from ..figures import dimension_label
from ..inputs import ReportInputs
from ..view import ReportView
from .cells import fmt_ci, fmt_p, get, lookup

__all__ = ["Ablation", "AblationRow", "ContrastCell", "ablation"]


@dataclass(frozen=True)
class ContrastCell:
    value: str          # the contrast with its interval
    p: str              # adjusted p-value
    significant: bool


@dataclass(frozen=True)
class AblationRow:
    dimension: str
    mae: tuple[str, ...]                 # per variant, in the order of ``Ablation.variants``
    contrasts: tuple[ContrastCell, ...]  # in the order of ``Ablation.contrasts``


@dataclass(frozen=True)
class Ablation:
    variants: tuple[str, ...]
    contrasts: tuple[str, ...]           # column titles: "MAE <other> − MAE <candidate>"
    rows: tuple[AblationRow, ...]
    skipped: tuple[str, ...]             # contrasts the stats stage could not compute


def ablation(inputs: ReportInputs, view: ReportView) -> Ablation | None:
    """None with fewer than two variants: there is nothing to set side by side."""
    mae, improvement = inputs.tables.get("mae"), inputs.tables.get("improvement")
    if mae is None or len(view.variants) < 2:
        return None
    contrasts: list[tuple[str, str]] = [] if improvement is None else list(dict.fromkeys(
        zip(improvement[improvement["kind"] == "contrast"]["variant"],
            improvement[improvement["kind"] == "contrast"]["reference"], strict=True)))
    p_column = f"p_{view.stats.correction}"
    rows = []
    for dimension in view.dimensions:
        maes = []
        for variant in view.variants:
            found = lookup(mae, variant=variant, dimension=dimension)
            maes.append(fmt_ci(get(found, "mae"), get(found, "mae_ci_low"),
                               get(found, "mae_ci_high")))
        cells = []
        for candidate, other in contrasts:
            found = lookup(improvement, kind="contrast", variant=candidate, reference=other,
                           dimension=dimension)
            cells.append(ContrastCell(
                value=fmt_ci(get(found, "improvement"), get(found, "ci_low"),
                             get(found, "ci_high")),
                p=fmt_p(get(found, p_column)),
                significant=bool(get(found, "significant"))))
        rows.append(AblationRow(dimension=dimension_label(dimension), mae=tuple(maes),
                                contrasts=tuple(cells)))
    return Ablation(
        variants=view.variants,
        contrasts=tuple(f"MAE {other} − MAE {candidate}" for candidate, other in contrasts),
        rows=tuple(rows), skipped=tuple(inputs.metrics.get("skipped") or []))
