"""Paired cluster bootstrap of judge-human agreement over notebooks.

One matrix of resampled notebook indices serves every dimension, variant and
comparison: all statistics come from the same bootstrap worlds, so paired
differences keep their correlation, and a resample costs one matrix product.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri
from threadpoolctl import threadpool_limits

from ._checks import (
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
from .tables import paired_errors

__all__ = ["BootstrapResult", "ConfidenceInterval", "Statistic", "bootstrap_agreement"]

METHODS = ("percentile", "bca")
# Resamples per matrix product: small enough to stay in cache. Sums are exact,
# so results do not depend on it.
_DEFAULT_BATCH = 1024


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
        The interval actually computed: ``"percentile"``, ``"bca"``,
        ``"percentile_fallback"`` (BCa was asked for but is degenerate) or
        ``"undefined"`` (the statistic is undefined in some resample, e.g.
        a relative reduction where the reference MAE is 0).
    n_notebooks : ndarray of int
        Notebooks the estimate rests on.
    n_undefined : ndarray of int
        Resamples in which the statistic is undefined.
    level, sample_size, n_resamples
        The settings used; ``sample_size`` notebooks were drawn per resample.
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


def _bootstrap_iv(human: np.ndarray, judge: np.ndarray, variants: Sequence[str] | None,
                  comparisons: Sequence[tuple[str, str]] | None,
                  dimensions: Sequence[str] | None, na_policy: str, n_resamples: int,
                  level: float, method: str, sample_size: int | None, batch: int | None,
                  rng: np.random.Generator | None) -> _Inputs:
    """Validate and normalise every argument of :func:`bootstrap_agreement`."""
    human = check_human(human)
    judge = check_judge(judge, human)
    n_notebooks = human.shape[0]
    if n_notebooks < 2:
        raise ValueError(f"at least two notebooks are needed to bootstrap; got {n_notebooks}")
    variants = check_names(variants, judge.shape[0], "variant")
    dimensions = check_names(dimensions, human.shape[1], "dimension")
    comparisons = check_comparisons(comparisons, variants)
    check_choice(na_policy, "na_policy", NA_POLICIES)
    n_resamples = check_count(n_resamples, "n_resamples")
    level = check_level(level)
    check_choice(method, "method", METHODS)
    sample_size = n_notebooks if sample_size is None else check_count(sample_size, "sample_size")
    if method == "bca" and sample_size != n_notebooks:
        raise ValueError(
            f"method 'bca' needs sample_size equal to the number of notebooks ({n_notebooks}); "
            f"got {sample_size}: its acceleration is a jackknife over the n notebooks"
        )
    batch = _DEFAULT_BATCH if batch is None else check_count(batch, "batch")
    absolute, signed = paired_errors(human, judge, na_policy=na_policy)
    if np.all(np.isnan(absolute)):
        raise ValueError(
            "no notebook has both a human and a judge score (after the N/A policy): "
            "nothing to bootstrap"
        )
    return _Inputs(absolute, signed, variants, dimensions, comparisons, n_resamples, level,
                   method, sample_size, batch, check_rng(rng))


class _Summands(NamedTuple):
    """Per-notebook summands of every statistic, and how their sums divide.

    ``matrix`` has one column per distinct sum: error, signed error and
    paired error-difference units, then the denominators (usable and paired
    counts, both times UNITS_PER_POINT, and the reference's error units).
    Each part divides the sums at rows ``numerator`` by those at rows
    ``denominator`` into the statistics at rows ``out``.
    """

    matrix: np.ndarray  # (notebook, sum), exact integer-valued floats
    parts: tuple[tuple[slice, slice, slice], ...]  # (out, numerator, denominator)
    relative: slice  # the relative reductions, whose zero denominators need care
    n_notebooks: np.ndarray  # (statistic,) notebooks each statistic rests on
    statistics: tuple[Statistic, ...]


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
    return _Summands(matrix, parts, parts[3][0], np.concatenate([n.ravel() for n in counts]),
                     statistics)


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
    na_policy: str = "zero",
    n_resamples: int = 10_000,
    level: float = 0.95,
    method: str = "percentile",
    sample_size: int | None = None,
    batch: int | None = None,
    rng: np.random.Generator | None = None,
) -> BootstrapResult:
    """Paired cluster bootstrap of MAE, bias, improvement and relative reduction.

    Notebooks are resampled with replacement, each carrying all of its
    scores (every dimension, variant and repeat), so that comparisons are
    paired and the correlation between a notebook's dimensions is kept.

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
    na_policy : {"zero", "exclude"}
        N/A scored as 0, or pairs with an N/A on either side dropped.
    n_resamples : int
        Rows of the shared resample index matrix.
    level : float
        Confidence level of the two-sided intervals, in (0, 1).
    method : {"percentile", "bca"}
        BCa falls back to percentile where it is degenerate (many paired
        differences of 0 are common with 1-3 scores); ``method`` in the
        result says which interval each statistic got.
    sample_size : int, optional
        Notebooks per resample (m-out-of-n); default the number of notebooks.
        Drawing m > n makes intervals narrower by about sqrt(n/m).
    batch : int, optional
        Resamples evaluated at once (default 1024, which keeps the work in
        cache); results do not depend on it.
    rng : numpy.random.Generator, optional

    Returns
    -------
    BootstrapResult
    """
    inputs = _bootstrap_iv(human, judge, variants, comparisons, dimensions, na_policy,
                           n_resamples, level, method, sample_size, batch, rng)
    summands = _summands(inputs)
    matrix = summands.matrix
    n_notebooks, n_statistics = matrix.shape[0], len(summands.statistics)
    totals = matrix.sum(axis=0)
    estimate = _divide(totals[:, np.newaxis], summands, np.empty((n_statistics, 1)))[:, 0]

    # The shared index matrix, drawn as scipy.stats.bootstrap(paired=True) draws it.
    indices = inputs.rng.integers(0, n_notebooks, (inputs.n_resamples, inputs.sample_size))
    distribution = np.empty((n_statistics, inputs.n_resamples))
    # Each product is a few MFLOP: BLAS threads cost more in synchronisation
    # than they save, and stall whenever another process holds a core.
    with threadpool_limits(limits=1, user_api="blas"):
        for start in range(0, inputs.n_resamples, inputs.batch):
            counts = _resample_counts(indices[start:start + inputs.batch], n_notebooks)
            _divide(matrix.T @ counts.T, summands, distribution[:, start:start + inputs.batch])

    ordered = np.sort(distribution, axis=1)
    n_undefined = _count_undefined(ordered)
    alpha = (1 - inputs.level) / 2
    probabilities = np.tile([alpha, 1 - alpha], (n_statistics, 1))
    method_used = np.full(n_statistics, "percentile", dtype=object)
    if inputs.method == "bca":
        jackknife = _divide((totals - matrix).T, summands, np.empty((n_statistics, n_notebooks)))
        bca, degenerate = _bca_probabilities(estimate, ordered, jackknife.T, alpha)
        probabilities[~degenerate] = bca[~degenerate]
        method_used[:] = np.where(degenerate, "percentile_fallback", "bca")
    method_used[n_undefined > 0] = "undefined"
    interval = _sorted_quantiles(ordered, probabilities)
    interval[n_undefined > 0] = np.nan
    return BootstrapResult(
        statistics=summands.statistics,
        estimate=estimate,
        confidence_interval=ConfidenceInterval(interval[:, 0], interval[:, 1]),
        bootstrap_distribution=distribution,
        standard_error=_standard_deviation(ordered),
        method=tuple(method_used),
        n_notebooks=summands.n_notebooks,
        n_undefined=n_undefined,
        level=inputs.level,
        sample_size=inputs.sample_size,
        n_resamples=inputs.n_resamples,
    )
