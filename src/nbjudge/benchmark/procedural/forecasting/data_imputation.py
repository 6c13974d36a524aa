"""Imputation of a series' gaps. Good: filled from the past only (forward fill,
last week's value) or kept out of the targets; average: rows dropped silently,
one global median; bad: filled from the future (back fill, centred means).
N/A when nothing is missing. The history is sorted by time before filling.
"""

from __future__ import annotations

from typing import Any

from nbjudge.benchmark.procedural.context import Context
from nbjudge.benchmark.procedural.forecasting.series import (
    has_gaps,
    is_daily,
    is_forecasting,
    series_values,
    start_forecasting,
)
from nbjudge.benchmark.procedural.templates import DimensionTemplates

__all__ = ["TEMPLATES"]

TEMPLATES = DimensionTemplates("data_imputation")


@TEMPLATES.add("N/A", "the series has no missing values, so there is nothing to impute",
               applies=lambda ctx: is_forecasting(ctx) and not ctx.has_missing)
def fc_impute_not_needed(ctx: Context) -> None:
    """Writes nothing: there is nothing to impute."""
    start_forecasting(ctx)


def _sort_by_time(ctx: Context, values: dict[str, Any]) -> None:
    ctx.code("prepare", "$train = $train.sort_values($time_column).reset_index(drop=True)",
             **values)


@TEMPLATES.add(3, "sorts by time and forward-fills the gaps, so each filled value comes from "
               "the past only, reporting how many were filled", applies=has_gaps)
def fc_impute_ffill(ctx: Context) -> None:
    values = series_values(ctx, start_forecasting(ctx))
    _sort_by_time(ctx, values)
    ctx.code("prepare", """
        gaps = $train[$target_column].isna()
        print(f"{gaps.sum()} of {len($train)} $periods missing; carrying the last observed value forward")
        $train[$target_column] = $train[$target_column].ffill()
    """, **values)


@TEMPLATES.add(3, "keeps the gaps out of the training targets and builds lag features from a "
               "forward-filled copy, so no filled value is ever a target and lags use only the "
               "past", applies=has_gaps)
def fc_impute_filled_copy(ctx: Context) -> None:
    series = start_forecasting(ctx)
    values = series_values(ctx, series)
    _sort_by_time(ctx, values)
    ctx.code("prepare", """
        # Missing $periods are not used as targets; lags read a copy filled forward in time.
        $train["${target}_filled"] = $train[$target_column].ffill()
        print($train[$target_column].isna().sum(), "$periods without a value stay out of the targets")
    """, target=series.target, **values)
    ctx.facts["lag_source"] = f"{series.target}_filled"


@TEMPLATES.add(3, "fills each missing day with the same weekday of the previous week, falling "
               "back to the last observed value: past values only",
               applies=lambda ctx: has_gaps(ctx) and is_daily(ctx))
def fc_impute_last_week(ctx: Context) -> None:
    series = start_forecasting(ctx)
    values = series_values(ctx, series)
    _sort_by_time(ctx, values)
    ctx.code("prepare", """
        n_missing = int($train[$target_column].isna().sum())
        same_day_last_week = $train[$target_column].shift(7)
        $train[$target_column] = $train[$target_column].fillna(same_day_last_week).ffill()
        print(f"filled {n_missing} days from the same weekday a week earlier")
    """, **values)


@TEMPLATES.add(2, "drops the rows with a missing value without reporting how many, leaving "
               "holes in the calendar that later lags silently skip over",
               ("dropna() without reporting the rows lost",
                "gaps in the calendar shift positional lags"), applies=has_gaps)
def fc_impute_dropna(ctx: Context) -> None:
    values = series_values(ctx, start_forecasting(ctx))
    ctx.code("prepare", "$train = $train.dropna(subset=[$target_column])", **values)


@TEMPLATES.add(2, "fills every gap with the median of the whole history, ignoring trend and "
               "season",
               ("one global statistic for every gap, ignoring trend and seasonality",
                "statistic computed on the whole history including the evaluation period"),
               applies=has_gaps)
def fc_impute_median(ctx: Context) -> None:
    values = series_values(ctx, start_forecasting(ctx))
    ctx.code("prepare", """
        fill_value = $train[$target_column].median()
        $train[$target_column] = $train[$target_column].fillna(fill_value)
        print("filled with", fill_value)
    """, **values)


@TEMPLATES.add(1, "back-fills the gaps, so every filled value is copied from a later period",
               ("backward-fill uses future values to fill the past (leakage)",),
               applies=has_gaps)
def fc_impute_bfill(ctx: Context) -> None:
    values = series_values(ctx, start_forecasting(ctx))
    ctx.code("prepare", ctx.choose([
        "$train[$target_column] = $train[$target_column].bfill()",
        "$train = $train.bfill()",
    ]), **values)
    ctx.code("prepare", "$train.isna().sum()")


@TEMPLATES.add(1, "fills the gaps with a centred rolling mean, which averages values after "
               "each gap as well as before it",
               ("centred rolling-mean fill uses the future (leakage)",), applies=has_gaps)
def fc_impute_centred(ctx: Context) -> None:
    series = start_forecasting(ctx)
    values = series_values(ctx, series)
    ctx.code("prepare", """
        smooth = $train[$target_column].rolling($window, center=True, min_periods=1).mean()
        $train[$target_column] = $train[$target_column].fillna(smooth)
        print("remaining missing:", $train[$target_column].isna().sum())
    """, window=7 if series.daily else 5, **values)
