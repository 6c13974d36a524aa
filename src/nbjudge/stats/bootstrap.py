"""Paired cluster bootstrap of judge-human agreement over notebooks or cases.

One matrix of resampled unit indices serves every dimension, variant and
comparison: all statistics come from the same bootstrap worlds, so paired
differences keep their correlation, and a resample costs one matrix product.
A unit is a notebook, or a case with all of its notebooks when any case
holds several (Davison & Hinkley 1997, sec. 3.8: resample the top stage).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri
from scipy.stats import t as student_t
from threadpoolctl import threadpool_limits

from ._checks import (
    FAILURE_POLICIES,
    NA_POLICIES,
    UNITS_PER_POINT,
    check_choice,
    check_comparisons,
    check_count,
    check_human,
    check_judge,
    check_level,
    check_names,
    check_rng,
    to_units,
)
from .paired import _hall_interval, _wild_interval, cr2_interval
from .tables import impute_failures, paired_errors

__all__ = ["BootstrapResult", "ConfidenceInterval", "Statistic", "bootstrap_agreement"]

METHODS = ("auto", "cr2", "wild", "hall", "studentized", "expanded", "percentile", "bca")
# Intervals for means only, from per-case sums (nbjudge.stats.paired).
PAIRED = ("cr2", "wild", "hall")
# Means over notebooks (MAE, bias, improvement) can take the cluster-robust t-interval;
# the relative reduction is a ratio of two means and cannot.
MEANS = ("mae", "bias", "improvement")
# What "auto" gives each kind of statistic: the method that held 95% on both simulated worlds
# of bench/validate_intervals.py (bench/results/intervals.md) at every size nbjudge shows
# an interval for.
AUTO_METHOD = {"mae": "cr2", "bias": "cr2",
               "improvement": "cr2", "relative_reduction": "studentized"}
# Simulated coverage of the m-out-of-n interval the original study used (100 drawn from 50).
M_OUT_OF_N_NOTE = ("not a {level:.0%} CI: {m} draws out of {n} per resample; 100 out of 50 "
                   "covered about 81% in simulation (bench/validate_intervals.py)")
# Resamples per matrix product: small enough to stay in cache. Sums are exact,
# so results do not depend on it.
_DEFAULT_BATCH = 1024
# A bootstrap t whose standard error is 0: larger than any real one, and finite.
_HUGE = 1e6


class Statistic(NamedTuple):
    """What one bootstrapped number is.

    ``kind`` is ``"mae"`` or ``"bias"`` (of ``variant``), or
    ``"improvement"`` (MAE of ``reference`` minus MAE of ``variant``) or
    ``"relative_reduction"`` (improvement over the reference's MAE) of a
    comparison; ``reference`` is ``""`` for MAE and bias.
    """

    kind: str
    variant: str
    reference: str
    dimension: str


class ConfidenceInterval(NamedTuple):
    low: np.ndarray
    high: np.ndarray


@dataclass(frozen=True)
class BootstrapResult:
    """Bootstrap estimates and intervals; arrays have one entry per statistic.

    Attributes
    ----------
    statistics : tuple of Statistic
        What each entry is.
    estimate : ndarray
        The statistic on the observed notebooks.
    confidence_interval : ConfidenceInterval
        Two-sided, at ``level``; NaN when ``method`` is ``"undefined"``.
    bootstrap_distribution : ndarray, shape (statistic, resample)
    standard_error : ndarray
        Standard deviation of the bootstrap distribution.
    method : tuple of str
        The interval actually computed: ``"cr2"`` (cluster-robust t-interval
        with Bell-McCaffrey df, :mod:`nbjudge.stats.paired`), ``"studentized"``, ``"expanded"``,
        ``"percentile"``, ``"bca"``, ``"percentile_fallback"`` (BCa was asked
        for but is degenerate), ``"m_out_of_n_percentile"`` (``sample_size``
        differs from the number of units: not a ``level`` interval) or
        ``"undefined"`` (the statistic is undefined in some resample, e.g.
        a relative reduction where the reference MAE is 0).
    n_notebooks : ndarray of int
        Notebooks the estimate rests on.
    n_undefined : ndarray of int
        Resamples in which the statistic is undefined.
    simultaneous_interval : ConfidenceInterval
        For the improvements (every comparison and dimension together): the
        Bonferroni band of CR2 intervals, which covers all of them at once
        with probability at least ``level`` (family-wise); NaN for other
        statistics.
    level, sample_size, n_resamples
        The settings used; ``sample_size`` units were drawn per resample.
    resampling_unit : str
        ``"case"`` (whole cases with all their notebooks) or ``"notebook"``.
    n_units : int
        Cases or notebooks resampled.
    note : str
        What the intervals are not, when they are not plain ``level``
        intervals (m-out-of-n); empty otherwise.
    n_cases : ndarray of int
        Resampling units (cases) holding a usable notebook of each statistic.
    """

    statistics: tuple[Statistic, ...]
    estimate: np.ndarray
    confidence_interval: ConfidenceInterval
    bootstrap_distribution: np.ndarray
    standard_error: np.ndarray
    method: tuple[str, ...]
    n_notebooks: np.ndarray
    n_undefined: np.ndarray
    level: float
    sample_size: int
    n_resamples: int
    simultaneous_interval: ConfidenceInterval
    resampling_unit: str = "notebook"
    n_units: int = 0
    note: str = ""
    n_cases: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))

    def to_frame(self) -> pd.DataFrame:
        """One row per statistic."""
        frame = pd.DataFrame(self.statistics, columns=list(Statistic._fields))
        frame["estimate"] = self.estimate
        frame["ci_low"] = self.confidence_interval.low
        frame["ci_high"] = self.confidence_interval.high
        frame["standard_error"] = self.standard_error
        frame["method"] = self.method
        frame["level"] = self.level
        frame["n_notebooks"] = self.n_notebooks
        frame["n_undefined"] = self.n_undefined
        frame["n_resamples"] = self.n_resamples
        frame["sample_size"] = self.sample_size
        frame["resampling_unit"] = self.resampling_unit
        frame["n_units"] = self.n_units
        frame["simultaneous_low"] = self.simultaneous_interval.low
        frame["simultaneous_high"] = self.simultaneous_interval.high
        frame["note"] = self.note
        frame["n_cases"] = self.n_cases
        return frame


class _Inputs(NamedTuple):
    absolute: np.ndarray
    signed: np.ndarray
    variants: tuple[str, ...]
    dimensions: tuple[str, ...]
    comparisons: tuple[tuple[str, str], ...]
    n_resamples: int
    level: float
    method: str
    sample_size: int
    batch: int
    rng: np.random.Generator
    unit_of: np.ndarray  # (notebook,) index of each notebook's resampling unit
    resampling_unit: str


def _units(clusters: Sequence[str] | None, n_notebooks: int) -> tuple[np.ndarray, str]:
    """Each notebook's resampling unit: its case when any case has several notebooks."""
    if clusters is None:
        return np.arange(n_notebooks), "notebook"
    clusters = list(clusters)
    if len(clusters) != n_notebooks:
        raise ValueError(f"clusters names {len(clusters)} cases for {n_notebooks} notebooks")
    _, unit_of = np.unique(np.asarray(clusters, dtype=object).astype(str), return_inverse=True)
    if unit_of.max() + 1 == n_notebooks:
        return np.arange(n_notebooks), "notebook"
    return unit_of.astype(int), "case"


def _bootstrap_iv(human: np.ndarray, judge: np.ndarray, variants: Sequence[str] | None,
                  comparisons: Sequence[tuple[str, str]] | None,
                  dimensions: Sequence[str] | None, na_policy: str, failed: np.ndarray | None,
                  failure_policy: str, clusters: Sequence[str] | None, n_resamples: int,
                  level: float, method: str, sample_size: int | None, batch: int | None,
                  rng: np.random.Generator | None) -> _Inputs:
    """Validate and normalise every argument of :func:`bootstrap_agreement`."""
    human = check_human(human)
    judge = check_judge(judge, human)
    n_notebooks = human.shape[0]
    variants = check_names(variants, judge.shape[0], "variant")
    dimensions = check_names(dimensions, human.shape[1], "dimension")
    comparisons = check_comparisons(comparisons, variants)
    check_choice(na_policy, "na_policy", NA_POLICIES)
    check_choice(failure_policy, "failure_policy", FAILURE_POLICIES)
    unit_of, resampling_unit = _units(clusters, n_notebooks)
    n_units = int(unit_of.max()) + 1
    if n_units < 2:
        raise ValueError(f"at least two {resampling_unit}s are needed to bootstrap; "
                         f"got {n_units}")
    n_resamples = check_count(n_resamples, "n_resamples")
    level = check_level(level)
    check_choice(method, "method", METHODS)
    sample_size = n_units if sample_size is None else check_count(sample_size, "sample_size")
    if method != "percentile" and sample_size != n_units:
        raise ValueError(
            f"method {method!r} needs sample_size equal to the number of "
            f"{resampling_unit}s ({n_units}); got {sample_size}: only the percentile "
            "interval has an m-out-of-n form"
        )
    batch = _DEFAULT_BATCH if batch is None else check_count(batch, "batch")
    if failed is not None and failure_policy == "worst":
        judge = impute_failures(human, judge, failed, na_policy=na_policy)
    absolute, signed = paired_errors(human, judge, na_policy=na_policy)
    if np.all(np.isnan(absolute)):
        raise ValueError(
            "no notebook has both a human and a judge score (after the N/A policy): "
            "nothing to bootstrap"
        )
    return _Inputs(absolute, signed, variants, dimensions, comparisons, n_resamples, level,
                   method, sample_size, batch, check_rng(rng), unit_of, resampling_unit)


class _Summands(NamedTuple):
    """Per-notebook summands of every statistic, and how their sums divide.

    ``matrix`` has one column per distinct sum: error, signed error and
    paired error-difference units, then the denominators (usable and paired
    counts, both times UNITS_PER_POINT, and the reference's error units).
    Each part divides the sums at rows ``numerator`` by those at rows
    ``denominator`` into the statistics at rows ``out``.
    """

    matrix: np.ndarray  # (unit, sum), exact integer-valued floats
    parts: tuple[tuple[slice, slice, slice], ...]  # (out, numerator, denominator)
    relative: slice  # the relative reductions, whose zero denominators need care
    n_notebooks: np.ndarray  # (statistic,) notebooks each statistic rests on
    statistics: tuple[Statistic, ...]
    numerator: np.ndarray  # (statistic,) column of matrix each statistic divides
    denominator: np.ndarray  # (statistic,) column it divides by


def _summands(inputs: _Inputs) -> _Summands:
    """Numerators and denominators of MAE, bias, improvement and relative reduction.

    MAE and bias divide error units by the count of usable notebooks; the
    improvement divides by the count usable in both variants; the relative
    reduction divides by the reference's error units on those notebooks.
    """
    at = {name: i for i, name in enumerate(inputs.variants)}
    usable = ~np.isnan(inputs.absolute)
    reference = [at[r] for r, _ in inputs.comparisons]
    candidate = [at[c] for _, c in inputs.comparisons]
    common = usable[reference] & usable[candidate]
    absolute = to_units(inputs.absolute)
    blocks = [  # each (group, notebook, dimension)
        absolute,
        to_units(inputs.signed),
        np.where(common, absolute[reference] - absolute[candidate], 0.0),
        usable * float(UNITS_PER_POINT),
        common * float(UNITS_PER_POINT),
        np.where(common, absolute[reference], 0.0),
    ]
    edges = np.cumsum([0] + [b.shape[0] * b.shape[2] for b in blocks])
    error, signed, difference, n_usable, n_common, reference_error = (
        slice(a, b) for a, b in pairwise(edges))
    v, c = edges[1], edges[3] - edges[2]  # statistics per variant kind, per comparison kind
    parts = (
        (slice(0, v), error, n_usable),
        (slice(v, 2 * v), signed, n_usable),
        (slice(2 * v, 2 * v + c), difference, n_common),
        (slice(2 * v + c, 2 * v + 2 * c), difference, reference_error),
    )
    matrix = np.concatenate(
        [np.moveaxis(b, 1, 0).reshape(b.shape[1], -1) for b in blocks], axis=1
    ).astype(float)
    statistics = tuple(
        Statistic(kind, variant, "", dimension)
        for kind in ("mae", "bias") for variant in inputs.variants
        for dimension in inputs.dimensions
    ) + tuple(
        Statistic(kind, candidate, reference, dimension)
        for kind in ("improvement", "relative_reduction")
        for reference, candidate in inputs.comparisons for dimension in inputs.dimensions
    )
    counts = [usable.sum(axis=1), usable.sum(axis=1), common.sum(axis=1), common.sum(axis=1)]
    # A case's notebooks are resampled together: their summands add up into one unit's.
    units = np.zeros((int(inputs.unit_of.max()) + 1, matrix.shape[1]))
    np.add.at(units, inputs.unit_of, matrix)
    numerator = np.concatenate([np.arange(n.start, n.stop) for _, n, _ in parts])
    denominator = np.concatenate([np.arange(d.start, d.stop) for _, _, d in parts])
    return _Summands(units, parts, parts[3][0], np.concatenate([n.ravel() for n in counts]),
                     statistics, numerator, denominator)


def _second_moments(summands: _Summands) -> np.ndarray:
    """Per-unit squares and cross products of each statistic's numerator and denominator,
    in points, shape (unit, 3 * statistic): a^2, a b, b^2."""
    a = summands.matrix[:, summands.numerator] / UNITS_PER_POINT
    b = summands.matrix[:, summands.denominator] / UNITS_PER_POINT
    return np.concatenate([a * a, a * b, b * b], axis=1)


def _ratio_standard_error(statistic: np.ndarray, sums: np.ndarray, moments: np.ndarray,
                          summands: _Summands, m: int) -> np.ndarray:
    """Delta-method standard error of each ratio statistic in each world, shape (statistic, world).

    For a ratio of sums over m units, theta = sum a / sum b, the linearised
    variance is m / (m - 1) * sum (a_i - theta b_i)^2 / (sum b_i)^2, and the
    sum of squares expands into the three moment sums: one more matrix product.
    """
    k = statistic.shape[0]
    aa, ab, bb = moments[:k], moments[k:2 * k], moments[2 * k:]
    b = sums[summands.denominator] / UNITS_PER_POINT
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = np.maximum(aa - 2 * statistic * ab + statistic**2 * bb, 0.0)
        error: np.ndarray = np.sqrt(m / (m - 1) * spread) / np.abs(b)
    return error


def _divide(sums: np.ndarray, summands: _Summands, out: np.ndarray) -> np.ndarray:
    """Statistics (statistic, world) from sums (sum, world); NaN where undefined."""
    with np.errstate(divide="ignore", invalid="ignore"):
        for rows, numerator, denominator in summands.parts:
            np.divide(sums[numerator], sums[denominator], out=out[rows])
    # A count of 0 comes with a numerator of 0, so 0/0 is already NaN; only a
    # relative reduction divides a nonzero improvement by a zero reference error.
    relative = out[summands.relative]
    relative[np.isinf(relative)] = np.nan
    return out


def _resample_counts(indices: np.ndarray, n_notebooks: int) -> np.ndarray:
    """How often each notebook appears in each resample, shape (resample, notebook)."""
    offsets = n_notebooks * np.arange(indices.shape[0])[:, np.newaxis]
    flat = np.bincount((indices + offsets).ravel(), minlength=indices.shape[0] * n_notebooks)
    return flat.reshape(indices.shape[0], n_notebooks).astype(float)


def _sorted_quantiles(ordered: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Quantiles of each sorted row at its own probabilities, shape (row, k).

    Linear interpolation between order statistics, written as numpy's
    ``quantile(method="linear")`` writes it, so both give the same bits.
    """
    position = probabilities * (ordered.shape[1] - 1)
    below = np.floor(position).astype(int)
    above = np.minimum(below + 1, ordered.shape[1] - 1)
    rows = np.arange(ordered.shape[0])[:, np.newaxis]
    a, b = ordered[rows, below], ordered[rows, above]
    t = position - below
    quantiles: np.ndarray = np.where(t >= 0.5, b - (b - a) * (1 - t), a + (b - a) * t)
    return quantiles


def _count_undefined(ordered: np.ndarray) -> np.ndarray:
    """NaNs per sorted row; they sort last, so only rows ending in NaN are counted."""
    counts = np.zeros(ordered.shape[0], dtype=int)
    ends_undefined = np.isnan(ordered[:, -1])
    counts[ends_undefined] = np.isnan(ordered[ends_undefined]).sum(axis=1)
    return counts


def _standard_deviation(scratch: np.ndarray) -> np.ndarray:
    """Row standard deviations (ddof=1), overwriting ``scratch`` to save a large copy."""
    if scratch.shape[1] < 2:
        return np.full(scratch.shape[0], np.nan)
    scratch -= scratch.mean(axis=1, keepdims=True)
    deviation: np.ndarray = np.sqrt(np.einsum("ij,ij->i", scratch, scratch)
                                    / (scratch.shape[1] - 1))
    return deviation


def _bca_probabilities(estimate: np.ndarray, ordered: np.ndarray, jackknife: np.ndarray,
                       alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper quantile levels of the BCa interval, and where it is degenerate.

    Efron & Tibshirani (1993), eqs. 14.14 and 14.15; the bias correction
    counts ties as half, as ``scipy.stats.bootstrap`` does. ``ordered`` is
    the sorted bootstrap distribution, ``jackknife`` (notebook, statistic).
    """
    below = np.array([np.searchsorted(row, x, "left") for row, x in zip(ordered, estimate,
                                                                        strict=True)])
    at_or_below = np.array([np.searchsorted(row, x, "right") for row, x in zip(
        ordered, estimate, strict=True)])
    z0 = ndtri((below + at_or_below) / (2 * ordered.shape[1]))
    spread = jackknife.mean(axis=0) - jackknife
    with np.errstate(invalid="ignore", divide="ignore"):
        acceleration = (spread**3).sum(axis=0) / (6 * ((spread**2).sum(axis=0)) ** 1.5)
        z = ndtri(alpha)
        low = ndtr(z0 + (z0 + z) / (1 - acceleration * (z0 + z)))
        high = ndtr(z0 + (z0 - z) / (1 - acceleration * (z0 - z)))
    degenerate = ~(np.isfinite(z0) & np.isfinite(acceleration) & np.isfinite(low)
                   & np.isfinite(high))
    return np.stack([low, high], axis=1), degenerate


def bootstrap_agreement(
    human: np.ndarray,
    judge: np.ndarray,
    *,
    variants: Sequence[str] | None = None,
    comparisons: Sequence[tuple[str, str]] | None = None,
    dimensions: Sequence[str] | None = None,
    na_policy: str = "worst",
    failed: np.ndarray | None = None,
    failure_policy: str = "worst",
    clusters: Sequence[str] | None = None,
    n_resamples: int = 10_000,
    level: float = 0.95,
    method: str = "auto",
    sample_size: int | None = None,
    batch: int | None = None,
    rng: np.random.Generator | None = None,
) -> BootstrapResult:
    """Paired cluster bootstrap of MAE, bias, improvement and relative reduction.

    Notebooks (or, with ``clusters``, whole cases) are resampled with
    replacement, each carrying all of its scores (every dimension, variant
    and repeat), so that comparisons are paired and the correlation between
    a notebook's dimensions, and between a case's notebooks, is kept.

    Parameters
    ----------
    human : array_like, shape (notebook, dimension)
        Consensus scores, 0 (N/A) to 3, NaN where unlabelled.
    judge : array_like, shape (variant, [repeat,] notebook, dimension)
        0 (N/A), 1, 2, 3, NaN where failed or absent.
    variants : sequence of str, optional
        Variant names along the first axis of ``judge``.
    comparisons : sequence of (reference, candidate), optional
        Improvement = MAE(reference) - MAE(candidate), positive when the
        candidate is better. Default: the first variant against each other.
    dimensions : sequence of str, optional
    na_policy : {"worst", "zero", "exclude"}
        N/A on one side only costs the largest error against the other score,
        is scored as 0, or drops the pair (:func:`~nbjudge.stats.tables.score_distance`).
    failed : array_like of bool, optional
        Same shape as ``judge``: failed judgments (their score is NaN).
    failure_policy : {"worst", "exclude"}
        ``"worst"`` (intention to treat): a failed judgment scores the
        largest error possible against that human score (see
        :func:`~nbjudge.stats.tables.impute_failures`); ``"exclude"``: it is
        dropped, which lets a judge that fails where it would be wrong look
        better.
    clusters : sequence of str, optional
        The case of each notebook. When any case holds several notebooks,
        whole cases are resampled; otherwise notebooks.
    n_resamples : int
        Rows of the shared resample index matrix.
    level : float
        Confidence level of the two-sided intervals, in (0, 1).
    method : {"auto", "cr2", "wild", "hall", "studentized", "expanded", "percentile", "bca"}
        ``"auto"``: per kind of statistic, the method that held its level on
        both worlds of ``bench/validate_intervals.py`` (:data:`AUTO_METHOD`:
        CR2 for MAE, bias and improvements, studentized for relative
        reductions). ``"cr2"``: the cluster-robust t-interval over
        cases with the CR2 variance and Bell-McCaffrey df (means only; a
        relative reduction gets the studentized interval). ``"wild"``: the wild
        cluster bootstrap-t over cases (Webb weights, ``n_resamples`` worlds) and
        ``"hall"``: the CR2 interval with Hall's skewness correction, both
        means only, as ``"cr2"``. ``"studentized"``:
        bootstrap-t with the delta-method standard error of each resample (one
        more matrix product); ``"expanded"``:
        percentile at the widened levels of Hesterberg (2015); ``"bca"``
        falls back to percentile where it is degenerate (many paired
        differences of 0 are common with 1-3 scores). ``method`` in the
        result says which interval each statistic got.
    sample_size : int, optional
        Units per resample (m-out-of-n, percentile only); default the number
        of units. Drawing m > n makes intervals narrower by about sqrt(n/m):
        they are not ``level`` intervals, and the result's ``method`` and
        ``note`` say so.
    batch : int, optional
        Resamples evaluated at once (default 1024, which keeps the work in
        cache); results do not depend on it.
    rng : numpy.random.Generator, optional

    Returns
    -------
    BootstrapResult
    """
    inputs = _bootstrap_iv(human, judge, variants, comparisons, dimensions, na_policy, failed,
                           failure_policy, clusters, n_resamples, level, method, sample_size,
                           batch, rng)
    summands = _summands(inputs)
    matrix = summands.matrix
    n_units, n_statistics = matrix.shape[0], len(summands.statistics)
    m = inputs.sample_size
    totals = matrix.sum(axis=0)
    estimate = _divide(totals[:, np.newaxis], summands, np.empty((n_statistics, 1)))[:, 0]
    studentized = inputs.method in ("studentized", "auto", *PAIRED)
    moments = _second_moments(summands)
    estimate_se = _ratio_standard_error(estimate[:, np.newaxis], totals[:, np.newaxis],
                                        moments.sum(axis=0)[:, np.newaxis], summands,
                                        n_units)[:, 0]

    # The shared index matrix, drawn as scipy.stats.bootstrap(paired=True) draws it.
    indices = inputs.rng.integers(0, n_units, (inputs.n_resamples, m))
    distribution = np.empty((n_statistics, inputs.n_resamples))
    pivot = np.empty((n_statistics, inputs.n_resamples)) if studentized else None
    # Each product is a few MFLOP: BLAS threads cost more in synchronisation
    # than they save, and stall whenever another process holds a core.
    with threadpool_limits(limits=1, user_api="blas"):
        for start in range(0, inputs.n_resamples, inputs.batch):
            window = slice(start, start + inputs.batch)
            counts = _resample_counts(indices[window], n_units)
            sums = matrix.T @ counts.T
            _divide(sums, summands, distribution[:, window])
            if pivot is not None:
                se = _ratio_standard_error(distribution[:, window], sums,
                                           moments.T @ counts.T, summands, m)
                pivot[:, window] = _pivot(distribution[:, window], estimate, se)

    ordered = np.sort(distribution, axis=1)
    n_undefined = _count_undefined(ordered)
    alpha = (1 - inputs.level) / 2
    probabilities = np.tile([alpha, 1 - alpha], (n_statistics, 1))
    kinds = np.array([s.kind for s in summands.statistics])
    wanted = np.array([AUTO_METHOD[k] for k in kinds] if inputs.method == "auto"
                      else [inputs.method] * n_statistics, dtype=object)
    # CR2 is a t-interval for means; asked of a ratio it gives way to the bootstrap-t.
    wanted[np.isin(wanted, PAIRED) & ~np.isin(kinds, MEANS)] = "studentized"
    method_used = wanted.copy()
    note = ""
    if m != n_units:
        method_used[:] = "m_out_of_n_percentile"
        note = M_OUT_OF_N_NOTE.format(level=inputs.level, m=m, n=n_units)
    elif inputs.method == "bca":
        jackknife = _divide((totals - matrix).T, summands, np.empty((n_statistics, n_units)))
        bca, degenerate = _bca_probabilities(estimate, ordered, jackknife.T, alpha)
        probabilities[~degenerate] = bca[~degenerate]
        method_used[:] = np.where(degenerate, "percentile_fallback", "bca")
    expanded = method_used == "expanded"
    probabilities[expanded] = _expanded_probabilities(alpha, n_units)
    interval = _sorted_quantiles(ordered, probabilities)
    if pivot is not None:
        chosen = method_used == "studentized"
        pivoted = _studentized_interval(estimate, estimate_se, np.sort(pivot, axis=1), alpha)
        interval[chosen] = pivoted[chosen]
    per_unit = _mean_parts(summands)
    _, cr2_low, cr2_high, _, _ = cr2_interval(*per_unit, inputs.level)
    cr2 = method_used == "cr2"
    interval[cr2] = np.stack([cr2_low, cr2_high], axis=1)[cr2]
    for name in ("wild", "hall"):
        chosen = method_used == name
        if chosen.any():
            sums, counts = (part[:, chosen] for part in per_unit)
            interval[chosen] = np.stack(
                _wild_interval(sums, counts, inputs.level, inputs.n_resamples, inputs.rng)
                if name == "wild" else _hall_interval(sums, counts, inputs.level), axis=1)
    interval = _clip_to_range(interval, summands.statistics)
    method_used[n_undefined > 0] = "undefined"
    interval[n_undefined > 0] = np.nan
    standard_error = _standard_deviation(ordered)
    return BootstrapResult(
        statistics=summands.statistics,
        estimate=estimate,
        confidence_interval=ConfidenceInterval(interval[:, 0], interval[:, 1]),
        bootstrap_distribution=distribution,
        standard_error=standard_error,
        method=tuple(method_used),
        n_notebooks=summands.n_notebooks,
        n_undefined=n_undefined,
        level=inputs.level,
        sample_size=m,
        n_resamples=inputs.n_resamples,
        simultaneous_interval=_simultaneous_band(per_unit, summands.statistics, inputs.level),
        resampling_unit=inputs.resampling_unit,
        n_units=n_units,
        note=note,
        n_cases=(per_unit[1] > 0).sum(axis=0),
    )


def _mean_parts(summands: _Summands) -> tuple[np.ndarray, np.ndarray]:
    """Per resampling unit, each statistic's numerator (in points) and denominator (in
    notebooks for a mean), shape (unit, statistic) each."""
    sums: np.ndarray = summands.matrix[:, summands.numerator] / UNITS_PER_POINT
    counts: np.ndarray = summands.matrix[:, summands.denominator] / UNITS_PER_POINT
    return sums, counts


def _pivot(statistic: np.ndarray, estimate: np.ndarray, se: np.ndarray) -> np.ndarray:
    """Bootstrap t, (theta* - theta) / se*; a world whose se* is 0 gives 0 when theta* equals
    theta and an effectively infinite t otherwise (it sorts to the end it belongs to)."""
    difference = statistic - estimate[:, np.newaxis]
    with np.errstate(invalid="ignore", divide="ignore"):
        t = difference / se
    flat = (se == 0) & ~np.isnan(difference)
    t[flat] = np.sign(difference[flat]) * _HUGE
    result: np.ndarray = np.clip(t, -_HUGE, _HUGE)
    return result


def _studentized_interval(estimate: np.ndarray, estimate_se: np.ndarray, pivot: np.ndarray,
                          alpha: float) -> np.ndarray:
    """Bootstrap-t interval (Efron & Tibshirani 1993, eq. 12.22): theta - t*_(1-a) se,
    theta - t*_(a) se. Where the observed se is 0 every resample equals the
    estimate and so does the interval."""
    quantiles = _sorted_quantiles(pivot, np.tile([1 - alpha, alpha], (pivot.shape[0], 1)))
    se = np.nan_to_num(estimate_se, nan=0.0)[:, np.newaxis]
    with np.errstate(invalid="ignore"):
        interval: np.ndarray = estimate[:, np.newaxis] - np.where(se > 0, quantiles * se, 0.0)
    return interval


def _expanded_probabilities(alpha: float, n: int) -> np.ndarray:
    """Quantile levels of the expanded percentile interval (Hesterberg 2015, sec. 4.4):
    alpha' / 2 = Phi(-sqrt(n / (n - 1)) t_(alpha/2, n - 1)), which undoes the
    narrowness bias of the percentile interval at small n."""
    low = float(ndtr(np.sqrt(n / (n - 1)) * student_t.ppf(alpha, n - 1)))
    return np.array([low, 1 - low])


def _clip_to_range(interval: np.ndarray, statistics: Sequence[Statistic]) -> np.ndarray:
    """Intervals inside the values a statistic can take (MAE 0-3, bias and improvement -3-3)."""
    low = np.array([0.0 if s.kind == "mae" else -3.0 if s.kind != "relative_reduction"
                    else -np.inf for s in statistics])
    high = np.array([1.0 if s.kind == "relative_reduction" else 3.0 for s in statistics])
    with np.errstate(invalid="ignore"):
        clipped: np.ndarray = np.clip(interval, low[:, np.newaxis], high[:, np.newaxis])
    return clipped


def _simultaneous_band(per_unit: tuple[np.ndarray, np.ndarray],
                       statistics: Sequence[Statistic], level: float) -> ConfidenceInterval:
    """Bonferroni band over every improvement: each one's CR2 t-interval at level
    1 - (1 - level) / m, so that all m cover at once with probability at least ``level``
    whenever each interval holds its own level, which at level 1 - (1 - level) / m and
    few cases is less sure: bench/results/intervals.md measures it. (A max-|t| band on
    bootstrap standard errors flagged a null family in 12-13% of clustered experiments
    at 5%.)"""
    family = np.array([s.kind == "improvement" for s in statistics])
    low = np.full(len(statistics), np.nan)
    high = np.full(len(statistics), np.nan)
    if family.any():
        sums, counts = (part[:, family] for part in per_unit)
        _, low[family], high[family], _, _ = cr2_interval(
            sums, counts, 1 - (1 - level) / int(family.sum()))
    return ConfidenceInterval(low, high)
