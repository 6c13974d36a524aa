"""What the alignment audit files say: cost per fold, and guidelines that recur across folds.

A guideline distilled in one fold is "similar" to one from another fold when
the token Jaccard similarity of the two texts is at least 0.5: the number of
distinct lowercase word tokens (two or more letters or digits) they share,
divided by the number in either. Tokens come from scikit-learn's
``CountVectorizer`` and the distance from ``pairwise_distances(metric=
"jaccard")``. Guidelines are grouped greedily in fold order: each joins the
first group whose first guideline is similar enough, else starts a group.
A guideline that most folds rediscover is one the human feedback supports
robustly; one found in a single fold may be noise of that fold's labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nbjudge.schemas import AlignmentAudit

__all__ = [
    "SIMILARITY_THRESHOLD",
    "GuidelineGroup",
    "alignment_costs",
    "group_guidelines",
    "token_jaccard",
]

SIMILARITY_THRESHOLD = 0.5


@dataclass(frozen=True)
class GuidelineGroup:
    """Similar guidelines of one variant and dimension across folds.

    ``text`` is the first member's (lowest repeat and fold, then file
    order); ``folds`` the distinct (repeat, fold) pairs with a member,
    ``n_folds`` how many such pairs the variant has for that dimension,
    ``source_ids`` the union of the members' labelled examples.
    """

    variant: str
    dimension: str
    text: str
    folds: tuple[tuple[int, int | None], ...]
    n_folds: int
    n_members: int
    source_ids: tuple[str, ...]


def token_jaccard(texts: Sequence[str]) -> np.ndarray:
    """Pairwise token Jaccard similarity of ``texts`` (1 on the diagonal)."""
    # Imported here: scikit-learn takes seconds to load, and only audits need it.
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.metrics import pairwise_distances

    texts = list(texts)
    if not texts:
        return np.zeros((0, 0))
    vectorizer = CountVectorizer(binary=True, lowercase=True)
    try:
        tokens = vectorizer.fit_transform(texts).toarray().astype(bool)
    except ValueError:  # no text has a single token
        return np.eye(len(texts))
    empty = ~tokens.any(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        similarity: np.ndarray = 1.0 - pairwise_distances(tokens, metric="jaccard")
    similarity[empty, :] = 0.0
    similarity[:, empty] = 0.0
    np.fill_diagonal(similarity, 1.0)
    return similarity


def group_guidelines(
    runs: Sequence[AlignmentAudit], *, threshold: float = SIMILARITY_THRESHOLD
) -> list[GuidelineGroup]:
    """Group each (variant, dimension)'s guidelines across folds by token Jaccard similarity.

    Returns the groups ordered by variant and dimension, then by the number
    of folds that produced them (most first), then by first appearance.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must lie in (0, 1]; got {threshold!r}")
    by_key: dict[tuple[str, str], list[AlignmentAudit]] = {}
    for run in runs:
        by_key.setdefault((run.variant, run.dimension), []).append(run)
    groups: list[GuidelineGroup] = []
    for (variant, dimension), members in sorted(by_key.items()):
        members.sort(key=lambda r: (r.repeat, r.fold))
        items = [((run.repeat, run.fold), g) for run in members for g in run.guidelines]
        similarity = token_jaccard([g.text for _, g in items])
        leaders: list[int] = []
        assigned: list[list[int]] = []
        for i in range(len(items)):
            for leader, group in zip(leaders, assigned, strict=True):
                if similarity[i, leader] >= threshold:
                    group.append(i)
                    break
            else:
                leaders.append(i)
                assigned.append([i])
        n_folds = len({(run.repeat, run.fold) for run in members})
        found = []
        for order, group in enumerate(assigned):
            folds = tuple(sorted({items[i][0] for i in group}))
            sources = tuple(sorted({s for i in group for s in items[i][1].source_ids}))
            found.append((-len(folds), order, GuidelineGroup(
                variant=variant, dimension=dimension, text=items[group[0]][1].text,
                folds=folds, n_folds=n_folds, n_members=len(group), source_ids=sources)))
        groups.extend(group for *_, group in sorted(found, key=lambda f: f[:2]))
    return groups


def alignment_costs(runs: Sequence[AlignmentAudit]) -> pd.DataFrame:
    """One row per alignment: variant, repeat, fold, dimension, seconds, tokens, memory sizes."""
    columns = ["variant", "repeat", "fold", "dimension", "seconds", "tokens", "n_guidelines",
               "n_episodic", "n_retrievals"]
    rows = [(run.variant, run.repeat, run.fold, run.dimension,
             np.nan if run.seconds is None else run.seconds,
             np.nan if run.total_tokens is None else run.total_tokens,
             len(run.guidelines), len(run.episodic_ids),
             sum(len(ids) for ids in run.retrievals.values()))
            for run in runs]
    return pd.DataFrame(rows, columns=columns)
