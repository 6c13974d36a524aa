"""Label and judgment records as aligned arrays (notebook x dimension x variant).

Scores are encoded as numbers: N/A is 0 (the original study's convention),
1-3 as themselves, NaN where no score exists. A failed judgment stays
visible in :attr:`ScoreTable.failed`; nothing is dropped without a count.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from nbjudge.schemas import DIMENSIONS, Judgment, Label

from ._checks import (
    NA_POLICIES,
    NA_RULES,
    check_choice,
    check_comparisons,
    check_human,
    check_judge,
)

__all__ = [
    "ScoreTable",
    "build_table",
    "comparison_differences",
    "consensus",
    "impute_failures",
    "judgment_counts",
    "label_counts",
    "paired_errors",
    "round_half_up",
    "score_distance",
]


@dataclass(frozen=True)
class ScoreTable:
    """Every label and judgment of one experiment on common axes.

    Attributes
    ----------
    notebooks, dimensions, raters, variants : tuple of str
        Axis labels; notebooks and raters sorted, dimensions in rubric order.
    ratings : ndarray, shape (rater, notebook, dimension)
        Human scores, NaN where that rater did not grade.
    judge : ndarray, shape (variant, repeat, notebook, dimension)
        Judge scores, NaN where the judgment failed or does not exist.
    failed, judged : ndarray of bool, same shape as ``judge``
        A failed record exists; any record (ok or failed) exists.
    repeats : ndarray of bool, shape (variant, repeat)
        Which repeat slots a variant has (variants may have fewer repeats
        than others; their padding slots are not missing judgments).
    label_sources : tuple of str
        The ``source`` values of the labels ("human", "simulated").
    cases : tuple of str
        The case of each notebook (its own id when the index does not say):
        the bootstrap resamples cases when a case holds several notebooks.
    """

    notebooks: tuple[str, ...]
    dimensions: tuple[str, ...]
    raters: tuple[str, ...]
    variants: tuple[str, ...]
    ratings: np.ndarray
    judge: np.ndarray
    failed: np.ndarray
    judged: np.ndarray
    repeats: np.ndarray
    label_sources: tuple[str, ...]
    cases: tuple[str, ...] = ()


def _encode(score: int | str) -> float:
    return 0.0 if score == "N/A" else float(score)


def _check_same_notebooks(judgments: Sequence[Judgment]) -> None:
    """Every (variant, repeat) must cover the same notebooks, failures included."""
    covered: dict[tuple[str, int], set[str]] = {}
    for j in judgments:
        covered.setdefault((j.variant, j.repeat), set()).add(j.notebook_id)
    (first_key, first), *others = sorted(covered.items())
    for key, notebooks in others:
        if notebooks != first:
            differ = sorted(notebooks ^ first)
            raise ValueError(
                f"mismatched notebooks across variants: variant {key[0]!r} repeat {key[1]} "
                f"judged {len(notebooks)} notebooks, variant {first_key[0]!r} repeat "
                f"{first_key[1]} judged {len(first)}; they differ in {differ[:5]} "
                "(every variant must judge the same notebooks; a failure is a record "
                "with status 'failed', not a missing line)"
            )


def build_table(labels: Iterable[Label], judgments: Iterable[Judgment],
                cases: Mapping[str, str] | None = None) -> ScoreTable:
    """Align label and judgment records on (notebook, dimension, rater/variant) axes.

    ``cases`` maps notebook ids to case ids (from the notebook index); a
    notebook it does not name is a case of its own.

    Raises ``ValueError`` on no labels, a rater or judge scoring the same
    notebook and dimension twice, or variants that judged different notebooks.
    """
    labels = list(labels)
    judgments = list(judgments)
    if not labels:
        raise ValueError("no labels: the statistics need at least one human label")
    if judgments:
        _check_same_notebooks(judgments)

    records: list[Label | Judgment] = [*labels, *judgments]
    notebooks = tuple(sorted({r.notebook_id for r in records}))
    present = {r.dimension for r in records}
    dimensions = tuple(d for d in DIMENSIONS if d in present)
    raters = tuple(sorted({label.rater_id for label in labels}))
    variants = tuple(sorted({j.variant for j in judgments}))
    repeat_ids = {v: sorted({j.repeat for j in judgments if j.variant == v}) for v in variants}
    n_repeats = max((len(ids) for ids in repeat_ids.values()), default=0)

    notebook_at = {name: i for i, name in enumerate(notebooks)}
    dimension_at = {name: i for i, name in enumerate(dimensions)}
    rater_at = {name: i for i, name in enumerate(raters)}

    ratings = np.full((len(raters), len(notebooks), len(dimensions)), np.nan)
    for label in labels:
        cell: tuple[int, ...] = (rater_at[label.rater_id], notebook_at[label.notebook_id],
                dimension_at[label.dimension])
        if not np.isnan(ratings[cell]):
            raise ValueError(
                f"duplicate label: rater {label.rater_id!r} graded notebook "
                f"{label.notebook_id!r} on {label.dimension!r} twice"
            )
        ratings[cell] = _encode(label.score)

    shape = (len(variants), n_repeats, len(notebooks), len(dimensions))
    judge = np.full(shape, np.nan)
    failed = np.zeros(shape, dtype=bool)
    judged = np.zeros(shape, dtype=bool)
    repeats = np.zeros(shape[:2], dtype=bool)
    for v, variant in enumerate(variants):
        repeats[v, : len(repeat_ids[variant])] = True
    repeat_at = {v: {r: i for i, r in enumerate(ids)} for v, ids in repeat_ids.items()}
    variant_at = {name: i for i, name in enumerate(variants)}
    for j in judgments:
        cell = (variant_at[j.variant], repeat_at[j.variant][j.repeat],
                notebook_at[j.notebook_id], dimension_at[j.dimension])
        if judged[cell]:
            raise ValueError(
                f"duplicate judgment: variant {j.variant!r} repeat {j.repeat} judged "
                f"notebook {j.notebook_id!r} on {j.dimension!r} twice"
            )
        judged[cell] = True
        if j.status == "failed":
            failed[cell] = True
        else:
            assert j.score is not None  # the schema gives every ok judgment a score
            judge[cell] = _encode(j.score)

    return ScoreTable(
        notebooks=notebooks, dimensions=dimensions, raters=raters, variants=variants,
        ratings=ratings, judge=judge, failed=failed, judged=judged, repeats=repeats,
        label_sources=tuple(sorted({label.source for label in labels})),
        cases=tuple((cases or {}).get(n, n) for n in notebooks),
    )


def round_half_up(value: float, *, lowest: int = 0) -> int:
    """The score nearest ``value`` on the 0 (N/A), 1, 2, 3 scale, half up (1.5 -> 2,
    2.5 -> 3; 0.33 -> 0, N/A), at least ``lowest``: the one rounding rule of a consensus
    turned back into a score (MemAlign's consensus grade, the controls)."""
    return min(3, max(lowest, math.floor(value + 0.5)))


def consensus(
    ratings: np.ndarray,
    how: str = "mean",
    *,
    raters: Sequence[str] | None = None,
    na_policy: str = "worst",
    na_rule: str = "majority",
) -> np.ndarray:
    """The human score a judge is compared with, per (notebook, dimension).

    Parameters
    ----------
    ratings : array_like, shape (rater, notebook, dimension)
        0 (N/A) to 3, NaN where a rater did not grade.
    how : str
        ``"mean"``, ``"median"`` or ``"rater:<rater_id>"`` (that rater alone;
        notebooks it did not grade have no consensus).
    raters : sequence of str, optional
        Rater ids along the first axis; needed for ``"rater:<id>"``.
    na_policy : {"worst", "zero", "exclude"}
        With ``na_rule="zero"`` and ``"exclude"``, N/A ratings do not enter
        the mean or median; a cell whose raters all said N/A stays N/A (0).
    na_rule : {"majority", "zero"}
        ``"majority"``: N/A when more than half of a cell's raters said N/A,
        otherwise the mean (or median) of the numeric scores alone, so that
        {N/A, 3} is 3 and {N/A, N/A, 3} is N/A. ``"zero"``: N/A enters the
        mean as 0 (the original study; {N/A, 3} gives 1.5), subject to
        ``na_policy``.

    Returns
    -------
    ndarray, shape (notebook, dimension); NaN where nobody graded.
    """
    ratings = np.asarray(ratings, dtype=float)
    if ratings.ndim != 3:
        raise ValueError(f"ratings must be 3-D (rater, notebook, dimension); got {ratings.shape}")
    check_choice(na_policy, "na_policy", NA_POLICIES)
    check_choice(na_rule, "na_rule", NA_RULES)
    if how.startswith("rater:"):
        rater = how.removeprefix("rater:")
        if raters is None or rater not in raters:
            raise ValueError(f"consensus {how!r}: no rater {rater!r} among {list(raters or [])}")
        alone: np.ndarray = ratings[list(raters).index(rater)].copy()
        return alone
    check_choice(how, "consensus", ("mean", "median", "rater:<rater_id>"))

    graded = ~np.isnan(ratings)
    n_graded = graded.sum(axis=0)
    n_na = (ratings == 0).sum(axis=0)
    if na_rule == "majority":
        mostly_na = 2 * n_na > n_graded
        ratings = np.where(ratings == 0, np.nan, ratings)
    else:
        mostly_na = (n_na == n_graded) & (n_graded > 0)
        if na_policy == "exclude":
            ratings = np.where(ratings == 0, np.nan, ratings)
    rated = ~np.isnan(ratings)
    result = np.full(ratings.shape[1:], np.nan)
    has = rated.any(axis=0)
    if how == "mean":
        result[has] = np.nansum(ratings, axis=0)[has] / rated.sum(axis=0)[has]
    else:
        result[has] = np.nanmedian(ratings[:, has], axis=0)
    result[mostly_na] = 0.0
    return result


def impute_failures(human: np.ndarray, judge: np.ndarray, failed: np.ndarray, *,
                    na_policy: str = "worst") -> np.ndarray:
    """Judge scores with each failed judgment replaced by the worst score it could have given.

    Intention to treat: a failure costs the largest error possible against
    that notebook's human score, so failing never beats answering. Under
    ``na_policy="worst"`` or ``"zero"`` the candidates are 0 (N/A), 1, 2, 3
    (either way the cost is ``max(h, 3 - h)``); under ``"exclude"`` 1, 2, 3
    (an N/A answer would drop the pair). Ties go to the lower score.
    Unlabelled cells stay NaN.

    Parameters
    ----------
    human : array_like, shape (notebook, dimension)
    judge : array_like, shape (variant, [repeat,] notebook, dimension)
    failed : array_like of bool, same shape as ``judge``
    """
    check_choice(na_policy, "na_policy", NA_POLICIES)
    human = check_human(human)
    judge = check_judge(judge, human)
    failed = np.asarray(failed, dtype=bool).reshape(judge.shape)
    if np.any(failed & ~np.isnan(judge)):
        raise ValueError("a failed judgment carries no score: judge must be NaN where failed")
    low = 1.0 if na_policy == "exclude" else 0.0
    worst = np.where(human - low >= 3 - human, low, 3.0)
    imputed: np.ndarray = np.where(failed & ~np.isnan(human), worst, judge)
    return imputed


def score_distance(human: ArrayLike, judge: ArrayLike, *,
                   na_policy: str = "worst") -> np.ndarray:
    """Absolute error of each pair (broadcast), N/A encoded as 0; NaN stays NaN.

    ``"zero"``: ``|judge - human|``, so N/A against a human 1 costs 1 where a
    wrong 3 costs 2, and a judge that answers N/A when unsure looks better.
    ``"worst"``: N/A on exactly one side costs ``max(v, 3 - v)`` for the
    other side's score ``v``, the largest error any answer can make against
    it (what a failed judgment costs), so evading never pays. ``"exclude"``:
    ``|judge - human|``; the caller drops pairs with an N/A.
    """
    check_choice(na_policy, "na_policy", NA_POLICIES)
    h = np.asarray(human, dtype=float)
    j = np.asarray(judge, dtype=float)
    distance: np.ndarray = np.abs(j - h)
    if na_policy == "worst":
        other = j + h  # the one score present when the other side is N/A (0)
        mismatch = (j == 0) != (h == 0)
        distance = np.where(mismatch, np.maximum(other, 3 - other), distance)
    return distance


def paired_errors(
    human: np.ndarray, judge: np.ndarray, *, na_policy: str = "worst"
) -> tuple[np.ndarray, np.ndarray]:
    """Per-notebook absolute and signed (judge minus human) errors.

    Parameters
    ----------
    human : array_like, shape (notebook, dimension)
    judge : array_like, shape (variant, [repeat,] notebook, dimension)
    na_policy : {"worst", "zero", "exclude"}
        How a pair with N/A on one side is scored (:func:`score_distance`);
        ``"exclude"`` drops pairs where either side is N/A. The signed error
        is ``judge - human`` with N/A as 0 under every policy.

    Returns
    -------
    absolute, signed : ndarray, shape (variant, notebook, dimension)
        Averaged over a notebook's usable repeats, so that each notebook
        weighs the same; NaN where a notebook has no usable pair.
    """
    check_choice(na_policy, "na_policy", NA_POLICIES)
    human = check_human(human)
    judge = check_judge(judge, human)
    usable = ~np.isnan(judge) & ~np.isnan(human)
    if na_policy == "exclude":
        usable &= (judge != 0) & (human != 0)
    signed = np.where(usable, judge - human, 0.0)
    absolute = np.where(usable, score_distance(human, judge, na_policy=na_policy), 0.0)
    count = usable.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        absolute = np.where(count > 0, absolute.sum(axis=1) / count, np.nan)
        signed = np.where(count > 0, signed.sum(axis=1) / count, np.nan)
    return absolute, signed


def comparison_differences(
    absolute: np.ndarray,
    variants: Sequence[str],
    comparisons: Sequence[tuple[str, str]] | None = None,
) -> np.ndarray:
    """Paired per-notebook improvements, reference error minus candidate error.

    Parameters
    ----------
    absolute : ndarray, shape (variant, notebook, dimension)
        From :func:`paired_errors`.
    variants : sequence of str
        Names along the first axis.
    comparisons : sequence of (reference, candidate), optional
        Default: the first variant against every other one.

    Returns
    -------
    ndarray, shape (notebook, comparison, dimension); NaN unless both
    variants have a usable pair for that notebook. Positive = candidate better.
    """
    variants = tuple(variants)
    comparisons = check_comparisons(comparisons, variants)
    at = {name: i for i, name in enumerate(variants)}
    reference = absolute[[at[r] for r, _ in comparisons]]
    candidate = absolute[[at[c] for _, c in comparisons]]
    return np.moveaxis(reference - candidate, 0, 1)


def label_counts(table: ScoreTable) -> pd.DataFrame:
    """Per dimension: notebooks graded, labels, N/A labels, notebooks with two or more raters."""
    rated = ~np.isnan(table.ratings)
    raters_per_cell = rated.sum(axis=0)
    return pd.DataFrame({
        "dimension": table.dimensions,
        "n_notebooks": (raters_per_cell > 0).sum(axis=0),
        "n_labels": raters_per_cell.sum(axis=0),
        "n_na": (table.ratings == 0).sum(axis=(0, 1)),
        "n_multi_rated": (raters_per_cell >= 2).sum(axis=0),
    })


def judgment_counts(table: ScoreTable) -> pd.DataFrame:
    """Per variant and dimension: repeats, ok, failed and missing judgments.

    ``n_missing`` counts (repeat, notebook) cells of a judged notebook with
    no record at all; ``n_unlabelled`` counts ok judgments that no human
    label can be compared with.
    """
    if not table.variants:
        columns = ["variant", "dimension", "n_repeats", "n_ok", "n_failed", "n_missing",
                   "n_unlabelled"]
        return pd.DataFrame(columns=columns)
    judged_notebook = np.asarray(table.judged.any(axis=(0, 1, 3)))
    slot = table.repeats[:, :, np.newaxis, np.newaxis] & judged_notebook[:, np.newaxis]
    ok = table.judged & ~table.failed
    unlabelled = ok & np.all(np.isnan(table.ratings), axis=0)
    rows = []
    for v, variant in enumerate(table.variants):
        for d, dimension in enumerate(table.dimensions):
            rows.append({
                "variant": variant,
                "dimension": dimension,
                "n_repeats": int(table.repeats[v].sum()),
                "n_ok": int(ok[v, :, :, d].sum()),
                "n_failed": int(table.failed[v, :, :, d].sum()),
                "n_missing": int((slot[v, :, :, 0] & ~table.judged[v, :, :, d]).sum()),
                "n_unlabelled": int(unlabelled[v, :, :, d].sum()),
            })
    return pd.DataFrame(rows)
