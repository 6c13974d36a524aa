"""Feature engineering of a series. Good: calendar features, lags and rolling
statistics shifted by at least the horizon, built on history and future
together so the future rows can be computed; average: get_dummies before the
split, scaling that does not fit the model, no lags; bad: unshifted or centred
statistics of the target (leakage).

Defines ``$data`` and ``$features`` (see the package docstring) and ``$pre``.
"""

from __future__ import annotations

from typing import Any

from nbjudge.benchmark.procedural.context import Context, join_code
from nbjudge.benchmark.procedural.estimators import uses_linear_model
from nbjudge.benchmark.procedural.forecasting.series import (
    Series,
    is_forecasting,
    series_values,
    start_forecasting,
)
from nbjudge.benchmark.procedural.templates import DimensionTemplates

__all__ = ["TEMPLATES"]

TEMPLATES = DimensionTemplates("feature_engineering")


def _history_and_future(ctx: Context, values: dict[str, Any]) -> None:
    """``$data``: history and future periods in one frame indexed by time."""
    ctx.code("prepare", ctx.choose([
        """
        # history and future periods in one time-ordered frame, so the future rows
        # get their lags from the history
        $data = pd.concat([$train, $test], ignore_index=True).sort_values($time_column)
        $data = $data.set_index($time_column)
        """,
        """
        $data = (
            pd.concat([$train, $test], ignore_index=True)
            .sort_values($time_column)
            .set_index($time_column)
        )
        print($data.shape, "-", $data[$target_column].isna().sum(), "rows without a target")
        """,
    ]), "import pandas as pd", **values)


def _calendar(ctx: Context, series: Series) -> None:
    """The calendar columns of ``series.calendar``."""
    if series.daily:
        ctx.code("prepare", """
            $data["dayofweek"] = $data.index.day_of_week
            $data["month"] = $data.index.month
        """)
    else:
        ctx.code("prepare", """
            $data["month"] = $data.index.month
            $data["weekofyear"] = $data.index.isocalendar().week.astype(int)
        """)


def _shifted_lags(ctx: Context, series: Series, values: dict[str, Any]) -> list[str]:
    """Lags of at least the horizon and rolling means shifted by the horizon; their columns."""
    lags = series.lags
    windows = series.windows
    ctx.code("prepare", """
        # shifted by at least the $horizon-$period horizon: every value is known when forecasting
        past = $data[$lag_source].shift($horizon)
        for lag in $lags:
            $data[f"lag_{lag}"] = $data[$lag_source].shift(lag)
        for window in $windows:
            $data[f"rolling_mean_{window}"] = past.rolling(window).mean()
    """, lags=tuple(lags), windows=tuple(windows), **values)
    return [f"lag_{lag}" for lag in lags] + [f"rolling_mean_{w}" for w in windows]


def _set_features(ctx: Context, columns: list[str]) -> None:
    ctx.code("prepare", """
        $features = $columns
        $data[$features].tail()
    """, columns=repr(columns))


def _preprocessor(ctx: Context, categorical: list[str], scale: bool) -> None:
    """``$pre``: one-hot calendar columns, numeric ones scaled or not."""
    imports = ["from sklearn.compose import ColumnTransformer"]
    numeric = "StandardScaler()" if scale else '"passthrough"'
    if scale:
        imports.append("from sklearn.preprocessing import StandardScaler")
    if categorical:
        imports.append("from sklearn.preprocessing import OneHotEncoder")
        ctx.code("features", """
            calendar_cols = $calendar_columns
            numeric_cols = [c for c in $features if c not in calendar_cols]
            $pre = ColumnTransformer([
                ("calendar", OneHotEncoder(handle_unknown="ignore", sparse_output=False), calendar_cols),
                ("numeric", $numeric, numeric_cols),
            ])
        """, *imports, calendar_columns=repr(categorical), numeric=numeric)
    else:
        ctx.code("features", """
            $pre = ColumnTransformer([("numeric", $numeric, $features)])
        """, *imports, numeric=numeric)


def _frame_with_calendar(ctx: Context) -> tuple[Series, dict[str, Any]]:
    """The start most feature templates share: one time-indexed frame, calendar columns."""
    series = start_forecasting(ctx)
    values = series_values(ctx, series)
    _history_and_future(ctx, values)
    _calendar(ctx, series)
    return series, values


@TEMPLATES.add(3, "calendar features plus lags and rolling means shifted by at least the "
               "horizon, built on history and future together; weekday/month one-hot encoded in "
               "the pipeline, scaling only for the linear model", applies=is_forecasting)
def fc_features_shifted_lags(ctx: Context) -> None:
    series, values = _frame_with_calendar(ctx)
    lagged = _shifted_lags(ctx, series, values)
    _set_features(ctx, list(series.covariates) + series.calendar + lagged)
    _preprocessor(ctx, series.calendar, scale=uses_linear_model(ctx))


@TEMPLATES.add(3, "Fourier terms for the yearly cycle, weekday one-hot in the pipeline, "
               "seasonal lags and a rolling mean and spread of the last season, all shifted by "
               "at least the horizon", applies=is_forecasting)
def fc_features_fourier(ctx: Context) -> None:
    series = start_forecasting(ctx)
    values = series_values(ctx, series)
    _history_and_future(ctx, values)
    ctx.code("prepare", join_code("""
        day_of_year = $data.index.day_of_year
        $data["year_sin"] = np.sin(2 * np.pi * day_of_year / 365.25)
        $data["year_cos"] = np.cos(2 * np.pi * day_of_year / 365.25)
    """, '$data["dayofweek"] = $data.index.day_of_week' if series.daily else ""),
             "import numpy as np")
    lags = [series.season_lag, series.season_lag + series.season]
    ctx.code("prepare", """
        # nothing closer than the $horizon-$period horizon, so the future rows are computable
        known = $data[$lag_source].shift($horizon)
        $data["lag_$season_lag"] = $data[$lag_source].shift($season_lag)
        $data["lag_$second_season_lag"] = $data[$lag_source].shift($second_season_lag)
        $data["season_mean"] = known.rolling($season).mean()
        $data["season_std"] = known.rolling($season).std()
    """, second_season_lag=lags[1], **values)
    calendar = ["dayofweek"] if series.daily else []
    _set_features(ctx, list(series.covariates) + calendar + [
        "year_sin", "year_cos", f"lag_{lags[0]}", f"lag_{lags[1]}", "season_mean", "season_std"])
    _preprocessor(ctx, calendar, scale=uses_linear_model(ctx))


@TEMPLATES.add(2, "one-hot encodes the calendar with pd.get_dummies on the whole frame before "
               "the split and scales every column whatever the model",
               ("pd.get_dummies on the full data before the split instead of an encoder in the "
                "pipeline", "scaling applied regardless of the model"),
               applies=is_forecasting)
def fc_features_get_dummies(ctx: Context) -> None:
    series, values = _frame_with_calendar(ctx)
    _shifted_lags(ctx, series, values)
    ctx.code("prepare", """
        $data = pd.get_dummies($data, columns=$calendar_columns, dtype=int)
        $features = [c for c in $data.columns if c not in ($target_column, $lag_source)]
        print(len($features), "features")
    """, calendar_columns=repr(series.calendar), **values)
    ctx.code("features", "$pre = StandardScaler()",
             "from sklearn.preprocessing import StandardScaler")


@TEMPLATES.add(2, "shifted lags and calendar features, but every column scaled although the "
               "model is tree-based",
               ("scaling applied for a tree model (no effect, adds noise to the pipeline)",),
               applies=lambda ctx: is_forecasting(ctx) and not uses_linear_model(ctx))
def fc_features_scaled_trees(ctx: Context) -> None:
    series, values = _frame_with_calendar(ctx)
    lagged = _shifted_lags(ctx, series, values)
    _set_features(ctx, list(series.covariates) + series.calendar + lagged)
    _preprocessor(ctx, series.calendar, scale=True)


@TEMPLATES.add(2, "shifted lags and calendar features fed unscaled to a linear model, the "
               "calendar as plain integers",
               ("no scaling for a linear model",
                "weekday and month used as integers in a linear model"),
               applies=lambda ctx: is_forecasting(ctx) and uses_linear_model(ctx))
def fc_features_unscaled_linear(ctx: Context) -> None:
    series, values = _frame_with_calendar(ctx)
    lagged = _shifted_lags(ctx, series, values)
    _set_features(ctx, list(series.covariates) + series.calendar + lagged)
    _preprocessor(ctx, [], scale=False)


@TEMPLATES.add(2, "calendar features and a time counter only: no lag or rolling statistic "
               "although the series depends on its recent level",
               ("no lag or rolling features although the exploration shows strong "
                "autocorrelation",),
               applies=is_forecasting)
def fc_features_calendar_only(ctx: Context) -> None:
    series, _ = _frame_with_calendar(ctx)
    ctx.code("prepare", "$data[\"t\"] = np.arange(len($data))", "import numpy as np")
    _set_features(ctx, list(series.covariates) + series.calendar + ["t"])
    _preprocessor(ctx, series.calendar, scale=uses_linear_model(ctx))


@TEMPLATES.add(1, "adds a rolling mean of the target that is not shifted, so it includes the "
               "value being predicted; future rows get the last value carried forward",
               ("unshifted rolling mean includes the current target (target leakage)",),
               applies=is_forecasting)
def fc_features_unshifted_rolling(ctx: Context) -> None:
    series, values = _frame_with_calendar(ctx)
    window = series.season if series.daily else 4
    ctx.code("prepare", """
        $data["lag_$season_lag"] = $data[$target_column].shift($season_lag)
        $data["rolling_mean_$window"] = $data[$target_column].rolling($window).mean()
        $data["rolling_max_$window"] = $data[$target_column].rolling($window).max()
    """, window=window, **values)
    _set_features(ctx, list(series.covariates) + series.calendar + [
        f"lag_{series.season_lag}", f"rolling_mean_{window}", f"rolling_max_{window}"])
    ctx.code("prepare", """
        # the future has no $target yet: carry the last rolling values forward
        $data[$features] = $data[$features].ffill()
    """, target=series.target)
    _preprocessor(ctx, series.calendar, scale=uses_linear_model(ctx))


@TEMPLATES.add(1, "smooths the target with a centred rolling mean and uses it as a feature, so "
               "each row sees values after its own date",
               ("centred rolling mean of the target as a feature uses the future (leakage)",),
               applies=is_forecasting)
def fc_features_centred_smooth(ctx: Context) -> None:
    series, values = _frame_with_calendar(ctx)
    window = series.season if series.daily else 5
    ctx.code("prepare", """
        $data["smoothed"] = $data[$target_column].rolling($window, center=True, min_periods=1).mean()
        $data["lag_$season_lag"] = $data[$target_column].shift($season_lag)
        $data[["smoothed", "lag_$season_lag"]] = $data[["smoothed", "lag_$season_lag"]].ffill()
    """, window=window, **values)
    _set_features(ctx, list(series.covariates) + series.calendar
                  + ["smoothed", f"lag_{series.season_lag}"])
    _preprocessor(ctx, series.calendar, scale=uses_linear_model(ctx))
