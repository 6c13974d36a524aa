"""The exact expected MAE of the ``prior`` control, from the distributions it drew from.

The ``prior`` control gives each held-out notebook a score drawn from its
training folds' label distribution; its observed MAE depends on the draw.
Its expected MAE does not: for a human score ``h`` and draw probabilities
``p(s)`` it is ``sum_s p(s) |h - s|`` per notebook (N/A scored as 0 under
``na_policy="zero"``; under ``"worst"`` the distance of
:func:`~nbjudge.stats.tables.score_distance`), averaged over a notebook's CV repeats and then over
the notebooks, as every MAE of the stats stage is. Under ``"exclude"`` a
pair with N/A on either side does not count: the value is then
``sum_{s != N/A} p(s) |h - s| / P(s != N/A)`` per notebook with a numeric
human score, the expectation over the pairs that count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from nbjudge.schemas import PriorDistribution

from ._checks import NA_POLICIES, check_choice
from .tables import score_distance

__all__ = ["expected_absolute_error", "prior_expected_mae"]

_VALUE = {"N/A": 0.0, "1": 1.0, "2": 2.0, "3": 3.0}


def expected_absolute_error(human: float, probabilities: Mapping[Any, float], *,
                            na_policy: str = "worst") -> float:
    """``E|human - S|`` for ``S`` drawn from ``probabilities`` (keys ``"N/A"``, ``"1"``,
    ``"2"``, ``"3"``); ``human`` is a consensus score, 0 for N/A. NaN where nothing counts."""
    check_choice(na_policy, "na_policy", NA_POLICIES)
    if np.isnan(human):
        return float("nan")
    terms = [(_VALUE[score], float(p)) for score, p in probabilities.items()]
    if na_policy == "exclude":
        if human == 0:
            return float("nan")
        terms = [(value, p) for value, p in terms if value != 0]
    mass = sum(p for _, p in terms)
    if mass <= 0:
        return float("nan")
    values = np.array([value for value, _ in terms])
    weights = np.array([p for _, p in terms])
    return float(weights @ score_distance(np.full(values.shape, human), values,
                                          na_policy=na_policy)) / mass


def prior_expected_mae(human: np.ndarray, notebooks: Sequence[str], dimensions: Sequence[str],
                       priors: Iterable[PriorDistribution], *,
                       na_policy: str = "worst") -> dict[str, float]:
    """Per dimension, the ``prior`` control's expected MAE (NaN where no pair counts).

    ``human`` has shape (notebook, dimension), ordered as ``notebooks`` and
    ``dimensions`` (the consensus the stats stage compares every judge with).
    """
    at_notebook = {n: i for i, n in enumerate(notebooks)}
    at_dimension = {d: i for i, d in enumerate(dimensions)}
    # Sum and count over repeats per (notebook, dimension): repeats weigh equally.
    total = np.zeros(human.shape)
    count = np.zeros(human.shape)
    for prior in priors:
        d = at_dimension.get(prior.dimension)
        if d is None:
            continue
        for notebook in prior.notebook_ids:
            n = at_notebook.get(notebook)
            if n is None:
                continue
            error = expected_absolute_error(float(human[n, d]), prior.probabilities,
                                            na_policy=na_policy)
            if not np.isnan(error):
                total[n, d] += error
                count[n, d] += 1
    result = {}
    for dimension, d in at_dimension.items():
        usable = count[:, d] > 0
        result[dimension] = (float(np.mean(total[usable, d] / count[usable, d]))
                             if usable.any() else float("nan"))
    return result
