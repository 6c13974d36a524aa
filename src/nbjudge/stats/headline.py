"""The headline of an experiment: the few dozen numbers a team compares across experiments.

``reports/metrics.json`` is what ``dvc exp show`` and ``dvc metrics diff`` list by
default, one column per leaf; the full analysis (every interval end, method, sample
size) has a thousand leaves and turns their tables into ellipses. The headline keeps:

- ``status`` (and ``warning`` first when the numbers mean nothing),
- ``mae_mean.<variant>``: each variant's MAE averaged over the dimensions,
- ``mae.<reference>.<dimension>``: the reference judge's MAE per dimension,
- ``improvement.<variant>.<dimension>``: MAE(reference) - MAE(variant), positive is better,
  for the default comparisons (every judge variant against the reference),
- ``significant.<variant>.<dimension>``: whether that improvement passes the configured
  verdict rule (the detail file says which rule, interval and p-value);
- ``robustness.<measure>.<judge>@<defence>`` when the robustness stage ran: the mean
  injection shift (``susceptibility``), the share of cosmetic variants left unmoved
  (``invariance``), the share of defects that lowered their dimension (``sensitivity``).

Everything else stays in the detail file (``reports/metrics_detail.json``), which the
report reads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from nbjudge.schemas import atomic_write_text

__all__ = ["headline_metrics", "write_headline"]


def headline_metrics(detail: Mapping[str, Any], *, reference: str,
                     warning: str | None = None,
                     robustness: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The headline of ``detail`` (the content :func:`analyze_experiment` returns).

    ``reference`` is the variant every improvement is measured against
    (``stats.reference``). Without judgments the headline is the status and the
    message alone.
    """
    if "status" not in detail:
        raise ValueError("the detail metrics have no 'status': pass the content "
                         "analyze_experiment returns (ExperimentStats.metrics)")
    headline: dict[str, Any] = {} if warning is None else {"warning": warning}
    headline["status"] = detail["status"]
    if detail["status"] != "ok":
        if detail.get("message"):
            headline["message"] = detail["message"]
        return headline
    summary = detail.get("summary") or {}
    headline["mae_mean"] = {variant: row.get("mae_mean") for variant, row in summary.items()}
    mae = detail.get("mae") or {}
    if reference not in mae:
        raise ValueError(f"the reference variant {reference!r} has no MAE in the detail "
                         f"metrics (variants: {sorted(mae)}); set stats.reference to one "
                         "of them")
    headline["mae"] = {reference: {dimension: row.get("value")
                                   for dimension, row in mae[reference].items()}}
    improvements = detail.get("improvement") or {}
    headline["improvement"] = {
        variant: {dimension: row.get("value") for dimension, row in rows.items()}
        for variant, rows in improvements.items()
    }
    headline["significant"] = {
        variant: {dimension: bool(row.get("significant")) for dimension, row in rows.items()}
        for variant, rows in improvements.items()
    }
    if robustness:
        headline["robustness"] = dict(robustness)
    return headline


def write_headline(path: str | os.PathLike[str], detail: Mapping[str, Any], *,
                   reference: str, warning: str | None = None,
                   robustness: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write the headline of ``detail`` to ``path`` as JSON and return it."""
    headline = headline_metrics(detail, reference=reference, warning=warning,
                                robustness=robustness)
    atomic_write_text(path, json.dumps(headline, indent=2) + "\n")
    return headline
