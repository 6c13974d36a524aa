"""Data exploration of a table. Good: shape, types, missing values, the target
and its relation to the features, and a conclusion true to the data; bad: no
exploration, the wrong table, or conclusions the output contradicts."""

from __future__ import annotations

from nbjudge.benchmark.procedural.context import Context, properties
from nbjudge.benchmark.procedural.tabular.common import is_imbalanced, is_tabular, numeric_columns
from nbjudge.benchmark.procedural.templates import DimensionTemplates

__all__ = ["TEMPLATES"]

TEMPLATES = DimensionTemplates("data_exploration")


def _conclusion(ctx: Context) -> str:
    """A modelling consequence consistent with the case's real properties."""
    case = ctx.case
    sentences = []
    balance = properties(case).class_balance
    if case.task_type == "binary_imbalanced" and balance:
        positive = min(balance.values())
        sentences.append(f"Only {positive:.0%} of rows are positive: use stratified splits, "
                         "class weights and PR-AUC rather than accuracy.")
    elif ctx.is_classification:
        sentences.append("The classes are reasonably balanced, so stratified splits with "
                         "accuracy and macro-F1 are adequate.")
    else:
        sentences.append("The target is continuous and somewhat skewed: report MAE and RMSE "
                         "against a mean baseline.")
    if properties(case).missing_columns:
        cols = ", ".join(properties(case).missing_columns)
        sentences.append(f"Missing values in {cols} must be imputed inside the pipeline.")
    else:
        sentences.append("There are no missing values.")
    if properties(case).categorical_columns:
        sentences.append("Categorical columns need one-hot encoding.")
    return " ".join(sentences)


def _can_contradict(ctx: Context) -> bool:
    return is_tabular(ctx) and (ctx.has_missing or is_imbalanced(ctx) or ctx.is_classification)


@TEMPLATES.add(3, "inspects shape, dtypes, missing values per column and the target "
               "distribution, relates features to the target, and states what follows for "
               "modelling", applies=is_tabular)
def explore_thorough(ctx: Context) -> None:
    target_column = repr(ctx.case.target)
    ctx.code("explore", """
        print($train.shape)
        $train.dtypes
    """)
    ctx.code("explore", "$train.isna().sum().sort_values(ascending=False)")
    if ctx.is_classification:
        ctx.code("explore", "$train[$target_column].value_counts(normalize=True)",
                 target_column=target_column)
    else:
        ctx.code("explore", "$train[$target_column].describe()", target_column=target_column)
    numeric = numeric_columns(ctx)
    if ctx.is_classification:
        ctx.code("explore", "$train.groupby($target_column)[$columns].mean().round(2)",
                 target_column=target_column, columns=repr(numeric[:4]))
    else:
        ctx.code("explore",
                 "$train[$columns + [$target_column]].corr(numeric_only=True)[$target_column]"
                 ".round(2)", target_column=target_column, columns=repr(numeric[:5]))
    ctx.markdown("explore", _conclusion(ctx))


@TEMPLATES.add(3, "profiles the table with info(), plots the target, checks missingness and "
               "correlations, and writes down the modelling consequences", applies=is_tabular)
def explore_with_plots(ctx: Context) -> None:
    target_column = repr(ctx.case.target)
    ctx.code("explore", "$train.info()")
    ctx.code("explore", """
        missing = $train.isna().mean().mul(100).round(1)
        missing[missing > 0]
    """)
    if ctx.is_classification:
        ctx.code("explore", """
            ax = $train[$target_column].value_counts().plot(kind="bar", title="Target classes")
            ax.set_ylabel("rows")
            plt.show()
        """, "import matplotlib.pyplot as plt", target_column=target_column)
    else:
        ctx.code("explore", """
            ax = $train[$target_column].plot(kind="hist", bins=30, title="Target distribution")
            plt.show()
            print("skew:", round($train[$target_column].skew(), 2))
        """, "import matplotlib.pyplot as plt", target_column=target_column)
    ctx.code("explore", "$train.select_dtypes('number').corr().round(2)")
    ctx.markdown("explore", _conclusion(ctx))


@TEMPLATES.add(2, "looks at head() and describe() only, without drawing conclusions",
               ("exploration limited to head() and describe()",
                "no conclusion drawn for modelling"), applies=is_tabular)
def explore_head_describe(ctx: Context) -> None:
    ctx.code("explore", "$train.head()")
    ctx.code("explore", "$train.describe()")


@TEMPLATES.add(2, "plots histograms of the numeric columns but draws no conclusion",
               ("plots without any conclusion", "target distribution never examined"),
               applies=is_tabular)
def explore_plots_only(ctx: Context) -> None:
    ctx.code("explore", """
        $train.hist(figsize=(10, 6), bins=20)
        plt.tight_layout()
        plt.show()
    """, "import matplotlib.pyplot as plt")


@TEMPLATES.add(1, "does no exploration at all", ("no data exploration",), applies=is_tabular)
def explore_none(ctx: Context) -> None:
    """Writes nothing: the missing exploration is the defect."""


@TEMPLATES.add(1, "explores the test table instead of the training data",
               ("exploration done on the test table, not the training data",),
               applies=is_tabular)
def explore_test_table(ctx: Context) -> None:
    ctx.code("explore", "$test.describe(include='all')")
    ctx.code("explore", "$test.isna().sum()")


@TEMPLATES.add(1, "prints summaries but states conclusions the output contradicts",
               ("conclusion contradicts the output shown (claims no missing values or "
                "balanced classes)",), applies=_can_contradict)
def explore_contradiction(ctx: Context) -> None:
    ctx.code("explore", "$train.isna().sum()")
    if ctx.is_classification:
        ctx.code("explore", "$train[$target_column].value_counts()",
                 target_column=repr(ctx.case.target))
    claims = []
    if ctx.has_missing:
        claims.append("There are no missing values, so no imputation is needed.")
    if is_imbalanced(ctx):
        claims.append("The classes are roughly balanced, so accuracy is a fine metric.")
    elif ctx.is_classification:
        claims.append("One class makes up almost all rows, so the data is highly "
                      "imbalanced.")
    ctx.markdown("explore", " ".join(claims))
