"""Prediction-powered inference (PPI++) for a mean human score, iid and clustered by case.

The judge scores every notebook; experts grade a random subset. For power
tuning parameter lambda the estimate of the mean human score is (Angelopoulos,
Duchi & Zrnic 2024, "PPI++", eq. 4 for the mean)

    theta(lambda) = lambda mean_U(f) + mean_L(y - lambda f)

over the ungraded notebooks U and the graded ones L: the judge's mean plus the
mean of the human-minus-judge error, which removes the judge's bias whatever it
is. lambda = 1 is the original PPI, lambda = 0 the graded subset alone;
the tuned lambda is never worse than either, asymptotically.

:func:`ppi_mean` without ``clusters`` is the authors' ``ppi_py.ppi_mean_ci``
and ``ppi_mean_pointestimate`` (``ppi-python`` 0.2.3: the same lambda, point
estimate and normal interval; the tests check it to 1e-8). That package assumes
independent notebooks. nbjudge's notebooks come in cases (several per test
case, correlated), and a case usually holds graded and ungraded notebooks, so
its judge mean and its error mean share the case's effect. With ``clusters``
the estimate is linearised per case: case g contributes

    phi_g(lambda) = lambda a_g + b_g,
    a_g = (F^U_g - W^U_g mean_U(f)) / W^U - (F^L_g - W^L_g mean_L(f)) / W^L,
    b_g = (Y^L_g - W^L_g mean_L(y)) / W^L,

(F, Y, W: the case's weighted sums of judge scores, human scores and weights
over its ungraded or graded notebooks), the variance is
G_L / (G_L - 1) sum_g phi_g^2 with G_L the cases holding a graded notebook,
the interval a t-interval on G_L - 1 degrees of freedom, and lambda minimises
that variance: -sum a b / sum a^2, clipped to [0, 1] as ``ppi_py`` clips it.
A difference of two arms on the same cases is sum_g (phi^A_g - phi^B_g), with
both lambdas tuned together (least squares), so that the case effect common to
both arms cancels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm
from scipy.stats import t as student_t

from ._checks import check_level

__all__ = ["PPIResult", "ppi_mean"]


@dataclass(frozen=True)
class PPIResult:
    """Result of :func:`ppi_mean`.

    Attributes
    ----------
    estimate, low, high, standard_error : float
        Estimate of the mean human score and its two-sided interval at ``level``.
    lam : float
        The power-tuning parameter used (tuned unless given).
    df : float
        Degrees of freedom of the t-interval (clustered); inf for the normal interval.
    classic_standard_error : float
        Standard error of the graded subset alone (lambda = 0), for the gain PPI brings.
    n_graded, n_ungraded, n_graded_cases : int
    level : float
    """

    estimate: float
    low: float
    high: float
    standard_error: float
    lam: float
    df: float
    classic_standard_error: float
    n_graded: int
    n_ungraded: int
    n_graded_cases: int
    level: float


def _vector(values: ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one score per notebook); got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite: drop unusable notebooks before calling")
    return array


def _ppi_py_lambda(y: np.ndarray, f: np.ndarray, f_unlabelled: np.ndarray) -> float:
    """lambda as ``ppi_py._calc_lam_glm`` computes it for the mean (its ``"overall"``
    mode, d = 1): cov(y, f) over the graded notebooks (ddof 0) divided by
    (1 + n / N) times the variance of f over all notebooks (ddof 1), clipped to [0, 1]."""
    n, big_n = y.size, f_unlabelled.size
    covariance = np.mean((y - y.mean()) * (f - f.mean()))
    variance = np.var(np.concatenate([f, f_unlabelled]), ddof=1)
    if variance == 0:
        return 0.0
    return float(np.clip(covariance / ((1 + n / big_n) * variance), 0.0, 1.0))


def _iid(y: np.ndarray, f: np.ndarray, f_unlabelled: np.ndarray, level: float,
         lam: float | None) -> PPIResult:
    """``ppi_py.ppi_mean_ci`` (two-sided): normal interval, standard deviations with ddof 0.
    ppi_py tunes lambda around the lambda = 1 estimate; for the mean the gradients are
    centred anyway, so the estimate it centres on does not change lambda."""
    if lam is None:
        lam = _ppi_py_lambda(y, f, f_unlabelled)
    n, big_n = y.size, f_unlabelled.size
    estimate = lam * f_unlabelled.mean() + (y - lam * f).mean()
    se = float(np.sqrt(np.var(lam * f_unlabelled) / big_n + np.var(y - lam * f) / n))
    half = float(norm.ppf(1 - (1 - level) / 2)) * se
    return PPIResult(float(estimate), float(estimate - half), float(estimate + half), se,
                     float(lam), np.inf, float(np.sqrt(np.var(y) / n)), n, big_n, n, level)


@dataclass(frozen=True)
class CaseParts:
    """One arm's PPI parts per case along the first axis (case, ...): see the module
    docstring; ``a`` and ``b`` as functions of lambda, the means, and the case counts."""

    a: np.ndarray
    b: np.ndarray
    judge_mean: np.ndarray      # weighted mean of f over the ungraded notebooks
    graded_judge: np.ndarray    # over the graded ones
    graded_human: np.ndarray
    graded_cases: np.ndarray    # cases holding a graded notebook
    n_graded: np.ndarray
    n_ungraded: np.ndarray


def case_parts(judge: np.ndarray, human: np.ndarray, weights: np.ndarray) -> CaseParts:
    """PPI parts from (case, notebook, ...) arrays: ``judge`` NaN where a notebook is not
    usable, ``human`` NaN where it is not graded, ``weights`` each notebook's weight
    (ignored where unusable). Columns after the second axis are analysed separately."""
    usable = ~np.isnan(judge)
    graded = usable & ~np.isnan(human)
    ungraded = usable & np.isnan(human)
    w_u = np.where(ungraded, weights, 0.0)
    w_l = np.where(graded, weights, 0.0)
    f = np.nan_to_num(judge)
    y = np.nan_to_num(human)
    wu_g, fu_g = w_u.sum(axis=1), (w_u * f).sum(axis=1)
    wl_g, fl_g, yl_g = w_l.sum(axis=1), (w_l * f).sum(axis=1), (w_l * y).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        wu, wl = wu_g.sum(axis=0), wl_g.sum(axis=0)
        f_u = np.where(wu > 0, fu_g.sum(axis=0) / wu, 0.0)
        f_l = fl_g.sum(axis=0) / wl
        y_l = yl_g.sum(axis=0) / wl
        # Without ungraded notebooks the judge has nothing to add: a is the graded part alone.
        unlabelled = np.where(wu > 0, (fu_g - wu_g * f_u) / np.where(wu > 0, wu, 1.0), 0.0)
        a = unlabelled - (fl_g - wl_g * f_l) / wl
        b = (yl_g - wl_g * y_l) / wl
    return CaseParts(a, b, f_u, f_l, y_l, (wl_g > 0).sum(axis=0), graded.sum(axis=(0, 1)),
                     ungraded.sum(axis=(0, 1)))


def clustered_interval(phi: np.ndarray, estimate: np.ndarray, graded_cases: np.ndarray,
                       level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Standard error, df, low and high from per-case contributions ``phi`` (case, ...):
    variance G_L / (G_L - 1) sum phi^2, t on G_L - 1 df (NaN below two graded cases)."""
    g = graded_cases.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(g / (g - 1) * (phi**2).sum(axis=0))
        df = g - 1
        se = np.where(g >= 2, se, np.nan)
        df = np.where(g >= 2, df, np.nan)
        half = np.where(se == 0, 0.0, student_t.ppf(1 - (1 - level) / 2, df) * se)
    return se, df, estimate - half, estimate + half


def tuned_lambda(parts: CaseParts) -> np.ndarray:
    """lambda minimising sum_g (lambda a_g + b_g)^2, clipped to [0, 1]; 0 when a is 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        lam = -(parts.a * parts.b).sum(axis=0) / (parts.a**2).sum(axis=0)
    result: np.ndarray = np.clip(np.nan_to_num(lam, nan=0.0, posinf=0.0, neginf=0.0), 0.0, 1.0)
    return result


def ppi_estimate(parts: CaseParts, lam: np.ndarray) -> np.ndarray:
    estimate: np.ndarray = lam * parts.judge_mean + parts.graded_human - lam * parts.graded_judge
    return estimate


def _clustered(y: np.ndarray, f: np.ndarray, f_unlabelled: np.ndarray,
               clusters: Sequence[str], clusters_unlabelled: Sequence[str], level: float,
               lam: float | None) -> PPIResult:
    names = np.asarray([*clusters, *clusters_unlabelled], dtype=object).astype(str)
    cases, case_of = np.unique(names, return_inverse=True)
    width = int(np.bincount(case_of).max())
    judge = np.full((cases.size, width), np.nan)
    human = np.full((cases.size, width), np.nan)
    slot = np.zeros(cases.size, dtype=int)
    for i, g in enumerate(case_of):
        judge[g, slot[g]] = f[i] if i < y.size else f_unlabelled[i - y.size]
        if i < y.size:
            human[g, slot[g]] = y[i]
        slot[g] += 1
    parts = case_parts(judge[..., np.newaxis], human[..., np.newaxis],
                       np.ones((cases.size, width, 1)))
    lam_used = tuned_lambda(parts) if lam is None else np.array([lam])
    estimate = ppi_estimate(parts, lam_used)
    se, df, low, high = clustered_interval(lam_used * parts.a + parts.b, estimate,
                                           parts.graded_cases, level)
    classic, _, _, _ = clustered_interval(parts.b, estimate, parts.graded_cases, level)
    return PPIResult(float(estimate[0]), float(low[0]), float(high[0]), float(se[0]),
                     float(lam_used[0]), float(df[0]), float(classic[0]), y.size,
                     f_unlabelled.size, int(parts.graded_cases[0]), level)


def ppi_mean(
    human: ArrayLike,
    judge: ArrayLike,
    judge_ungraded: ArrayLike,
    *,
    clusters: Sequence[str] | None = None,
    clusters_ungraded: Sequence[str] | None = None,
    level: float = 0.95,
    lam: float | None = None,
) -> PPIResult:
    """PPI++ estimate and interval of the mean human score.

    Parameters
    ----------
    human, judge : array_like, shape (n,)
        Expert and judge scores of the graded notebooks.
    judge_ungraded : array_like, shape (N,)
        Judge scores of the notebooks nobody graded.
    clusters, clusters_ungraded : sequence of str, optional
        The case of each graded and each ungraded notebook. Without them the
        notebooks are independent and the result is ``ppi_py.ppi_mean_ci``'s
        (normal interval); with them the case-clustered estimate of the module
        docstring (t-interval on graded cases - 1 df).
    level : float
        Two-sided confidence level (``ppi_py``'s ``alpha`` is 1 - level).
    lam : float, optional
        Fixed power-tuning parameter; default: tuned.
    """
    y = _vector(human, "human")
    f = _vector(judge, "judge")
    f_u = _vector(judge_ungraded, "judge_ungraded")
    if y.size != f.size:
        raise ValueError(f"human has {y.size} scores but judge {f.size}: both are the graded "
                         "notebooks, in the same order")
    if y.size < 2 or f_u.size < 1:
        raise ValueError(f"PPI needs at least 2 graded and 1 ungraded notebooks; got {y.size} "
                         f"graded and {f_u.size} ungraded")
    level = check_level(level)
    if lam is not None and not 0 <= lam <= 1:
        raise ValueError(f"lam must lie in [0, 1]; got {lam!r}")
    if (clusters is None) != (clusters_ungraded is None):
        raise ValueError("give clusters for both the graded and the ungraded notebooks, "
                         "or for neither")
    if clusters is None or clusters_ungraded is None:
        return _iid(y, f, f_u, level, lam)
    if len(clusters) != y.size or len(clusters_ungraded) != f_u.size:
        raise ValueError(f"clusters name {len(clusters)} and {len(clusters_ungraded)} cases "
                         f"for {y.size} graded and {f_u.size} ungraded notebooks")
    return _clustered(y, f, f_u, clusters, clusters_ungraded, level, lam)
