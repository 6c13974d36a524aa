"""The verdict per dimension: reference against aligned judge, controls and the ceiling."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from nbjudge.stats.coverage import MeasuredCoverage, measured_coverage

from ..figures import dimension_label
from ..inputs import ReportInputs
from ..view import ReportView, StatsSettings
from .cells import Row, fmt, fmt_ci, fmt_int, fmt_p, fmt_share, get, lookup, missing

__all__ = [
    "CALIBRATION",
    "NO_SKILL",
    "Verdict",
    "VerdictRow",
    "improvement_cell",
    "interval_description",
    "measured",
    "significance_rule",
    "verdict",
]

# The controls each verdict is measured against (the contrasts of conf/stats/default.yaml).
NO_SKILL, CALIBRATION = "majority", "calibrated"


@dataclass(frozen=True)
class VerdictRow:
    """One dimension: each cell as the table shows it."""

    dimension: str
    reference_mae: str
    aligned_mae: str
    improvement: str
    p_adjusted: str
    significant: str        # "yes, better", "yes, worse", "no" or "—"
    direction: str          # the row's CSS class: "better", "worse" or ""
    n_notebooks: str
    human_mae: str
    human_trusted: bool
    n_labelled: str
    n_labels: str
    n_na: str
    n_multi_rated: str
    beats_no_skill: str
    beats_calibration: str


@dataclass(frozen=True)
class Verdict:
    """The first section: a summary sentence and the table under it."""

    rows: tuple[VerdictRow, ...]
    summary: str
    rule: str               # what "significant" means
    has_no_skill: bool
    has_calibration: bool
    no_skill: str
    calibration: str
    intervals: str          # how every interval of the report was made
    has_judge: bool
    has_aligned: bool
    reference: str
    aligned: str            # "—" without an aligned variant
    correction: str
    level: str


def significance_rule(stats: StatsSettings) -> str:
    """The rule behind "significant", and what error it controls."""
    alpha = stats.alpha
    correction = stats.correction
    controls = ("the family-wise error" if correction == "holm"
                else "the false discovery rate")
    test = (f"{correction}-adjusted sign-flip p < {alpha:.2g}, adjusted over every dimension "
            f"of every comparison (controls {controls} at {alpha:.2g})")
    band = (f"the {stats.level_percent} simultaneous band (Bonferroni over CR2 intervals) "
            f"over every dimension of every comparison excludes 0 (Bonferroni: family-wise "
            f"error at most {alpha:.2g} if each interval held its level at {alpha:.2g} / m; "
            "measured 0.015-0.065 in bench/results/intervals.md)")
    ci = (f"the {stats.level_percent} per-dimension bootstrap CI excludes 0 "
          "(unadjusted: not corrected for the number of dimensions)")
    return {"ci": ci, "test": test, "simultaneous": band, "both": f"{ci} and {test}"}.get(
        stats.significance, test)


def measured(row: Row | None, statistic: str, method_column: str = "ci_method",
             ) -> MeasuredCoverage | None:
    """The simulated coverage of a row's interval where it fell below the binomial tolerance
    of its level (:func:`nbjudge.stats.coverage.measured_coverage`); None otherwise."""
    method, n, level = (get(row, key) for key in (method_column, "n_notebooks", "ci_level"))
    if row is None or any(missing(v) for v in (method, n, level)):
        return None
    cases = get(row, "n_cases")
    return measured_coverage(statistic, str(method), int(n), level=float(level),
                             clustered=not missing(cases) and int(cases) < int(n))


def _measured_suffix(row: Row | None, statistic: str, method_column: str) -> str:
    found = measured(row, statistic, method_column)
    return "" if found is None else f" (covered {found.coverage:.3f} in simulation)"


def _measured_sentence(tables: Mapping[str, Any] | None) -> str:
    """Where the report's 95% intervals fell short in simulation, per statistic: the lowest
    measured coverage of the sizes the tables hold."""
    if not tables:
        return ""
    found: list[MeasuredCoverage] = []
    for name, statistic, column in (("improvement", "improvement", "ci_method"),
                                    ("mae", "mae", "mae_ci_method")):
        frame = tables.get(name)
        if frame is None or frame.empty or column not in frame:
            continue
        if "kind" in frame:
            frame = frame[frame.kind == "improvement"]
        hits = [m for m in (measured(row, statistic, column)
                            for row in frame.to_dict("records")) if m is not None]
        if hits:
            found.append(min(hits, key=lambda m: m.coverage))
    if not found:
        return ""
    what = "; ".join(f"{'the improvement' if m.statistic == 'improvement' else 'the MAE'}'s "
                     f"{m.method} interval {m.describe()}" for m in found)
    return (f"; labelled 95% but below it in simulation (bench/validate_intervals.py, "
            f"{found[0].experiments} experiments per row, tolerance from "
            f"{found[0].tolerance_low:.3f}): {what}; cells with such an interval say so")


def interval_description(metrics: Mapping[str, Any],
                         tables: Mapping[str, Any] | None = None) -> str:
    """Method, level, resamples, sample size and unit of every interval of the report, and,
    given the stats tables, where simulation measured such intervals below their level."""
    intervals = metrics.get("intervals") or {}
    if not intervals:
        return "bootstrap intervals"
    unit = intervals["resampling_unit"]
    text = (f"{100 * intervals['level']:.0f}% {intervals['method']} intervals, "
            f"{fmt_int(intervals['n_resamples'])} resamples of {intervals['sample_size']} "
            f"{unit}s out of {intervals['n_units']}")
    if unit == "case":
        text += (f" (whole cases with all their notebooks: {intervals['n_notebooks']} "
                 f"notebooks in {intervals['n_cases']} cases)")
    if intervals.get("note"):
        text += f"; {intervals['note']}"
    if not intervals.get("shown", True):
        needed = intervals["min_cases"] if unit == "case" else intervals["min_notebooks"]
        text += (f"; {intervals['n_without_interval']} comparison(s) rest on fewer than "
                 f"{needed} {unit}s, the smallest size validated: their standard error and "
                 "permutation p-value (exact or Monte Carlo, as labelled) instead")
    text += _measured_sentence(tables)
    return str(text)


def _mae_cell(row: Row | None) -> str:
    """MAE [CI], and its failure rate: the two are never shown apart."""
    text = fmt_ci(get(row, "mae"), get(row, "mae_ci_low"), get(row, "mae_ci_high"))
    if not missing(get(row, "mae_ci_low")):
        text += _measured_suffix(row, "mae", "mae_ci_method")
    rate = get(row, "failure_rate")
    if text != "—" and not missing(rate):
        text += f"; {fmt_share(rate)} failed" + (" ⚑" if get(row, "failure_flag") else "")
    return text


def improvement_cell(change: Row | None) -> str:
    """An improvement with its interval (or standard error), and its spread over repeats."""
    value = get(change, "improvement")
    if change is not None and not missing(value) and missing(get(change, "ci_low")) and \
            not missing(get(change, "standard_error")):
        text = f"{fmt(value)} (SE {fmt(get(change, 'standard_error'))}; no interval)"
    else:
        text = fmt_ci(value, get(change, "ci_low"), get(change, "ci_high"))
        if not missing(get(change, "ci_low")) and get(change, "kind") == "improvement":
            text += _measured_suffix(change, "improvement", "ci_method")
    spread = get(change, "repeat_sd")
    if not missing(spread):
        text += f" ± {fmt(spread)} over CV repeats" + (
            " ⚑" if get(change, "repeat_spread_flag") else "")
    return text


def _control_contrast(improvement: pd.DataFrame | None, judge: str | None, control: str,
                      dimension: str) -> Row | None:
    """The contrast ``[judge, control]``: MAE(control) - MAE(judge), > 0 when the judge wins."""
    if judge is None:
        return None
    return lookup(improvement, kind="contrast", reference=control, variant=judge,
                  dimension=dimension)


def _beats_cell(contrast: Row | None) -> str:
    """``yes``/``no, worse``/``no, not significant``, then the contrast with its interval."""
    value = get(contrast, "improvement")
    if contrast is None or missing(value):
        return "—"
    significant = bool(get(contrast, "significant"))
    word = ("yes" if significant and value > 0 else "no, worse" if significant
            else "not shown")
    return f"{word}: {improvement_cell(contrast)}"


def _controls_summary(improvement: pd.DataFrame | None, dimensions: Sequence[str],
                      reference: str, aligned: str | None) -> str:
    """One sentence per control question, counting significantly better dimensions."""
    text = ""
    for judge, control, question in ((reference, NO_SKILL, "no skill"),
                                     (aligned, CALIBRATION, "calibration")):
        found = [c for c in (_control_contrast(improvement, judge, control, d)
                             for d in dimensions) if c is not None]
        if not found:
            continue
        wins = sum(bool(c.get("significant")) and (c.get("improvement") or 0) > 0
                   for c in found)
        text += (f" Against {question}: the {judge} judge beats {control} significantly on "
                 f"{wins} of {len(found)} dimensions.")
    return text


def _row(inputs: ReportInputs, view: ReportView, dimension: str) -> tuple[VerdictRow, str]:
    """The row, and ``better``/``worse`` where the aligned judge differs significantly."""
    tables, reference, aligned = inputs.tables, view.reference, view.aligned
    mae, improvement = tables.get("mae"), tables.get("improvement")
    labelled = lookup(tables.get("labels"), dimension=dimension)
    base = lookup(mae, variant=reference, dimension=dimension)
    other = lookup(mae, variant=aligned, dimension=dimension) if aligned else None
    change = (lookup(improvement, kind="improvement", reference=reference,
                     variant=aligned, dimension=dimension) if aligned else None)
    human = lookup(tables.get("ceiling"), dimension=dimension)
    significant = bool(get(change, "significant")) if change else False
    value = get(change, "improvement")
    if change is None:
        word = "—"
    elif significant:
        word = "yes, better" if value > 0 else "yes, worse"
    else:
        word = "no"
    shift = "" if not significant or missing(value) else "better" if value > 0 else "worse"
    return VerdictRow(
        dimension=dimension_label(dimension),
        reference_mae=_mae_cell(base),
        aligned_mae=_mae_cell(other),
        improvement=improvement_cell(change),
        p_adjusted=fmt_p(get(change, f"p_{view.stats.correction}")),
        significant=word,
        direction="better" if significant and value > 0 else "worse" if significant else "",
        n_notebooks=fmt_int(get(change, "n_notebooks") if change
                            else get(base, "n_notebooks")),
        human_mae=fmt(get(human, "human_mae")),
        human_trusted=get(human, "status") == "ok",
        n_labelled=fmt_int(get(labelled, "n_notebooks")),
        n_labels=fmt_int(get(labelled, "n_labels")),
        n_na=fmt_int(get(labelled, "n_na")),
        n_multi_rated=fmt_int(get(labelled, "n_multi_rated")),
        beats_no_skill=_beats_cell(_control_contrast(improvement, reference, NO_SKILL,
                                                     dimension)),
        beats_calibration=_beats_cell(_control_contrast(improvement, aligned, CALIBRATION,
                                                        dimension)),
    ), shift


def _summary(inputs: ReportInputs, view: ReportView, better: Sequence[str],
             worse: Sequence[str]) -> str:
    reference, aligned = view.reference, view.aligned
    status = inputs.metrics.get("status")
    if status == "no_judgments":
        summary = str(inputs.metrics.get("message") or "No judgments exist yet.")
    elif aligned is None:
        summary = (f"Only the {reference} judge has been run: there is no aligned variant "
                   "to compare with it yet, so the table shows its error alone.")
    else:
        n = len(view.dimensions)
        summary = (f"The aligned judge ({aligned}) agrees with the humans significantly "
                   f"better than the {reference} judge on {len(better)} of {n} dimensions"
                   f", significantly worse on {len(worse)}"
                   f", and no difference was detected on {n - len(better) - len(worse)}.")
        if better:
            summary += f" Better: {', '.join(better)}."
        if worse:
            summary += f" Worse: {', '.join(worse)}."
    return summary + _controls_summary(inputs.tables.get("improvement"), view.dimensions,
                                       reference, aligned)


def verdict(inputs: ReportInputs, view: ReportView) -> Verdict:
    """The verdict table, one row per dimension, and its summary sentence."""
    mae = inputs.tables.get("mae")
    found = [_row(inputs, view, dimension) for dimension in view.dimensions]
    rows = tuple(row for row, _ in found)
    better = [row.dimension for row, shift in found if shift == "better"]
    worse = [row.dimension for row, shift in found if shift == "worse"]
    return Verdict(
        rows=rows, summary=_summary(inputs, view, better, worse),
        rule=significance_rule(view.stats),
        has_no_skill=any(r.beats_no_skill != "—" for r in rows),
        has_calibration=any(r.beats_calibration != "—" for r in rows),
        no_skill=NO_SKILL, calibration=CALIBRATION,
        intervals=interval_description(inputs.metrics, inputs.tables),
        has_judge=mae is not None and not mae.empty, has_aligned=view.aligned is not None,
        reference=view.reference, aligned=view.aligned or "—",
        correction=view.stats.correction, level=view.stats.level_percent)
