"""Controls: what every verdict is measured against, computed out of fold with no LLM call.

- ``majority``: per dimension, the most common human score of the training folds;
- ``prior``: per dimension, a seeded draw from the training folds' score distribution
  (the stats stage also gives its exact expected MAE);
- ``calibrated``: the baseline judge's score through a monotone (isotonic) map fit on
  the training folds; ``calibrated_full`` the same on top of the ``full`` variant.

They use the folds and repeats of the aligned judges and write ordinary judgment
records, so "does the judge beat no skill?" and "does MemAlign beat calibration?"
are contrasts like any other. Imports :mod:`nbjudge.schemas`, the pure parts of
:mod:`nbjudge.stats` and :mod:`nbjudge.alignment.folds`; no judge, no LLM client.
"""

from .calibration import CALIBRATION_METHOD, fit_calibration
from .crossfit import (
    CALIBRATED_FROM,
    CONTROL_VARIANTS,
    ControlSettings,
    human_consensus,
    run_controls,
)
from .noskill import draw_prior, majority_score, prior_distribution, round_score

__all__ = [
    "CALIBRATED_FROM",
    "CALIBRATION_METHOD",
    "CONTROL_VARIANTS",
    "ControlSettings",
    "draw_prior",
    "fit_calibration",
    "human_consensus",
    "majority_score",
    "prior_distribution",
    "round_score",
    "run_controls",
]
