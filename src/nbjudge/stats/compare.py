"""Comparison of arms (agent builds, writer models) on notebook quality, per dimension.

Each arm wrote notebooks for the same test cases, several per case; a judge
scored every notebook, and experts graded a random subset. The input is one
array per source, shape (arm, case, notebook, dimension): judge scores 0 (N/A),
1, 2, 3 or NaN (failed, or no such notebook), ``failed`` marking the failures,
and expert grades (0 to 3, NaN where ungraded); :func:`arm_table` builds them from
judgment and label records.

Scores are coded with the experiment's policies (:mod:`nbjudge.stats.tables`),
read for scores rather than errors: ``failure_policy="worst"`` scores a failed
judgment 1, the lowest score, so that failing never helps an arm; ``"exclude"``
drops it. ``na_policy="worst"`` scores N/A (from the judge or an expert) as 1,
so that a dimension called not applicable cannot raise an arm's mean;
``"zero"`` as 0 (the original study's code); ``"exclude"`` drops it. The
N/A and failure rates are reported either way.

Every mean is a mean over cases of the case's mean score (each case weighs
the same, whatever number of notebooks it kept), and two arms are paired by
case: per case, the candidate's mean minus the reference's. The judge-only
difference then takes the experiment's interval for improvements (the CR2 /
t-interval of :func:`~nbjudge.stats.paired.paired_interval`), its sign-flip
p-value flipping whole cases (:func:`~nbjudge.stats.permutation.sign_flip_test`),
Holm over every dimension of every comparison
(:func:`~nbjudge.stats.permutation.adjust_pvalues`), and the minimum detectable
difference of that adjusted verdict (:func:`~nbjudge.stats.power.power_analysis`).

With expert grades, PPI++ (:mod:`nbjudge.stats.ppi`, clustered by case, the
notebooks weighted by 1 / their case's count so that the estimand is the same
mean over cases) estimates each arm's mean *human* score and each difference,
and the judge-only difference is flagged where it lies outside the PPI interval:
the judge is biased differently for the two arms.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.stats import norm
from scipy.stats import t as student_t

from nbjudge.schemas import DIMENSIONS, ArmComparison, ArmSummary, Judgment, Label

from ._checks import (
    FAILURE_POLICIES,
    NA_POLICIES,
    check_choice,
    check_count,
    check_level,
    check_names,
    check_rng,
)
from .paired import paired_interval
from .permutation import adjust_pvalues, sign_flip_test
from .power import power_analysis
from .ppi import CaseSums, case_sums, ppi_contrast
from .tables import consensus

__all__ = ["ArmStats", "ArmTable", "ComparisonStats", "arm_table", "compare_arms",
           "grading_sample"]

# Probability of detection the minimum detectable difference is quoted at.
TARGET_POWER = 0.8


@dataclass(frozen=True)
class ArmStats:
    """Per arm and dimension, arrays (arm, dimension).

    ``mean``/``low``/``high``: the judge's mean score over cases and its interval;
    ``na_rate``: N/A among the ok judgments; ``failure_rate``: failed among all;
    ``n_notebooks``, ``n_cases``: usable after the policies; ``ppi_*``: the PPI++
    estimate of the mean human score (NaN without two graded cases), ``ppi_lambda``
    its tuning, ``n_graded`` the graded notebooks it used.
    """

    arms: tuple[str, ...]
    dimensions: tuple[str, ...]
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    na_rate: np.ndarray
    failure_rate: np.ndarray
    n_notebooks: np.ndarray
    n_cases: np.ndarray
    ppi_mean: np.ndarray
    ppi_low: np.ndarray
    ppi_high: np.ndarray
    ppi_lambda: np.ndarray
    n_graded: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        """One row per arm and dimension."""
        arms, dimensions = np.meshgrid(self.arms, self.dimensions, indexing="ij")
        return pd.DataFrame({
            "arm": arms.ravel(), "dimension": dimensions.ravel(), "mean": self.mean.ravel(),
            "ci_low": self.low.ravel(), "ci_high": self.high.ravel(),
            "na_rate": self.na_rate.ravel(), "failure_rate": self.failure_rate.ravel(),
            "n_notebooks": self.n_notebooks.ravel(), "n_cases": self.n_cases.ravel(),
            "ppi_mean": self.ppi_mean.ravel(), "ppi_ci_low": self.ppi_low.ravel(),
            "ppi_ci_high": self.ppi_high.ravel(), "ppi_lambda": self.ppi_lambda.ravel(),
            "n_graded": self.n_graded.ravel()})

    def to_records(self, *, level: float, na_policy: str,
                   failure_policy: str) -> list[ArmSummary]:
        """One :class:`~nbjudge.schemas.ArmSummary` per arm and dimension (the
        leaderboard), with the policies and level the comparison used."""
        records = []
        for a, arm in enumerate(self.arms):
            for d, dimension in enumerate(self.dimensions):
                records.append(ArmSummary.model_validate({
                    "arm": arm, "dimension": dimension, "level": level,
                    "na_policy": na_policy, "failure_policy": failure_policy,
                    "n_cases": int(self.n_cases[a, d]),
                    "n_notebooks": int(self.n_notebooks[a, d]),
                    "mean": _number(self.mean[a, d]), "ci_low": _number(self.low[a, d]),
                    "ci_high": _number(self.high[a, d]),
                    "na_rate": _number(self.na_rate[a, d]),
                    "failure_rate": _number(self.failure_rate[a, d]),
                    "n_graded": int(self.n_graded[a, d]),
                    "ppi_mean": _number(self.ppi_mean[a, d]),
                    "ppi_ci_low": _number(self.ppi_low[a, d]),
                    "ppi_ci_high": _number(self.ppi_high[a, d]),
                    "ppi_lambda": _number(self.ppi_lambda[a, d])}))
        return records


@dataclass(frozen=True)
class ComparisonStats:
    """Result of :func:`compare_arms`: the arms, and each comparison (reference, candidate)
    per dimension as arrays (comparison, dimension), difference = candidate - reference
    (positive: the candidate scores higher).

    Judge-only: ``difference``, ``low``/``high`` (CR2 t-interval over cases),
    ``standard_error``, ``df``, ``p_value`` (sign flips per case), ``p_holm`` (over every
    dimension of every comparison), ``mdd`` (smallest true difference the Holm verdict
    detects with probability 0.8 at this number of cases). PPI (NaN without grades):
    ``ppi_difference``, ``ppi_low``/``ppi_high``, ``ppi_standard_error``, ``ppi_df``,
    ``ppi_p_value`` (t), ``ppi_p_holm``, ``ppi_lambda`` (reference, candidate: shape
    (comparison, dimension, 2)), ``ppi_mdd``, ``classic_standard_error`` (the graded
    notebooks alone), and ``judge_outside_ppi``. ``n_cases``: cases where both arms have
    a usable notebook.
    """

    arms: ArmStats
    comparisons: tuple[tuple[str, str], ...]
    dimensions: tuple[str, ...]
    difference: np.ndarray
    low: np.ndarray
    high: np.ndarray
    standard_error: np.ndarray
    df: np.ndarray
    p_value: np.ndarray
    p_holm: np.ndarray
    test_method: np.ndarray
    mdd: np.ndarray
    n_cases: np.ndarray
    ppi_difference: np.ndarray
    ppi_low: np.ndarray
    ppi_high: np.ndarray
    ppi_standard_error: np.ndarray
    ppi_df: np.ndarray
    ppi_p_value: np.ndarray
    ppi_p_holm: np.ndarray
    ppi_lambda: np.ndarray
    ppi_mdd: np.ndarray
    classic_standard_error: np.ndarray
    judge_outside_ppi: np.ndarray
    level: float
    na_policy: str
    failure_policy: str

    def to_frame(self) -> pd.DataFrame:
        """One row per comparison and dimension; PPI columns prefixed ``ppi_``."""
        return pd.DataFrame([
            {key: value for key, value in row.items() if key != "ppi"}
            | {f"ppi_{key}": value for key, value in (row["ppi"] or {}).items()}
            for row in self._rows()])

    def to_records(self) -> list[ArmComparison]:
        """One :class:`~nbjudge.schemas.ArmComparison` per comparison and dimension, what
        the gate reads (dimensions must be nbjudge's nine)."""
        return [ArmComparison.model_validate(row) for row in self._rows()]

    def _rows(self) -> list[dict[str, Any]]:
        arm_at = {name: i for i, name in enumerate(self.arms.arms)}
        family = int(np.isfinite(self.p_value).sum())
        rows = []
        for c, (reference, candidate) in enumerate(self.comparisons):
            r, k = arm_at[reference], arm_at[candidate]
            for d, dimension in enumerate(self.dimensions):
                graded = self.arms.n_graded[r, d] > 0 or self.arms.n_graded[k, d] > 0
                rows.append({
                    "reference": reference, "candidate": candidate, "dimension": dimension,
                    "level": self.level, "na_policy": self.na_policy,
                    "failure_policy": self.failure_policy, "family_size": family,
                    "n_cases": int(self.n_cases[c, d]),
                    "n_notebooks_reference": int(self.arms.n_notebooks[r, d]),
                    "n_notebooks_candidate": int(self.arms.n_notebooks[k, d]),
                    "failure_rate_reference": _number(self.arms.failure_rate[r, d]),
                    "failure_rate_candidate": _number(self.arms.failure_rate[k, d]),
                    "na_rate_reference": _number(self.arms.na_rate[r, d]),
                    "na_rate_candidate": _number(self.arms.na_rate[k, d]),
                    "mean_reference": _number(self.arms.mean[r, d]),
                    "mean_candidate": _number(self.arms.mean[k, d]),
                    "difference": _number(self.difference[c, d]),
                    "ci_low": _number(self.low[c, d]), "ci_high": _number(self.high[c, d]),
                    "standard_error": _number(self.standard_error[c, d]),
                    "df": _number(self.df[c, d]), "p_value": _number(self.p_value[c, d]),
                    "p_holm": _number(self.p_holm[c, d]),
                    "test_method": str(self.test_method[c, d]), "mdd": _number(self.mdd[c, d]),
                    "n_graded_reference": int(self.arms.n_graded[r, d]),
                    "n_graded_candidate": int(self.arms.n_graded[k, d]),
                    "ppi": self._ppi_fields(c, d, r, k) if graded else None})
        return rows

    def _ppi_fields(self, c: int, d: int, r: int, k: int) -> dict[str, Any]:
        return {
            "mean_reference": _number(self.arms.ppi_mean[r, d]),
            "mean_candidate": _number(self.arms.ppi_mean[k, d]),
            "difference": _number(self.ppi_difference[c, d]),
            "ci_low": _number(self.ppi_low[c, d]), "ci_high": _number(self.ppi_high[c, d]),
            "standard_error": _number(self.ppi_standard_error[c, d]),
            "df": _number(self.ppi_df[c, d]), "p_value": _number(self.ppi_p_value[c, d]),
            "p_holm": _number(self.ppi_p_holm[c, d]),
            "lambda_reference": _number(self.ppi_lambda[c, d, 0]),
            "lambda_candidate": _number(self.ppi_lambda[c, d, 1]),
            "mdd": _number(self.ppi_mdd[c, d]),
            "classic_standard_error": _number(self.classic_standard_error[c, d]),
            "judge_outside_ppi": bool(self.judge_outside_ppi[c, d]),
        }


def _number(value: float) -> float | None:
    """JSON-ready: NaN and infinities become None."""
    return float(value) if np.isfinite(value) else None


class _Inputs:
    """Validated arguments of :func:`compare_arms`, scores coded by the policies."""

    def __init__(self, judge: ArrayLike, failed: ArrayLike | None, human: ArrayLike | None,
                 arms: Sequence[str] | None, dimensions: Sequence[str] | None, reference: str |
                 None, na_policy: str, failure_policy: str, level: float, n_resamples: int,
                 rng: np.random.Generator | None) -> None:
        raw = np.asarray(judge, dtype=float)
        if raw.ndim != 4:
            raise ValueError("judge must be 4-D (arm, case, notebook, dimension); got shape "
                             f"{raw.shape}")
        if raw.shape[0] < 2 or raw.shape[1] < 2:
            raise ValueError(f"a comparison needs at least 2 arms and 2 cases; judge has shape "
                             f"{raw.shape}")
        finite = raw[~np.isnan(raw)]
        bad = finite[~np.isin(finite, (0.0, 1.0, 2.0, 3.0))]
        if bad.size:
            raise ValueError(f"judge scores must be 0 (N/A), 1, 2 or 3; got {bad[0]:g}")
        self.failed = (np.zeros(raw.shape, dtype=bool) if failed is None
                       else np.asarray(failed, dtype=bool))
        if self.failed.shape != raw.shape:
            raise ValueError(f"failed has shape {self.failed.shape}, judge {raw.shape}: "
                             "one flag per judgment")
        if np.any(self.failed & ~np.isnan(raw)):
            raise ValueError("a failed judgment carries no score: judge must be NaN where "
                             "failed")
        grades = np.full(raw.shape, np.nan) if human is None else np.asarray(human, dtype=float)
        if grades.shape != raw.shape:
            raise ValueError(f"human has shape {grades.shape}, judge {raw.shape}: NaN where a "
                             "notebook is not graded")
        given = grades[~np.isnan(grades)]
        if np.any((given < 0) | (given > 3)):
            raise ValueError("human scores must lie in 0-3 (N/A encoded as 0); got "
                             f"{given[(given < 0) | (given > 3)][0]:g}")
        self.present = ~np.isnan(raw) | self.failed
        if np.any(~np.isnan(grades) & ~self.present):
            raise ValueError("a grade is given for a notebook the judge never saw (judge NaN "
                             "and not failed): grade only notebooks that exist")
        self.arms = check_names(arms, raw.shape[0], "arm")
        self.dimensions = check_names(dimensions, raw.shape[3], "dimension")
        self.reference = self.arms[0] if reference is None else reference
        if self.reference not in self.arms:
            raise ValueError(f"reference {self.reference!r} is not among the arms "
                             f"{list(self.arms)}")
        self.na_policy = check_choice(na_policy, "na_policy", NA_POLICIES)
        self.failure_policy = check_choice(failure_policy, "failure_policy", FAILURE_POLICIES)
        self.level = check_level(level)
        self.n_resamples = check_count(n_resamples, "n_resamples")
        self.rng = check_rng(rng)
        self.raw = raw
        self.judge = _code(raw, na_policy)
        if failure_policy == "worst":
            self.judge = np.where(self.failed, 1.0, self.judge)
        self.human = _code(grades, na_policy)


def _code(scores: np.ndarray, na_policy: str) -> np.ndarray:
    """N/A (0) as 1 (worst), 0 (zero) or NaN (exclude); other scores unchanged."""
    replacement = {"worst": 1.0, "zero": 0.0, "exclude": np.nan}[na_policy]
    coded: np.ndarray = np.where(scores == 0, replacement, scores)
    return coded


def _case_means(scores: np.ndarray) -> np.ndarray:
    """(arm, case, dimension) mean over a case's usable notebooks; NaN where none."""
    usable = ~np.isnan(scores)
    count = usable.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        means: np.ndarray = np.where(count > 0, np.nansum(scores, axis=2) / count, np.nan)
    return means


def _arm_stats(inputs: _Inputs, sums: list[list[CaseSums]]) -> ArmStats:
    means = _case_means(inputs.judge)
    interval = paired_interval(np.moveaxis(means, 1, 0), level=inputs.level)
    judged = inputs.present.sum(axis=(1, 2))
    ok = (~np.isnan(inputs.raw)).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        na_rate = (inputs.raw == 0).sum(axis=(1, 2)) / ok
        failure_rate = inputs.failed.sum(axis=(1, 2)) / judged
    shape = interval.estimate.shape
    ppi = {key: np.full(shape, np.nan) for key in ("mean", "low", "high", "lambda")}
    for a, d in np.ndindex(shape):
        result = ppi_contrast([sums[a][d]], [1.0], inputs.level)
        ppi["mean"][a, d], ppi["low"][a, d], ppi["high"][a, d] = (
            result.estimate, result.low, result.high)
        ppi["lambda"][a, d] = result.lam[0]
    graded = ~np.isnan(inputs.judge) & ~np.isnan(inputs.human)
    return ArmStats(
        arms=inputs.arms, dimensions=inputs.dimensions, mean=interval.estimate,
        low=interval.low, high=interval.high, na_rate=na_rate, failure_rate=failure_rate,
        n_notebooks=(~np.isnan(inputs.judge)).sum(axis=(1, 2)), n_cases=interval.n_cases,
        ppi_mean=ppi["mean"], ppi_low=ppi["low"], ppi_high=ppi["high"],
        ppi_lambda=ppi["lambda"], n_graded=graded.sum(axis=(1, 2)))


def _arm_sums(inputs: _Inputs) -> list[list[CaseSums]]:
    """PPI case sums per arm and dimension: each notebook weighs 1 / the usable notebooks
    of its arm and case, so the estimand is the mean over cases."""
    usable = ~np.isnan(inputs.judge)
    count = usable.sum(axis=2, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        weights = np.where(usable, 1.0 / count, 0.0)
    every = case_sums(np.moveaxis(inputs.judge, 0, 2), np.moveaxis(inputs.human, 0, 2),
                      np.moveaxis(weights, 0, 2))  # each (case, arm, dimension)
    fields = ("wu", "fu", "wl", "fl", "yl")
    return [[CaseSums(*(getattr(every, f)[:, a, d] for f in fields))
             for d in range(inputs.judge.shape[3])] for a in range(inputs.judge.shape[0])]


def _ppi_differences(sums: list[list[CaseSums]], pairs: Sequence[tuple[int, int]],
                     level: float) -> dict[str, np.ndarray]:
    """PPI++ difference (candidate - reference) of each pair per dimension, both lambdas
    tuned together to minimise the variance of the difference."""
    shape = (len(pairs), len(sums[0]))
    out = {key: np.full(shape, np.nan) for key in (
        "difference", "low", "high", "se", "df", "classic")}
    out["lambda"] = np.full((*shape, 2), np.nan)
    for c, (r, k) in enumerate(pairs):
        for d in range(shape[1]):
            result = ppi_contrast([sums[r][d], sums[k][d]], [-1.0, 1.0], level)
            out["difference"][c, d], out["low"][c, d], out["high"][c, d] = (
                result.estimate, result.low, result.high)
            out["se"][c, d], out["df"][c, d] = result.standard_error, result.df
            out["classic"][c, d] = result.classic_standard_error
            out["lambda"][c, d] = result.lam
    return out


def compare_arms(
    judge: ArrayLike,
    *,
    failed: ArrayLike | None = None,
    human: ArrayLike | None = None,
    arms: Sequence[str] | None = None,
    dimensions: Sequence[str] | None = None,
    reference: str | None = None,
    na_policy: str = "worst",
    failure_policy: str = "worst",
    level: float = 0.95,
    n_resamples: int = 9999,
    mdd: bool = True,
    rng: np.random.Generator | None = None,
) -> ComparisonStats:
    """Each arm against the reference, per dimension, judge-only and (with grades) PPI++.

    Parameters
    ----------
    judge : array_like, shape (arm, case, notebook, dimension)
        0 (N/A), 1, 2, 3; NaN where the judgment failed or the notebook slot is empty
        (cases may hold different numbers of notebooks).
    failed : array_like of bool, optional
        Same shape: the failed judgments.
    human : array_like, optional
        Same shape: expert grades 0 (N/A) to 3 (a consensus may be fractional), NaN
        where not graded. Draw the graded notebooks with :func:`grading_sample`.
    arms, dimensions : sequence of str, optional
    reference : str, optional
        The arm every other arm is compared with; default the first.
    na_policy : {"worst", "zero", "exclude"}
    failure_policy : {"worst", "exclude"}
        See the module docstring.
    level : float
        Confidence level of every interval; 1 - level is the family-wise error rate of
        the Holm verdict.
    n_resamples : int
        Random sign patterns when the case count is too large to enumerate them all.
    mdd : bool
        Compute the judge-only minimum detectable difference (a simulation: skip it
        in large validation runs).
    rng : numpy.random.Generator, optional
    """
    inputs = _Inputs(judge, failed, human, arms, dimensions, reference, na_policy,
                     failure_policy, level, n_resamples, rng)
    sums = _arm_sums(inputs)
    arm_stats = _arm_stats(inputs, sums)
    at = {name: i for i, name in enumerate(inputs.arms)}
    pairs = [(at[inputs.reference], at[a]) for a in inputs.arms if a != inputs.reference]
    comparisons = tuple((inputs.arms[r], inputs.arms[k]) for r, k in pairs)
    means = _case_means(inputs.judge)
    # (case, comparison, dimension): candidate's case mean minus the reference's.
    differences = np.stack([means[k] - means[r] for r, k in pairs], axis=1)
    interval = paired_interval(differences, level=inputs.level)
    test = sign_flip_test(differences, n_resamples=inputs.n_resamples, rng=inputs.rng)
    p_holm = adjust_pvalues(test.pvalue.ravel(), "holm").reshape(test.pvalue.shape)
    family = int(np.isfinite(test.pvalue).sum())
    alpha = (1 - inputs.level) / max(family, 1)
    detectable = np.full(differences.shape[1:], np.nan)
    if mdd:
        detectable = power_analysis(differences, family_size=max(family, 1),
                                    level=inputs.level, target_power=TARGET_POWER,
                                    rng=inputs.rng).minimal_detectable_improvement

    ppi = _ppi_differences(sums, pairs, inputs.level)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = ppi["difference"] / ppi["se"]
        ppi_p = np.where(ppi["se"] == 0, np.where(ppi["difference"] == 0, 1.0, 0.0),
                         2 * student_t.sf(np.abs(t), ppi["df"]))
        ppi_mdd = (student_t.ppf(1 - alpha / 2, ppi["df"]) + norm.ppf(TARGET_POWER)) * ppi["se"]
    ppi_p = np.where(np.isnan(ppi["se"]), np.nan, ppi_p)
    ppi_holm = adjust_pvalues(ppi_p.ravel(), "holm").reshape(ppi_p.shape)
    outside = (interval.estimate < ppi["low"]) | (interval.estimate > ppi["high"])
    return ComparisonStats(
        arms=arm_stats, comparisons=comparisons, dimensions=inputs.dimensions,
        difference=interval.estimate, low=interval.low, high=interval.high,
        standard_error=interval.standard_error, df=interval.df, p_value=test.pvalue,
        p_holm=p_holm, test_method=test.describe(), mdd=detectable, n_cases=interval.n_cases,
        ppi_difference=ppi["difference"], ppi_low=ppi["low"], ppi_high=ppi["high"],
        ppi_standard_error=ppi["se"], ppi_df=ppi["df"], ppi_p_value=ppi_p,
        ppi_p_holm=ppi_holm, ppi_lambda=ppi["lambda"], ppi_mdd=ppi_mdd,
        classic_standard_error=ppi["classic"], judge_outside_ppi=outside & np.isfinite(
            ppi["low"]), level=inputs.level, na_policy=inputs.na_policy,
        failure_policy=inputs.failure_policy)


def grading_sample(
    notebooks: Sequence[str],
    arms: Sequence[str],
    cases: Sequence[str],
    *,
    fraction: float,
    seed: int,
) -> tuple[str, ...]:
    """Which notebooks to send to the experts: a seeded random sample, stratified by arm
    and case.

    Each arm gets round(fraction x its notebooks) grades (at least 2, which PPI needs),
    spread as evenly as possible over the cases; the cases that get one more are drawn
    once and shared by every arm, so that the arms' grades pair by case (the case
    effect cancels in a difference). Within a case the notebooks are drawn at random.
    Returns the chosen notebook ids, sorted.
    """
    notebooks, arms, cases = list(notebooks), list(arms), list(cases)
    if not len(notebooks) == len(arms) == len(cases):
        raise ValueError(f"notebooks, arms and cases must align; got {len(notebooks)}, "
                         f"{len(arms)} and {len(cases)} entries")
    if len(set(notebooks)) != len(notebooks):
        raise ValueError("notebook ids must be unique")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must lie in (0, 1]; got {fraction!r}")
    rng = np.random.default_rng(check_count(seed, "seed", minimum=0))
    case_order = {c: i for i, c in enumerate(rng.permutation(sorted(set(cases))))}
    chosen: list[str] = []
    for arm in sorted(set(arms)):
        by_case: dict[str, list[str]] = {}
        for notebook, a, case in zip(notebooks, arms, cases, strict=True):
            if a == arm:
                by_case.setdefault(case, []).append(notebook)
        total = sum(len(v) for v in by_case.values())
        wanted = min(total, max(2, round(fraction * total)))
        order = sorted(by_case, key=case_order.__getitem__)
        quota = dict.fromkeys(order, 0)
        while wanted > 0:  # round-robin over the shared case order: even, and paired
            for case in order:
                if wanted and quota[case] < len(by_case[case]):
                    quota[case] += 1
                    wanted -= 1
        for case in order:
            members = sorted(by_case[case])
            picked = rng.choice(len(members), size=quota[case], replace=False)
            chosen.extend(members[i] for i in picked)
    return tuple(sorted(chosen))


@dataclass(frozen=True)
class ArmTable:
    """Judgment and label records on the axes :func:`compare_arms` takes: ``judge``,
    ``failed`` and ``human`` (arm, case, notebook slot, dimension), and what each axis
    is; ``notebooks`` names the notebook in each (arm, case, slot), ``""`` where a case
    holds fewer notebooks than the widest."""

    arms: tuple[str, ...]
    cases: tuple[str, ...]
    dimensions: tuple[str, ...]
    notebooks: np.ndarray
    judge: np.ndarray
    failed: np.ndarray
    human: np.ndarray


def _score(value: int | str | None) -> float:
    return np.nan if value is None else 0.0 if value == "N/A" else float(value)


def arm_table(judgments: Iterable[Judgment], arm_of: Mapping[str, str],
              case_of: Mapping[str, str], labels: Iterable[Label] = (), *,
              arms: Sequence[str] | None = None, na_rule: str = "majority") -> ArmTable:
    """Arrays for :func:`compare_arms` from records: one judgment per notebook and
    dimension (ok or failed), each notebook's arm and case, and expert labels on some
    notebooks (several raters per notebook become their consensus: the mean, N/A by
    ``na_rule`` as in the experiment). ``arms`` orders the arms (the reference first);
    default sorted."""
    judgments, labels = list(judgments), list(labels)
    if not judgments:
        raise ValueError("no judgments: every arm's notebooks must be judged first")
    unknown = sorted({j.notebook_id for j in judgments} - (set(arm_of) & set(case_of)))
    if unknown:
        raise ValueError(f"{len(unknown)} judged notebook(s) have no arm or case, e.g. "
                         f"{unknown[:3]}: every notebook must be mapped to both")
    found = sorted({arm_of[j.notebook_id] for j in judgments})
    order = tuple(found if arms is None else arms)
    if sorted(order) != found:
        raise ValueError(f"arms {list(order)} do not match the judged arms {found}")
    cases = tuple(sorted({case_of[j.notebook_id] for j in judgments}))
    present = {j.dimension for j in judgments}
    dimensions = tuple(d for d in DIMENSIONS if d in present)
    members: dict[tuple[str, str], list[str]] = {}
    for notebook in sorted({j.notebook_id for j in judgments}):
        members.setdefault((arm_of[notebook], case_of[notebook]), []).append(notebook)
    width = max(len(v) for v in members.values())
    shape = (len(order), len(cases), width, len(dimensions))
    notebooks = np.full(shape[:3], "", dtype=object)
    slot: dict[str, tuple[int, int, int]] = {}
    for (arm, case), names in members.items():
        for k, name in enumerate(names):
            slot[name] = (order.index(arm), cases.index(case), k)
            notebooks[slot[name]] = name
    judge, failed = np.full(shape, np.nan), np.zeros(shape, dtype=bool)
    seen = set()
    for j in judgments:
        key = (j.notebook_id, j.dimension)
        if key in seen:
            raise ValueError(f"notebook {j.notebook_id!r} is judged twice on {j.dimension!r}:"
                             " one judgment per notebook and dimension (one judge variant)")
        seen.add(key)
        cell = (*slot[j.notebook_id], dimensions.index(j.dimension))
        failed[cell] = j.status == "failed"
        judge[cell] = _score(j.score)
    raters = sorted({label.rater_id for label in labels})
    ratings = np.full((max(len(raters), 1), *shape), np.nan)
    for label in labels:
        if label.notebook_id not in slot:
            raise ValueError(f"a label grades notebook {label.notebook_id!r}, which no "
                             "judgment of the arms names")
        if label.dimension in dimensions:
            graded = (raters.index(label.rater_id), *slot[label.notebook_id],
                      dimensions.index(label.dimension))
            if not np.isnan(ratings[graded]):
                raise ValueError(f"rater {label.rater_id!r} graded notebook "
                                 f"{label.notebook_id!r} on {label.dimension!r} twice")
            ratings[graded] = _score(label.score)
    flat = ratings.reshape(ratings.shape[0], -1, len(dimensions))
    human = consensus(flat, "mean", na_rule=na_rule).reshape(shape)
    return ArmTable(order, cases, dimensions, notebooks, judge, failed, human)
