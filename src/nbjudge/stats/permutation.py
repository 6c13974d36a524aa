"""Paired sign-flip permutation tests and multiple-testing corrections."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from threadpoolctl import threadpool_limits

from ._checks import UNITS_PER_POINT, check_choice, check_count, check_rng, to_units
from .paired import case_sums

__all__ = ["CORRECTIONS", "SignFlipResult", "adjust_pvalues", "sign_flip_test"]

ALTERNATIVES = ("two-sided", "greater", "less")
CORRECTIONS = ("holm", "fdr_bh")
_BATCH = 16_384  # random sign patterns drawn at once


@dataclass(frozen=True)
class SignFlipResult:
    """Result of :func:`sign_flip_test`; arrays have the trailing shape of the input.

    Attributes
    ----------
    statistic : ndarray
        Mean paired difference over the usable notebooks.
    pvalue : ndarray
    exact : ndarray of bool
        The null distribution was enumerated completely rather than sampled.
    n_notebooks : ndarray of int
        Notebooks with a usable difference.
    n_patterns : ndarray of int
        Sign patterns behind each p-value: all 2**k of the k cases with a
        nonzero summed difference when ``exact``, else the random draws.
    n_cases : ndarray of int
        Cases (flipped as one) with a usable difference.
    """

    statistic: np.ndarray
    pvalue: np.ndarray
    exact: np.ndarray
    n_notebooks: np.ndarray
    n_patterns: np.ndarray
    n_cases: np.ndarray

    def describe(self) -> np.ndarray:
        """Per column, how its p-value was computed: ``"exact (2**k sign patterns)"`` or
        ``"Monte Carlo, N sign patterns"``."""
        return np.array([f"exact ({n} sign patterns)" if e else f"Monte Carlo, {n} sign patterns"
                         for e, n in zip(self.exact.ravel(), self.n_patterns.ravel(),
                                         strict=True)], dtype=object).reshape(self.exact.shape)


def _sign_flip_iv(differences: ArrayLike, clusters: Sequence[str] | None, n_resamples: int,
                  alternative: str, rng: np.random.Generator | None,
                  ) -> tuple[np.ndarray, int, str, np.random.Generator]:
    differences = np.asarray(differences, dtype=float)
    if differences.ndim == 0 or differences.shape[0] == 0:
        raise ValueError(f"differences is empty (shape {differences.shape}): no notebooks")
    if np.any(np.isinf(differences)):
        raise ValueError("differences must be finite or NaN (NaN marks an unusable notebook)")
    if clusters is not None and len(clusters) != differences.shape[0]:
        raise ValueError(f"clusters names {len(clusters)} cases for "
                         f"{differences.shape[0]} notebooks")
    n_resamples = check_count(n_resamples, "n_resamples")
    check_choice(alternative, "alternative", ALTERNATIVES)
    return differences, n_resamples, alternative, check_rng(rng)


def _count_extreme(null: np.ndarray, observed: float, alternative: str) -> int:
    # Sums are exact integers, so ties count as extreme without a tolerance.
    if alternative == "greater":
        return int(np.count_nonzero(null >= observed))
    if alternative == "less":
        return int(np.count_nonzero(null <= observed))
    return int(np.count_nonzero(np.abs(null) >= abs(observed)))


def _all_sign_patterns(k: int) -> np.ndarray:
    """Every vector of k signs, shape (2**k, k)."""
    bits = (np.arange(2**k)[:, np.newaxis] >> np.arange(k)) & 1
    return 1.0 - 2.0 * bits


def sign_flip_test(
    differences: np.ndarray,
    *,
    clusters: Sequence[str] | None = None,
    n_resamples: int = 9999,
    alternative: str = "two-sided",
    rng: np.random.Generator | None = None,
) -> SignFlipResult:
    """Paired sign-flip permutation test of a zero mean difference, per column.

    Under the null hypothesis that the two variants are exchangeable within
    a case, each case's summed difference is as likely to be negated. With
    several notebooks per case the case is flipped as one: flipping
    notebooks would treat correlated notebooks as independent and reject too
    often when cases differ (a case-by-judge interaction).

    Parameters
    ----------
    differences : array_like, shape (notebook, ...)
        Paired differences (e.g. reference error minus candidate error); NaN
        where a notebook is not usable for that column.
    clusters : sequence of str, optional
        The case of each notebook; default: every notebook is its own case.
    n_resamples : int
        The null distribution is enumerated completely when a column has at
        most this many sign patterns (2**k for k cases with a nonzero summed
        difference); otherwise this many random patterns are drawn, shared
        by every column, and p = (1 + extreme) / (1 + n_resamples).
    alternative : {"two-sided", "greater", "less"}
        ``"greater"``: the mean difference is positive (candidate better).
    rng : numpy.random.Generator, optional

    Returns
    -------
    SignFlipResult
    """
    differences, n_resamples, alternative, rng = _sign_flip_iv(
        differences, clusters, n_resamples, alternative, rng)
    trailing = differences.shape[1:]
    columns = differences.reshape(differences.shape[0], -1)
    usable = ~np.isnan(columns)
    # Integer units keep every sum exact, so ties count as extreme without a tolerance.
    units, used = case_sums(to_units(np.where(usable, columns, np.nan)), clusters)
    observed = units.sum(axis=0)
    n_used = usable.sum(axis=0)
    nonzero = (units != 0).sum(axis=0)

    pvalue = np.full(columns.shape[1], np.nan)
    patterns = np.full(columns.shape[1], n_resamples)
    exact = (nonzero <= np.log2(n_resamples)) & (n_used > 0)
    for j in np.flatnonzero(exact):
        values = units[units[:, j] != 0, j]
        null = _all_sign_patterns(values.size) @ values
        pvalue[j] = _count_extreme(null, observed[j], alternative) / null.size
        patterns[j] = null.size
    sampled = np.flatnonzero(~exact & (n_used > 0))
    if sampled.size:
        extreme = np.zeros(sampled.size, dtype=int)
        # Batches bound the memory of a large draw; one small product each, where BLAS
        # threads would only wait for each other.
        with threadpool_limits(limits=1, user_api="blas"):
            for start in range(0, n_resamples, _BATCH):
                size = min(_BATCH, n_resamples - start)
                signs = rng.choice([-1.0, 1.0], size=(size, units.shape[0]))
                nulls = signs @ units[:, sampled]
                extreme += [_count_extreme(null, observed[j], alternative)
                            for j, null in zip(sampled, nulls.T, strict=True)]
        pvalue[sampled] = (1 + extreme) / (1 + n_resamples)

    with np.errstate(invalid="ignore", divide="ignore"):
        statistic = np.where(n_used > 0, observed / UNITS_PER_POINT / n_used, np.nan)
    return SignFlipResult(
        statistic=statistic.reshape(trailing),
        pvalue=pvalue.reshape(trailing),
        exact=exact.reshape(trailing),
        n_notebooks=n_used.reshape(trailing),
        n_patterns=patterns.reshape(trailing),
        n_cases=(used > 0).sum(axis=0).reshape(trailing),
    )


def _holm(family: np.ndarray) -> np.ndarray:
    """Holm (1979) step-down: the i-th smallest p times (m - i + 1), made monotone."""
    order = np.argsort(family, kind="stable")
    m = family.size
    stepped = np.maximum.accumulate((m - np.arange(m)) * family[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def _benjamini_hochberg(family: np.ndarray) -> np.ndarray:
    """Benjamini & Hochberg (1995) step-up: the i-th smallest p times m / i, made monotone."""
    order = np.argsort(family, kind="stable")
    m = family.size
    scaled = family[order] * m / np.arange(1, m + 1)
    stepped = np.minimum.accumulate(scaled[::-1])[::-1]
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


_ADJUST = {"holm": _holm, "fdr_bh": _benjamini_hochberg}


def adjust_pvalues(pvalues: np.ndarray, method: str) -> np.ndarray:
    """Holm or Benjamini-Hochberg adjusted p-values over the last axis.

    Each slice along the last axis is one family (pass a flat array to make
    every dimension of every comparison one family). NaN entries are left
    out of the family and stay NaN. Equal to
    ``statsmodels.stats.multitest.multipletests`` (checked in the tests),
    without its ``gc.collect()`` on every call.
    """
    check_choice(method, "method", CORRECTIONS)
    pvalues = np.asarray(pvalues, dtype=float)
    outside = pvalues[(pvalues < 0) | (pvalues > 1)]
    if outside.size:
        raise ValueError(f"p-values must lie in [0, 1]; got {outside[0]}")
    adjusted = np.full(pvalues.shape, np.nan)
    for index in np.ndindex(pvalues.shape[:-1]):
        family = pvalues[index]
        present = ~np.isnan(family)
        if present.any():
            adjusted[index][present] = _ADJUST[method](family[present])
    return adjusted
