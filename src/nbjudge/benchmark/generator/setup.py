"""Variants shared by every task: library installation and MLflow logging.

The vocabulary follows the rubric anchors (good: pinned installs of exactly
what is imported, one run with params, metrics and a model with a signature;
bad: no installs, a wrong package name, logging after the run has ended).
"""

from __future__ import annotations

from importlib import metadata

from nbjudge.benchmark.generator.core import Context, VariantRegistry

__all__ = ["register", "reload_model"]

# Import module -> the distribution pip installs it from.
_DISTRIBUTIONS = {
    "pandas": "pandas",
    "numpy": "numpy",
    "sklearn": "scikit-learn",
    "mlflow": "mlflow",
    "matplotlib": "matplotlib",
}


def _packages(ctx: Context) -> list[str]:
    """Distributions the notebook imports, in a stable order."""
    used = []
    for line in sorted(ctx.imports):
        module = line.split()[1].split(".")[0]
        dist = _DISTRIBUTIONS.get(module)
        if dist and dist not in used:
            used.append(dist)
    return used


def _pinned(dist: str) -> str:
    return f"{dist}=={metadata.version(dist)}"


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


def register(registry: VariantRegistry) -> None:
    add = registry.add
    dim = "library_installation"

    @add(dim, 3, "installs exactly the imported libraries, pinned, in one cell at the top, "
         "followed by a note to restart the kernel")
    def install_pinned_top(ctx: Context) -> None:
        packages = " ".join(_pinned(d) for d in _packages(ctx))
        ctx.code("install", f"%pip install --quiet {packages}")
        ctx.markdown("install", ctx.choose([
            "Restart the kernel after the install so the pinned versions are the ones imported.",
            "_After installing, restart the Python kernel (Kernel > Restart) before running on._",
        ]))

    @add(dim, 3, "pins every imported library in one requirements line at the top, with a "
         "restart note")
    def install_requirements_cell(ctx: Context) -> None:
        lines = "\n".join(f"#   {_pinned(d)}" for d in _packages(ctx))
        packages = " ".join(_pinned(d) for d in reversed(_packages(ctx)))
        ctx.code("install", f"# Pinned versions used for this analysis:\n{lines}\n"
                 f"%pip install -q {packages}")
        ctx.markdown("install", "Restart the kernel now so that the installed versions load.")

    @add(dim, 2, "installs the libraries at the top but without pinning versions",
         ("installs are not pinned to versions",))
    def install_unpinned(ctx: Context) -> None:
        ctx.code("install", "%pip install " + " ".join(_packages(ctx)))

    @add(dim, 2, "pins some libraries at the top but leaves out one the notebook imports",
         ("a library used later (mlflow or matplotlib) is missing from the install cell",),
         applies=lambda ctx: len(_packages(ctx)) > 2 and any(
             d in _packages(ctx) for d in ("mlflow", "matplotlib")))
    def install_missing_one(ctx: Context) -> None:
        left_out = "mlflow" if "mlflow" in _packages(ctx) else "matplotlib"
        kept = [_pinned(d) for d in _packages(ctx) if d != left_out]
        ctx.code("install", "%pip install " + " ".join(kept))

    @add(dim, 2, "installs libraries in several cells scattered through the notebook",
         ("installs scattered across cells instead of one cell at the top",))
    def install_scattered(ctx: Context) -> None:
        packages = _packages(ctx)
        ctx.code("install", "%pip install " + " ".join(packages[:2]))
        for dist in packages[2:]:
            slot = {"mlflow": "log", "matplotlib": "explore"}.get(dist, "train")
            ctx.code(slot, f"%pip install {dist}")

    @add(dim, 1, "installs nothing although non-default libraries such as mlflow are imported",
         ("no install cell although non-default libraries are imported",))
    def install_none(ctx: Context) -> None:
        ctx.facts["no_install"] = True

    @add(dim, 1, "tries to install scikit-learn under the wrong package name 'sklearn'",
         ("wrong package name in pip install (sklearn instead of scikit-learn)",),
         applies=lambda ctx: "scikit-learn" in _packages(ctx))
    def install_wrong_name(ctx: Context) -> None:
        packages = ["sklearn" if d == "scikit-learn" else d for d in _packages(ctx)]
        ctx.code("install", "%pip install " + " ".join(packages))

    @add(dim, 1, "installs the libraries only after the cell that already imported them",
         ("pip install runs after the imports that need it",))
    def install_after_imports(ctx: Context) -> None:
        ctx.code("setup", "%pip install " + " ".join(_packages(ctx)))

    dim = "mlflow_logging"

    @add(dim, 3, "logs params and metrics in a named MLflow run and logs the model with a "
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
            experiment=ctx.case.case_id, run_name=ctx.choose(["baseline-pipeline", "first-model",
                                                               "tuned-model"]),
            params=ctx.facts["params_expr"])
        ctx.facts["model_uri"] = f"{ctx.names['info']}.model_uri"

    @add(dim, 3, "tracks the run with params, metrics and a registered model with signature")
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
        ctx.facts["model_uri"] = f"{ctx.names['info']}.model_uri"

    @add(dim, 2, "relies on mlflow.sklearn.autolog() alone, with no run of its own",
         ("autolog only: no deliberate params, metrics or model logging",))
    def mlflow_autolog_only(ctx: Context) -> None:
        ctx.code("setup", "mlflow.sklearn.autolog()", "import mlflow")

    @add(dim, 2, "logs params and metrics to a run but never logs the model",
         ("metrics logged without the model",))
    def mlflow_no_model(ctx: Context) -> None:
        ctx.code("log", """
            with mlflow.start_run():
                mlflow.log_params($params)
                mlflow.log_metrics($metrics)
        """, "import mlflow", params=ctx.facts["params_expr"])

    @add(dim, 2, "logs the model without a signature or input example",
         ("model logged without signature or input example",))
    def mlflow_no_signature(ctx: Context) -> None:
        ctx.code("log", """
            with mlflow.start_run():
                mlflow.log_metrics($metrics)
                $info = mlflow.sklearn.log_model(
                    $model, name="model", serialization_format="cloudpickle"
                )
        """, "import mlflow")
        ctx.facts["model_uri"] = f"{ctx.names['info']}.model_uri"

    @add(dim, 1, "does no experiment tracking at all", ("no MLflow tracking at all",))
    def mlflow_none(ctx: Context) -> None:
        ctx.facts["no_tracking"] = True

    @add(dim, 1, "ends the MLflow run and then logs metrics, which land in a new, unnamed run",
         ("metrics logged after end_run, so they land in a different run than the params",))
    def mlflow_after_end(ctx: Context) -> None:
        ctx.code("log", """
            mlflow.start_run()
            mlflow.log_params($params)
            mlflow.end_run()
            mlflow.log_metrics($metrics)
        """, "import mlflow", params=ctx.facts["params_expr"])
