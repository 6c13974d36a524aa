"""Model training on a series: the split and the fitted ``$model``. Good: the
last horizon held out, a seasonal naive baseline and a search over time-ordered
folds; average: one fit, no search, no baseline; bad: a random split, shuffled
K-fold, or evaluation on periods the model was trained on.

Sets the ``split`` fact (chronological, random, overlap) that the evaluation
describes, and ``baseline`` when ``$baseline`` already holds the naive forecast.
"""

from __future__ import annotations

from typing import Any

from nbjudge.benchmark.procedural.context import Context, join_code
from nbjudge.benchmark.procedural.estimators import (
    estimator,
    fit_defaults,
    fit_hand_picked,
    model_type_params,
    pipeline,
    tuned_search,
)
from nbjudge.benchmark.procedural.forecasting.series import (
    Series,
    is_forecasting,
    series_values,
    start_forecasting,
)
from nbjudge.benchmark.procedural.templates import DimensionTemplates

__all__ = ["TEMPLATES"]

TEMPLATES = DimensionTemplates("model_training")

_LABELLED = """
    $labelled = $data.dropna(subset=[$target_column] + $features)
"""
_SCORE_MAE = 'scoring="neg_mean_absolute_error"'


def _chronological_split(ctx: Context, values: dict[str, Any]) -> None:
    """Hold out the last horizon of the labelled rows, written one of two ways."""
    if ctx.coin():
        ctx.code("split", join_code(_LABELLED, """
            # the last $horizon $periods are held out: the same length as the forecast
            $X_tr, $y_tr = $labelled[$features].iloc[:-$horizon], $labelled[$target_column].iloc[:-$horizon]
            $X_va, $y_va = $labelled[$features].iloc[-$horizon:], $labelled[$target_column].iloc[-$horizon:]
            print(f"train {$X_tr.index.min():%Y-%m-%d} to {$X_tr.index.max():%Y-%m-%d}, "
                  f"holdout {$X_va.index.min():%Y-%m-%d} to {$X_va.index.max():%Y-%m-%d}")
        """), **values)
    else:
        ctx.code("split", join_code(_LABELLED, """
            cutoff = $labelled.index[-$horizon]
            before, after = $labelled[$labelled.index < cutoff], $labelled[$labelled.index >= cutoff]
            $X_tr, $y_tr = before[$features], before[$target_column]
            $X_va, $y_va = after[$features], after[$target_column]
            print(len($X_tr), "training $periods;", len($X_va), "held-out $periods from", cutoff.date())
        """), **values)
    ctx.facts["split"] = "chronological"


def _naive_function(ctx: Context, series: Series, values: dict[str, Any]) -> str:
    """A train cell defining a seasonal naive forecaster (repeat the last season);
    returns its name."""
    name = ctx.choose(["seasonal_naive", "snaive_forecast", "repeat_last_season"])
    if ctx.coin():
        ctx.code("train", '''
            SEASON = $season  # $season_in_words

            def $name(history, steps, season=SEASON):
                """Repeat the last observed season of `history` over `steps` periods."""
                return np.resize(history.to_numpy()[-season:], steps)
        ''', "import numpy as np", name=name,
                 season_in_words="one week of days" if series.daily else "one year of weeks",
                 **values)
    else:
        ctx.code("train", '''
            def $name(history, steps, season=$season):
                """Seasonal naive forecast: the last full season, tiled over the horizon."""
                last = history.to_numpy()[-season:]
                return np.tile(last, steps // season + 1)[:steps]
        ''', "import numpy as np", name=name, **values)
    return name


@TEMPLATES.add(3, "holds out the last horizon, scores a seasonal naive baseline over "
               "TimeSeriesSplit folds, then tunes the pipeline with GridSearchCV on the same "
               "time-ordered folds and refits the best model on the whole training period",
               applies=is_forecasting)
def fc_train_grid_tss(ctx: Context) -> None:
    series = start_forecasting(ctx)
    values = series_values(ctx, series)
    _chronological_split(ctx, values)
    naive = _naive_function(ctx, series, values)
    ctx.code("train", """
        cv = TimeSeriesSplit(n_splits=4, test_size=$horizon)
        naive_cv = [
            mean_absolute_error($y_tr.iloc[test_idx], $naive($y_tr.iloc[train_idx], len(test_idx)))
            for train_idx, test_idx in cv.split($X_tr)
        ]
        print("seasonal naive, CV MAE:", round(float(np.mean(naive_cv)), 3))
        $baseline = $naive($y_tr, len($y_va))
    """, "from sklearn.model_selection import TimeSeriesSplit",
             "from sklearn.metrics import mean_absolute_error", "import numpy as np",
             naive=naive, **values)
    ctx.code("train", join_code(
        tuned_search(ctx, "GridSearchCV",
                     [pipeline(ctx), "param_grid=$grid", "cv=cv", _SCORE_MAE, "n_jobs=1"]),
        """
        print("best params:", $search.best_params_)
        print("model, CV MAE:", round(-$search.best_score_, 3))
        """,
    ), grid=repr(estimator(ctx).grid))
    ctx.facts["baseline"] = True


@TEMPLATES.add(3, "compares a seasonal naive forecast with the pipeline on expanding-window "
               "TimeSeriesSplit folds and tunes it with RandomizedSearchCV on those folds",
               applies=is_forecasting)
def fc_train_random_tss(ctx: Context) -> None:
    series = start_forecasting(ctx)
    values = series_values(ctx, series)
    _chronological_split(ctx, values)
    naive = _naive_function(ctx, series, values)
    ctx.code("train", join_code(
        "folds = TimeSeriesSplit(n_splits=5, test_size=$horizon)",
        tuned_search(ctx, "RandomizedSearchCV",
                     [pipeline(ctx), "param_distributions=$grid", "n_iter=3", "cv=folds",
                      _SCORE_MAE, "random_state=0", "n_jobs=1"], chain_fit=True),
    ), "from sklearn.model_selection import TimeSeriesSplit", grid=repr(estimator(ctx).grid),
        **values)
    ctx.code("train", """
        fold_naive = []
        for train_idx, test_idx in folds.split($X_tr):
            guess = $naive($y_tr.iloc[train_idx], len(test_idx))
            fold_naive.append(np.mean(np.abs($y_tr.iloc[test_idx].to_numpy() - guess)))
        print(f"CV MAE  seasonal naive: {np.mean(fold_naive):.3f}  "
              f"tuned model: {-$search.best_score_:.3f}  {$search.best_params_}")
        $baseline = $naive($y_tr, len($y_va))
    """, "import numpy as np", naive=naive, **values)
    ctx.facts["baseline"] = True


@TEMPLATES.add(2, "fits the pipeline once on a time-ordered split with default "
               "hyperparameters and no baseline",
               ("single train/holdout split, no cross-validation", "default hyperparameters",
                "no seasonal naive baseline"), applies=is_forecasting)
def fc_train_single_fit(ctx: Context) -> None:
    _chronological_split(ctx, series_values(ctx, start_forecasting(ctx)))
    ctx.code("train", fit_defaults(ctx))
    ctx.facts["params_expr"] = model_type_params(ctx)


@TEMPLATES.add(2, "fits once with a few hand-picked hyperparameters on a time-ordered split, "
               "no search and no baseline",
               ("hand-picked hyperparameters, no search", "no seasonal naive baseline"),
               applies=is_forecasting)
def fc_train_hand_picked(ctx: Context) -> None:
    _chronological_split(ctx, series_values(ctx, start_forecasting(ctx)))
    fit_hand_picked(ctx)


@TEMPLATES.add(1, "splits the series with a random, shuffled train_test_split, so the model "
               "trains on days after the ones it is evaluated on",
               ("random split on a time series (future rows in training)",),
               applies=is_forecasting)
def fc_train_random_split(ctx: Context) -> None:
    values = series_values(ctx, start_forecasting(ctx))
    ctx.code("split", join_code(_LABELLED, """
        $X_tr, $X_va, $y_tr, $y_va = train_test_split(
            $labelled[$features], $labelled[$target_column], test_size=0.2, random_state=$split_seed
        )
        print(len($X_tr), len($X_va))
    """), "from sklearn.model_selection import train_test_split",
             split_seed=ctx.choose([0, 1, 42]), **values)
    ctx.facts["split"] = "random"
    ctx.code("train", fit_defaults(ctx))
    ctx.facts["params_expr"] = '{"split": "random", "test_size": 0.2}'


@TEMPLATES.add(1, "tunes the pipeline with GridSearchCV on shuffled K-fold, so every fold "
               "trains on periods after the ones it validates on",
               ("shuffled K-fold cross-validation on a time series (optimistic, leaks the "
                "future)",), applies=is_forecasting)
def fc_train_shuffled_kfold(ctx: Context) -> None:
    _chronological_split(ctx, series_values(ctx, start_forecasting(ctx)))
    ctx.code("train", join_code(
        tuned_search(ctx, "GridSearchCV",
                     [pipeline(ctx), "$grid", "cv=KFold(n_splits=5, shuffle=True, random_state=42)",
                      _SCORE_MAE, "n_jobs=1"]),
        'print($search.best_params_, "CV MAE:", round(-$search.best_score_, 3))',
    ), "from sklearn.model_selection import KFold", grid=repr(estimator(ctx).grid))


@TEMPLATES.add(1, "fits on the whole history and then checks the last horizon of that same "
               "history, which the model has already seen",
               ("evaluated on periods that are part of the training data",),
               applies=is_forecasting)
def fc_train_on_everything(ctx: Context) -> None:
    values = series_values(ctx, start_forecasting(ctx))
    ctx.code("split", join_code(_LABELLED, """
        $X_tr, $y_tr = $labelled[$features], $labelled[$target_column]
        # the last $horizon $periods, to compare the model with what actually happened
        $X_va, $y_va = $X_tr.tail($horizon), $y_tr.tail($horizon)
    """), **values)
    ctx.facts["split"] = "overlap"
    ctx.code("train", join_code(fit_defaults(ctx), 'print("fitted on", len($X_tr), "rows")'))
    ctx.facts["params_expr"] = f'{{"rows": len({ctx.names["X_tr"]})}}'
