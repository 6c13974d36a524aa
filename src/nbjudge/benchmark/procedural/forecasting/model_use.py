"""Model use for a forecast. Good: the model reloaded through MLflow forecasts
every future period, saved with its dates; average: the in-memory model, or
values only printed; bad: no forecast, the holdout passed off as the forecast,
or the raw future table fed to the model (a crash)."""

from __future__ import annotations

from typing import Any

from nbjudge.benchmark.procedural.context import Context
from nbjudge.benchmark.procedural.forecasting.series import (
    is_forecasting,
    series_values,
    start_forecasting,
)
from nbjudge.benchmark.procedural.shared.mlflow_logging import reload_model
from nbjudge.benchmark.procedural.templates import DimensionTemplates

__all__ = ["TEMPLATES"]

TEMPLATES = DimensionTemplates("model_use")


def _future_rows(ctx: Context, values: dict[str, Any]) -> None:
    """``$future_X``: the feature rows of the future periods."""
    ctx.code("use", """
        # feature rows of the periods in the future table, built with the history above
        $future_X = $data.loc[$test[$time_column], $features]
        print($future_X.shape, "- missing feature values:", int($future_X.isna().sum().sum()))
    """, **values)


@TEMPLATES.add(3, "loads the logged pipeline back from MLflow and forecasts every period of the "
               "future table, writing the forecasts with their dates", applies=is_forecasting)
def fc_use_mlflow_reload(ctx: Context) -> None:
    values = series_values(ctx, start_forecasting(ctx))
    reload_model(ctx, "loaded", "mlflow.pyfunc.load_model", f"{ctx.case.case_id}_model")
    _future_rows(ctx, values)
    ctx.code("use", """
        forecast = pd.DataFrame({
            $time_column: $test[$time_column].to_numpy(),
            "forecast": loaded.predict($future_X),
        })
        assert len(forecast) == $horizon, "one forecast per period of the horizon"
        forecast.to_csv("forecast.csv", index=False)
        forecast.head()
    """, "import pandas as pd", **values)


@TEMPLATES.add(3, "reloads the model with mlflow.sklearn.load_model, forecasts the whole "
               "horizon of the future table, saves it with its dates and plots it after the "
               "history", applies=is_forecasting)
def fc_use_sklearn_reload(ctx: Context) -> None:
    series = start_forecasting(ctx)
    values = series_values(ctx, series)
    reload_model(ctx, "reloaded", "mlflow.sklearn.load_model",
                 f"{ctx.case.case_id}_forecaster")
    _future_rows(ctx, values)
    ctx.code("use", """
        output = $test[[$time_column]].assign(forecast=reloaded.predict($future_X))
        output.to_csv("${table}_forecast.csv", index=False)
        print(len(output), "$periods forecast, from", output[$time_column].min().date(),
              "to", output[$time_column].max().date())
    """, table=ctx.case.tables["future"], **values)
    ctx.code("use", """
        ax = $data[$target_column].dropna().tail($tail).plot(figsize=(11, 3), label="history")
        output.set_index($time_column)["forecast"].plot(ax=ax, label="forecast")
        ax.legend()
        plt.show()
    """, "import matplotlib.pyplot as plt", tail=4 * series.horizon, **values)


@TEMPLATES.add(2, "forecasts the future table with the in-memory model instead of a logged one",
               ("forecasts from the in-memory model only, nothing reloaded",),
               applies=is_forecasting)
def fc_use_in_memory(ctx: Context) -> None:
    values = series_values(ctx, start_forecasting(ctx))
    _future_rows(ctx, values)
    ctx.code("use", """
        $test["forecast"] = $model.predict($future_X)
        $test.to_csv("forecast.csv", index=False)
        $test.head()
    """, **values)


@TEMPLATES.add(2, "prints the forecast values from the in-memory model without saving them or "
               "keeping their dates",
               ("forecasts printed, not saved with their dates", "in-memory model only"),
               applies=is_forecasting)
def fc_use_print_only(ctx: Context) -> None:
    ctx.code("use", """
        print($model.predict($data.loc[$test[$time_column], $features]).round(1))
    """, **series_values(ctx, start_forecasting(ctx)))


@TEMPLATES.add(1, "never forecasts the future periods", ("no forecast for the horizon asked",),
               applies=is_forecasting)
def fc_use_none(ctx: Context) -> None:
    start_forecasting(ctx)
    ctx.markdown("use", ctx.choose(["The model is trained and evaluated.",
                                    "Done: the forecaster works well on the data."]))


@TEMPLATES.add(1, "saves the forecast of the held-out period as the forecast; the future "
               "periods are never forecast",
               ("forecast of the holdout instead of the future periods asked for",),
               applies=is_forecasting)
def fc_use_holdout_only(ctx: Context) -> None:
    start_forecasting(ctx)
    ctx.code("use", """
        forecast = pd.DataFrame({"forecast": $model.predict($X_va)}, index=$X_va.index)
        forecast.to_csv("forecast.csv")
        print("forecast saved:", len(forecast), "rows")
    """, "import pandas as pd")


@TEMPLATES.add(1, "passes the raw future table to the model without the lag and calendar "
               "features it was trained on, which raises an error",
               ("predictions without the features the model was trained with; the notebook "
                "crashes here",), applies=is_forecasting, crash=True)
def fc_use_raw_future(ctx: Context) -> None:
    ctx.code("use", """
        $test["forecast"] = $model.predict($test)
        $test[[$time_column, "forecast"]].to_csv("forecast.csv", index=False)
    """, **series_values(ctx, start_forecasting(ctx)))
