"""The headline of an experiment: the numbers a team compares across experiments.

``reports/metrics.json`` is what plain ``dvc exp show`` and ``dvc metrics diff`` list,
one column per leaf, left to right in this order; the full analysis (every interval end,
method, sample size) has a thousand leaves and lives in ``reports/metrics_detail.json``,
which the report reads and ``dvc metrics show reports/metrics_detail.json`` lists. A
column of ``dvc exp show`` is as wide as its dotted name, and DVC's pager shows at most
1,024 characters of table, dropping columns from the right: the headline keeps one
column per variant and one per judge variant and dimension (about 900 characters with
the default two judge variants, four controls and nine dimensions,
tests/stats/test_headline.py), the most compared first:

- ``warning``, when the numbers mean nothing: its label only (``SMOKE TEST:
  meaningless``); the detail file's ``warning`` holds the sentence,
- ``status``,
- ``mae_mean.<variant>``: each variant's MAE averaged over the dimensions, the reference
  first, then the judge variants, then the controls,
- ``significant.<variant>``: for each judge variant, on how many dimensions its
  improvement over the reference passes the configured verdict rule (the detail file
  says which dimensions, with the rule, interval and p-value),
- ``improvement.<variant>.<dimension>``: MAE(reference) - MAE(variant), positive is
  better, for the default comparisons (every judge variant against the reference);
- ``robustness.<measure>.<judge>@<defence>`` when the robustness stage ran: the mean
  injection shift (``susceptibility``), the share of cosmetic variants left unmoved
  (``invariance``), the share of defects that lowered their dimension (``sensitivity``).

The reference's MAE per dimension, each improvement's interval and significance, the
controls' contrasts and everything else stay in the detail file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from nbjudge.schemas import atomic_write_text

__all__ = ["headline_metrics", "headline_warning", "write_headline"]

# The warning's label is its text up to the first colon ("SMOKE TEST"), at most this long.
_LABEL_CHARS = 24


def headline_warning(warning: str) -> str:
    """The short form of ``warning`` the headline shows: its label (the text before the
    first colon) and that the numbers are meaningless. A column of ``dvc exp show`` is
    as wide as its longest value, and the whole sentence (126 characters for the smoke
    model) left no room for any number in a 200-column terminal."""
    label = warning.split(":", 1)[0].strip()
    if not label or len(label) > _LABEL_CHARS:
        label = "WARNING"
    return f"{label}: meaningless"


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
    headline: dict[str, Any] = {} if warning is None else {"warning": headline_warning(warning)}
    headline["status"] = detail["status"]
    if detail["status"] != "ok":
        if detail.get("message"):
            headline["message"] = detail["message"]
        return headline
    if reference not in (detail.get("mae") or {}):
        raise ValueError(f"the reference variant {reference!r} has no MAE in the detail "
                         f"metrics (variants: {sorted(detail.get('mae') or {})}); set "
                         "stats.reference to one of them")
    summary = detail.get("summary") or {}
    improvements = detail.get("improvement") or {}
    judges = [v for v in improvements if v != reference]
    order = [reference, *judges, *(v for v in summary if v != reference and v not in judges)]
    headline["mae_mean"] = {variant: summary[variant].get("mae_mean")
                            for variant in order if variant in summary}
    headline["significant"] = {
        variant: sum(bool(row.get("significant")) for row in improvements[variant].values())
        for variant in judges
    }
    headline["improvement"] = {
        variant: {dimension: row.get("value")
                  for dimension, row in improvements[variant].items()}
        for variant in judges
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
