"""Variants for forecasting tasks: one series with a time index, a history table
and a future table whose periods must be forecast. Each variant is real code
for the case's tables; see the shared notes on defects for the vocabulary of
each level (the [F] items).

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
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass

from nbjudge.benchmark.generator.core import Context, VariantRegistry
from nbjudge.benchmark.generator.setup import reload_model
from nbjudge.benchmark.generator.tabular import estimator

__all__ = ["register"]


def _join(*parts: str) -> str:
    """Join code snippets written at different indentations into one cell."""
    return "\n".join(textwrap.dedent(p).strip("\n") for p in parts if p.strip())


def _fc(ctx: Context) -> bool:
    return ctx.family == "forecasting"


def _fc_missing(ctx: Context) -> bool:
    return _fc(ctx) and ctx.has_missing


def _fc_daily(ctx: Context) -> bool:
    return _fc(ctx) and _series(ctx).daily


@dataclass(frozen=True)
class _Series:
    """What the variants need to know about the case's series."""

    time: str
    target: str
    horizon: int
    daily: bool
    season: int  # periods per seasonal cycle: 7 days or 52 weeks
    season_lag: int  # the shortest whole number of seasons >= the horizon
    exog: tuple[str, ...]  # columns known for the future periods too
    unit: str  # "days" / "weeks"
    one: str  # "day" / "week"

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


def _series(ctx: Context) -> _Series:
    case = ctx.case
    props = case.properties
    time = props.time_index or "date"
    daily = (props.frequency or "D").upper().startswith("D")
    season = 7 if daily else 52
    horizon = case.horizon or (28 if daily else 52)
    exog = tuple(c for c in props.columns if c not in (time, case.target))
    return _Series(time=time, target=case.target, horizon=horizon, daily=daily, season=season,
                   season_lag=season * math.ceil(horizon / season), exog=exog,
                   unit="days" if daily else "weeks", one="day" if daily else "week")


def _begin(ctx: Context) -> _Series:
    """Names and facts every forecasting notebook shares; idempotent."""
    if not ctx.facts.get("fc_ready"):
        ctx.facts["fc_ready"] = True
        ctx.facts["parse_dates"] = True
        ctx.facts.setdefault("baseline", False)
        ctx.names["data"] = ctx.choose(["full", "frame", "data", "series_df", "combined"])
        ctx.names["labelled"] = ctx.choose(["labelled", "history_rows", "known", "observed"])
        ctx.names["baseline"] = ctx.choose(["naive_pred", "snaive", "baseline_pred",
                                            "naive_forecast"])
        ctx.names["model"] = ctx.choose(["model", "pipe", "final_model", "forecaster"])
        ctx.names["future_X"] = ctx.choose(["X_future", "future_X", "X_new"])
    return _series(ctx)


def _lits(s: _Series, ctx: Context) -> dict[str, str]:
    """Values for templates: literals of the series' columns and sizes."""
    return {
        "time_lit": repr(s.time),
        "target_lit": repr(s.target),
        "H": str(s.horizon),
        "season": str(s.season),
        "m": str(s.season_lag),
        "unit": s.unit,
        "one": s.one,
        "lag_src": repr(ctx.facts.get("lag_source", s.target)),
        "acf_lags": repr(tuple(sorted({1, s.season, s.season_lag}))),
    }


def _conclusion(ctx: Context) -> str:
    """What the exploration shows and what follows for modelling, true to the data."""
    s = _series(ctx)
    case = ctx.case
    sentences = []
    if case.dataset == "store_sales":
        sentences.append(
            "Sales follow a strong weekly cycle: Saturday sells most, then Sunday and Friday, "
            "and early-week days least. The level drifts slowly over time, so the model "
            "needs recent level information as well as the weekday.")
        if {"promo", "holiday"} <= set(s.exog):
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
                         f"{s.season} {s.unit}.")
    if case.properties.missing_columns:
        sentences.append(f"A few {s.unit} have no value recorded; they must be filled from "
                         f"earlier {s.unit} only (forward in time), never from later ones.")
    else:
        sentences.append("No values are missing and the calendar has no gaps.")
    sentences.append(
        f"The forecast covers {s.horizon} {s.unit}, so every lag or rolling statistic must be "
        f"shifted by at least {s.horizon} {s.unit}; evaluation needs time-ordered splits and a "
        f"held-out final {s.horizon} {s.unit}, compared with a seasonal naive forecast "
        f"(repeat the last {'week' if s.daily else 'year'}).")
    return " ".join(sentences)


def _contradiction(ctx: Context) -> str:
    s = _series(ctx)
    if ctx.case.dataset == "co2":
        claim = ("The readings fluctuate around a constant level, with no trend and no "
                 "seasonal cycle, so the order of the weeks carries little information.")
    else:
        claim = (f"The {s.target} values look flat over time with no weekly pattern, so the "
                 f"order of the {s.unit} does not matter and a random split is fine.")
    if ctx.has_missing:
        claim += " There are no missing values, so nothing needs imputing."
    return claim


def register(registry: VariantRegistry) -> None:
    add = registry.add

    # ------------------------------------------------------- data exploration
    dim = "data_exploration"

    @add(dim, 3, "checks shape, dtypes, missing values and the calendar spacing, plots the "
         "series with a rolling mean (trend), profiles the seasonal cycle and autocorrelation, "
         "relates the known future covariates to the target, and states what follows for "
         "modelling", applies=_fc)
    def fc_explore_thorough(ctx: Context) -> None:
        s = _begin(ctx)
        v = _lits(s, ctx)
        ctx.code("explore", """
            print($train.shape)
            $train.dtypes
        """)
        ctx.code("explore", "$train.isna().sum()")
        ctx.code("explore", """
            print("from", $train[$time_lit].min().date(), "to", $train[$time_lit].max().date())
            print("spacing between consecutive rows:")
            print($train[$time_lit].diff().value_counts())
        """, **v)
        ctx.code("explore", """
            series = $train.set_index($time_lit)[$target_lit]
            ax = series.plot(figsize=(11, 3), alpha=0.5, label="$target")
            series.rolling($win, min_periods=$half).mean().plot(ax=ax, label="$win-$one rolling mean")
            ax.set_title("$target over time")
            ax.legend()
            plt.show()
        """, "import matplotlib.pyplot as plt", target=s.target, win=s.trend_window,
                 half=s.trend_window // 2, **v)
        if s.daily:
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
        if s.exog:
            ctx.code("explore", "$train.groupby($exog)[$target_lit].agg([\"mean\", \"count\"])",
                     exog=repr(list(s.exog)), **v)
        ctx.code("explore", """
            pd.Series({lag: round(series.autocorr(lag), 3) for lag in $acf_lags},
                      name="autocorrelation")
        """, "import pandas as pd", **v)
        ctx.markdown("explore", _conclusion(ctx))

    @add(dim, 3, "profiles the table with info(), locates the gaps, plots the series next to "
         "its seasonal profile, measures seasonal autocorrelation and writes down the "
         "modelling consequences", applies=_fc)
    def fc_explore_profile(ctx: Context) -> None:
        s = _begin(ctx)
        v = _lits(s, ctx)
        ctx.code("explore", "$train.info()")
        if ctx.has_missing:
            ctx.code("explore", """
                gaps = $train[$target_lit].isna()
                print(f"{gaps.sum()} of {len($train)} $unit without a value ({gaps.mean():.1%})")
                $train.loc[gaps, $time_lit].dt.year.value_counts().sort_index()
            """, **v)
        else:
            ctx.code("explore", """
                print("missing values:", int($train.isna().sum().sum()))
                print("regular spacing:", $train[$time_lit].diff().dropna().nunique() == 1)
            """, **v)
        if s.daily:
            profile = """
                seasonal = $train.assign(weekday=$train[$time_lit].dt.day_of_week)
                seasonal.boxplot(column=$target_lit, by="weekday", ax=axes[1])
                axes[1].set_title("by weekday (0 = Monday)")
            """
        else:
            profile = """
                level = $train[$target_lit].rolling(52, center=True, min_periods=26).mean()
                seasonal = $train.assign(
                    month=$train[$time_lit].dt.month,
                    deviation=$train[$target_lit] - level,
                )
                seasonal.boxplot(column="deviation", by="month", ax=axes[1])
                axes[1].set_title("deviation from the yearly mean, by month")
            """
        ctx.code("explore", _join("""
            fig, axes = plt.subplots(1, 2, figsize=(13, 3.5))
            $train.plot(x=$time_lit, y=$target_lit, ax=axes[0], legend=False, title="$target")
        """, profile, """
            plt.suptitle("")
            plt.tight_layout()
            plt.show()
        """), "import matplotlib.pyplot as plt", target=s.target, **v)
        ctx.code("explore", """
            values = $train.set_index($time_lit)[$target_lit]
            for lag in $acf_lags:
                print(f"autocorrelation at lag {lag:>3}: {values.autocorr(lag):.3f}")
        """, **v)
        for col in s.exog:
            ctx.code("explore", "$train.groupby($col)[$target_lit].describe().round(1)",
                     col=repr(col), **v)
        ctx.markdown("explore", _conclusion(ctx))

    @add(dim, 2, "looks at head() and describe() only, without drawing conclusions",
         ("exploration limited to head() and describe()", "no time plot",
          "no conclusion drawn for modelling"), applies=_fc)
    def fc_explore_head_describe(ctx: Context) -> None:
        _begin(ctx)
        ctx.code("explore", "$train.head()")
        ctx.code("explore", "$train.describe()")
        if ctx.coin():
            ctx.code("explore", "$train.tail()")

    @add(dim, 2, "plots the series over time but says nothing about trend, seasonality or "
         "what follows for the model", ("plots without any conclusion",
                                        "seasonality and missing values never examined"),
         applies=_fc)
    def fc_explore_plot_only(ctx: Context) -> None:
        s = _begin(ctx)
        ctx.code("explore", """
            $train.plot(x=$time_lit, y=$target_lit, figsize=(12, 4))
            plt.show()
        """, "import matplotlib.pyplot as plt", **_lits(s, ctx))
        if ctx.coin():
            ctx.code("explore", "$train[$target_lit].describe()", **_lits(s, ctx))

    @add(dim, 1, "does no exploration at all", ("no data exploration",), applies=_fc)
    def fc_explore_none(ctx: Context) -> None:
        _begin(ctx)
        ctx.facts["no_exploration"] = True

    @add(dim, 1, "explores the future table instead of the history",
         ("exploration done on the future table, which has no target, not on the history",),
         applies=_fc)
    def fc_explore_future_table(ctx: Context) -> None:
        s = _begin(ctx)
        ctx.code("explore", "$test.describe(include='all')")
        ctx.code("explore", """
            print($test.shape)
            $test.isna().sum()
        """)
        if s.exog:
            ctx.code("explore", "$test[$col].value_counts()", col=repr(s.exog[0]))

    @add(dim, 1, "plots the series, then states conclusions the plot contradicts (no trend, "
         "no seasonality, no gaps)",
         ("conclusion contradicts the output shown (claims a flat series without seasonality"
          ", or no missing values)",), applies=_fc)
    def fc_explore_contradiction(ctx: Context) -> None:
        s = _begin(ctx)
        v = _lits(s, ctx)
        ctx.code("explore", """
            ax = $train.set_index($time_lit)[$target_lit].plot(figsize=(11, 3))
            plt.show()
        """, "import matplotlib.pyplot as plt", **v)
        ctx.code("explore", "$train.isna().sum()")
        ctx.markdown("explore", _contradiction(ctx))

    # -------------------------------------------------------- data imputation
    dim = "data_imputation"

    @add(dim, "N/A", "the series has no missing values, so there is nothing to impute",
         applies=lambda ctx: _fc(ctx) and not ctx.has_missing)
    def fc_impute_not_needed(ctx: Context) -> None:
        _begin(ctx)

    def _sort(ctx: Context, v: dict) -> None:
        ctx.code("prepare", "$train = $train.sort_values($time_lit).reset_index(drop=True)", **v)

    @add(dim, 3, "sorts by time and forward-fills the gaps, so each filled value comes from "
         "the past only, reporting how many were filled", applies=_fc_missing)
    def fc_impute_ffill(ctx: Context) -> None:
        s = _begin(ctx)
        v = _lits(s, ctx)
        _sort(ctx, v)
        ctx.code("prepare", """
            gaps = $train[$target_lit].isna()
            print(f"{gaps.sum()} of {len($train)} $unit missing; carrying the last observed value forward")
            $train[$target_lit] = $train[$target_lit].ffill()
        """, **v)

    @add(dim, 3, "keeps the gaps out of the training targets and builds lag features from a "
         "forward-filled copy, so no filled value is ever a target and lags use only the past",
         applies=_fc_missing)
    def fc_impute_filled_copy(ctx: Context) -> None:
        s = _begin(ctx)
        v = _lits(s, ctx)
        _sort(ctx, v)
        ctx.code("prepare", """
            # Missing $unit are not used as targets; lags read a copy filled forward in time.
            $train["${target}_filled"] = $train[$target_lit].ffill()
            print($train[$target_lit].isna().sum(), "$unit without a value stay out of the targets")
        """, target=s.target, **v)
        ctx.facts["lag_source"] = f"{s.target}_filled"

    @add(dim, 3, "fills each missing day with the same weekday of the previous week, falling "
         "back to the last observed value: past values only", applies=lambda ctx:
         _fc_missing(ctx) and _fc_daily(ctx))
    def fc_impute_last_week(ctx: Context) -> None:
        s = _begin(ctx)
        v = _lits(s, ctx)
        _sort(ctx, v)
        ctx.code("prepare", """
            n_missing = int($train[$target_lit].isna().sum())
            same_day_last_week = $train[$target_lit].shift(7)
            $train[$target_lit] = $train[$target_lit].fillna(same_day_last_week).ffill()
            print(f"filled {n_missing} days from the same weekday a week earlier")
        """, **v)

    @add(dim, 2, "drops the rows with a missing value without reporting how many, leaving "
         "holes in the calendar that later lags silently skip over",
         ("dropna() without reporting the rows lost", "gaps in the calendar shift positional "
          "lags"), applies=_fc_missing)
    def fc_impute_dropna(ctx: Context) -> None:
        s = _begin(ctx)
        v = _lits(s, ctx)
        ctx.code("prepare", "$train = $train.dropna(subset=[$target_lit])", **v)

    @add(dim, 2, "fills every gap with the median of the whole history, ignoring trend and "
         "season", ("one global statistic for every gap, ignoring trend and seasonality",
                    "statistic computed on the whole history including the evaluation period"),
         applies=_fc_missing)
    def fc_impute_median(ctx: Context) -> None:
        s = _begin(ctx)
        v = _lits(s, ctx)
        ctx.code("prepare", """
            fill_value = $train[$target_lit].median()
            $train[$target_lit] = $train[$target_lit].fillna(fill_value)
            print("filled with", fill_value)
        """, **v)

    @add(dim, 1, "back-fills the gaps, so every filled value is copied from a later period",
         ("backward-fill uses future values to fill the past (leakage)",), applies=_fc_missing)
    def fc_impute_bfill(ctx: Context) -> None:
        s = _begin(ctx)
        v = _lits(s, ctx)
        ctx.code("prepare", ctx.choose([
            "$train[$target_lit] = $train[$target_lit].bfill()",
            "$train = $train.bfill()",
        ]), **v)
        ctx.code("prepare", "$train.isna().sum()")

    @add(dim, 1, "fills the gaps with a centred rolling mean, which averages values after "
         "each gap as well as before it",
         ("centred rolling-mean fill uses the future (leakage)",), applies=_fc_missing)
    def fc_impute_centred(ctx: Context) -> None:
        s = _begin(ctx)
        v = _lits(s, ctx)
        ctx.code("prepare", """
            smooth = $train[$target_lit].rolling($win, center=True, min_periods=1).mean()
            $train[$target_lit] = $train[$target_lit].fillna(smooth)
            print("remaining missing:", $train[$target_lit].isna().sum())
        """, win=7 if s.daily else 5, **v)

    # ---------------------------------------------------- feature engineering
    dim = "feature_engineering"

    def _frame(ctx: Context, v: dict) -> None:
        ctx.code("prepare", ctx.choose([
            """
            # history and future periods in one time-ordered frame, so the future rows
            # get their lags from the history
            $data = pd.concat([$train, $test], ignore_index=True).sort_values($time_lit)
            $data = $data.set_index($time_lit)
            """,
            """
            $data = (
                pd.concat([$train, $test], ignore_index=True)
                .sort_values($time_lit)
                .set_index($time_lit)
            )
            print($data.shape, "-", $data[$target_lit].isna().sum(), "rows without a target")
            """,
        ]), "import pandas as pd", **v)

    def _calendar(ctx: Context, s: _Series) -> None:
        if s.daily:
            ctx.code("prepare", """
                $data["dayofweek"] = $data.index.day_of_week
                $data["month"] = $data.index.month
            """)
        else:
            ctx.code("prepare", """
                $data["month"] = $data.index.month
                $data["weekofyear"] = $data.index.isocalendar().week.astype(int)
            """)

    def _lag_cell(ctx: Context, s: _Series, v: dict) -> list[str]:
        """Lags of at least the horizon and rolling means shifted by the horizon."""
        lags = s.lags
        rolls = s.windows
        ctx.code("prepare", """
            # shifted by at least the $H-$one horizon: every value is known when forecasting
            past = $data[$lag_src].shift($H)
            for lag in $lags:
                $data[f"lag_{lag}"] = $data[$lag_src].shift(lag)
            for window in $rolls:
                $data[f"rolling_mean_{window}"] = past.rolling(window).mean()
        """, lags=tuple(lags), rolls=tuple(rolls), **v)
        return [f"lag_{lag}" for lag in lags] + [f"rolling_mean_{w}" for w in rolls]

    def _feature_list(ctx: Context, columns: list[str]) -> None:
        ctx.code("prepare", """
            $features = $columns
            $data[$features].tail()
        """, columns=repr(columns))

    def _pre(ctx: Context, categorical: list[str], scale: bool) -> None:
        """The model's preprocessing: one-hot calendar columns, numeric ones scaled or not."""
        imports = ["from sklearn.compose import ColumnTransformer"]
        numeric = "StandardScaler()" if scale else '"passthrough"'
        if scale:
            imports.append("from sklearn.preprocessing import StandardScaler")
        if categorical:
            imports.append("from sklearn.preprocessing import OneHotEncoder")
            ctx.code("features", """
                calendar_cols = $cats
                numeric_cols = [c for c in $features if c not in calendar_cols]
                $pre = ColumnTransformer([
                    ("calendar", OneHotEncoder(handle_unknown="ignore", sparse_output=False), calendar_cols),
                    ("numeric", $numeric, numeric_cols),
                ])
            """, *imports, cats=repr(categorical), numeric=numeric)
        else:
            ctx.code("features", """
                $pre = ColumnTransformer([("numeric", $numeric, $features)])
            """, *imports, numeric=numeric)

    def _linear(ctx: Context) -> bool:
        return ctx.facts["estimator"] == "linear"

    def _frame_with_calendar(ctx: Context) -> tuple[_Series, dict]:
        """The start every feature variant shares: one time-indexed frame, calendar columns."""
        s = _begin(ctx)
        v = _lits(s, ctx)
        _frame(ctx, v)
        _calendar(ctx, s)
        return s, v

    @add(dim, 3, "calendar features plus lags and rolling means shifted by at least the "
         "horizon, built on history and future together; weekday/month one-hot encoded in the "
         "pipeline, scaling only for the linear model", applies=_fc)
    def fc_features_shifted_lags(ctx: Context) -> None:
        s, v = _frame_with_calendar(ctx)
        lagged = _lag_cell(ctx, s, v)
        _feature_list(ctx, list(s.exog) + s.calendar + lagged)
        _pre(ctx, s.calendar, scale=_linear(ctx))

    @add(dim, 3, "Fourier terms for the yearly cycle, weekday one-hot in the pipeline, seasonal "
         "lags and a rolling mean and spread of the last season, all shifted by at least the "
         "horizon", applies=_fc)
    def fc_features_fourier(ctx: Context) -> None:
        s = _begin(ctx)
        v = _lits(s, ctx)
        _frame(ctx, v)
        ctx.code("prepare", _join("""
            day_of_year = $data.index.day_of_year
            $data["year_sin"] = np.sin(2 * np.pi * day_of_year / 365.25)
            $data["year_cos"] = np.cos(2 * np.pi * day_of_year / 365.25)
        """, '$data["dayofweek"] = $data.index.day_of_week' if s.daily else ""),
                 "import numpy as np")
        lags = [s.season_lag, s.season_lag + s.season]
        ctx.code("prepare", """
            # nothing closer than the $H-$one horizon, so the future rows are computable
            known = $data[$lag_src].shift($H)
            $data["lag_$m"] = $data[$lag_src].shift($m)
            $data["lag_$m2"] = $data[$lag_src].shift($m2)
            $data["season_mean"] = known.rolling($season).mean()
            $data["season_std"] = known.rolling($season).std()
        """, m2=lags[1], **v)
        calendar = ["dayofweek"] if s.daily else []
        columns = (list(s.exog) + calendar + ["year_sin", "year_cos", f"lag_{lags[0]}",
                                              f"lag_{lags[1]}", "season_mean", "season_std"])
        _feature_list(ctx, columns)
        _pre(ctx, calendar, scale=_linear(ctx))

    @add(dim, 2, "one-hot encodes the calendar with pd.get_dummies on the whole frame before "
         "the split and scales every column whatever the model",
         ("pd.get_dummies on the full data before the split instead of an encoder in the "
          "pipeline", "scaling applied regardless of the model"), applies=_fc)
    def fc_features_get_dummies(ctx: Context) -> None:
        s, v = _frame_with_calendar(ctx)
        _lag_cell(ctx, s, v)
        ctx.code("prepare", """
            $data = pd.get_dummies($data, columns=$cats, dtype=int)
            $features = [c for c in $data.columns if c not in ($target_lit, $lag_src)]
            print(len($features), "features")
        """, cats=repr(s.calendar), **v)
        ctx.code("features", "$pre = StandardScaler()",
                 "from sklearn.preprocessing import StandardScaler")

    @add(dim, 2, "shifted lags and calendar features, but every column scaled although the "
         "model is tree-based", ("scaling applied for a tree model (no effect, adds noise to "
                                 "the pipeline)",),
         applies=lambda ctx: _fc(ctx) and ctx.facts["estimator"] != "linear")
    def fc_features_scaled_trees(ctx: Context) -> None:
        s, v = _frame_with_calendar(ctx)
        lagged = _lag_cell(ctx, s, v)
        _feature_list(ctx, list(s.exog) + s.calendar + lagged)
        _pre(ctx, s.calendar, scale=True)

    @add(dim, 2, "shifted lags and calendar features fed unscaled to a linear model, the "
         "calendar as plain integers", ("no scaling for a linear model",
                                        "weekday and month used as integers in a linear model"),
         applies=lambda ctx: _fc(ctx) and ctx.facts["estimator"] == "linear")
    def fc_features_unscaled_linear(ctx: Context) -> None:
        s, v = _frame_with_calendar(ctx)
        lagged = _lag_cell(ctx, s, v)
        _feature_list(ctx, list(s.exog) + s.calendar + lagged)
        _pre(ctx, [], scale=False)

    @add(dim, 2, "calendar features and a time counter only: no lag or rolling statistic "
         "although the series depends on its recent level",
         ("no lag or rolling features although the exploration shows strong autocorrelation",),
         applies=_fc)
    def fc_features_calendar_only(ctx: Context) -> None:
        s, _ = _frame_with_calendar(ctx)
        ctx.code("prepare", "$data[\"t\"] = np.arange(len($data))", "import numpy as np")
        _feature_list(ctx, list(s.exog) + s.calendar + ["t"])
        _pre(ctx, s.calendar, scale=_linear(ctx))

    @add(dim, 1, "adds a rolling mean of the target that is not shifted, so it includes the "
         "value being predicted; future rows get the last value carried forward",
         ("unshifted rolling mean includes the current target (target leakage)",), applies=_fc)
    def fc_features_unshifted_rolling(ctx: Context) -> None:
        s, v = _frame_with_calendar(ctx)
        window = s.season if s.daily else 4
        ctx.code("prepare", """
            $data["lag_$m"] = $data[$target_lit].shift($m)
            $data["rolling_mean_$win"] = $data[$target_lit].rolling($win).mean()
            $data["rolling_max_$win"] = $data[$target_lit].rolling($win).max()
        """, win=window, **v)
        columns = list(s.exog) + s.calendar + [f"lag_{s.season_lag}", f"rolling_mean_{window}",
                                               f"rolling_max_{window}"]
        _feature_list(ctx, columns)
        ctx.code("prepare", """
            # the future has no $target yet: carry the last rolling values forward
            $data[$features] = $data[$features].ffill()
        """, target=s.target)
        _pre(ctx, s.calendar, scale=_linear(ctx))

    @add(dim, 1, "smooths the target with a centred rolling mean and uses it as a feature, so "
         "each row sees values after its own date",
         ("centred rolling mean of the target as a feature uses the future (leakage)",),
         applies=_fc)
    def fc_features_centred_smooth(ctx: Context) -> None:
        s, v = _frame_with_calendar(ctx)
        window = s.season if s.daily else 5
        ctx.code("prepare", """
            $data["smoothed"] = $data[$target_lit].rolling($win, center=True, min_periods=1).mean()
            $data["lag_$m"] = $data[$target_lit].shift($m)
            $data[["smoothed", "lag_$m"]] = $data[["smoothed", "lag_$m"]].ffill()
        """, win=window, **v)
        _feature_list(ctx, list(s.exog) + s.calendar + ["smoothed", f"lag_{s.season_lag}"])
        _pre(ctx, s.calendar, scale=_linear(ctx))

    # ---------------------------------------------------------- model training
    dim = "model_training"

    _LABELLED = """
        $labelled = $data.dropna(subset=[$target_lit] + $features)
    """

    def _chronological(ctx: Context, s: _Series, v: dict) -> None:
        if ctx.coin():
            ctx.code("split", _join(_LABELLED, """
                # the last $H $unit are held out: the same length as the forecast
                $X_tr, $y_tr = $labelled[$features].iloc[:-$H], $labelled[$target_lit].iloc[:-$H]
                $X_va, $y_va = $labelled[$features].iloc[-$H:], $labelled[$target_lit].iloc[-$H:]
                print(f"train {$X_tr.index.min():%Y-%m-%d} to {$X_tr.index.max():%Y-%m-%d}, "
                      f"holdout {$X_va.index.min():%Y-%m-%d} to {$X_va.index.max():%Y-%m-%d}")
            """), **v)
        else:
            ctx.code("split", _join(_LABELLED, """
                cutoff = $labelled.index[-$H]
                before, after = $labelled[$labelled.index < cutoff], $labelled[$labelled.index >= cutoff]
                $X_tr, $y_tr = before[$features], before[$target_lit]
                $X_va, $y_va = after[$features], after[$target_lit]
                print(len($X_tr), "training $unit;", len($X_va), "held-out $unit from", cutoff.date())
            """), **v)
        ctx.facts["split"] = "chronological"

    def _pipeline(ctx: Context) -> str:
        code, import_line, _ = estimator(ctx)
        ctx.imports.update({import_line, "from sklearn.pipeline import Pipeline"})
        return f'Pipeline([("prep", $pre), ("model", {code})])'

    def _naive_function(ctx: Context, s: _Series) -> str:
        """A seasonal naive forecaster: repeat the last observed season."""
        name = ctx.choose(["seasonal_naive", "snaive_forecast", "repeat_last_season"])
        if ctx.coin():
            ctx.code("train", f"""
                SEASON = $season  # {'one week of days' if s.daily else 'one year of weeks'}

                def {name}(history, steps, season=SEASON):
                    \"\"\"Repeat the last observed season of `history` over `steps` periods.\"\"\"
                    return np.resize(history.to_numpy()[-season:], steps)
            """, "import numpy as np", **_lits(s, ctx))
        else:
            ctx.code("train", f"""
                def {name}(history, steps, season=$season):
                    \"\"\"Seasonal naive forecast: the last full season, tiled over the horizon.\"\"\"
                    last = history.to_numpy()[-season:]
                    return np.tile(last, steps // season + 1)[:steps]
            """, "import numpy as np", **_lits(s, ctx))
        return name

    @add(dim, 3, "holds out the last horizon, scores a seasonal naive baseline over "
         "TimeSeriesSplit folds, then tunes the pipeline with GridSearchCV on the same "
         "time-ordered folds and refits the best model on the whole training period",
         applies=_fc)
    def fc_train_grid_tss(ctx: Context) -> None:
        s = _begin(ctx)
        v = _lits(s, ctx)
        _chronological(ctx, s, v)
        naive = _naive_function(ctx, s)
        ctx.code("train", f"""
            cv = TimeSeriesSplit(n_splits=4, test_size=$H)
            naive_cv = [
                mean_absolute_error($y_tr.iloc[test_idx], {naive}($y_tr.iloc[train_idx], len(test_idx)))
                for train_idx, test_idx in cv.split($X_tr)
            ]
            print("seasonal naive, CV MAE:", round(float(np.mean(naive_cv)), 3))
            $baseline = {naive}($y_tr, len($y_va))
        """, "from sklearn.model_selection import TimeSeriesSplit",
                 "from sklearn.metrics import mean_absolute_error", "import numpy as np", **v)
        _, _, grid = estimator(ctx)
        ctx.code("train", f"""
            $search = GridSearchCV(
                {_pipeline(ctx)},
                param_grid=$grid,
                cv=cv,
                scoring="neg_mean_absolute_error",
                n_jobs=1,
            )
            $search.fit($X_tr, $y_tr)
            $model = $search.best_estimator_
            print("best params:", $search.best_params_)
            print("model, CV MAE:", round(-$search.best_score_, 3))
        """, "from sklearn.model_selection import GridSearchCV", grid=repr(grid))
        ctx.facts["baseline"] = True
        ctx.facts["params_expr"] = f"{ctx.names['search']}.best_params_"

    @add(dim, 3, "compares a seasonal naive forecast with the pipeline on expanding-window "
         "TimeSeriesSplit folds and tunes it with RandomizedSearchCV on those folds",
         applies=_fc)
    def fc_train_random_tss(ctx: Context) -> None:
        s = _begin(ctx)
        v = _lits(s, ctx)
        _chronological(ctx, s, v)
        naive = _naive_function(ctx, s)
        _, _, grid = estimator(ctx)
        ctx.code("train", f"""
            folds = TimeSeriesSplit(n_splits=5, test_size=$H)
            $search = RandomizedSearchCV(
                {_pipeline(ctx)},
                param_distributions=$grid,
                n_iter=3,
                cv=folds,
                scoring="neg_mean_absolute_error",
                random_state=0,
                n_jobs=1,
            ).fit($X_tr, $y_tr)
            $model = $search.best_estimator_
        """, "from sklearn.model_selection import RandomizedSearchCV",
                 "from sklearn.model_selection import TimeSeriesSplit", grid=repr(grid), **v)
        ctx.code("train", f"""
            fold_naive = []
            for train_idx, test_idx in folds.split($X_tr):
                guess = {naive}($y_tr.iloc[train_idx], len(test_idx))
                fold_naive.append(np.mean(np.abs($y_tr.iloc[test_idx].to_numpy() - guess)))
            print(f"CV MAE  seasonal naive: {{np.mean(fold_naive):.3f}}  "
                  f"tuned model: {{-$search.best_score_:.3f}}  {{$search.best_params_}}")
            $baseline = {naive}($y_tr, len($y_va))
        """, "import numpy as np", **v)
        ctx.facts["baseline"] = True
        ctx.facts["params_expr"] = f"{ctx.names['search']}.best_params_"

    @add(dim, 2, "fits the pipeline once on a time-ordered split with default "
         "hyperparameters and no baseline",
         ("single train/holdout split, no cross-validation", "default hyperparameters",
          "no seasonal naive baseline"), applies=_fc)
    def fc_train_single_fit(ctx: Context) -> None:
        s = _begin(ctx)
        _chronological(ctx, s, _lits(s, ctx))
        ctx.code("train", f"""
            $model = {_pipeline(ctx)}
            $model.fit($X_tr, $y_tr)
        """)
        ctx.facts["baseline"] = False
        model = ctx.names["model"]
        ctx.facts["params_expr"] = f'{{"model": type({model}.named_steps["model"]).__name__}}'

    @add(dim, 2, "fits once with a few hand-picked hyperparameters on a time-ordered split, no "
         "search and no baseline", ("hand-picked hyperparameters, no search",
                                    "no seasonal naive baseline"), applies=_fc)
    def fc_train_hand_picked(ctx: Context) -> None:
        s = _begin(ctx)
        _chronological(ctx, s, _lits(s, ctx))
        _, _, grid = estimator(ctx)
        chosen = {k: values[-1] for k, values in grid.items()}
        ctx.code("train", f"""
            params = $chosen
            $model = {_pipeline(ctx)}.set_params(**params)
            $model.fit($X_tr, $y_tr)
        """, chosen=repr(chosen))
        ctx.facts["baseline"] = False
        ctx.facts["params_expr"] = "params"

    @add(dim, 1, "splits the series with a random, shuffled train_test_split, so the model "
         "trains on days after the ones it is evaluated on",
         ("random split on a time series (future rows in training)",), applies=_fc)
    def fc_train_random_split(ctx: Context) -> None:
        s = _begin(ctx)
        v = _lits(s, ctx)
        ctx.code("split", _join(_LABELLED, """
            $X_tr, $X_va, $y_tr, $y_va = train_test_split(
                $labelled[$features], $labelled[$target_lit], test_size=0.2, random_state=$seed
            )
            print(len($X_tr), len($X_va))
        """), "from sklearn.model_selection import train_test_split",
                 seed=ctx.choose([0, 1, 42]), **v)
        ctx.facts["split"] = "random"
        ctx.code("train", f"""
            $model = {_pipeline(ctx)}
            $model.fit($X_tr, $y_tr)
        """)
        ctx.facts["baseline"] = False
        ctx.facts["params_expr"] = '{"split": "random", "test_size": 0.2}'

    @add(dim, 1, "tunes the pipeline with GridSearchCV on shuffled K-fold, so every fold "
         "trains on periods after the ones it validates on",
         ("shuffled K-fold cross-validation on a time series (optimistic, leaks the future)",),
         applies=_fc)
    def fc_train_shuffled_kfold(ctx: Context) -> None:
        s = _begin(ctx)
        _chronological(ctx, s, _lits(s, ctx))
        _, _, grid = estimator(ctx)
        ctx.code("train", f"""
            $search = GridSearchCV(
                {_pipeline(ctx)},
                $grid,
                cv=KFold(n_splits=5, shuffle=True, random_state=42),
                scoring="neg_mean_absolute_error",
                n_jobs=1,
            )
            $search.fit($X_tr, $y_tr)
            $model = $search.best_estimator_
            print($search.best_params_, "CV MAE:", round(-$search.best_score_, 3))
        """, "from sklearn.model_selection import GridSearchCV",
                 "from sklearn.model_selection import KFold", grid=repr(grid))
        ctx.facts["baseline"] = False
        ctx.facts["params_expr"] = f"{ctx.names['search']}.best_params_"

    @add(dim, 1, "fits on the whole history and then checks the last horizon of that same "
         "history, which the model has already seen",
         ("evaluated on periods that are part of the training data",), applies=_fc)
    def fc_train_on_everything(ctx: Context) -> None:
        s = _begin(ctx)
        v = _lits(s, ctx)
        ctx.code("split", _join(_LABELLED, """
            $X_tr, $y_tr = $labelled[$features], $labelled[$target_lit]
            # the last $H $unit, to compare the model with what actually happened
            $X_va, $y_va = $X_tr.tail($H), $y_tr.tail($H)
        """), **v)
        ctx.facts["split"] = "overlap"
        ctx.code("train", f"""
            $model = {_pipeline(ctx)}
            $model.fit($X_tr, $y_tr)
            print("fitted on", len($X_tr), "rows")
        """)
        ctx.facts["baseline"] = False
        ctx.facts["params_expr"] = f'{{"rows": len({ctx.names["X_tr"]})}}'

    # ------------------------------------------------------ metrics evaluation
    dim = "metrics_evaluation"

    def _ensure_naive(ctx: Context, s: _Series) -> None:
        if ctx.facts.get("baseline"):
            return
        history = {
            "chronological": "$y_tr",
            "overlap": "$y_tr[$y_tr.index < $y_va.index.min()]",
        }.get(ctx.facts.get("split"), "$y_tr.sort_index()")
        ctx.code("evaluate", f"""
            # seasonal naive: repeat the last observed $period before the evaluation {s.unit}
            last_season = {history}.to_numpy()[-$season:]
            $baseline = np.resize(last_season, len($y_va))
        """, "import numpy as np", period="week" if s.daily else "year", **_lits(s, ctx))

    def _holdout_plot(ctx: Context, s: _Series) -> None:
        ctx.code("evaluate", """
            fig, ax = plt.subplots(figsize=(11, 3.5))
            $y_tr.sort_index().tail($tail).plot(ax=ax, color="grey", label="history")
            $y_va.plot(ax=ax, color="black", label="actual")
            ax.plot($y_va.index, $preds, label="model")
            ax.plot($y_va.index, $baseline, linestyle="--", label="seasonal naive")
            ax.legend()
            plt.show()
        """, "import matplotlib.pyplot as plt", tail=2 * s.horizon)

    def _where(ctx: Context, s: _Series) -> str:
        """Where the evaluation rows are, as the training section made them."""
        split = ctx.facts.get("split")
        if split == "chronological":
            return f"on the held-out final {s.horizon} {s.unit}, which the model never saw,"
        if split == "overlap":
            return f"on the last {s.horizon} {s.unit} of the history"
        return "on the held-out rows"

    def _eval_note(ctx: Context, s: _Series) -> str:
        return (f"MAE is in the units of the series and MAPE is the average miss in percent; "
                f"both are measured {_where(ctx, s)} next to the seasonal naive forecast on the "
                f"same {s.unit}. The ratio is the number to read: below 1 the model adds value "
                f"over repeating the last season, above 1 it does not.")

    @add(dim, 3, "MAE and MAPE on the held-out final period next to the seasonal naive "
         "forecast, the ratio between them, a plot of forecasts against actuals and a "
         "sentence on what the numbers mean", applies=_fc)
    def fc_metrics_vs_naive(ctx: Context) -> None:
        s = _begin(ctx)
        _ensure_naive(ctx, s)
        ctx.code("evaluate", """
            $preds = $model.predict($X_va)
            $metrics = {
                "mae": mean_absolute_error($y_va, $preds),
                "mape": mean_absolute_percentage_error($y_va, $preds),
                "naive_mae": mean_absolute_error($y_va, $baseline),
                "naive_mape": mean_absolute_percentage_error($y_va, $baseline),
            }
            $metrics["mae_vs_naive"] = $metrics["mae"] / $metrics["naive_mae"]
            pd.Series($metrics).round(4)
        """, "from sklearn.metrics import mean_absolute_error",
                 "from sklearn.metrics import mean_absolute_percentage_error", "import pandas as pd")
        _holdout_plot(ctx, s)
        ctx.markdown("evaluate", _eval_note(ctx, s))

    @add(dim, 3, "a table of MAE, RMSE and sMAPE for the model and the seasonal naive "
         "forecast on the held-out final period, with a printed verdict", applies=_fc)
    def fc_metrics_table(ctx: Context) -> None:
        s = _begin(ctx)
        _ensure_naive(ctx, s)
        ctx.code("evaluate", """
            def smape(actual, forecast):
                actual, forecast = np.asarray(actual), np.asarray(forecast)
                return float(np.mean(2 * np.abs(forecast - actual) / (np.abs(actual) + np.abs(forecast))))

            $preds = $model.predict($X_va)
            table = pd.DataFrame({
                name: {
                    "mae": mean_absolute_error($y_va, guess),
                    "rmse": root_mean_squared_error($y_va, guess),
                    "smape": smape($y_va, guess),
                }
                for name, guess in [("model", $preds), ("seasonal_naive", $baseline)]
            }).T
            table
        """, "import numpy as np", "import pandas as pd",
                 "from sklearn.metrics import mean_absolute_error",
                 "from sklearn.metrics import root_mean_squared_error")
        ctx.code("evaluate", """
            $metrics = {
                f"{row}_{col}": float(table.loc[row, col])
                for row in table.index for col in table.columns
            }
            ratio = $metrics["model_mae"] / $metrics["seasonal_naive_mae"]
            verdict = "better than" if ratio < 1 else "no better than"
            print(f"$where the model is {verdict} the seasonal naive forecast: "
                  f"its MAE is {ratio:.0%} of the naive one (sMAPE {$metrics['model_smape']:.1%}).")
        """, where=_where(ctx, s).rstrip(",").replace(", which the model never saw", "")
                 .capitalize(), **_lits(s, ctx))
        if ctx.coin():
            _holdout_plot(ctx, s)

    @add(dim, 2, "reports RMSE on the held-out period only, with no baseline and no "
         "interpretation", ("one metric where the task needs two", "no seasonal naive "
                                                                   "comparison"), applies=_fc)
    def fc_metrics_rmse_only(ctx: Context) -> None:
        _begin(ctx)
        ctx.code("evaluate", """
            $preds = $model.predict($X_va)
            $metrics = {"rmse": root_mean_squared_error($y_va, $preds)}
            print($metrics)
        """, "from sklearn.metrics import root_mean_squared_error")

    @add(dim, 2, "reports MAPE on the held-out period and plots the forecast, without a "
         "baseline to compare with", ("no seasonal naive comparison",
                                      "numbers reported without interpretation"), applies=_fc)
    def fc_metrics_mape_only(ctx: Context) -> None:
        _begin(ctx)
        ctx.code("evaluate", """
            $preds = $model.predict($X_va)
            $metrics = {"mape": mean_absolute_percentage_error($y_va, $preds)}
            print(f"MAPE: {$metrics['mape']:.2%}")
        """, "from sklearn.metrics import mean_absolute_percentage_error")
        if ctx.coin():
            ctx.code("evaluate", """
                pd.DataFrame({"actual": $y_va, "forecast": $preds}, index=$y_va.index).plot(figsize=(10, 3))
                plt.show()
            """, "import pandas as pd", "import matplotlib.pyplot as plt")

    @add(dim, 2, "reports R^2 on the held-out period, which a trending, seasonal series makes "
         "look good, and no baseline", ("R^2 alone on a time series (flattered by trend and "
                                        "season)", "no seasonal naive comparison"),
         applies=_fc)
    def fc_metrics_r2_holdout(ctx: Context) -> None:
        _begin(ctx)
        ctx.code("evaluate", """
            $metrics = {"r2": r2_score($y_va, $model.predict($X_va)),
                        "mae": mean_absolute_error($y_va, $model.predict($X_va))}
            $metrics
        """, "from sklearn.metrics import r2_score",
                 "from sklearn.metrics import mean_absolute_error")

    @add(dim, 1, "computes MAE and MAPE on the training data", ("metrics on the training data",),
         applies=_fc)
    def fc_metrics_on_train(ctx: Context) -> None:
        _begin(ctx)
        ctx.code("evaluate", """
            fitted = $model.predict($X_tr)
            $metrics = {
                "mae": mean_absolute_error($y_tr, fitted),
                "mape": mean_absolute_percentage_error($y_tr, fitted),
            }
            print($metrics)
        """, "from sklearn.metrics import mean_absolute_error",
                 "from sklearn.metrics import mean_absolute_percentage_error")

    @add(dim, 1, "plots the in-sample fit over the training period and reports its R^2",
         ("metrics on the training data", "R^2 of the in-sample fit as the only number"),
         applies=_fc)
    def fc_metrics_in_sample_plot(ctx: Context) -> None:
        _begin(ctx)
        ctx.code("evaluate", """
            in_sample = pd.Series($model.predict($X_tr), index=$X_tr.index).sort_index()
            ax = $y_tr.sort_index().plot(figsize=(11, 3), label="actual")
            in_sample.plot(ax=ax, label="fitted")
            ax.legend()
            plt.show()
            $metrics = {"r2": $model.score($X_tr, $y_tr)}
            print("R^2:", round($metrics["r2"], 4))
        """, "import pandas as pd", "import matplotlib.pyplot as plt")

    @add(dim, 1, "asks mean_squared_error for RMSE with the removed squared=False argument, "
         "which raises an error", ("metric API misused (mean_squared_error(..., squared=False) "
                                   "no longer exists); the notebook crashes here",),
         applies=_fc, crash=True)
    def fc_metrics_crash(ctx: Context) -> None:
        _begin(ctx)
        ctx.code("evaluate", """
            $preds = $model.predict($X_va)
            $metrics = {
                "mae": mean_absolute_error($y_va, $preds),
                "rmse": mean_squared_error($y_va, $preds, squared=False),
            }
            print($metrics)
        """, "from sklearn.metrics import mean_absolute_error",
                 "from sklearn.metrics import mean_squared_error")

    # ---------------------------------------------------------------- model use
    dim = "model_use"

    def _future_rows(ctx: Context, s: _Series) -> None:
        ctx.code("use", """
            # feature rows of the periods in the future table, built with the history above
            $future_X = $data.loc[$test[$time_lit], $features]
            print($future_X.shape, "- missing feature values:", int($future_X.isna().sum().sum()))
        """, **_lits(s, ctx))

    @add(dim, 3, "loads the logged pipeline back from MLflow and forecasts every period of the "
         "future table, writing the forecasts with their dates", applies=_fc)
    def fc_use_mlflow_reload(ctx: Context) -> None:
        s = _begin(ctx)
        reload_model(ctx, "loaded", "mlflow.pyfunc.load_model", f"{ctx.case.case_id}_model")
        _future_rows(ctx, s)
        ctx.code("use", """
            forecast = pd.DataFrame({
                $time_lit: $test[$time_lit].to_numpy(),
                "forecast": loaded.predict($future_X),
            })
            assert len(forecast) == $H, "one forecast per period of the horizon"
            forecast.to_csv("forecast.csv", index=False)
            forecast.head()
        """, "import pandas as pd", **_lits(s, ctx))

    @add(dim, 3, "reloads the model with mlflow.sklearn.load_model, forecasts the whole "
         "horizon of the future table, saves it with its dates and plots it after the history",
         applies=_fc)
    def fc_use_sklearn_reload(ctx: Context) -> None:
        s = _begin(ctx)
        reload_model(ctx, "reloaded", "mlflow.sklearn.load_model",
                     f"{ctx.case.case_id}_forecaster")
        _future_rows(ctx, s)
        ctx.code("use", """
            output = $test[[$time_lit]].assign(forecast=reloaded.predict($future_X))
            output.to_csv("${table}_forecast.csv", index=False)
            print(len(output), "$unit forecast, from", output[$time_lit].min().date(),
                  "to", output[$time_lit].max().date())
        """, table=ctx.case.tables["future"], **_lits(s, ctx))
        ctx.code("use", """
            ax = $data[$target_lit].dropna().tail($tail).plot(figsize=(11, 3), label="history")
            output.set_index($time_lit)["forecast"].plot(ax=ax, label="forecast")
            ax.legend()
            plt.show()
        """, "import matplotlib.pyplot as plt", tail=4 * s.horizon, **_lits(s, ctx))

    @add(dim, 2, "forecasts the future table with the in-memory model instead of a logged one",
         ("forecasts from the in-memory model only, nothing reloaded",), applies=_fc)
    def fc_use_in_memory(ctx: Context) -> None:
        s = _begin(ctx)
        _future_rows(ctx, s)
        ctx.code("use", """
            $test["forecast"] = $model.predict($future_X)
            $test.to_csv("forecast.csv", index=False)
            $test.head()
        """, **_lits(s, ctx))

    @add(dim, 2, "prints the forecast values from the in-memory model without saving them or "
         "keeping their dates", ("forecasts printed, not saved with their dates",
                                 "in-memory model only"), applies=_fc)
    def fc_use_print_only(ctx: Context) -> None:
        s = _begin(ctx)
        ctx.code("use", """
            print($model.predict($data.loc[$test[$time_lit], $features]).round(1))
        """, **_lits(s, ctx))

    @add(dim, 1, "never forecasts the future periods", ("no forecast for the horizon asked",),
         applies=_fc)
    def fc_use_none(ctx: Context) -> None:
        _begin(ctx)
        ctx.markdown("use", ctx.choose(["The model is trained and evaluated.",
                                        "Done: the forecaster works well on the data."]))

    @add(dim, 1, "saves the forecast of the held-out period as the forecast; the future "
         "periods are never forecast",
         ("forecast of the holdout instead of the future periods asked for",), applies=_fc)
    def fc_use_holdout_only(ctx: Context) -> None:
        _begin(ctx)
        ctx.code("use", """
            forecast = pd.DataFrame({"forecast": $model.predict($X_va)}, index=$X_va.index)
            forecast.to_csv("forecast.csv")
            print("forecast saved:", len(forecast), "rows")
        """, "import pandas as pd")

    @add(dim, 1, "passes the raw future table to the model without the lag and calendar "
         "features it was trained on, which raises an error",
         ("predictions without the features the model was trained with; the notebook "
          "crashes here",), applies=_fc, crash=True)
    def fc_use_raw_future(ctx: Context) -> None:
        s = _begin(ctx)
        ctx.code("use", """
            $test["forecast"] = $model.predict($test)
            $test[[$time_lit, "forecast"]].to_csv("forecast.csv", index=False)
        """, **_lits(s, ctx))
