"""Agreement between judge and human scores beyond the MAE.

Categorical metrics (exact agreement, kappa, alpha, the confusion matrix)
need a category on the human side: a fractional consensus (the mean 2.5 of
raters who said 2 and 3) is rounded half up, to 3.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ._checks import (
    FAILURE_POLICIES,
    NA_POLICIES,
    check_choice,
    check_human,
    check_judge,
    check_names,
)
from .tables import impute_failures, paired_errors

__all__ = [
    "CATEGORIES",
    "AgreementResult",
    "agreement",
    "confusion_matrix",
    "krippendorff_alpha",
    "quadratic_kappa",
]

CATEGORIES = ("N/A", "1", "2", "3")  # the encoded scores 0, 1, 2, 3, in this order


def _check_categories(scores: np.ndarray, name: str) -> np.ndarray:
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {scores.shape}")
    bad = scores[~np.isin(scores, (0.0, 1.0, 2.0, 3.0))]
    if bad.size:
        raise ValueError(f"{name} scores must be 0 (N/A), 1, 2 or 3; got {bad[0]:g}")
    return scores.astype(int)


def confusion_matrix(human: np.ndarray, judge: np.ndarray) -> np.ndarray:
    """Counts of (human category, judge category) over paired 1-D scores 0-3.

    Rows are the human category and columns the judge's, both in
    :data:`CATEGORIES` order (N/A, 1, 2, 3).
    """
    human = _check_categories(human, "human")
    judge = _check_categories(judge, "judge")
    if human.shape != judge.shape:
        raise ValueError(f"human and judge differ in length: {human.size} != {judge.size}")
    return np.bincount(4 * human + judge, minlength=16).reshape(4, 4)


def quadratic_kappa(human: np.ndarray, judge: np.ndarray) -> float:
    """Cohen's kappa with quadratic weights over the categories 0 (N/A), 1, 2, 3.

    Equal to ``sklearn.metrics.cohen_kappa_score(human, judge,
    weights="quadratic", labels=[0, 1, 2, 3])``; NaN when the expected
    disagreement is 0 (both sides constant on the same category).
    """
    observed = confusion_matrix(human, judge).astype(float)
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / max(observed.sum(), 1)
    categories = np.arange(4)
    weights = (categories[:, np.newaxis] - categories[np.newaxis, :]) ** 2
    disagreement = np.sum(weights * expected)
    if disagreement == 0:
        return np.nan
    return float(1 - np.sum(weights * observed) / disagreement)


def krippendorff_alpha(reliability_data: np.ndarray) -> float:
    """Krippendorff's alpha for ordinal data.

    Parameters
    ----------
    reliability_data : array_like, shape (coder, unit)
        Values (any ordered numbers), NaN where a coder did not code a unit.

    Returns
    -------
    float
        ``1 - D_o / D_e`` from the coincidence matrix with the ordinal
        distance (Krippendorff 2011, "Computing Krippendorff's
        Alpha-Reliability", sections C and E). NaN when fewer than two
        pairable values exist or every value is the same.
    """
    data = np.asarray(reliability_data, dtype=float)
    if data.ndim != 2:
        raise ValueError(f"reliability_data must be 2-D (coder, unit); got shape {data.shape}")
    values, codes = np.unique(data[~np.isnan(data)], return_inverse=True)
    coded = ~np.isnan(data)
    units = np.nonzero(coded)[1]
    counts = np.zeros((data.shape[1], values.size))
    np.add.at(counts, (units, codes), 1)
    # Only units coded at least twice are pairable (eq. for the coincidence matrix).
    per_unit = counts.sum(axis=1)
    counts, per_unit = counts[per_unit >= 2], per_unit[per_unit >= 2]
    if counts.size == 0:
        return np.nan
    weighted = counts / (per_unit - 1)[:, np.newaxis]
    coincidence = weighted.T @ counts - np.diag(weighted.sum(axis=0))
    marginals = coincidence.sum(axis=1)
    total = marginals.sum()
    # Ordinal metric: (sum of marginals from c to k, minus half the two ends) squared.
    cumulative = np.concatenate(([0.0], np.cumsum(marginals)))
    low = np.minimum.outer(np.arange(values.size), np.arange(values.size))
    high = np.maximum.outer(np.arange(values.size), np.arange(values.size))
    between = cumulative[high + 1] - cumulative[low]
    distance = (between - (marginals[:, np.newaxis] + marginals[np.newaxis, :]) / 2) ** 2
    expected = np.sum(np.outer(marginals, marginals) * distance)
    if expected == 0:
        return np.nan
    return float(1 - (total - 1) * np.sum(coincidence * distance) / expected)


def _spearman(human: np.ndarray, judge: np.ndarray) -> float:
    # Constant input has no ranks to correlate; say NaN rather than warn.
    if human.size < 2 or np.ptp(human) == 0 or np.ptp(judge) == 0:
        return np.nan
    return float(stats.spearmanr(human, judge).statistic)


@dataclass(frozen=True)
class AgreementResult:
    """Point measures of agreement, each of shape (variant, dimension).

    ``n_notebooks`` and ``n_pairs`` count what the MAE, bias, exact
    agreement, kappa, Spearman and alpha rest on (after the N/A policy; the
    MAE and bias also count failures under ``failure_policy="worst"``);
    ``na_agreement``, ``na_precision`` (of the judge's N/A answers, the share
    the humans also called N/A), ``na_recall`` (of the humans' N/A, the share
    the judge called N/A) and ``confusion`` use every answered pair, N/A
    included, whatever the N/A policy: they show what ``na_policy="exclude"``
    hides from the MAE.
    ``confusion`` has shape (variant, dimension, 4, 5): human category
    (N/A, 1, 2, 3) by judge category plus a last column of failed judgments.
    """

    variants: tuple[str, ...]
    dimensions: tuple[str, ...]
    n_notebooks: np.ndarray
    n_pairs: np.ndarray
    n_failed: np.ndarray
    mae: np.ndarray
    bias: np.ndarray
    exact_agreement: np.ndarray
    kappa_quadratic: np.ndarray
    spearman: np.ndarray
    alpha_ordinal: np.ndarray
    na_agreement: np.ndarray
    na_precision: np.ndarray
    na_recall: np.ndarray
    confusion: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        """One row per variant and dimension."""
        v, d = np.meshgrid(np.arange(len(self.variants)), np.arange(len(self.dimensions)),
                           indexing="ij")
        columns = ["n_notebooks", "n_pairs", "n_failed", "mae", "bias", "exact_agreement",
                   "kappa_quadratic", "spearman", "alpha_ordinal", "na_agreement",
                   "na_precision", "na_recall"]
        frame = pd.DataFrame({
            "variant": np.asarray(self.variants)[v.ravel()],
            "dimension": np.asarray(self.dimensions)[d.ravel()],
        })
        for column in columns:
            frame[column] = getattr(self, column).ravel()
        return frame

    def confusion_frame(self) -> pd.DataFrame:
        """The confusion matrices in long form: variant, dimension, human, judge, count."""
        judge_columns = (*CATEGORIES, "failed")
        rows = [
            (variant, dimension, human, judge, int(self.confusion[v, d, h, j]))
            for v, variant in enumerate(self.variants)
            for d, dimension in enumerate(self.dimensions)
            for h, human in enumerate(CATEGORIES)
            for j, judge in enumerate(judge_columns)
        ]
        return pd.DataFrame(rows, columns=["variant", "dimension", "human", "judge", "count"])


def agreement(
    human: np.ndarray,
    judge: np.ndarray,
    *,
    variants: Sequence[str] | None = None,
    dimensions: Sequence[str] | None = None,
    na_policy: str = "worst",
    failed: np.ndarray | None = None,
    failure_policy: str = "worst",
) -> AgreementResult:
    """Agreement of each variant's judge with the human consensus, per dimension.

    Parameters
    ----------
    human : array_like, shape (notebook, dimension)
        Consensus scores, 0 (N/A) to 3, NaN where unlabelled.
    judge : array_like, shape (variant, [repeat,] notebook, dimension)
        0 (N/A), 1, 2, 3, NaN where no score. Repeats are pooled as pairs;
        the MAE and bias average a notebook's repeats first, as the bootstrap does.
    variants, dimensions : sequence of str, optional
        Axis labels.
    na_policy : {"worst", "zero", "exclude"}
        How a pair with N/A on one side is scored (:func:`~nbjudge.stats.tables.paired_errors`).
    failed : array_like of bool, optional
        Same shape as ``judge``: failed judgments, counted in ``n_failed``
        and in the confusion matrix's last column.
    failure_policy : {"worst", "exclude"}
        Whether a failed judgment enters the MAE and bias with the largest
        possible error (:func:`~nbjudge.stats.tables.impute_failures`) or is
        left out of them. The categorical metrics use answered pairs only.
    """
    check_choice(na_policy, "na_policy", NA_POLICIES)
    check_choice(failure_policy, "failure_policy", FAILURE_POLICIES)
    human = check_human(human)
    judge = check_judge(judge, human)
    variants = check_names(variants, judge.shape[0], "variant")
    dimensions = check_names(dimensions, human.shape[1], "dimension")
    if failed is None:
        failed = np.zeros(judge.shape, dtype=bool)
    failed = np.asarray(failed, dtype=bool).reshape(judge.shape)
    if np.any(failed & ~np.isnan(judge)):
        raise ValueError("a failed judgment carries no score: judge must be NaN where failed")

    scored = (impute_failures(human, judge, failed, na_policy=na_policy)
              if failure_policy == "worst" else judge)
    absolute, signed = paired_errors(human, scored, na_policy=na_policy)
    category = np.floor(human + 0.5)
    shape = (len(variants), len(dimensions))
    result: dict[str, np.ndarray] = {
        name: np.full(shape, np.nan)
        for name in ("exact_agreement", "kappa_quadratic", "spearman", "alpha_ordinal",
                     "na_agreement", "na_precision", "na_recall")
    }
    n_pairs = np.zeros(shape, dtype=int)
    confusion = np.zeros((*shape, 4, 5), dtype=int)
    for v in range(shape[0]):
        for d in range(shape[1]):
            scores = judge[v, :, :, d]
            paired = ~np.isnan(scores) & ~np.isnan(human[:, d])
            h_all = np.broadcast_to(category[:, d], scores.shape)[paired]
            j_all = scores[paired]
            confusion[v, d, :, :4] = confusion_matrix(h_all, j_all)
            failed_rows = np.broadcast_to(category[:, d], scores.shape)[
                failed[v, :, :, d] & ~np.isnan(human[:, d])
            ]
            confusion[v, d, :, 4] = np.bincount(failed_rows.astype(int), minlength=4)
            if h_all.size:
                result["na_agreement"][v, d] = np.mean((h_all == 0) == (j_all == 0))
            if np.any(j_all == 0):
                result["na_precision"][v, d] = np.mean(h_all[j_all == 0] == 0)
            if np.any(h_all == 0):
                result["na_recall"][v, d] = np.mean(j_all[h_all == 0] == 0)
            keep = np.ones(h_all.shape, dtype=bool)
            if na_policy == "exclude":
                keep = (h_all != 0) & (j_all != 0)
            h, j = h_all[keep], j_all[keep]
            h_raw = np.broadcast_to(human[:, d], scores.shape)[paired][keep]
            n_pairs[v, d] = h.size
            if h.size == 0:
                continue
            result["exact_agreement"][v, d] = np.mean(h == j)
            result["kappa_quadratic"][v, d] = quadratic_kappa(h, j)
            result["spearman"][v, d] = _spearman(h_raw, j)
            result["alpha_ordinal"][v, d] = krippendorff_alpha(np.stack([h, j]))

    count = (~np.isnan(absolute)).sum(axis=1)
    mae = np.where(count > 0, np.nansum(absolute, axis=1) / np.maximum(count, 1), np.nan)
    bias = np.where(count > 0, np.nansum(signed, axis=1) / np.maximum(count, 1), np.nan)
    return AgreementResult(
        variants=variants, dimensions=dimensions, n_notebooks=count, n_pairs=n_pairs,
        n_failed=failed.sum(axis=(1, 2)), mae=mae, bias=bias, confusion=confusion, **result,
    )
