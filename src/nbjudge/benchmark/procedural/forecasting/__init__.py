"""Templates for forecasting tasks, one module per dimension: one series with a
time index, a history table and a future table whose periods must be forecast.

Contract between sections (names come from ``ctx.names``):

- ``load``: ``$train`` (the history, with the target) and ``$test`` (the
  future periods, without it), the time column parsed as dates.
- ``prepare``: imputation works on ``$train`` in time order; feature
  engineering then builds ``$data``, history and future concatenated and
  indexed by time, with the feature columns listed in ``$features``.
- ``split`` (model training) defines ``$labelled`` (rows with a target and
  complete features), ``$X_tr``, ``$y_tr`` and ``$X_va``, ``$y_va`` for a
  held-out period.
- ``features`` defines ``$pre``, a transformer taking ``$X_tr``-shaped input.
- ``train`` defines ``$model``, a fitted Pipeline, ``facts["params_expr"]`` and
  ``facts["baseline"]`` (whether ``$baseline``, the seasonal naive forecast of
  ``$y_va``, exists).
- ``evaluate`` defines ``$metrics`` (a dict of floats).
- ``use`` forecasts the rows of ``$test`` from ``$data``.

Template names start with ``fc_``: the blueprint names templates of both
families side by side.
"""

from nbjudge.benchmark.procedural.forecasting import (
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
