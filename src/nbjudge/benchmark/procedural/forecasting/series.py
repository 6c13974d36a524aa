"""What the forecasting templates know of the case's series, and the names
every forecasting notebook shares."""

from __future__ import annotations

import math
from dataclasses import dataclass

from nbjudge.benchmark.procedural.context import Context, properties

__all__ = [
    "Series",
    "describe_series",
    "has_gaps",
    "is_daily",
    "is_forecasting",
    "series_values",
    "start_forecasting",
]


@dataclass(frozen=True)
class Series:
    """The series' columns, horizon and seasonality."""

    time: str
    target: str
    horizon: int
    daily: bool
    season: int  # periods per seasonal cycle: 7 days or 52 weeks
    season_lag: int  # the shortest whole number of seasons >= the horizon
    covariates: tuple[str, ...]  # columns known for the future periods too
    periods: str  # "days" / "weeks"
    period: str  # "day" / "week"

    @property
    def lags(self) -> list[int]:
        if self.daily:
            return [self.season_lag, self.season_lag + 7, self.season_lag + 14]
        return [self.season_lag, self.season_lag + self.season]

    @property
    def windows(self) -> list[int]:
        return [7, 28] if self.daily else [4, 13]

    @property
    def trend_window(self) -> int:
        return 28 if self.daily else 52

    @property
    def calendar(self) -> list[str]:
        return ["dayofweek", "month"] if self.daily else ["month", "weekofyear"]


def is_forecasting(ctx: Context) -> bool:
    return ctx.family == "forecasting"


def has_gaps(ctx: Context) -> bool:
    return is_forecasting(ctx) and ctx.has_missing


def is_daily(ctx: Context) -> bool:
    return is_forecasting(ctx) and describe_series(ctx).daily


def describe_series(ctx: Context) -> Series:
    case = ctx.case
    props = properties(case)
    time = props.time_index or "date"
    daily = (props.frequency or "D").upper().startswith("D")
    season = 7 if daily else 52
    horizon = case.horizon or (28 if daily else 52)
    covariates = tuple(c for c in props.columns if c not in (time, case.target))
    return Series(time=time, target=case.target, horizon=horizon, daily=daily, season=season,
                  season_lag=season * math.ceil(horizon / season), covariates=covariates,
                  periods="days" if daily else "weeks", period="day" if daily else "week")


def start_forecasting(ctx: Context) -> Series:
    """The series; the first call (by any template) also draws the names and sets
    the facts every forecasting notebook shares."""
    if not ctx.facts.get("forecasting_started"):
        ctx.facts["forecasting_started"] = True
        ctx.facts["parse_dates"] = True
        ctx.names["data"] = ctx.choose(["full", "frame", "data", "series_df", "combined"])
        ctx.names["labelled"] = ctx.choose(["labelled", "history_rows", "known", "observed"])
        ctx.names["baseline"] = ctx.choose(["naive_pred", "snaive", "baseline_pred",
                                            "naive_forecast"])
        ctx.names["model"] = ctx.choose(["model", "pipe", "final_model", "forecaster"])
        ctx.names["future_X"] = ctx.choose(["X_future", "future_X", "X_new"])
    return describe_series(ctx)


def series_values(ctx: Context, series: Series) -> dict[str, str]:
    """Values for code text: the series' columns as literals, its sizes and units.

    ``$lag_source`` is the column lags read: the target, or the gap-free copy
    that data imputation made of it.
    """
    return {
        "time_column": repr(series.time),
        "target_column": repr(series.target),
        "horizon": str(series.horizon),
        "season": str(series.season),
        "season_lag": str(series.season_lag),
        "periods": series.periods,
        "period": series.period,
        "lag_source": repr(ctx.facts.get("lag_source", series.target)),
        "autocorrelation_lags": repr(tuple(sorted({1, series.season, series.season_lag}))),
    }
