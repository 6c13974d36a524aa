"""Feature engineering of a table: the preprocessing ``$pre`` of the pipeline.
Good: a ColumnTransformer with one-hot encoding and scaling only where the model
needs it; average: get_dummies before the split, scaling that does not fit the
model; bad: the id column as a feature, a target encoding before the split."""

from __future__ import annotations

from nbjudge.benchmark.procedural.context import Context, properties
from nbjudge.benchmark.procedural.estimators import uses_linear_model
from nbjudge.benchmark.procedural.tabular.common import (
    has_categoricals,
    is_tabular,
    numeric_columns,
)
from nbjudge.benchmark.procedural.templates import DimensionTemplates

__all__ = ["TEMPLATES"]

TEMPLATES = DimensionTemplates("feature_engineering")

_ONE_HOT = 'OneHotEncoder(handle_unknown="ignore")'


def _column_transformer(ctx: Context, scale: bool, one_hot: str,
                        numeric_only: bool = False) -> None:
    """``$pre``, with the imputers of the pipeline if data imputation put them there."""
    imputers = ctx.facts.get("pipeline_imputers", False)
    numeric_steps = []
    if imputers:
        numeric_steps.append('("impute", numeric_imputer)')
    if scale:
        numeric_steps.append('("scale", StandardScaler())')
        ctx.imports.add("from sklearn.preprocessing import StandardScaler")
    categorical_steps = (['("impute", categorical_imputer)'] if imputers else []) + [
        f'("onehot", {one_hot})']
    ctx.imports.update({"from sklearn.compose import ColumnTransformer",
                        "from sklearn.pipeline import Pipeline"})
    numeric = f"Pipeline([{', '.join(numeric_steps)}])" if numeric_steps else '"passthrough"'
    if numeric_only:
        ctx.code("features", """
            $pre = ColumnTransformer([("num", $numeric, list($X_tr.columns))])
        """, numeric=numeric)
        return
    ctx.imports.add("from sklearn.preprocessing import OneHotEncoder")
    # Gradient boosting needs dense input; one-hot output is sparse by default.
    dense = ", sparse_threshold=0" if ctx.facts["estimator"] == "boosting" else ""
    ctx.code("features", """
        num_cols = $X_tr.select_dtypes("number").columns.tolist()
        cat_cols = [c for c in $X_tr.columns if c not in num_cols]
        $pre = ColumnTransformer([
            ("num", $numeric, num_cols),
            ("cat", Pipeline([$categorical_steps]), cat_cols),
        ]$dense)
    """, numeric=numeric, categorical_steps=", ".join(categorical_steps), dense=dense)


def _target_indicator(ctx: Context) -> str:
    """Code for a numeric version of the target, to average per group."""
    case = ctx.case
    target = f"{ctx.names['train']}[{case.target!r}]"
    if case.task_type == "multiclass":
        balance = properties(case).class_balance or {"": 0}
        top = max(balance, key=balance.__getitem__)
        return f"({target} == {top!r}).astype(int)"
    return target


def _key_function(ctx: Context, column: str) -> str:
    """A grouping key: the category itself, or quintile bins of a numeric column."""
    if column in properties(ctx.case).categorical_columns:
        return f"lambda frame: frame[{column!r}]"
    edges = f"{ctx.names['train']}[{column!r}].quantile([0, .2, .4, .6, .8, 1]).unique()"
    return (f"lambda frame, edges={edges}: pd.cut(frame[{column!r}], edges, "
            "include_lowest=True).astype(str)")


@TEMPLATES.add(3, "encodes categoricals with OneHotEncoder(handle_unknown='ignore') inside a "
               "ColumnTransformer, scaling numerics only for the linear model",
               applies=is_tabular)
def features_column_transformer(ctx: Context) -> None:
    _column_transformer(ctx, scale=uses_linear_model(ctx), one_hot=_ONE_HOT)


@TEMPLATES.add(3, "builds the preprocessing as a ColumnTransformer in the pipeline, with a "
               "ratio feature motivated by the exploration",
               applies=lambda ctx: is_tabular(ctx) and len(numeric_columns(ctx)) >= 2)
def features_ratio_in_pipeline(ctx: Context) -> None:
    numerator, denominator = numeric_columns(ctx)[:2]
    ctx.code("prepare", """
        # Ratio of the two strongest numeric signals; computed row by row, no target involved.
        for frame in ($train, $test):
            frame["${numerator}_per_${denominator}"] = frame[$numerator_column] / (frame[$denominator_column].abs() + 1)
    """, numerator=numerator, denominator=denominator, numerator_column=repr(numerator),
             denominator_column=repr(denominator))
    _column_transformer(ctx, scale=uses_linear_model(ctx),
                        one_hot='OneHotEncoder(handle_unknown="ignore", min_frequency=5)')


@TEMPLATES.add(2, "one-hot encodes with pd.get_dummies on the whole table before the split",
               ("pd.get_dummies on the full data before the split (column mismatch risk at "
                "inference)",), applies=lambda ctx: is_tabular(ctx) and has_categoricals(ctx))
def features_get_dummies(ctx: Context) -> None:
    ctx.code("prepare", """
        $train = pd.get_dummies($train, columns=$categorical_columns, dtype=int)
        $test = pd.get_dummies($test, columns=$categorical_columns, dtype=int).reindex(
            columns=[c for c in $train.columns if c != $target_column], fill_value=0
        )
    """, "import pandas as pd", categorical_columns=repr(properties(ctx.case).categorical_columns),
             target_column=repr(ctx.case.target))
    _column_transformer(ctx, scale=uses_linear_model(ctx), one_hot="", numeric_only=True)


@TEMPLATES.add(2, "scales every feature although the model is tree-based",
               ("scaling applied for a tree model (no effect, adds noise to the pipeline)",),
               applies=lambda ctx: is_tabular(ctx) and not uses_linear_model(ctx))
def features_scaled_trees(ctx: Context) -> None:
    _column_transformer(ctx, scale=True, one_hot=_ONE_HOT)


@TEMPLATES.add(2, "feeds unscaled features to a linear model",
               ("no scaling for a linear model",),
               applies=lambda ctx: is_tabular(ctx) and uses_linear_model(ctx))
def features_unscaled_linear(ctx: Context) -> None:
    _column_transformer(ctx, scale=False, one_hot=_ONE_HOT)


@TEMPLATES.add(1, "keeps the identifier column as a model feature",
               ("identifier column used as a feature",),
               applies=lambda ctx: is_tabular(ctx) and ctx.case.id_column is not None)
def features_id_kept(ctx: Context) -> None:
    ctx.facts["keep_id"] = True
    _column_transformer(ctx, scale=uses_linear_model(ctx), one_hot=_ONE_HOT)


@TEMPLATES.add(1, "adds a target-mean encoding computed on the whole training table, "
               "validation rows included, before the split",
               ("feature derived from the target before the split (target leakage)",),
               applies=is_tabular)
def features_target_encoding(ctx: Context) -> None:
    column = (properties(ctx.case).categorical_columns or numeric_columns(ctx))[0]
    ctx.code("prepare", """
        key = $key
        encoding = $train.assign(_y=$positive).groupby(key(${train}))["_y"].mean()
        $train["${column}_target_mean"] = key($train).map(encoding).astype(float)
        $test["${column}_target_mean"] = key($test).map(encoding).astype(float).fillna(
            encoding.mean()
        )
    """, key=_key_function(ctx, column), positive=_target_indicator(ctx), column=column)
    _column_transformer(ctx, scale=uses_linear_model(ctx), one_hot=_ONE_HOT)
