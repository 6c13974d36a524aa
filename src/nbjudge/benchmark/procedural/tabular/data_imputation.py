"""Imputation of a table's missing values. Good: imputers inside the
cross-validated pipeline; average: fitted on the training split but outside the
pipeline, or rows dropped silently; bad: statistics of train and test together
or of the full table before the split (leakage). N/A when nothing is missing.

Templates that impute in the pipeline set the ``pipeline_imputers`` fact:
feature engineering then puts ``numeric_imputer`` and ``categorical_imputer``
in its ColumnTransformer.
"""

from __future__ import annotations

from nbjudge.benchmark.procedural.context import Context
from nbjudge.benchmark.procedural.tabular.common import is_tabular, needs_imputation
from nbjudge.benchmark.procedural.templates import DimensionTemplates

__all__ = ["TEMPLATES"]

TEMPLATES = DimensionTemplates("data_imputation")


@TEMPLATES.add("N/A", "the data has no missing values, so there is nothing to impute",
               applies=lambda ctx: is_tabular(ctx) and not ctx.has_missing)
def impute_not_needed(ctx: Context) -> None:
    """Writes nothing: there is nothing to impute."""


@TEMPLATES.add(3, "imputes inside the cross-validated Pipeline: median with missing-indicator "
               "columns for numerics, most frequent value for categoricals",
               applies=needs_imputation)
def impute_in_pipeline(ctx: Context) -> None:
    ctx.facts["pipeline_imputers"] = True
    ctx.code("features", """
        # Imputers live in the pipeline so they are fit on training folds only.
        numeric_imputer = SimpleImputer(strategy="median", add_indicator=True)
        categorical_imputer = SimpleImputer(strategy="most_frequent")
    """, "from sklearn.impute import SimpleImputer")


@TEMPLATES.add(3, "imputes inside the Pipeline with a per-type strategy (median for numerics, "
               "a constant 'missing' level for categoricals)", applies=needs_imputation)
def impute_in_pipeline_constant(ctx: Context) -> None:
    ctx.facts["pipeline_imputers"] = True
    ctx.code("features", """
        numeric_imputer = SimpleImputer(strategy="median")
        categorical_imputer = SimpleImputer(strategy="constant", fill_value="missing")
    """, "from sklearn.impute import SimpleImputer")


@TEMPLATES.add(2, "fits a SimpleImputer on the training split but outside the pipeline, then "
               "transforms validation and test",
               ("imputer fit outside the cross-validated pipeline",), applies=needs_imputation)
def impute_outside_pipeline(ctx: Context) -> None:
    ctx.code("post_split", """
        num_cols = $X_tr.select_dtypes("number").columns
        cat_cols = $X_tr.columns.difference(num_cols)
        num_imputer = SimpleImputer(strategy="median").fit($X_tr[num_cols])
        for frame in ($X_tr, $X_va, $test):
            frame[num_cols] = num_imputer.transform(frame[num_cols])
            for col in cat_cols:
                frame[col] = frame[col].fillna($X_tr[col].mode()[0])
    """, "from sklearn.impute import SimpleImputer")


@TEMPLATES.add(2, "drops training rows with missing values without reporting how many were "
               "lost, and fills the test rows with training medians",
               ("dropna() without reporting the rows lost",), applies=needs_imputation)
def impute_dropna(ctx: Context) -> None:
    ctx.code("post_split", """
        $X_tr = $X_tr.dropna()
        $y_tr = $y_tr.loc[$X_tr.index]
        fill = {c: ($X_tr[c].median() if $X_tr[c].dtype.kind in "fi" else $X_tr[c].mode()[0])
                for c in $X_tr.columns}
        $X_va = $X_va.fillna(fill)
        $test = $test.fillna(fill)
    """)


@TEMPLATES.add(1, "fills gaps with statistics of the training and test tables combined, "
               "before the split", ("imputation statistics computed on train and test "
                                    "together before the split (leakage)",),
               applies=needs_imputation)
def impute_combined_mean(ctx: Context) -> None:
    ctx.code("prepare", """
        combined = pd.concat([$train, $test], keys=["train", "test"])
        for col in combined.columns:
            if col == $target_column:
                continue
            if combined[col].dtype.kind in "fi":
                combined[col] = combined[col].fillna(combined[col].mean())
            else:
                combined[col] = combined[col].fillna(combined[col].mode()[0])
        $train, $test = combined.loc["train"].copy(), combined.loc["test"].drop(columns=$target_column)
    """, "import pandas as pd", target_column=repr(ctx.case.target))


@TEMPLATES.add(1, "runs df.fillna(df.mean()) on the full training table before the split and "
               "fills the test table with its own means",
               ("fillna with the full-data mean before the train/validation split (leakage)",
                "test table imputed with its own statistics"), applies=needs_imputation)
def impute_fillna_full(ctx: Context) -> None:
    ctx.code("prepare", """
        $train = $train.fillna($train.mean(numeric_only=True))
        $test = $test.fillna($test.mean(numeric_only=True))
        for col in $train.select_dtypes(exclude="number").columns:
            $train[col] = $train[col].fillna("unknown")
            if col in $test:
                $test[col] = $test[col].fillna("unknown")
    """)
