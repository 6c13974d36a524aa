"""Data exploration of a series. Good: the calendar, gaps, trend, seasonal cycle,
autocorrelation and covariates, with a conclusion true to the data and what it
means for the forecast; bad: no exploration, the future table, or conclusions
the plot contradicts. The first template written draws the shared names."""

from __future__ import annotations

from nbjudge.benchmark.procedural.context import Context, join_code, properties
from nbjudge.benchmark.procedural.forecasting.series import (
    describe_series,
    is_forecasting,
    series_values,
    start_forecasting,
)
from nbjudge.benchmark.procedural.templates import DimensionTemplates

__all__ = ["TEMPLATES"]

TEMPLATES = DimensionTemplates("data_exploration")


def _conclusion(ctx: Context) -> str:
    """What the exploration shows and what follows for modelling, true to the data."""
    series = describe_series(ctx)
    case = ctx.case
    periods, horizon = series.periods, series.horizon
    sentences = []
    if case.dataset == "store_sales":
        sentences.append(
            "Sales follow a strong weekly cycle: Saturday sells most, then Sunday and Friday, "
            "and early-week days least. The level drifts slowly over time, so the model "
            "needs recent level information as well as the weekday.")
        if {"promo", "holiday"} <= set(series.covariates):
            sentences.append("Promotion days sell clearly more and holidays far less; both "
                             "are known in advance for the forecast dates, so they can be "
                             "used as features.")
    elif case.dataset == "co2":
        sentences.append(
            "CO2 rises steadily, by one to two ppm a year, with a yearly cycle on top: "
            "highest around May, lowest around September and October. The autocorrelation "
            "at 52 weeks is almost 1, so last year's value is a strong predictor.")
    else:
        sentences.append(f"The series has a visible level and a seasonal pattern of "
                         f"{series.season} {periods}.")
    if properties(case).missing_columns:
        sentences.append(f"A few {periods} have no value recorded; they must be filled from "
                         f"earlier {periods} only (forward in time), never from later ones.")
    else:
        sentences.append("No values are missing and the calendar has no gaps.")
    sentences.append(
        f"The forecast covers {horizon} {periods}, so every lag or rolling statistic must be "
        f"shifted by at least {horizon} {periods}; evaluation needs time-ordered splits and a "
        f"held-out final {horizon} {periods}, compared with a seasonal naive forecast "
        f"(repeat the last {'week' if series.daily else 'year'}).")
    return " ".join(sentences)


def _contradiction(ctx: Context) -> str:
    """A claim the plot above it refutes: a flat series, and no gaps where there are some."""
    series = describe_series(ctx)
    if ctx.case.dataset == "co2":
        claim = ("The readings fluctuate around a constant level, with no trend and no "
                 "seasonal cycle, so the order of the weeks carries little information.")
    else:
        claim = (f"The {series.target} values look flat over time with no weekly pattern, so "
                 f"the order of the {series.periods} does not matter and a random split is "
                 "fine.")
    if ctx.has_missing:
        claim += " There are no missing values, so nothing needs imputing."
    return claim


@TEMPLATES.add(3, "checks shape, dtypes, missing values and the calendar spacing, plots the "
               "series with a rolling mean (trend), profiles the seasonal cycle and "
               "autocorrelation, relates the known future covariates to the target, and states "
               "what follows for modelling", applies=is_forecasting)
def fc_explore_thorough(ctx: Context) -> None:
    series = start_forecasting(ctx)
    values = series_values(ctx, series)
    ctx.code("explore", """
        print($train.shape)
        $train.dtypes
    """)
    ctx.code("explore", "$train.isna().sum()")
    ctx.code("explore", """
        print("from", $train[$time_column].min().date(), "to", $train[$time_column].max().date())
        print("spacing between consecutive rows:")
        print($train[$time_column].diff().value_counts())
    """, **values)
    ctx.code("explore", """
        series = $train.set_index($time_column)[$target_column]
        ax = series.plot(figsize=(11, 3), alpha=0.5, label="$target")
        series.rolling($window, min_periods=$half_window).mean().plot(ax=ax, label="$window-$period rolling mean")
        ax.set_title("$target over time")
        ax.legend()
        plt.show()
    """, "import matplotlib.pyplot as plt", target=series.target, window=series.trend_window,
             half_window=series.trend_window // 2, **values)
    if series.daily:
        ctx.code("explore", """
            # weekly cycle: average per weekday
            series.groupby(series.index.day_name()).mean().sort_values().round(1)
        """)
    else:
        ctx.code("explore", """
            # yearly cycle: deviation from the 52-week mean, averaged per month
            detrended = series - series.rolling(52, center=True, min_periods=26).mean()
            detrended.groupby(detrended.index.month).mean().round(2)
        """)
    if series.covariates:
        ctx.code("explore", "$train.groupby($covariates)[$target_column].agg([\"mean\", \"count\"])",
                 covariates=repr(list(series.covariates)), **values)
    ctx.code("explore", """
        pd.Series({lag: round(series.autocorr(lag), 3) for lag in $autocorrelation_lags},
                  name="autocorrelation")
    """, "import pandas as pd", **values)
    ctx.markdown("explore", _conclusion(ctx))


@TEMPLATES.add(3, "profiles the table with info(), locates the gaps, plots the series next to "
               "its seasonal profile, measures seasonal autocorrelation and writes down the "
               "modelling consequences", applies=is_forecasting)
def fc_explore_profile(ctx: Context) -> None:
    series = start_forecasting(ctx)
    values = series_values(ctx, series)
    ctx.code("explore", "$train.info()")
    if ctx.has_missing:
        ctx.code("explore", """
            gaps = $train[$target_column].isna()
            print(f"{gaps.sum()} of {len($train)} $periods without a value ({gaps.mean():.1%})")
            $train.loc[gaps, $time_column].dt.year.value_counts().sort_index()
        """, **values)
    else:
        ctx.code("explore", """
            print("missing values:", int($train.isna().sum().sum()))
            print("regular spacing:", $train[$time_column].diff().dropna().nunique() == 1)
        """, **values)
    if series.daily:
        profile = """
            seasonal = $train.assign(weekday=$train[$time_column].dt.day_of_week)
            seasonal.boxplot(column=$target_column, by="weekday", ax=axes[1])
            axes[1].set_title("by weekday (0 = Monday)")
        """
    else:
        profile = """
            level = $train[$target_column].rolling(52, center=True, min_periods=26).mean()
            seasonal = $train.assign(
                month=$train[$time_column].dt.month,
                deviation=$train[$target_column] - level,
            )
            seasonal.boxplot(column="deviation", by="month", ax=axes[1])
            axes[1].set_title("deviation from the yearly mean, by month")
        """
    ctx.code("explore", join_code("""
        fig, axes = plt.subplots(1, 2, figsize=(13, 3.5))
        $train.plot(x=$time_column, y=$target_column, ax=axes[0], legend=False, title="$target")
    """, profile, """
        plt.suptitle("")
        plt.tight_layout()
        plt.show()
    """), "import matplotlib.pyplot as plt", target=series.target, **values)
    ctx.code("explore", """
        values = $train.set_index($time_column)[$target_column]
        for lag in $autocorrelation_lags:
            print(f"autocorrelation at lag {lag:>3}: {values.autocorr(lag):.3f}")
    """, **values)
    for column in series.covariates:
        ctx.code("explore", "$train.groupby($column)[$target_column].describe().round(1)",
                 column=repr(column), **values)
    ctx.markdown("explore", _conclusion(ctx))


@TEMPLATES.add(2, "looks at head() and describe() only, without drawing conclusions",
               ("exploration limited to head() and describe()", "no time plot",
                "no conclusion drawn for modelling"), applies=is_forecasting)
def fc_explore_head_describe(ctx: Context) -> None:
    start_forecasting(ctx)
    ctx.code("explore", "$train.head()")
    ctx.code("explore", "$train.describe()")
    if ctx.coin():
        ctx.code("explore", "$train.tail()")


@TEMPLATES.add(2, "plots the series over time but says nothing about trend, seasonality or "
               "what follows for the model",
               ("plots without any conclusion", "seasonality and missing values never examined"),
               applies=is_forecasting)
def fc_explore_plot_only(ctx: Context) -> None:
    values = series_values(ctx, start_forecasting(ctx))
    ctx.code("explore", """
        $train.plot(x=$time_column, y=$target_column, figsize=(12, 4))
        plt.show()
    """, "import matplotlib.pyplot as plt", **values)
    if ctx.coin():
        ctx.code("explore", "$train[$target_column].describe()", **values)


@TEMPLATES.add(1, "does no exploration at all", ("no data exploration",),
               applies=is_forecasting)
def fc_explore_none(ctx: Context) -> None:
    """Writes nothing (the missing exploration is the defect) but draws the names."""
    start_forecasting(ctx)


@TEMPLATES.add(1, "explores the future table instead of the history",
               ("exploration done on the future table, which has no target, not on the "
                "history",),
               applies=is_forecasting)
def fc_explore_future_table(ctx: Context) -> None:
    series = start_forecasting(ctx)
    ctx.code("explore", "$test.describe(include='all')")
    ctx.code("explore", """
        print($test.shape)
        $test.isna().sum()
    """)
    if series.covariates:
        ctx.code("explore", "$test[$column].value_counts()", column=repr(series.covariates[0]))


@TEMPLATES.add(1, "plots the series, then states conclusions the plot contradicts (no trend, "
               "no seasonality, no gaps)",
               ("conclusion contradicts the output shown (claims a flat series without "
                "seasonality, or no missing values)",), applies=is_forecasting)
def fc_explore_contradiction(ctx: Context) -> None:
    series = start_forecasting(ctx)
    values = series_values(ctx, series)
    ctx.code("explore", """
        ax = $train.set_index($time_column)[$target_column].plot(figsize=(11, 3))
        plt.show()
    """, "import matplotlib.pyplot as plt", **values)
    ctx.code("explore", "$train.isna().sum()")
    ctx.markdown("explore", _contradiction(ctx))
