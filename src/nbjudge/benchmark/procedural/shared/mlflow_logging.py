"""MLflow logging. Good: one run with params, metrics and a model with a
signature; bad: no tracking, or logging after the run has ended. Written after
training and evaluation, whose ``params_expr`` fact and ``$metrics`` it logs.
"""

from __future__ import annotations

from nbjudge.benchmark.procedural.context import Context
from nbjudge.benchmark.procedural.templates import DimensionTemplates

__all__ = ["TEMPLATES", "reload_model"]

TEMPLATES = DimensionTemplates("mlflow_logging")


def reload_model(ctx: Context, variable: str, loader: str, dirname: str) -> None:
    """Load the model back through MLflow: from the logged run if there is one,
    else after saving it as an MLflow model folder (model use does not depend on
    how well the notebook tracked its runs)."""
    uri = ctx.facts.get("model_uri")
    if uri is None:
        ctx.code("use", f"""
            mlflow.sklearn.save_model($model, "$dirname", serialization_format="cloudpickle")
            {variable} = {loader}("$dirname")
        """, "import mlflow", dirname=dirname)
    else:
        ctx.code("use", f"{variable} = {loader}($uri)", "import mlflow", uri=uri)


def _remember_logged_model(ctx: Context) -> None:
    ctx.facts["model_uri"] = f"{ctx.names['info']}.model_uri"


@TEMPLATES.add(3, "logs params and metrics in a named MLflow run and logs the model with a "
               "signature and an input example")
def mlflow_full_run(ctx: Context) -> None:
    ctx.code("log", """
        mlflow.set_experiment("$experiment")
        with mlflow.start_run(run_name="$run_name") as run:
            mlflow.log_params($params)
            mlflow.log_metrics($metrics)
            signature = infer_signature($X_tr, $model.predict($X_tr))
            $info = mlflow.sklearn.log_model(
                $model,
                name="model",
                signature=signature,
                input_example=$X_tr.head(3),
                serialization_format="cloudpickle",
            )
        print("logged run", run.info.run_id)
    """, "import mlflow", "from mlflow.models import infer_signature",
             experiment=ctx.case.case_id,
             run_name=ctx.choose(["baseline-pipeline", "first-model", "tuned-model"]),
             params=ctx.facts["params_expr"])
    _remember_logged_model(ctx)


@TEMPLATES.add(3, "tracks the run with params, metrics and a registered model with signature")
def mlflow_registered(ctx: Context) -> None:
    ctx.code("log", """
        mlflow.set_experiment("$experiment")
        with mlflow.start_run() as run:
            mlflow.set_tag("task", "$task")
            mlflow.log_params($params)
            for name, value in $metrics.items():
                mlflow.log_metric(name, value)
            $info = mlflow.sklearn.log_model(
                $model,
                name="model",
                signature=infer_signature($X_tr.head(20), $model.predict($X_tr.head(20))),
                input_example=$X_tr.head(2),
                registered_model_name="$experiment",
                serialization_format="cloudpickle",
            )
    """, "import mlflow", "from mlflow.models import infer_signature",
             experiment=ctx.case.case_id, task=ctx.case.task_type,
             params=ctx.facts["params_expr"])
    _remember_logged_model(ctx)


@TEMPLATES.add(2, "relies on mlflow.sklearn.autolog() alone, with no run of its own",
               ("autolog only: no deliberate params, metrics or model logging",))
def mlflow_autolog_only(ctx: Context) -> None:
    ctx.code("setup", "mlflow.sklearn.autolog()", "import mlflow")


@TEMPLATES.add(2, "logs params and metrics to a run but never logs the model",
               ("metrics logged without the model",))
def mlflow_no_model(ctx: Context) -> None:
    ctx.code("log", """
        with mlflow.start_run():
            mlflow.log_params($params)
            mlflow.log_metrics($metrics)
    """, "import mlflow", params=ctx.facts["params_expr"])


@TEMPLATES.add(2, "logs the model without a signature or input example",
               ("model logged without signature or input example",))
def mlflow_no_signature(ctx: Context) -> None:
    ctx.code("log", """
        with mlflow.start_run():
            mlflow.log_metrics($metrics)
            $info = mlflow.sklearn.log_model(
                $model, name="model", serialization_format="cloudpickle"
            )
    """, "import mlflow")
    _remember_logged_model(ctx)


@TEMPLATES.add(1, "does no experiment tracking at all", ("no MLflow tracking at all",))
def mlflow_none(ctx: Context) -> None:
    """Writes nothing: the missing tracking is the defect."""


@TEMPLATES.add(1, "ends the MLflow run and then logs metrics, which land in a new, unnamed run",
               ("metrics logged after end_run, so they land in a different run than the params",))
def mlflow_after_end(ctx: Context) -> None:
    ctx.code("log", """
        mlflow.start_run()
        mlflow.log_params($params)
        mlflow.end_run()
        mlflow.log_metrics($metrics)
    """, "import mlflow", params=ctx.facts["params_expr"])
