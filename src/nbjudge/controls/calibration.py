"""Score calibration: the cheapest alignment, a monotone map from judge to human scores.

The model is isotonic regression (scikit-learn's ``IsotonicRegression``,
increasing, clipped to 1..3) of the human consensus on the judge's numeric
score, fit on the training folds' notebooks only. Why isotonic and not an
ordinal logit: the judge has three numeric levels, so a monotone step
function is the most flexible map that keeps the judge's order, needs no
link function or distributional assumption, and maps a judge that is
always one point too high exactly onto the humans; an ordinal logit would
add a parametric shape the data cannot check at this size.

N/A is handled explicitly, not as a number on the same scale:

- a judge level (N/A, 1, 2 or 3) whose training notebooks the humans
  mostly (more than half) called N/A maps to N/A;
- otherwise a numeric judge level maps to the isotonic fit at that level,
  rounded half up to 1, 2 or 3 (a level absent from training takes the
  fit's nearest level; with no numeric pair at all, the fallback score);
- otherwise judge N/A maps to the mean of the humans' numeric scores over
  the training notebooks it said N/A on, rounded half up (none: the
  fallback score).

The fallback is the dimension's majority score over the training folds
(the ``majority`` control).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.isotonic import IsotonicRegression

from nbjudge.schemas import Score

from .noskill import SCORE_KEYS, decode, round_score

__all__ = ["CALIBRATION_METHOD", "fit_calibration"]

CALIBRATION_METHOD = "isotonic"


def fit_calibration(judge: Sequence[float], human: Sequence[float], *,
                    fallback: Score) -> dict[str, Score]:
    """The calibrated score for each judge score, from paired training scores.

    Parameters
    ----------
    judge, human : sequences of float
        Per training notebook: the judge's score and the human consensus,
        0 for N/A (pairs where either is NaN are ignored).
    fallback : score
        Used where the training pairs say nothing (see the module docstring).

    Returns
    -------
    dict
        Keys ``"N/A"``, ``"1"``, ``"2"``, ``"3"`` (the judge's score), values
        the calibrated score.
    """
    x = np.asarray(judge, dtype=float)
    y = np.asarray(human, dtype=float)
    keep = ~np.isnan(x) & ~np.isnan(y)
    x, y = x[keep], y[keep]
    numeric = (x > 0) & (y > 0)
    fit = None
    if numeric.any():
        fit = IsotonicRegression(increasing=True, y_min=1.0, y_max=3.0, out_of_bounds="clip")
        fit.fit(x[numeric], y[numeric])
    mapping: dict[str, Score] = {}
    for level, key in enumerate(SCORE_KEYS):
        said = y[x == level]
        if len(said) and 2 * int((said == 0).sum()) > len(said):
            mapping[key] = "N/A"
        elif level > 0:
            mapping[key] = (decode(round_score(float(fit.predict([float(level)])[0]), lowest=1))
                            if fit is not None else fallback)
        else:
            scores = said[said > 0]
            mapping[key] = (decode(round_score(float(scores.mean()), lowest=1)) if len(scores)
                            else fallback)
    return mapping
