"""What the tabular templates ask of the case, and the baseline they share."""

from __future__ import annotations

from nbjudge.benchmark.procedural.context import Context, properties

__all__ = [
    "dummy_baseline",
    "has_categoricals",
    "is_imbalanced",
    "is_tabular",
    "needs_imputation",
    "numeric_columns",
]


def is_tabular(ctx: Context) -> bool:
    return ctx.family == "tabular"


def is_imbalanced(ctx: Context) -> bool:
    return ctx.case.task_type == "binary_imbalanced"


def has_categoricals(ctx: Context) -> bool:
    return bool(properties(ctx.case).categorical_columns)


def needs_imputation(ctx: Context) -> bool:
    return is_tabular(ctx) and ctx.has_missing


def numeric_columns(ctx: Context) -> list[str]:
    """The numeric feature columns: neither categorical, nor the target, nor the id."""
    case = ctx.case
    return [c for c in properties(case).columns
            if c not in properties(case).categorical_columns
            and c not in (case.target, case.id_column)]


def dummy_baseline(ctx: Context, slot: str) -> None:
    """``$baseline``: the majority class or the mean, fitted on the training split."""
    if ctx.is_classification:
        ctx.code(slot, """
            $baseline = DummyClassifier(strategy="most_frequent").fit($X_tr, $y_tr)
        """, "from sklearn.dummy import DummyClassifier")
    else:
        ctx.code(slot, """
            $baseline = DummyRegressor(strategy="mean").fit($X_tr, $y_tr)
        """, "from sklearn.dummy import DummyRegressor")
