"""Model use on the new table. Good: the model reloaded through MLflow scores
every new row, saved with its id; average: the in-memory model, or predictions
only printed; bad: no predictions, or the validation split passed off as them."""

from __future__ import annotations

from nbjudge.benchmark.procedural.context import Context
from nbjudge.benchmark.procedural.shared.mlflow_logging import reload_model
from nbjudge.benchmark.procedural.tabular.common import is_tabular
from nbjudge.benchmark.procedural.templates import DimensionTemplates

__all__ = ["TEMPLATES"]

TEMPLATES = DimensionTemplates("model_use")


def _features_of_test(ctx: Context) -> str:
    """Code for the new table's feature columns."""
    return f"{ctx.names['test']}[{ctx.names['features']}]"


@TEMPLATES.add(3, "loads the logged pipeline back from MLflow and scores the new table, writing "
               "predictions with their ids", applies=is_tabular)
def use_mlflow_reload(ctx: Context) -> None:
    reload_model(ctx, "loaded", "mlflow.pyfunc.load_model", f"{ctx.case.case_id}_model")
    ctx.code("use", """
        new_predictions = pd.DataFrame({
            $id_column: $test[$id_column],
            "prediction": loaded.predict($test_features),
        })
        new_predictions.to_csv("predictions.csv", index=False)
        print(len(new_predictions), "rows scored")
        new_predictions.head()
    """, "import pandas as pd", id_column=repr(ctx.case.id_column),
             test_features=_features_of_test(ctx))


@TEMPLATES.add(3, "reloads the model with mlflow.sklearn.load_model and writes predicted "
               "probabilities or values for every new row with its id", applies=is_tabular)
def use_sklearn_reload(ctx: Context) -> None:
    reload_model(ctx, "reloaded", "mlflow.sklearn.load_model",
                 f"{ctx.case.case_id}_pipeline")
    column = "predicted_probability" if ctx.case.task_type in (
        "binary", "binary_imbalanced") else "prediction"
    predict = ("reloaded.predict_proba(X_new)[:, 1]" if column == "predicted_probability"
               else "reloaded.predict(X_new)")
    ctx.code("use", """
        X_new = $test_features
        output = $test[[$id_column]].assign($column=$predict)
        output.to_csv("scored_${table}.csv", index=False)
        output.describe(include="all")
    """, id_column=repr(ctx.case.id_column), test_features=_features_of_test(ctx),
             column=column, predict=predict, table=ctx.case.tables["test"])


@TEMPLATES.add(2, "predicts the new table with the in-memory model instead of a logged one",
               ("predictions from the in-memory model only, nothing reloaded",),
               applies=is_tabular)
def use_in_memory(ctx: Context) -> None:
    ctx.code("use", """
        $test["prediction"] = $model.predict($test_features)
        $test[[$id_column, "prediction"]].to_csv("predictions.csv", index=False)
        $test[[$id_column, "prediction"]].head()
    """, id_column=repr(ctx.case.id_column), test_features=_features_of_test(ctx))


@TEMPLATES.add(2, "prints predictions for the new rows from the in-memory model without "
               "saving them or keeping their ids",
               ("predictions printed, not saved with their ids", "in-memory model only"),
               applies=is_tabular)
def use_print_only(ctx: Context) -> None:
    ctx.code("use", """
        print(pd.Series($model.predict($test_features)).value_counts().head(10))
    """, "import pandas as pd", test_features=_features_of_test(ctx))


@TEMPLATES.add(1, "never applies the model to the new table", ("no inference on the new data",),
               applies=is_tabular)
def use_none(ctx: Context) -> None:
    ctx.markdown("use", ctx.choose(["Done! The model is trained.",
                                    "The model looks good and is ready."]))


@TEMPLATES.add(1, "saves predictions of the validation split as if they were the requested "
               "predictions; the new table is never scored",
               ("predictions made on the validation split instead of the new table",),
               applies=is_tabular)
def use_validation_as_new(ctx: Context) -> None:
    ctx.code("use", """
        pd.DataFrame({"prediction": $model.predict($X_va)}).to_csv("predictions.csv", index=False)
        print("predictions saved")
    """, "import pandas as pd")
