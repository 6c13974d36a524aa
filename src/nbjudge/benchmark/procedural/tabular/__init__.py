"""Templates for tabular tasks: classification (balanced, imbalanced,
multiclass) and regression, one module per dimension.

Contract between sections (names come from ``ctx.names``):

- ``load``: ``$train`` (with the target) and ``$test`` (new rows) DataFrames.
- ``prepare`` steps transform both ``$train`` and ``$test`` in place.
- ``split`` (model training) defines ``$features``, ``$X_tr``, ``$X_va``,
  ``$y_tr``, ``$y_va``.
- ``features`` defines ``$pre``, a transformer taking the raw feature columns.
- ``train`` defines ``$model``, fitted, taking ``$X_tr``-shaped input, and
  ``facts["params_expr"]`` for logging.
- ``evaluate`` defines ``$metrics`` (a dict of floats).
"""

from nbjudge.benchmark.procedural.tabular import (
    data_exploration,
    data_imputation,
    feature_engineering,
    metrics_evaluation,
    model_training,
    model_use,
)

__all__ = ["TEMPLATES"]

TEMPLATES = [
    *data_exploration.TEMPLATES,
    *data_imputation.TEMPLATES,
    *feature_engineering.TEMPLATES,
    *model_training.TEMPLATES,
    *metrics_evaluation.TEMPLATES,
    *model_use.TEMPLATES,
]
