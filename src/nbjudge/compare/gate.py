"""The release gate: a comparison's results turned into an exit code for CI.

For each candidate, dimension by dimension, the gate tests whether the candidate is
worse than the reference by more than that dimension's tolerance: H0 "difference
>= -tolerance" against "difference < -tolerance", one-sided, with the t statistic
(difference + tolerance) / standard error on the record's degrees of freedom (the
CR2 t of the judge-only difference, or the PPI t when experts graded a subset), and
Holm's adjustment over every dimension of every comparison it can decide. A
regression is a rejection at 1 - level after the adjustment.

Exit codes: 0, no regression beyond tolerance on any dimension; 1, a regression on
some dimension (a decided regression outranks an undecided dimension elsewhere); 2,
cannot decide: a dimension with too few cases, a failure rate over the margin, no
interval (too few graded cases for PPI), or any error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import yaml
from scipy.stats import t as student_t

from nbjudge.errors import InputError
from nbjudge.schemas import ArmComparison, atomic_write_text
from nbjudge.stats.permutation import adjust_pvalues

__all__ = [
    "EXIT_PASS",
    "EXIT_REGRESSION",
    "EXIT_UNDECIDED",
    "DimensionVerdict",
    "GateResult",
    "GateSettings",
    "evaluate_gate",
    "parse_tolerances",
]

EXIT_PASS, EXIT_REGRESSION, EXIT_UNDECIDED = 0, 1, 2
SOURCES = ("auto", "ppi", "judge")


@dataclass(frozen=True)
class GateSettings:
    """``tolerances``: per dimension, the largest drop in mean score (points on the 1-3
    scale) that is not a regression; the key ``default`` covers dimensions not named.
    ``level``: confidence of the verdict (default: the level the comparison used).
    ``min_cases``: fewer cases where both arms have a usable notebook cannot decide.
    ``max_failure_rate``: a dimension where either arm's judge failed more often cannot
    decide (the failures, not the notebooks, would drive its scores). ``source``:
    ``"auto"`` (PPI where the record has expert grades, else the judge alone), ``"ppi"``
    or ``"judge"``. ``min_graded_cases``: a PPI difference resting on fewer cases with
    graded notebooks cannot decide: with a handful of 1-3 grades, often all equal, its
    standard error can come out near 0 (bench/results/compare.md shows the false
    alarms that follow)."""

    tolerances: Mapping[str, float]
    level: float | None = None
    min_cases: int = 20
    max_failure_rate: float = 0.05
    source: str = "auto"
    min_graded_cases: int = 10

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise InputError(f"gate source must be one of {', '.join(SOURCES)}; "
                             f"got {self.source!r}")
        if self.level is not None and not 0 < self.level < 1:
            raise InputError(f"gate level must lie strictly between 0 and 1; got {self.level}")
        if self.min_cases < 2 or self.min_graded_cases < 2:
            raise InputError("gate min_cases and min_graded_cases must be at least 2; got "
                             f"{self.min_cases} and {self.min_graded_cases}")
        if not 0 <= self.max_failure_rate <= 1:
            raise InputError("gate max_failure_rate must lie in [0, 1]; got "
                             f"{self.max_failure_rate}")
        for dimension, tolerance in self.tolerances.items():
            if not isinstance(tolerance, int | float) or isinstance(tolerance, bool) or not (
                    0 <= tolerance < 3):
                raise InputError(f"tolerance of {dimension!r} must be a number of score "
                                 f"points in [0, 3); got {tolerance!r}")

    def tolerance(self, dimension: str) -> float:
        if dimension in self.tolerances:
            return float(self.tolerances[dimension])
        if "default" in self.tolerances:
            return float(self.tolerances["default"])
        raise InputError(f"no tolerance for dimension {dimension!r}: add "
                         f"'{dimension}: <points>' or 'default: <points>' to the tolerances")


@dataclass(frozen=True)
class DimensionVerdict:
    """One candidate on one dimension: ``status`` is ``"pass"``, ``"regression"`` or
    ``"undecided"`` (``reason`` says why); ``upper`` is the one-sided upper confidence
    bound of the difference at the gate's level (unadjusted, for reading)."""

    reference: str
    candidate: str
    dimension: str
    source: str
    difference: float
    standard_error: float
    upper: float
    tolerance: float
    p_value: float
    p_holm: float
    status: str
    reason: str
    judge_outside_ppi: bool


@dataclass(frozen=True)
class GateResult:
    verdicts: tuple[DimensionVerdict, ...]
    exit_code: int
    level: float

    @property
    def headline(self) -> str:
        regressions = [v for v in self.verdicts if v.status == "regression"]
        undecided = [v for v in self.verdicts if v.status == "undecided"]
        if regressions:
            return "FAIL: regression beyond tolerance on " + ", ".join(
                f"{v.dimension} ({v.candidate} vs {v.reference})" for v in regressions)
        if undecided:
            return "CANNOT DECIDE: " + "; ".join(
                f"{v.dimension} ({v.candidate}): {v.reason}" for v in undecided)
        return "PASS: no regression beyond tolerance on any dimension"

    def markdown(self) -> str:
        """The summary for a CI job's page: the verdict first, then one row per dimension."""
        lines = [f"## nbjudge gate: {self.headline}", "",
                 f"One-sided tests at {self.level:.0%} confidence, Holm-adjusted over "
                 f"{sum(v.status != 'undecided' for v in self.verdicts)} decidable dimension(s); "
                 "difference = candidate - reference (mean score, 1-3).", "",
                 "| candidate | reference | dimension | source | difference | upper bound "
                 "| tolerance | p (Holm) | verdict |",
                 "|---|---|---|---|---:|---:|---:|---:|---|"]
        for v in self.verdicts:
            verdict = v.status if not v.reason else f"{v.status}: {v.reason}"
            lines.append(f"| {v.candidate} | {v.reference} | {v.dimension} | {v.source} | "
                         f"{_fmt(v.difference, '+.3f')} | {_fmt(v.upper, '+.3f')} | "
                         f"-{v.tolerance:.3f} | {_fmt(v.p_holm, '.3g')} | {verdict} |")
        flagged = [v for v in self.verdicts if v.judge_outside_ppi]
        if flagged:
            lines += ["", "The judge-only difference lies outside the PPI interval (the judge "
                      "is biased differently for the two arms) on: "
                      + ", ".join(f"{v.dimension} ({v.candidate})" for v in flagged) + "."]
        return "\n".join(lines) + "\n"

    def junit(self) -> str:
        """JUnit XML: one test case per candidate and dimension; a regression is a failure,
        an undecided dimension an error."""
        suite = ElementTree.Element("testsuite", {
            "name": "nbjudge gate", "tests": str(len(self.verdicts)),
            "failures": str(sum(v.status == "regression" for v in self.verdicts)),
            "errors": str(sum(v.status == "undecided" for v in self.verdicts)),
            "skipped": "0"})
        for v in self.verdicts:
            case = ElementTree.SubElement(suite, "testcase", {
                "classname": f"nbjudge.gate.{v.candidate}_vs_{v.reference}",
                "name": v.dimension})
            detail = (f"difference {_fmt(v.difference, '+.3f')} ({v.source}), upper bound "
                      f"{_fmt(v.upper, '+.3f')}, tolerance -{v.tolerance:.3f}, Holm p "
                      f"{_fmt(v.p_holm, '.3g')}")
            if v.status == "regression":
                ElementTree.SubElement(case, "failure", {
                    "message": f"{v.candidate} is worse than {v.reference} on {v.dimension} "
                               "by more than the tolerance"}).text = detail
            elif v.status == "undecided":
                ElementTree.SubElement(case, "error", {
                    "message": f"cannot decide: {v.reason}"}).text = detail
        root = ElementTree.Element("testsuites")
        root.append(suite)
        ElementTree.indent(root)
        return ElementTree.tostring(root, encoding="unicode", xml_declaration=True) + "\n"

    def write(self, summary: Path | None, junit: Path | None) -> None:
        if summary is not None:
            atomic_write_text(summary, self.markdown())
        if junit is not None:
            atomic_write_text(junit, self.junit())


def _fmt(value: float, spec: str) -> str:
    return "n/a" if math.isnan(value) else format(value, spec)


def _number(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _undecided(record: ArmComparison, source: str, settings: GateSettings) -> str:
    """Why this dimension cannot be decided, or ``""``."""
    if record.n_cases < settings.min_cases:
        return f"{record.n_cases} cases, fewer than {settings.min_cases}"
    rates = {record.reference: record.failure_rate_reference,
             record.candidate: record.failure_rate_candidate}
    over = [f"{arm} {rate:.1%}" for arm, rate in rates.items()
            if rate is not None and rate > settings.max_failure_rate]
    if over:
        return (f"judge failure rate over {settings.max_failure_rate:.1%} "
                f"({', '.join(over)})")
    if source == "ppi" and record.ppi is None:
        return "no expert grades on these arms (source ppi)"
    if source == "ppi" and record.ppi is not None:
        graded_cases = 0 if record.ppi.df is None else int(record.ppi.df) + 1
        if graded_cases < settings.min_graded_cases:
            return (f"{graded_cases} cases with expert grades, fewer than "
                    f"{settings.min_graded_cases}")
    elif record.standard_error is None:
        return "no interval (too few cases with a usable score)"
    return ""


def evaluate_gate(records: Sequence[ArmComparison], settings: GateSettings) -> GateResult:
    """The verdict of every candidate and dimension, and the exit code."""
    if not records:
        raise InputError("no comparison records: the results file is empty (no arms were "
                         "compared: set compare.arms, e.g. `dvc exp run -S compare=<arms>`)")
    level = settings.level if settings.level is not None else records[0].level
    rows = []
    for record in records:
        tolerance = settings.tolerance(record.dimension)
        source = ("ppi" if record.ppi is not None else "judge") if settings.source == "auto" \
            else settings.source
        reason = _undecided(record, source, settings)
        part = record.ppi if source == "ppi" and record.ppi is not None else record
        difference = _number(part.difference)
        se, df = _number(part.standard_error), _number(part.df)
        p_value, upper = math.nan, math.nan
        if not reason:
            if se == 0:
                p_value = 0.0 if difference < -tolerance else 1.0
                upper = difference
            else:
                p_value = float(student_t.cdf((difference + tolerance) / se, df))
                upper = difference + float(student_t.ppf(level, df)) * se
        rows.append((record, source, difference, se, upper, tolerance, p_value, reason))
    p_holm = adjust_pvalues(np.array([row[6] for row in rows]), "holm")
    verdicts = []
    for (record, source, difference, se, upper, tolerance, p_value, reason), adjusted in zip(
            rows, p_holm, strict=True):
        status = "undecided" if reason else (
            "regression" if adjusted < 1 - level else "pass")
        verdicts.append(DimensionVerdict(
            record.reference, record.candidate, record.dimension, source, difference, se,
            upper, tolerance, p_value, float(adjusted), status, reason,
            bool(record.ppi is not None and record.ppi.judge_outside_ppi)))
    statuses = {v.status for v in verdicts}
    code = (EXIT_REGRESSION if "regression" in statuses
            else EXIT_UNDECIDED if "undecided" in statuses else EXIT_PASS)
    return GateResult(tuple(verdicts), code, level)


def parse_tolerances(spec: str) -> dict[str, float]:
    """Tolerances from ``dim=0.1,default=0.2``, or a YAML file ``path`` or
    ``path:dotted.key`` (``params.yaml:compare.gate.tolerances``) holding a mapping."""
    path_text, _, key = spec.partition(":")
    path = Path(path_text)
    if path.is_file():
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            raise InputError(f"{path}: not valid YAML ({error})") from None
        for part in filter(None, key.split(".")):
            if not isinstance(data, Mapping) or part not in data:
                raise InputError(f"{path}: no key {key!r} (stopped at {part!r})")
            data = data[part]
        if not isinstance(data, Mapping):
            raise InputError(f"{spec}: tolerances must be a mapping of dimension to points; "
                             f"got {type(data).__name__}")
        return {str(k): _points(v, str(k), spec) for k, v in data.items()}
    if "=" not in spec:
        raise InputError(f"tolerances {spec!r}: no such file, and not of the form "
                         "'dimension=points,default=points'")
    pairs = [item.partition("=") for item in spec.split(",") if item.strip()]
    return {name.strip(): _points(value, name.strip(), spec) for name, _, value in pairs}


def _points(value: object, name: str, spec: str) -> float:
    try:
        return float(value)  # type: ignore[arg-type]  # a YAML or command-line scalar
    except (TypeError, ValueError):
        raise InputError(f"{spec}: tolerance of {name!r} is not a number: {value!r}") from None
