"""Power of the printed verdict, by simulation from observed paired differences.

The verdict that nbjudge prints calls a dimension significant when its
sign-flip p-value, Holm-adjusted over a family of m tests, is below
1 - level; its cases are the independent units. A single true improvement
among m tests is declared by Holm exactly when its own p-value is below
alpha / m (Holm's first step), so that is the rule simulated, with the
sign-flip test in its normal approximation: case sums S_g flipped at random
have variance sum S_g^2 (uncentred: a true improvement widens the null
distribution too), so the test rejects when sum S_g > z sqrt(sum S_g^2), z the
1 - alpha / (2 m) normal quantile. ``bench/validate_intervals.py`` and the
tests check the prediction against the detection rate of the whole stage.

An experiment of G cases is simulated by drawing G cases (each with its
summed difference and its notebook count n_g) from the observed ones, centred
on zero; a true improvement delta per notebook adds delta n_g to each sum.
The rejection condition is then a quadratic inequality in delta, so each
simulated experiment has a threshold above which it detects delta; these
thresholds give the power at every delta at once: the minimal detectable
improvement is their ``target_power`` quantile, and the power at
``target_improvement`` is the share of thresholds below it. With too few
cases (sum n_g)^2 <= z^2 sum n_g^2 no delta is detected: the threshold is infinite.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from ._checks import check_count, check_level, check_rng
from .paired import case_sums

__all__ = ["PowerResult", "power_analysis"]


@dataclass(frozen=True)
class PowerResult:
    """Result of :func:`power_analysis`; arrays have the trailing shape of the input.

    Attributes
    ----------
    n_notebooks, n_cases : ndarray of int
        Notebooks with a usable difference, and the cases holding them.
    standard_deviation : ndarray
        Of the observed per-notebook paired differences.
    minimal_detectable_improvement : ndarray
        Smallest true improvement the printed verdict detects with probability
        ``target_power`` at the current number of cases. NaN with fewer than
        two cases or no variation in the differences.
    power_at_target : ndarray
        Probability that the verdict detects ``target_improvement`` at the current
        number of cases.
    notebooks_needed, cases_needed : ndarray
        Smallest number of cases (and notebooks, at the observed notebooks per
        case) whose verdict detects ``target_improvement`` with probability
        ``target_power``; NaN beyond ``max_notebooks`` or without variation.
    target_power, target_improvement, level : float
    family_size : int
        Tests the verdict adjusts over; each is tested at (1 - level) / family_size.
    """

    n_notebooks: np.ndarray
    n_cases: np.ndarray
    standard_deviation: np.ndarray
    minimal_detectable_improvement: np.ndarray
    power_at_target: np.ndarray
    notebooks_needed: np.ndarray
    cases_needed: np.ndarray
    target_power: float
    target_improvement: float
    level: float
    family_size: int

    def to_frame(self) -> pd.DataFrame:
        """One row per column of the input, in its flattened order."""
        return pd.DataFrame({
            "n_notebooks": self.n_notebooks.ravel(),
            "n_cases": self.n_cases.ravel(),
            "standard_deviation": self.standard_deviation.ravel(),
            "minimal_detectable_improvement": self.minimal_detectable_improvement.ravel(),
            "target_improvement": self.target_improvement,
            "target_power": self.target_power,
            "power_at_target": self.power_at_target.ravel(),
            "notebooks_needed": self.notebooks_needed.ravel(),
            "cases_needed": self.cases_needed.ravel(),
            "family_size": self.family_size,
            "test_level": (1 - self.level) / self.family_size,
        })


def _power_iv(differences: ArrayLike, clusters: Sequence[str] | None, family_size: int,
              level: float, target_power: float, target_improvement: float,
              n_simulations: int, max_notebooks: int, rng: np.random.Generator | None,
              ) -> tuple[np.ndarray, int, float, float, float, int, int, np.random.Generator]:
    differences = np.asarray(differences, dtype=float)
    if differences.ndim == 0 or differences.shape[0] == 0:
        raise ValueError(f"differences is empty (shape {differences.shape}): no notebooks")
    if clusters is not None and len(clusters) != differences.shape[0]:
        raise ValueError(f"clusters names {len(clusters)} cases for "
                         f"{differences.shape[0]} notebooks")
    family_size = check_count(family_size, "family_size")
    level = check_level(level)
    if not 0 < target_power < 1:
        raise ValueError(f"target_power must lie strictly between 0 and 1; got {target_power!r}")
    if not target_improvement > 0:
        raise ValueError(f"target_improvement must be positive; got {target_improvement!r}")
    n_simulations = check_count(n_simulations, "n_simulations")
    max_notebooks = check_count(max_notebooks, "max_notebooks", minimum=2)
    return (differences, family_size, level, float(target_power), float(target_improvement),
            n_simulations, max_notebooks, check_rng(rng))


def _thresholds(s: np.ndarray, n: np.ndarray, ss: np.ndarray, sn: np.ndarray, nn: np.ndarray,
                z: float) -> np.ndarray:
    """Smallest delta each experiment detects, from its sums of S, n, S^2, S n and n^2:
    (s + delta n)^2 > z^2 (ss + 2 delta sn + delta^2 nn) with s + delta n > 0, i.e. above
    the larger root of a delta^2 + 2 b delta + c (and above -s / n)."""
    a = n**2 - z**2 * nn
    b = s * n - z**2 * sn
    c = s**2 - z**2 * ss
    discriminant = b**2 - a * c
    with np.errstate(invalid="ignore", divide="ignore"):
        positive = -s / n
        root = (-b + np.sqrt(np.maximum(discriminant, 0))) / a
    threshold = np.where(discriminant >= 0, np.maximum(root, positive), positive)
    result: np.ndarray = np.where(a > 0, threshold, np.inf)
    return result


def _simulate(sums: np.ndarray, counts: np.ndarray, target: float, power: float,
              n_simulations: int, alpha: float, max_cases: int,
              rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Detection thresholds at the current number of cases, and the cases needed for
    ``target``.

    ``sums`` and ``counts`` are the observed cases' centred summed differences and
    notebook counts. Each simulated experiment is a stream of drawn cases; the
    experiment of G cases is its first G draws. Running sums of S, n, S^2, S n and
    n^2 give every G at once (the cluster variance expands into them), and the
    streams grow in doubling chunks until the power reaches ``power``.
    """
    current = sums.size
    z = float(stats.norm.ppf(1 - alpha / 2))
    running = np.zeros((5, n_simulations))
    size, needed = 0, np.nan
    now: np.ndarray | None = None
    limit = max(current, max_cases)
    while size < limit and (now is None or np.isnan(needed)):
        step = min(max(size, current, 64), 1024, limit - size)
        drawn = rng.integers(0, current, (n_simulations, step))
        s, n = sums[drawn], counts[drawn]
        total = running[:, :, np.newaxis] + np.cumsum(np.stack([s, n, s * s, s * n, n * n]),
                                                      axis=2)
        g = np.arange(size + 1, size + step + 1)
        thresholds = _thresholds(total[0], total[1], total[2], total[3], total[4], z)
        if size < current <= size + step:
            now = thresholds[:, current - size - 1]
        reached = np.flatnonzero((g >= 2) & (g <= max_cases)
                                 & (np.mean(thresholds < target, axis=0) >= power))
        if np.isnan(needed) and reached.size:
            needed = float(g[reached[0]])
        running = total[:, :, -1]
        size += step
    assert now is not None  # the loop runs past the current size
    return now, needed


def power_analysis(
    differences: np.ndarray,
    *,
    clusters: Sequence[str] | None = None,
    family_size: int = 1,
    level: float = 0.95,
    target_power: float = 0.8,
    target_improvement: float = 0.1,
    n_simulations: int = 2000,
    max_notebooks: int = 2000,
    rng: np.random.Generator | None = None,
) -> PowerResult:
    """Minimal detectable improvement of the adjusted, case-aware verdict now, and the
    cases (and notebooks) it needs for a target.

    Parameters
    ----------
    differences : array_like, shape (notebook, ...)
        Observed paired differences (reference error minus candidate error),
        NaN where unusable; each trailing column is analysed on its own.
    clusters : sequence of str, optional
        The case of each notebook; default: every notebook is its own case.
    family_size : int
        Tests the verdict is adjusted over (Holm or Bonferroni): each is
        tested at (1 - level) / family_size.
    level : float
        1 - the family-wise level of the verdict.
    target_power : float
        Probability of detection asked for, in (0, 1).
    target_improvement : float
        True improvement (MAE points) to plan the number of cases for.
    n_simulations : int
        Simulated experiments per sample size.
    max_notebooks : int
        Largest sample size searched (in notebooks, at the observed notebooks per case).
    rng : numpy.random.Generator, optional
    """
    (differences, family_size, level, target_power, target_improvement, n_simulations,
     max_notebooks, rng) = _power_iv(differences, clusters, family_size, level, target_power,
                                     target_improvement, n_simulations, max_notebooks, rng)
    trailing = differences.shape[1:]
    columns = differences.reshape(differences.shape[0], -1)
    sums, counts = case_sums(columns, clusters)
    n_used = (~np.isnan(columns)).sum(axis=0)
    n_cases = (counts > 0).sum(axis=0)
    deviation = np.full(columns.shape[1], np.nan)
    detectable = np.full(columns.shape[1], np.nan)
    at_target = np.full(columns.shape[1], np.nan)
    cases_needed = np.full(columns.shape[1], np.nan)
    notebooks_needed = np.full(columns.shape[1], np.nan)
    alpha = (1 - level) / family_size
    for j in range(columns.shape[1]):
        observed = columns[~np.isnan(columns[:, j]), j]
        if observed.size < 2:
            continue
        deviation[j] = observed.std(ddof=1)
        present = counts[:, j] > 0
        if present.sum() < 2 or np.ptp(observed) == 0:  # no spread to resample
            continue
        s, n = sums[present, j], counts[present, j]
        per_case = n.mean()
        thresholds, cases_needed[j] = _simulate(
            s - n * s.sum() / n.sum(), n, target_improvement, target_power, n_simulations,
            alpha, max(2, int(max_notebooks / per_case)), rng)
        detectable[j] = np.quantile(thresholds, target_power, method="inverted_cdf")
        at_target[j] = np.mean(thresholds < target_improvement)
        notebooks_needed[j] = np.ceil(cases_needed[j] * per_case)
    return PowerResult(
        n_notebooks=n_used.reshape(trailing),
        n_cases=n_cases.reshape(trailing),
        standard_deviation=deviation.reshape(trailing),
        minimal_detectable_improvement=detectable.reshape(trailing),
        power_at_target=at_target.reshape(trailing),
        notebooks_needed=notebooks_needed.reshape(trailing),
        cases_needed=cases_needed.reshape(trailing),
        target_power=target_power,
        target_improvement=target_improvement,
        level=level,
        family_size=family_size,
    )
