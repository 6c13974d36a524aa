"""The model every notebook trains, its pipeline and its hyperparameter search.

The estimator kind (linear, forest, boosting) is drawn once per notebook, so
feature engineering can fit it (scaling only for the linear model) or not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from nbjudge.benchmark.procedural.context import Context

__all__ = ["Estimator", "estimator", "fit_defaults", "fit_hand_picked", "model_type_params",
           "pipeline", "tuned_search", "uses_linear_model"]


class Estimator(NamedTuple):
    code: str  # the constructor call
    import_line: str
    grid: dict[str, list[Any]]  # a small hyperparameter grid over the pipeline's "model" step


_ESTIMATORS = {
    ("classification", "linear"): Estimator(
        "LogisticRegression(max_iter=2000$weight)",
        "from sklearn.linear_model import LogisticRegression",
        {"model__C": [0.1, 1.0, 10.0]}),
    ("classification", "forest"): Estimator(
        "RandomForestClassifier(n_estimators=100, random_state=0$weight)",
        "from sklearn.ensemble import RandomForestClassifier",
        {"model__max_depth": [None, 8], "model__min_samples_leaf": [1, 5]}),
    ("classification", "boosting"): Estimator(
        "HistGradientBoostingClassifier(random_state=0$weight)",
        "from sklearn.ensemble import HistGradientBoostingClassifier",
        {"model__learning_rate": [0.05, 0.1], "model__max_leaf_nodes": [15, 31]}),
    ("regression", "linear"): Estimator(
        "Ridge()", "from sklearn.linear_model import Ridge",
        {"model__alpha": [0.1, 1.0, 10.0]}),
    ("regression", "forest"): Estimator(
        "RandomForestRegressor(n_estimators=100, random_state=0)",
        "from sklearn.ensemble import RandomForestRegressor",
        {"model__max_depth": [None, 8], "model__min_samples_leaf": [1, 5]}),
    ("regression", "boosting"): Estimator(
        "HistGradientBoostingRegressor(random_state=0)",
        "from sklearn.ensemble import HistGradientBoostingRegressor",
        {"model__learning_rate": [0.05, 0.1], "model__max_leaf_nodes": [15, 31]}),
}


def uses_linear_model(ctx: Context) -> bool:
    return bool(ctx.facts["estimator"] == "linear")


def estimator(ctx: Context, balanced: bool = False) -> Estimator:
    """The notebook's estimator; ``balanced`` adds class weights to a classifier."""
    kind = "classification" if ctx.is_classification else "regression"
    code, import_line, grid = _ESTIMATORS[(kind, ctx.facts["estimator"])]
    weight = ', class_weight="balanced"' if balanced and ctx.is_classification else ""
    return Estimator(code.replace("$weight", weight), import_line, grid)


def pipeline(ctx: Context, balanced: bool = False) -> str:
    """Code text of the Pipeline: the preprocessing ``$pre``, then the estimator."""
    code, import_line, _ = estimator(ctx, balanced)
    ctx.imports.update({import_line, "from sklearn.pipeline import Pipeline"})
    return f'Pipeline([("prep", $pre), ("model", {code})])'


def tuned_search(ctx: Context, search_class: str, arguments: Sequence[str], *,
                 one_line: bool = False, chain_fit: bool = False) -> str:
    """Code text that tunes with ``search_class`` and keeps the best pipeline as ``$model``.

    ``arguments`` are the search's arguments in order (estimator, grid,
    options); ``one_line`` writes the call on one line rather than one argument
    per line, ``chain_fit`` fits with ``.fit(...)`` on the call itself. The
    best parameters become what the MLflow run logs.
    """
    ctx.imports.add(f"from sklearn.model_selection import {search_class}")
    if one_line:
        call = f"$search = {search_class}({', '.join(arguments)})"
    else:
        call = "\n".join([f"$search = {search_class}(",
                          *(f"    {argument}," for argument in arguments), ")"])
    fit = ".fit($X_tr, $y_tr)" if chain_fit else "\n$search.fit($X_tr, $y_tr)"
    ctx.facts["params_expr"] = f"{ctx.names['search']}.best_params_"
    return f"{call}{fit}\n$model = $search.best_estimator_"


def fit_defaults(ctx: Context) -> str:
    """Code text fitting the pipeline once, with default hyperparameters, as ``$model``."""
    return f"""
        $model = {pipeline(ctx)}
        $model.fit($X_tr, $y_tr)
    """


def model_type_params(ctx: Context) -> str:
    """Parameters to log for an untuned model: only its class name."""
    return f'{{"model": type({ctx.names["model"]}.named_steps["model"]).__name__}}'


def fit_hand_picked(ctx: Context, balanced: bool = False) -> None:
    """A train cell fitting one hand-picked point of the grid (the last value of each)."""
    chosen = {k: values[-1] for k, values in estimator(ctx).grid.items()}
    ctx.code("train", f"""
        params = $chosen
        $model = {pipeline(ctx, balanced)}.set_params(**params)
        $model.fit($X_tr, $y_tr)
    """, chosen=repr(chosen))
    ctx.facts["params_expr"] = "params"
