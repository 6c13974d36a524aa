"""Robustness: how far a notebook can move its judge without changing its quality.

Reads the robustness stage's summary and shifts (``data/robustness``) and the injection
scanner's findings on the judged notebooks (``data/injections.jsonl``): per judge and
defence the mean injection shift (susceptibility), the share of cosmetic variants left
unmoved (invariance) and the share of defects that lowered their dimension
(sensitivity); the variants that moved the judges most; what each defence changed;
whether alignment made a judge easier to talk round than the baseline; and the notebooks
the scanner flagged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..inputs import ReportInputs
from .cells import fmt_ci, fmt_share, plural

__all__ = ["FindingRow", "Robustness", "RobustnessRow", "ShiftRow", "injection_line",
           "robustness"]


@dataclass(frozen=True)
class RobustnessRow:
    judge: str
    defence: str
    susceptibility: str      # mean injection shift [interval]
    moved: str               # share of injection pairs moved
    invariance: str          # share of cosmetic pairs unmoved
    sensitivity: str         # share of defect pairs (own dimension) that fell
    over_threshold: bool


@dataclass(frozen=True)
class ShiftRow:
    configuration: str       # judge@defence
    variant: str
    family: str
    dimension: str
    shift: str
    moved: str
    n: str


@dataclass(frozen=True)
class FindingRow:
    notebook_id: str
    cell: str
    where: str
    rule: str
    text: str


@dataclass(frozen=True)
class Robustness:
    enabled: bool
    smoke: bool
    threshold: str
    rows: tuple[RobustnessRow, ...]
    shifts: tuple[ShiftRow, ...]          # the variants that moved a judge most
    sentences: tuple[str, ...]            # defences, alignment, scanner
    findings: tuple[FindingRow, ...]      # the scanner on the judged notebooks
    suite: str                            # what was run


def _f(value: Any) -> str:
    return "—" if value is None else f"{value:+.2f}"


def injection_line(summary: Mapping[str, Any] | None) -> str | None:
    """The first page's line when injection moved any judge beyond the threshold."""
    if not summary or not summary.get("enabled") or not summary.get("moved_by_injection"):
        return None
    moved = ", ".join(f"{m['judge']} under defence {m['defence']} ({_f(m['susceptibility'])})"
                      for m in summary["moved_by_injection"])
    return (f"Text addressed to the grader moved the judges beyond "
            f"{summary['threshold']:g} points on average: {moved}; see Robustness.")


def robustness(inputs: ReportInputs) -> Robustness | None:
    summary = inputs.robustness
    findings = tuple(FindingRow(f.notebook_id, str(f.cell), f.where, f.rule, f.text)
                     for f in inputs.injections)
    if not summary or not summary.get("enabled"):
        if not findings:
            return None
        return Robustness(False, False, "", (), (), (_scanner_sentence(inputs),), findings, "")
    threshold = float(summary.get("threshold", 0.25))
    rows = tuple(RobustnessRow(
        f["judge"], f["defence"],
        fmt_ci(f["susceptibility"], f["susceptibility_low"], f["susceptibility_high"]),
        fmt_share(f["injection_moved"]), fmt_share(f["invariance"]),
        fmt_share(f["sensitivity"]),
        f["susceptibility"] is not None and abs(f["susceptibility"]) > threshold)
        for f in summary.get("families", []))
    ranked = sorted((r for r in inputs.robustness_shifts
                     if r.variant != "*" and r.dimension == "*" and r.mean_shift is not None),
                    key=lambda r: -abs(r.mean_shift or 0.0))
    ranked += sorted((r for r in inputs.robustness_shifts
                      if r.expected == "fall" and r.variant != "*"),
                     key=lambda r: r.mean_shift if r.mean_shift is not None else 0.0)
    shifts = tuple(ShiftRow(f"{r.judge}@{r.defence}", r.variant, r.family, r.dimension,
                            fmt_ci(r.mean_shift, r.ci_low, r.ci_high),
                            fmt_share(r.share_moved), str(r.n_pairs))
                   for r in ranked[:12])
    sentences = list(_defence_sentences(summary))
    for worse in summary.get("more_susceptible_than_baseline", []):
        sentences.append(
            f"Alignment made the judge more susceptible: {worse['judge']} moved "
            f"{_f(worse['susceptibility'])} under injection where the baseline moved "
            f"{_f(worse['baseline'])} (defence {worse['defence']}).")
    if not summary.get("more_susceptible_than_baseline") and any(
            f["judge"] != "baseline" for f in summary.get("families", [])):
        sentences.append("No aligned judge was moved by injection more than the baseline.")
    scanner = summary.get("scanner") or {}
    sentences.append(
        f"The injection scanner found {scanner.get('injected_found', 0)} of "
        f"{plural(scanner.get('injected', 0), 'injected variant')} and flagged "
        f"{scanner.get('clean_flagged', 0)} of {plural(scanner.get('clean', 0), 'clean notebook')}"
        " of the suite.")
    if findings or inputs.injections_scanned:
        sentences.append(_scanner_sentence(inputs))
    suite = (f"{plural(len(summary.get('originals', [])), 'notebook')} x "
             f"{plural(len(summary.get('variants', [])), 'variant')} on "
             f"{plural(len(summary.get('dimensions', [])), 'dimension')}; variants whose code "
             f"changed ran in the sandbox ({summary.get('executed', {}).get('ok', 0)} of "
             f"{summary.get('executed', {}).get('variants', 0)} ran without error).")
    return Robustness(True, bool(summary.get("smoke")), f"{threshold:g}", rows, shifts,
                      tuple(sentences), findings, suite)


def _defence_sentences(summary: Mapping[str, Any]) -> list[str]:
    by = {(f["judge"], f["defence"]): f for f in summary.get("families", [])}
    lines = []
    for (judge, defence), family in sorted(by.items()):
        before = by.get((judge, "none"))
        if defence == "none" or before is None or before["susceptibility"] is None \
                or family["susceptibility"] is None:
            continue
        lines.append(f"{judge}: defence {defence} changes the injection shift from "
                     f"{_f(before['susceptibility'])} to {_f(family['susceptibility'])}.")
    return lines


def _scanner_sentence(inputs: ReportInputs) -> str:
    notebooks = {f.notebook_id for f in inputs.injections}
    if not notebooks:
        return "The injection scanner flagged none of the judged notebooks."
    action = inputs.injections[0].action
    what = {"judge": "judged as they are", "strip": "judged with the flagged lines removed",
            "fail": "not judged"}[action]
    return (f"The injection scanner flagged {plural(len(notebooks), 'judged notebook')} "
            f"(judge.on_injection={action}: {what}): listed below.")
