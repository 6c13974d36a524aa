"""The human ceiling: how well experts agree with each other.

Where two or more raters graded a notebook, their disagreement bounds what
any judge can reach; a dimension on which humans barely agree cannot be
aligned (the data-exploration regression of the original study).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ._checks import NA_POLICIES, check_choice, check_names
from .agreement import krippendorff_alpha
from .tables import score_distance

__all__ = ["CeilingResult", "gap_closed", "human_ceiling"]


@dataclass(frozen=True)
class CeilingResult:
    """Human-human agreement per dimension.

    Attributes
    ----------
    dimensions : tuple of str
    human_mae : ndarray
        Mean over multi-rated notebooks of the mean absolute difference
        between every two of its raters.
    human_alpha : ndarray
        Ordinal Krippendorff's alpha among the raters.
    n_notebooks : ndarray of int
        Notebooks graded by two or more raters, which both figures rest on.
    status : tuple of str
        ``"ok"``, ``"low_agreement"`` (alpha below ``min_alpha``: the
        dimension is too ambiguous to align) or ``"insufficient"`` (alpha
        undefined: fewer than two ratings of a notebook, or no variation).
    min_alpha : float
    """

    dimensions: tuple[str, ...]
    human_mae: np.ndarray
    human_alpha: np.ndarray
    n_notebooks: np.ndarray
    status: tuple[str, ...]
    min_alpha: float

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({
            "dimension": self.dimensions,
            "n_notebooks": self.n_notebooks,
            "human_mae": self.human_mae,
            "human_alpha": self.human_alpha,
            "min_alpha": self.min_alpha,
            "status": self.status,
        })


def human_ceiling(
    ratings: np.ndarray,
    *,
    dimensions: Sequence[str] | None = None,
    na_policy: str = "worst",
    min_alpha: float = 0.667,
) -> CeilingResult:
    """Human-human MAE and alpha per dimension, with a low-agreement flag.

    Parameters
    ----------
    ratings : array_like, shape (rater, notebook, dimension)
        0 (N/A) to 3, NaN where a rater did not grade.
    dimensions : sequence of str, optional
    na_policy : {"worst", "zero", "exclude"}
        How two raters' N/A and score are compared, as a judge and the humans
        are (:func:`~nbjudge.stats.tables.score_distance`); with ``"exclude"``
        N/A ratings are left out.
    min_alpha : float
        Alpha below which a dimension is flagged; 0.667 is Krippendorff's
        lowest limit for tentative conclusions.
    """
    ratings = np.asarray(ratings, dtype=float)
    if ratings.ndim != 3:
        raise ValueError(f"ratings must be 3-D (rater, notebook, dimension); got {ratings.shape}")
    if ratings.size == 0:
        raise ValueError(f"ratings is empty (shape {ratings.shape})")
    finite = ratings[~np.isnan(ratings)]
    if np.any((finite < 0) | (finite > 3)):
        raise ValueError("ratings must lie in 0-3 (N/A encoded as 0)")
    check_choice(na_policy, "na_policy", NA_POLICIES)
    if not -1 <= min_alpha <= 1:
        raise ValueError(f"min_alpha must lie in [-1, 1]; got {min_alpha}")
    dimensions = check_names(dimensions, ratings.shape[2], "dimension")
    if na_policy == "exclude":
        ratings = np.where(ratings == 0, np.nan, ratings)

    rated = ~np.isnan(ratings)
    multi = rated.sum(axis=0) >= 2  # (notebook, dimension)
    # Mean |a - b| over the rater pairs of each notebook: sum over ordered
    # pairs of rated cells, divided by the number of ordered pairs.
    values = np.nan_to_num(ratings)
    pair_sum = score_distance(values[:, np.newaxis], values[np.newaxis, :],
                              na_policy=na_policy) * (rated[:, np.newaxis] & rated[np.newaxis, :])
    k = rated.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_notebook = np.where(multi, pair_sum.sum(axis=(0, 1)) / (k * (k - 1)), np.nan)
    n_notebooks = multi.sum(axis=0)
    human_mae = np.full(len(dimensions), np.nan)
    alpha = np.full(len(dimensions), np.nan)
    status = []
    for d in range(len(dimensions)):
        if n_notebooks[d]:
            human_mae[d] = per_notebook[multi[:, d], d].mean()
            alpha[d] = krippendorff_alpha(ratings[:, multi[:, d], d])
        if np.isnan(alpha[d]):
            status.append("insufficient")
        else:
            status.append("low_agreement" if alpha[d] < min_alpha else "ok")
    return CeilingResult(dimensions, human_mae, alpha, n_notebooks, tuple(status),
                         float(min_alpha))


def gap_closed(reference_mae: ArrayLike, candidate_mae: ArrayLike,
               human_mae: ArrayLike) -> np.ndarray:
    """Share of the achievable gap that the candidate closed.

    ``(reference - candidate) / (reference - human)``: 1 means the candidate
    agrees with the consensus as well as two experts agree with each other.
    NaN where the reference is already at or below the human MAE (no gap).
    The human MAE compares single raters and the judge MAE a consensus of
    raters, which is less noisy: the share can exceed 1.
    """
    reference = np.asarray(reference_mae, dtype=float)
    candidate = np.asarray(candidate_mae, dtype=float)
    human = np.asarray(human_mae, dtype=float)
    gap = reference - human
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(gap > 0, (reference - candidate) / gap, np.nan)
