"""The limitations section: what the numbers of this run cannot say, and why."""

from __future__ import annotations

from ..figures import dimension_label
from ..inputs import ReportInputs
from ..view import ReportView, is_smoke, label_sources
from .cells import fmt

__all__ = ["limitations"]


def _ceiling_notes(inputs: ReportInputs, view: ReportView) -> list[str]:
    ceiling = inputs.tables.get("ceiling")
    if ceiling is None or ceiling.empty:
        return []
    notes = []
    low = [dimension_label(d) for d, s in zip(ceiling["dimension"], ceiling["status"],
                                              strict=True) if s != "ok"]
    if low:
        notes.append(f"Human raters agree too little (Krippendorff's alpha below "
                     f"{fmt(view.stats.min_alpha, 3)}) or too rarely rated the same "
                     f"notebook on: {', '.join(low)}. A judge cannot be expected to "
                     "match a consensus that does not exist there.")
    multi = int(ceiling["n_notebooks"].max()) if "n_notebooks" in ceiling else 0
    notes.append(f"The human ceiling rests on at most {multi} notebooks graded by two "
                 "or more raters.")
    return notes


def _failure_notes(inputs: ReportInputs, view: ReportView) -> list[str]:
    judged = inputs.metrics.get("judgments") or {}
    failed = sum(counts.get("n_failed", 0) for counts in judged.values())
    if failed and view.stats.failure_policy == "worst":
        return [f"{failed:,} judgments failed (listed per variant and dimension in the "
                "agreement tables, and as a rate next to every MAE). Each counts in the "
                "MAE as the largest error possible against that human score (intention "
                "to treat), so a judge cannot look better by failing; they are left out "
                "of kappa, alpha and exact agreement, and shown in the confusion "
                "matrices' last column."]
    if failed:
        return [f"{failed:,} judgments failed (listed per variant and dimension, and as a "
                "rate next to every MAE). failure_policy=exclude leaves them out of the "
                "MAE: a judge that fails where it would be wrong looks better for it. "
                "Each comparison uses the notebooks both variants answered."]
    return []


def _policy_notes(inputs: ReportInputs, view: ReportView) -> list[str]:
    stats, notes = view.stats, []
    if stats.significance == "ci":
        notes.append("Significance follows the original study: a per-dimension bootstrap "
                     "interval that excludes 0. That rule is not corrected for testing "
                     f"{len(view.dimensions)} dimensions (under no true difference it flags at "
                     "least one of nine in about 30% of experiments); the "
                     f"{stats.correction}-adjusted p-values are shown next to it for that "
                     "reason.")
    if stats.na_policy == "worst":
        notes.append("N/A on one side only (the judge's N/A against a human score, or a "
                     "score against the humans' N/A) costs the largest error possible "
                     "against that score, as a failed judgment does, so answering N/A when "
                     "unsure never lowers a judge's MAE.")
    elif stats.na_policy == "zero":
        notes.append("N/A is scored as 0, so calling an applicable dimension N/A (or the "
                     "reverse) counts as a large error.")
    else:
        notes.append("N/A is excluded: every pair where the judge or the humans said N/A is "
                     "dropped from the MAE, so a judge that answers N/A when unsure loses "
                     "nothing there. The N/A precision (of the judge's N/A, the share the "
                     "humans also called N/A) and recall in the agreement tables show what "
                     "the MAE hides.")
    intervals = inputs.metrics.get("intervals") or {}
    if intervals:
        unit = intervals["resampling_unit"]
        notes.append(
            f"Intervals resample {unit}s"
            + (" (whole cases: a case's notebooks share a task, so their errors are "
               "correlated)" if unit == "case" else
               " (every case holds one notebook, or no case is known)")
            + f". They condition on {intervals['conditions_on']}.")
    return notes


def limitations(inputs: ReportInputs, view: ReportView) -> tuple[str, ...]:
    """What the reader should discount, most fundamental first."""
    notes = []
    if is_smoke(inputs):
        notes.append("The judge is the offline smoke-test model. It exists to prove that "
                     "every stage runs; its scores say nothing about how good an LLM judge "
                     "can be. Rerun with a capable model (the `llm` group) before drawing "
                     "conclusions.")
    if label_sources(inputs).get("simulated"):
        notes.append("Simulated labels come from the same blueprint that generated the "
                     "notebooks, plus rater noise. Agreement with them measures agreement "
                     "with the generator's intent, not with people; import expert grades "
                     "(`labels=file`) to answer the question for real.")
    labels = inputs.metrics.get("labels") or {}
    n = int(labels.get("n_notebooks", 0))
    if 0 < n < 100:
        notes.append(f"Only {n} notebooks were labelled: intervals are wide, and small "
                     "improvements cannot be told apart from noise (see the power table).")
    notes += _ceiling_notes(inputs, view)
    notes += _failure_notes(inputs, view)
    if inputs.metrics.get("status") == "ok" and view.aligned is None:
        notes.append("No aligned variant was judged, so alignment is not evaluated.")
    for skipped in inputs.metrics.get("skipped") or []:
        notes.append(f"Skipped: {skipped}.")
    if view.aligned is not None and not inputs.alignment:
        notes.append("No alignment audit files were found: the distilled guidelines and the "
                     "cost of alignment cannot be shown.")
    notes += _policy_notes(inputs, view)
    return tuple(notes)
