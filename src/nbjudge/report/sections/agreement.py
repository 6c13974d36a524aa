"""Agreement details: one table per variant of the stats stage's agreement measures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..figures import dimension_label
from ..inputs import ReportInputs
from .cells import fmt, fmt_int, fmt_share

__all__ = ["AgreementRow", "AgreementTable", "agreement"]


@dataclass(frozen=True)
class AgreementRow:
    dimension: str
    n_pairs: str
    n_notebooks: str
    n_failed: str
    exact: str
    kappa: str
    alpha: str
    na_agreement: str
    na_precision: str
    na_recall: str
    failure_rate: str
    bias: str
    mae: str


@dataclass(frozen=True)
class AgreementTable:
    variant: str
    rows: tuple[AgreementRow, ...]


def agreement(inputs: ReportInputs, variants: Sequence[str]) -> tuple[AgreementTable, ...]:
    """One table per variant; empty without an agreement table."""
    frame = inputs.tables.get("agreement")
    if frame is None or frame.empty:
        return ()
    tables = []
    for variant in variants:
        rows = []
        for row in frame[frame["variant"] == variant].to_dict("records"):
            rows.append(AgreementRow(
                dimension=dimension_label(row["dimension"]),
                n_pairs=fmt_int(row.get("n_pairs")),
                n_notebooks=fmt_int(row.get("n_notebooks")),
                n_failed=fmt_int(row.get("n_failed")),
                exact=fmt_share(row.get("exact_agreement")),
                kappa=fmt(row.get("kappa_quadratic")),
                alpha=fmt(row.get("alpha_ordinal")),
                na_agreement=fmt_share(row.get("na_agreement")),
                na_precision=fmt_share(row.get("na_precision")),
                na_recall=fmt_share(row.get("na_recall")),
                failure_rate=fmt_share(row.get("failure_rate")),
                bias=fmt(row.get("bias")),
                mae=fmt(row.get("mae")),
            ))
        tables.append(AgreementTable(variant=variant, rows=tuple(rows)))
    return tuple(tables)
