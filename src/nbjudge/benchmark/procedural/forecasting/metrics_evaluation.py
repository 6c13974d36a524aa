"""Metrics evaluation of a forecast: ``$metrics``. Good: MAE-type metrics on
the held-out final period next to the seasonal naive forecast, and what they
mean; average: one metric, no baseline, R^2; bad: training-data metrics, a
removed metric API (a crash)."""

from __future__ import annotations

from nbjudge.benchmark.procedural.context import Context
from nbjudge.benchmark.procedural.forecasting.series import (
    Series,
    is_forecasting,
    series_values,
    start_forecasting,
)
from nbjudge.benchmark.procedural.templates import DimensionTemplates

__all__ = ["TEMPLATES"]

TEMPLATES = DimensionTemplates("metrics_evaluation")


def _ensure_naive(ctx: Context, series: Series) -> None:
    """``$baseline``, the seasonal naive forecast of ``$y_va``, unless training made it.

    It repeats the last season before the evaluation rows, wherever the
    training section put them.
    """
    if ctx.facts.get("baseline"):
        return
    history = {
        "chronological": "$y_tr",
        "overlap": "$y_tr[$y_tr.index < $y_va.index.min()]",
    }.get(str(ctx.facts.get("split")), "$y_tr.sort_index()")
    ctx.code("evaluate", f"""
        # seasonal naive: repeat the last observed $cycle before the evaluation $periods
        last_season = {history}.to_numpy()[-$season:]
        $baseline = np.resize(last_season, len($y_va))
    """, "import numpy as np", cycle="week" if series.daily else "year",
             **series_values(ctx, series))


def _holdout_plot(ctx: Context, series: Series) -> None:
    ctx.code("evaluate", """
        fig, ax = plt.subplots(figsize=(11, 3.5))
        $y_tr.sort_index().tail($tail).plot(ax=ax, color="grey", label="history")
        $y_va.plot(ax=ax, color="black", label="actual")
        ax.plot($y_va.index, $preds, label="model")
        ax.plot($y_va.index, $baseline, linestyle="--", label="seasonal naive")
        ax.legend()
        plt.show()
    """, "import matplotlib.pyplot as plt", tail=2 * series.horizon)


def _evaluation_rows(ctx: Context, series: Series) -> str:
    """Where the evaluation rows are, as the training section made them."""
    split = ctx.facts.get("split")
    if split == "chronological":
        return f"on the held-out final {series.horizon} {series.periods}"
    if split == "overlap":
        return f"on the last {series.horizon} {series.periods} of the history"
    return "on the held-out rows"


def _evaluation_note(ctx: Context, series: Series) -> str:
    where = _evaluation_rows(ctx, series)
    if ctx.facts.get("split") == "chronological":
        where += ", which the model never saw,"
    return (f"MAE is in the units of the series and MAPE is the average miss in percent; "
            f"both are measured {where} next to the seasonal naive forecast on the "
            f"same {series.periods}. The ratio is the number to read: below 1 the model adds "
            f"value over repeating the last season, above 1 it does not.")


@TEMPLATES.add(3, "MAE and MAPE on the held-out final period next to the seasonal naive "
               "forecast, the ratio between them, a plot of forecasts against actuals and a "
               "sentence on what the numbers mean", applies=is_forecasting)
def fc_metrics_vs_naive(ctx: Context) -> None:
    series = start_forecasting(ctx)
    _ensure_naive(ctx, series)
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
    _holdout_plot(ctx, series)
    ctx.markdown("evaluate", _evaluation_note(ctx, series))


@TEMPLATES.add(3, "a table of MAE, RMSE and sMAPE for the model and the seasonal naive "
               "forecast on the held-out final period, with a printed verdict",
               applies=is_forecasting)
def fc_metrics_table(ctx: Context) -> None:
    series = start_forecasting(ctx)
    _ensure_naive(ctx, series)
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
    """, where=_evaluation_rows(ctx, series).capitalize())
    if ctx.coin():
        _holdout_plot(ctx, series)


@TEMPLATES.add(2, "reports RMSE on the held-out period only, with no baseline and no "
               "interpretation",
               ("one metric where the task needs two", "no seasonal naive comparison"),
               applies=is_forecasting)
def fc_metrics_rmse_only(ctx: Context) -> None:
    start_forecasting(ctx)
    ctx.code("evaluate", """
        $preds = $model.predict($X_va)
        $metrics = {"rmse": root_mean_squared_error($y_va, $preds)}
        print($metrics)
    """, "from sklearn.metrics import root_mean_squared_error")


@TEMPLATES.add(2, "reports MAPE on the held-out period and plots the forecast, without a "
               "baseline to compare with",
               ("no seasonal naive comparison", "numbers reported without interpretation"),
               applies=is_forecasting)
def fc_metrics_mape_only(ctx: Context) -> None:
    start_forecasting(ctx)
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


@TEMPLATES.add(2, "reports R^2 on the held-out period, which a trending, seasonal series makes "
               "look good, and no baseline",
               ("R^2 alone on a time series (flattered by trend and season)",
                "no seasonal naive comparison"),
               applies=is_forecasting)
def fc_metrics_r2_holdout(ctx: Context) -> None:
    start_forecasting(ctx)
    ctx.code("evaluate", """
        $metrics = {"r2": r2_score($y_va, $model.predict($X_va)),
                    "mae": mean_absolute_error($y_va, $model.predict($X_va))}
        $metrics
    """, "from sklearn.metrics import r2_score",
             "from sklearn.metrics import mean_absolute_error")


@TEMPLATES.add(1, "computes MAE and MAPE on the training data",
               ("metrics on the training data",), applies=is_forecasting)
def fc_metrics_on_train(ctx: Context) -> None:
    start_forecasting(ctx)
    ctx.code("evaluate", """
        fitted = $model.predict($X_tr)
        $metrics = {
            "mae": mean_absolute_error($y_tr, fitted),
            "mape": mean_absolute_percentage_error($y_tr, fitted),
        }
        print($metrics)
    """, "from sklearn.metrics import mean_absolute_error",
             "from sklearn.metrics import mean_absolute_percentage_error")


@TEMPLATES.add(1, "plots the in-sample fit over the training period and reports its R^2",
               ("metrics on the training data", "R^2 of the in-sample fit as the only number"),
               applies=is_forecasting)
def fc_metrics_in_sample_plot(ctx: Context) -> None:
    start_forecasting(ctx)
    ctx.code("evaluate", """
        in_sample = pd.Series($model.predict($X_tr), index=$X_tr.index).sort_index()
        ax = $y_tr.sort_index().plot(figsize=(11, 3), label="actual")
        in_sample.plot(ax=ax, label="fitted")
        ax.legend()
        plt.show()
        $metrics = {"r2": $model.score($X_tr, $y_tr)}
        print("R^2:", round($metrics["r2"], 4))
    """, "import pandas as pd", "import matplotlib.pyplot as plt")


@TEMPLATES.add(1, "asks mean_squared_error for RMSE with the removed squared=False argument, "
               "which raises an error",
               ("metric API misused (mean_squared_error(..., squared=False) no longer exists); "
                "the notebook crashes here",),
               applies=is_forecasting, crash=True)
def fc_metrics_crash(ctx: Context) -> None:
    start_forecasting(ctx)
    ctx.code("evaluate", """
        $preds = $model.predict($X_va)
        $metrics = {
            "mae": mean_absolute_error($y_va, $preds),
            "rmse": mean_squared_error($y_va, $preds, squared=False),
        }
        print($metrics)
    """, "from sklearn.metrics import mean_absolute_error",
             "from sklearn.metrics import mean_squared_error")
