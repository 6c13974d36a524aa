"""Comparing arms (agent builds, writer models): the gate's verdict, the leaderboard, each
candidate's differences from the reference, and the judge's error (judge only against PPI).

Built from the comparison stages' records (``data/compare/arms.jsonl``,
``data/compare/comparisons.jsonl``); absent when there is no comparison. The gate is
:func:`nbjudge.compare.gate.evaluate_gate` with ``compare.gate`` of the parameters, as
``python -m nbjudge gate`` runs it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nbjudge.compare.gate import GateResult, GateSettings, evaluate_gate
from nbjudge.errors import NbjudgeError
from nbjudge.params import GateParams
from nbjudge.schemas import DIMENSIONS, ArmComparison, ArmSummary

from ..figures import dimension_label
from ..inputs import ReportInputs
from ..view import is_smoke, judge_model, params_section
from .captions import FigureEntry
from .cells import fmt, fmt_ci, fmt_p, fmt_share, missing

__all__ = [
    "Comparison",
    "DifferenceRow",
    "JudgeErrorRow",
    "LeaderboardCell",
    "LeaderboardRow",
    "comparison",
    "gate_outcome",
    "gate_settings",
    "tolerance_of",
]

FIGURE = "compare"


@dataclass(frozen=True)
class LeaderboardCell:
    """One arm on one dimension."""

    judge: str          # the judge's mean score [interval]
    na: str             # "N/A 5%"
    failed: str         # "failed 0%"
    human: str          # PPI++ mean human score [interval], or "—"
    graded: str         # "12 of 60 graded", or ""


@dataclass(frozen=True)
class LeaderboardRow:
    dimension: str
    cells: tuple[LeaderboardCell, ...]
    cases: str          # cases per arm ("30", or "30 / 28" where the arms differ)


@dataclass(frozen=True)
class DifferenceRow:
    """One candidate against the reference on one dimension, judge only, and the gate."""

    candidate: str
    dimension: str
    difference: str     # candidate - reference [interval]
    p_holm: str
    reading: str        # "higher", "lower" or "no change larger than X"
    tolerance: str
    gate: str           # the gate's verdict on this dimension (and its source)
    regression: bool
    cases: str


@dataclass(frozen=True)
class JudgeErrorRow:
    """Judge-only and PPI differences side by side."""

    candidate: str
    dimension: str
    judge: str
    ppi: str
    ppi_p_holm: str
    ppi_detectable: str
    graded: str         # graded notebooks, reference / candidate
    lam: str            # PPI++ power tuning, reference / candidate
    outside: bool       # the judge-only difference lies outside the PPI interval


@dataclass(frozen=True)
class Comparison:
    """The comparison section; ``gate_line`` also heads the report."""

    gate_line: str
    gate_failed: bool   # exit code 1 or 2: the line is set in bold
    reference: str
    candidates: tuple[str, ...]
    arms: tuple[str, ...]
    has_ppi: bool
    smoke: str          # "" or why the numbers mean nothing
    leaderboard: tuple[LeaderboardRow, ...]
    differences: tuple[DifferenceRow, ...]
    judge_error: tuple[JudgeErrorRow, ...]
    flagged: tuple[str, ...]   # "model_training (v2)" where the judge lies outside PPI
    figure: FigureEntry | None
    level: str
    policies: str
    leaderboard_intervals: str
    difference_intervals: str
    ppi_intervals: str
    gate_rule: str


def gate_settings(params: Mapping[str, object]) -> GateSettings:
    """``compare.gate`` of the parameters (its defaults where absent) as the gate's
    settings, as ``python -m nbjudge gate`` reads them."""
    section = params_section(params, "compare")
    gate = GateParams.model_validate(params_section(section, "gate"))
    return GateSettings(**gate.model_dump())


def gate_outcome(inputs: ReportInputs) -> GateResult | str:
    """The gate over the comparison records, or why it cannot run."""
    try:
        return evaluate_gate(inputs.comparisons, gate_settings(inputs.params))
    except (NbjudgeError, ValueError) as error:
        return f"the gate cannot run: {error}"


def tolerance_of(settings: GateSettings, dimensions: Sequence[str]) -> dict[str, float]:
    """Each dimension's tolerance, leaving out those the settings do not cover."""
    found = {}
    for dimension in dimensions:
        try:
            found[dimension] = settings.tolerance(dimension)
        except NbjudgeError:
            continue
    return found


def _ordered(dimensions: set[str]) -> list[str]:
    return [d for d in DIMENSIONS if d in dimensions]


def _percent(level: float) -> str:
    return f"{100 * level:.0f}%"


def _signed(value: float | None) -> str:
    return "—" if value is None or missing(value) else f"{value:+.2f}"


def _signed_ci(estimate: float | None, low: float | None, high: float | None) -> str:
    if estimate is None:
        return "—"
    if low is None or high is None:
        return _signed(estimate)
    return f"{_signed(estimate)} [{_signed(low)}, {_signed(high)}]"


def _arm_cell(summary: ArmSummary | None) -> LeaderboardCell:
    if summary is None:
        return LeaderboardCell("—", "", "", "—", "")
    graded = f"{summary.n_graded} of {summary.n_notebooks} graded" if summary.n_graded else ""
    human = "—"
    if summary.ppi_mean is not None:
        human = fmt_ci(summary.ppi_mean, summary.ppi_ci_low, summary.ppi_ci_high)
    elif summary.n_graded:
        graded += ": too few"
    return LeaderboardCell(fmt_ci(summary.mean, summary.ci_low, summary.ci_high),
                           f"N/A {fmt_share(summary.na_rate)}",
                           f"failed {fmt_share(summary.failure_rate)}", human, graded)


def _leaderboard(summaries: Sequence[ArmSummary], arms: Sequence[str]
                 ) -> tuple[LeaderboardRow, ...]:
    at: dict[tuple[str, str], ArmSummary] = {(s.arm, s.dimension): s for s in summaries}
    rows = []
    for dimension in _ordered({s.dimension for s in summaries}):
        cells = tuple(_arm_cell(at.get((arm, dimension))) for arm in arms)
        counts = [at[(arm, dimension)].n_cases for arm in arms if (arm, dimension) in at]
        cases = (str(counts[0]) if len(set(counts)) == 1
                 else " / ".join(str(c) for c in counts))
        rows.append(LeaderboardRow(dimension_label(dimension), cells, cases))
    return tuple(rows)


def _reading(record: ArmComparison) -> str:
    if record.p_holm is not None and record.difference is not None and (
            record.p_holm < 1 - record.level):
        return "higher" if record.difference > 0 else "lower"
    if record.mdd is None:
        return "no change detected"
    return f"no change larger than {record.mdd:.2f}"


def _gate_cell(result: GateResult | str, record: ArmComparison) -> tuple[str, bool]:
    if isinstance(result, str):
        return "—", False
    for verdict in result.verdicts:
        if (verdict.candidate, verdict.dimension) == (record.candidate, record.dimension):
            text = f"{verdict.status} ({verdict.source})"
            if verdict.reason:
                text += f": {verdict.reason}"
            return text, verdict.status == "regression"
    return "—", False


def _differences(records: Sequence[ArmComparison], result: GateResult | str,
                 settings: GateSettings | None) -> tuple[DifferenceRow, ...]:
    rows = []
    for record in records:
        tolerances = tolerance_of(settings, [record.dimension]) if settings else {}
        gate, regression = _gate_cell(result, record)
        rows.append(DifferenceRow(
            candidate=record.candidate, dimension=dimension_label(record.dimension),
            difference=_signed_ci(record.difference, record.ci_low, record.ci_high),
            p_holm=fmt_p(record.p_holm), reading=_reading(record),
            tolerance=(f"−{tolerances[record.dimension]:.2f}" if tolerances else "—"),
            gate=gate, regression=regression, cases=str(record.n_cases)))
    return tuple(rows)


def _judge_error(records: Sequence[ArmComparison]) -> tuple[JudgeErrorRow, ...]:
    rows = []
    for record in records:
        ppi = record.ppi
        judge = _signed_ci(record.difference, record.ci_low, record.ci_high)
        graded = f"{record.n_graded_reference} / {record.n_graded_candidate}"
        if ppi is None:
            rows.append(JudgeErrorRow(record.candidate, dimension_label(record.dimension),
                                      judge, "— (no grades)", "—", "—", graded, "—", False))
            continue
        lam = f"{fmt(ppi.lambda_reference)} / {fmt(ppi.lambda_candidate)}"
        rows.append(JudgeErrorRow(
            record.candidate, dimension_label(record.dimension), judge,
            _signed_ci(ppi.difference, ppi.ci_low, ppi.ci_high), fmt_p(ppi.p_holm),
            fmt(ppi.mdd), graded, lam, ppi.judge_outside_ppi))
    return tuple(rows)


def _policies(record: ArmComparison) -> str:
    na = {"worst": "as 1, the lowest score", "zero": "as 0",
          "exclude": "not at all (left out)"}[record.na_policy]
    failed = "scored 1" if record.failure_policy == "worst" else "left out"
    return f"N/A is scored {na}; a failed judgment is {failed}"


def _gate_line(result: GateResult | str, reference: str, candidates: Sequence[str],
               smoke: bool) -> str:
    who = f"{', '.join(candidates)} against {reference}"
    text = (f"Release gate ({who}): {result}" if isinstance(result, str)
            else f"Release gate ({who}, exit {result.exit_code}): {result.headline}")
    text = text.rstrip(".") + "."
    if smoke:
        text += " Smoke model: this verdict means nothing."
    return text


def comparison(inputs: ReportInputs, figures: Mapping[str, str]) -> Comparison | None:
    """The comparison section, or None without comparison records."""
    records = inputs.comparisons
    if not records:
        return None
    reference = records[0].reference
    candidates = tuple(dict.fromkeys(r.candidate for r in records))
    arms = tuple(dict.fromkeys([reference, *candidates, *(s.arm for s in inputs.compare_arms)]))
    order = {d: i for i, d in enumerate(DIMENSIONS)}
    records = tuple(sorted(records, key=lambda r: (candidates.index(r.candidate),
                                                   order.get(r.dimension, len(order)))))
    result = gate_outcome(inputs)
    try:
        settings: GateSettings | None = gate_settings(inputs.params)
    except (NbjudgeError, ValueError):
        settings = None
    smoke = is_smoke(inputs)
    first = records[0]
    level = _percent(first.level)
    methods = sorted({r.test_method for r in records})
    family = max(r.family_size for r in records)
    has_ppi = any(r.ppi is not None for r in records) or any(
        s.ppi_mean is not None for s in inputs.compare_arms)
    smoke_note = ""
    if smoke:
        smoke_note = (f"Smoke model ({judge_model(inputs) or 'a tiny offline model'}): these "
                      "scores, differences and the gate's verdict mean nothing; they show that "
                      "the comparison runs end to end.")
    caption = (
        f"Each candidate against {reference}, per dimension: the difference of mean scores "
        "(candidate − reference, 1–3 scale, each case weighing the same) with its "
        f"{level} interval, the case as the unit. Hollow circle: the judge alone (CR2 "
        f"t-interval over the cases both arms share, n = {first.n_cases}"
        f"{' or fewer' if any(r.n_cases != first.n_cases for r in records) else ''}). "
        + ("Filled square: PPI++ estimate of the difference of the experts' scores from "
           "the judge's scores plus the graded subset (t-interval over the cases holding a "
           "graded notebook). " if has_ppi else "")
        + "Gray band left of each row's dotted line: a drop larger than that dimension's "
        "tolerance (compare.gate.tolerances). Right margin: the gate's verdict"
        + (", and \"judge outside PPI\" where the judge-only difference lies outside the PPI "
           "interval." if has_ppi else "."))
    figure = None
    if FIGURE in figures:
        figure = FigureEntry(uri=figures[FIGURE], caption=caption, alt=caption.split(":")[0])
    return Comparison(
        gate_line=_gate_line(result, reference, candidates, smoke),
        gate_failed=isinstance(result, str) or result.exit_code != 0,
        reference=reference, candidates=candidates, arms=arms, has_ppi=has_ppi,
        smoke=smoke_note,
        leaderboard=_leaderboard(inputs.compare_arms, arms),
        differences=_differences(records, result, settings),
        judge_error=_judge_error(records) if has_ppi else (),
        flagged=tuple(f"{dimension_label(r.dimension)} ({r.candidate})" for r in records
                      if r.ppi is not None and r.ppi.judge_outside_ppi),
        figure=figure,
        level=level,
        policies=_policies(first),
        leaderboard_intervals=(
            f"{level} CR2 t-intervals (Bell-McCaffrey degrees of freedom) of the mean over "
            "cases, the case as the unit: each case's notebooks are averaged first, n = the "
            "cases column"),
        difference_intervals=(
            f"{level} CR2 t-intervals of the paired difference, the case as the unit (each "
            "arm's notebooks of a case averaged, then candidate − reference per case), n = the "
            f"cases column; p: sign-flip test flipping whole cases ({'; '.join(methods)}), "
            f"Holm-adjusted over {family} tests (every dimension of every comparison)"),
        ppi_intervals=(
            f"{level} PPI++ t-intervals, the case as the unit: the estimate is linearised per "
            "case, G − 1 degrees of freedom over the G cases holding a graded notebook, and a "
            "delete-one-case jackknife accounts for tuning λ on the same data"),
        gate_rule=("" if settings is None else
                   "one-sided test that the candidate is worse than the reference by more than "
                   "the dimension's tolerance, Holm-adjusted over the dimensions it can decide, "
                   f"at {_percent(settings.level or first.level)} confidence; PPI where "
                   "experts graded a subset (compare.gate.source "
                   f"{settings.source}); undecided below {settings.min_cases} cases, above a "
                   f"{settings.max_failure_rate:.0%} judge failure rate, or with grades in "
                   f"fewer than {settings.min_graded_cases} cases"),
    )
