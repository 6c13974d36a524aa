"""No-skill graders: the most common human score, and a draw from the human scores.

Scores are numbers here, as in :mod:`nbjudge.stats`: N/A is 0, then 1, 2,
3. The human score of a notebook is its consensus (the mean or median of
its raters, so 2.5 is possible); to count how often a score occurs, a
consensus is rounded to a score half up (2.5 counts as 3), as the agreement
statistics round it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from nbjudge.schemas import Score
from nbjudge.stats.tables import round_half_up

__all__ = [
    "SCORE_KEYS",
    "decode",
    "draw_prior",
    "encode",
    "majority_score",
    "prior_distribution",
    "round_score",
]

SCORE_KEYS = ("N/A", "1", "2", "3")  # as PriorDistribution and CalibrationMap spell them


def encode(score: Score | str) -> float:
    """``"N/A"`` -> 0.0, ``2`` -> 2.0."""
    return 0.0 if score == "N/A" else float(score)


def decode(value: float) -> Score:
    """0 -> ``"N/A"``, 2.0 -> ``2`` (``value`` must already be a score)."""
    if value == 0:
        return "N/A"
    if value in (1, 2, 3):
        return int(value)  # type: ignore[return-value]  # 1, 2 or 3: mypy cannot narrow an int
    raise ValueError(f"not a score: {value!r} (scores are 0 for N/A, 1, 2, 3)")


def round_score(value: float, *, lowest: int = 0) -> float:
    """The nearest score to ``value``, half up (2.5 -> 3), within ``lowest`` .. 3."""
    return float(round_half_up(value, lowest=lowest))


def _usable(values: Iterable[float]) -> list[float]:
    return [float(v) for v in values if not np.isnan(v)]


def majority_score(consensus: Iterable[float]) -> Score | None:
    """The most common human score among ``consensus`` (0 = N/A), or None when empty.

    Tie rule: among equally common scores, the one with the smaller mean
    absolute error against these consensus values (N/A counted as 0); if
    still tied, the lower score (N/A lowest). {1, 1, 3, 3} gives 1;
    {1, 1, 2, 2, 3} gives 2.
    """
    values = _usable(consensus)
    if not values:
        return None
    counts = Counter(round_score(v) for v in values)
    top = max(counts.values())
    tied = sorted(s for s, c in counts.items() if c == top)
    best = min(tied, key=lambda s: (sum(abs(v - s) for v in values) / len(values), s))
    return decode(best)


def prior_distribution(consensus: Iterable[float]) -> dict[str, float]:
    """Share of each score (keys ``"N/A"``, ``"1"``, ``"2"``, ``"3"``) among the rounded
    consensus values; empty when there are none."""
    values = _usable(consensus)
    if not values:
        return {}
    counts = Counter(round_score(v) for v in values)
    return {key: counts.get(float(i), 0) / len(values) for i, key in enumerate(SCORE_KEYS)}


def draw_prior(probabilities: Mapping[str, float], n: int,
               rng: np.random.Generator) -> list[Score]:
    """``n`` scores drawn independently from ``probabilities``."""
    keys = list(SCORE_KEYS)
    p = np.array([probabilities.get(k, 0.0) for k in keys], dtype=float)
    drawn: Sequence[int] = rng.choice(len(keys), size=n, p=p / p.sum()).tolist()
    return [decode(float(i)) for i in drawn]
