"""Intervals for the mean of paired per-notebook differences, clustered by case.

The unit of every comparison is a notebook's difference (reference error
minus candidate error, or arm A's score minus arm B's); notebooks of one case
are correlated, so the case is the independent unit. Everything here works
on per-case sums: the sum of a case's usable differences and the number of
notebooks it holds, per column. A mean over notebooks is then the
intercept of a regression on a constant with case clusters, and its
small-sample interval is the cluster-robust t-interval with the CR2 variance
and Bell-McCaffrey degrees of freedom (Bell & McCaffrey 2002; Pustejovsky &
Tipton 2018). With one notebook per case it is exactly the t-interval.

The wild cluster bootstrap-t (Cameron, Gelbach & Miller 2008; Webb's
six-point weights) is offered beside it, and so is the same t-interval with
Hall's (1992) skewness correction, for means of skewed quantities such as an
absolute error that is mostly 0 (the plain t-interval of such a mean misses
mostly on one side: too low). ``bench/validate_intervals.py`` measures all
three against the case bootstrap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.stats import t as student_t

from ._checks import check_choice, check_count, check_level, check_rng

__all__ = ["PAIRED_METHODS", "PairedInterval", "case_sums", "cr2_interval", "paired_interval"]

PAIRED_METHODS = ("cr2", "wild", "hall")
# Webb (2023): six points with mean 0 and variance 1; with few cases Rademacher
# weights give only 2**G distinct worlds.
_WEBB = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])


@dataclass(frozen=True)
class PairedInterval:
    """Result of :func:`paired_interval`; arrays have the trailing shape of the input.

    Attributes
    ----------
    estimate : ndarray
        Mean difference over the usable notebooks.
    low, high : ndarray
        Two-sided interval at ``level``; NaN with fewer than two cases.
    standard_error : ndarray
        CR2 cluster-robust standard error of the mean.
    df : ndarray
        Bell-McCaffrey degrees of freedom (cases - 1 when cases are equal in size).
    n_notebooks, n_cases : ndarray of int
        Usable notebooks, and cases holding at least one of them.
    method : str
        ``"cr2"``, ``"wild"`` or ``"hall"``.
    level : float
    """

    estimate: np.ndarray
    low: np.ndarray
    high: np.ndarray
    standard_error: np.ndarray
    df: np.ndarray
    n_notebooks: np.ndarray
    n_cases: np.ndarray
    method: str
    level: float

    def to_frame(self) -> pd.DataFrame:
        """One row per column of the input, in its flattened order."""
        return pd.DataFrame({
            "estimate": self.estimate.ravel(), "ci_low": self.low.ravel(),
            "ci_high": self.high.ravel(), "standard_error": self.standard_error.ravel(),
            "df": self.df.ravel(), "n_notebooks": self.n_notebooks.ravel(),
            "n_cases": self.n_cases.ravel(), "method": self.method, "level": self.level,
        })


def case_sums(differences: np.ndarray, clusters: Sequence[str] | None,
              ) -> tuple[np.ndarray, np.ndarray]:
    """Per case, the sum of the usable differences and their count, each (case, column).

    ``differences`` is (notebook, column) with NaN where unusable; without
    ``clusters`` every notebook is a case of its own.
    """
    usable = ~np.isnan(differences)
    values = np.where(usable, differences, 0.0)
    if clusters is None:
        return values, usable.astype(float)
    _, case_of = np.unique(np.asarray(clusters, dtype=object).astype(str), return_inverse=True)
    sums = np.zeros((int(case_of.max()) + 1, differences.shape[1]))
    counts = np.zeros_like(sums)
    np.add.at(sums, case_of, values)
    np.add.at(counts, case_of, usable)
    return sums, counts


def _cr2_parts(sums: np.ndarray, counts: np.ndarray,
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean, CR2 standard error, Bell-McCaffrey df and cases, per column.

    For the intercept-only model the CR2 adjustment of case g scales its
    residual sum R_g by (1 - n_g / N)^(-1/2), so V = sum_g R_g^2 / (1 - n_g / N) / N^2.
    The df are (tr B)^2 / ||B||_F^2 for B = D - u u', D = diag(k_g^2 n_g),
    u_g = k_g n_g / sqrt(N), k_g = 1 / (N sqrt(1 - n_g / N)) (Bell & McCaffrey
    2002, eq. 10 under a working identity covariance), and tr B = 1 / N.
    """
    total = counts.sum(axis=0)
    n_cases = (counts > 0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums.sum(axis=0) / total
        share = counts / total
        residual = sums - counts * mean
        leverage_free = np.where(counts > 0, 1 - share, 1.0)
        variance = (residual**2 / leverage_free).sum(axis=0) / total**2
        k2 = np.where(counts > 0, 1 / (total**2 * leverage_free), 0.0)
        d = k2 * counts
        u2 = k2 * counts**2 / total
        frobenius = (d**2).sum(axis=0) - 2 * (d * u2).sum(axis=0) + u2.sum(axis=0) ** 2
        df = (1 / total) ** 2 / frobenius
    few = n_cases < 2
    variance[few] = np.nan
    df[few] = np.nan
    return mean, np.sqrt(variance), df, n_cases


def cr2_interval(sums: np.ndarray, counts: np.ndarray, level: float,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Estimate, low, high, standard error and df of the CR2 / Bell-McCaffrey t-interval
    from per-case sums and counts (case, column); no argument checks (internal use)."""
    mean, se, df, _ = _cr2_parts(sums, counts)
    with np.errstate(invalid="ignore"):
        half = student_t.ppf(1 - (1 - level) / 2, df) * se
    # A zero standard error (every difference equal) leaves the point itself.
    half = np.where(se == 0, 0.0, half)
    return mean, mean - half, mean + half, se, df


def _hall_interval(sums: np.ndarray, counts: np.ndarray, level: float,
                   ) -> tuple[np.ndarray, np.ndarray]:
    """CR2 t-interval with Hall's (1992) skewness correction. With case residual sums
    R_g, the estimator's skewness is k = sum R_g^3 / (sum R_g^2)^(3/2) (gamma / sqrt(n)
    for n independent notebooks); g(u) = ((1 + a u)^3 - 1) / (3a) + k / 6, a = k / 3, is
    monotone and g((mean - mu) / se) is closer to Student's t than the plain pivot, so
    the interval is mean - se g^-1(t_(1-alpha/2)), mean - se g^-1(t_(alpha/2)). With k = 0
    it is the CR2 interval."""
    mean, se, df, _ = _cr2_parts(sums, counts)
    residual = sums - counts * mean
    with np.errstate(invalid="ignore", divide="ignore"):
        second = (residual**2).sum(axis=0)
        skew = np.where(second > 0, (residual**3).sum(axis=0) / second**1.5, 0.0)
        a = skew / 3
        upper = student_t.ppf(1 - (1 - level) / 2, df)

        def inverse(t: np.ndarray) -> np.ndarray:
            shifted = t - skew / 6
            small = np.abs(a) < 1e-9
            result: np.ndarray = np.where(
                small, shifted, (np.cbrt(1 + 3 * a * shifted) - 1) / np.where(small, 1.0, a))
            return result

        low = mean - se * inverse(upper)
        high = mean - se * inverse(-upper)
    flat = se == 0
    low[flat] = high[flat] = mean[flat]
    return low, high


def _wild_interval(sums: np.ndarray, counts: np.ndarray, level: float, n_resamples: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Wild cluster bootstrap-t (unrestricted, Webb weights): each world multiplies case
    g's residuals by one weight w_g and is studentized by its own CR2 standard error."""
    mean, se, _, _ = _cr2_parts(sums, counts)
    total = counts.sum(axis=0)
    residual = sums - counts * mean
    with np.errstate(invalid="ignore", divide="ignore"):
        leverage_free = np.where(counts > 0, 1 - counts / total, 1.0)
    weights = _WEBB[rng.integers(0, _WEBB.size, (n_resamples, sums.shape[0]))]
    shift = weights @ residual / total  # (world, column): mean* - mean
    low = np.full(mean.shape, np.nan)
    high = np.full(mean.shape, np.nan)
    for j in np.flatnonzero(np.isfinite(se)):
        if se[j] == 0:
            low[j] = high[j] = mean[j]
            continue
        world = weights * residual[:, j] - np.outer(shift[:, j], counts[:, j])
        se_world = np.sqrt((world**2 / leverage_free[:, j]).sum(axis=1)) / total[j]
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.where(se_world > 0, shift[:, j] / se_world, 0.0)
        upper, lower = np.quantile(t, [1 - (1 - level) / 2, (1 - level) / 2])
        low[j], high[j] = mean[j] - upper * se[j], mean[j] - lower * se[j]
    return low, high


def paired_interval(
    differences: ArrayLike,
    clusters: Sequence[str] | None = None,
    *,
    level: float = 0.95,
    method: str = "cr2",
    n_resamples: int = 9999,
    rng: np.random.Generator | None = None,
) -> PairedInterval:
    """Interval of the mean paired difference, with cases as clusters.

    Parameters
    ----------
    differences : array_like, shape (notebook, ...)
        Paired differences, NaN where a notebook is not usable for a column.
    clusters : sequence of str, optional
        The case of each notebook; default: every notebook is its own case.
    level : float
        Two-sided confidence level, in (0, 1).
    method : {"cr2", "wild", "hall"}
        ``"cr2"``: t-interval with the CR2 standard error and Bell-McCaffrey
        df. ``"wild"``: wild cluster bootstrap-t with Webb weights.
        ``"hall"``: the CR2 t-interval with Hall's skewness correction.
    n_resamples : int
        Bootstrap worlds of ``"wild"``.
    rng : numpy.random.Generator, optional
        For ``"wild"``.

    Returns
    -------
    PairedInterval
    """
    values = np.asarray(differences, dtype=float)
    if values.ndim == 0 or values.shape[0] == 0:
        raise ValueError(f"differences is empty (shape {values.shape}): no notebooks")
    if np.any(np.isinf(values)):
        raise ValueError("differences must be finite or NaN (NaN marks an unusable notebook)")
    if clusters is not None and len(clusters) != values.shape[0]:
        raise ValueError(f"clusters names {len(clusters)} cases for {values.shape[0]} notebooks")
    level = check_level(level)
    check_choice(method, "method", PAIRED_METHODS)
    n_resamples = check_count(n_resamples, "n_resamples")
    rng = check_rng(rng)

    trailing = values.shape[1:]
    sums, counts = case_sums(values.reshape(values.shape[0], -1), clusters)
    estimate, low, high, se, df = cr2_interval(sums, counts, level)
    if method == "wild":
        low, high = _wild_interval(sums, counts, level, n_resamples, rng)
    elif method == "hall":
        low, high = _hall_interval(sums, counts, level)
    return PairedInterval(
        estimate=estimate.reshape(trailing), low=low.reshape(trailing),
        high=high.reshape(trailing), standard_error=se.reshape(trailing),
        df=df.reshape(trailing), n_notebooks=counts.sum(axis=0).astype(int).reshape(trailing),
        n_cases=(counts > 0).sum(axis=0).reshape(trailing), method=method, level=level)
