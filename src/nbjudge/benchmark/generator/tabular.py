"""Variants for tabular tasks: classification (balanced, imbalanced, multiclass)
and regression. Each variant is real code for the case's tables; see
``shared`` notes on defects for the vocabulary of each level.

Contract between sections (names come from ``ctx.names``):
- ``load``: ``$train`` (with the target) and ``$test`` (new rows) DataFrames.
- ``prepare`` steps transform both ``$train`` and ``$test`` in place.
- ``split`` (model training) defines ``$features``, ``$X_tr``, ``$X_va``,
  ``$y_tr``, ``$y_va``.
- ``features`` defines ``$pre``, a transformer taking the raw feature columns.
- ``train`` defines ``$model``, fitted, taking ``$X_tr``-shaped input, and
  ``facts["params_expr"]`` for logging.
- ``evaluate`` defines ``$metrics`` (a dict of floats).
"""

from __future__ import annotations

from nbjudge.benchmark.generator.core import Context, VariantRegistry
from nbjudge.benchmark.generator.setup import reload_model

__all__ = ["register"]


def _tabular(ctx: Context) -> bool:
    return ctx.family == "tabular"


def _imbalanced(ctx: Context) -> bool:
    return ctx.case.task_type == "binary_imbalanced"


def _balanced_classification(ctx: Context) -> bool:
    return ctx.case.task_type in ("binary", "multiclass")


def _has_categoricals(ctx: Context) -> bool:
    return bool(ctx.case.properties.categorical_columns)


def _missing(ctx: Context) -> bool:
    return _tabular(ctx) and ctx.has_missing


ESTIMATORS = {
    ("classification", "linear"): ("LogisticRegression(max_iter=2000$weight)",
                                    "from sklearn.linear_model import LogisticRegression",
                                    {"model__C": [0.1, 1.0, 10.0]}),
    ("classification", "forest"): ("RandomForestClassifier(n_estimators=100, random_state=0$weight)",
                                   "from sklearn.ensemble import RandomForestClassifier",
                                   {"model__max_depth": [None, 8],
                                    "model__min_samples_leaf": [1, 5]}),
    ("classification", "boosting"): ("HistGradientBoostingClassifier(random_state=0$weight)",
                                     "from sklearn.ensemble import HistGradientBoostingClassifier",
                                     {"model__learning_rate": [0.05, 0.1],
                                      "model__max_leaf_nodes": [15, 31]}),
    ("regression", "linear"): ("Ridge()", "from sklearn.linear_model import Ridge",
                               {"model__alpha": [0.1, 1.0, 10.0]}),
    ("regression", "forest"): ("RandomForestRegressor(n_estimators=100, random_state=0)",
                               "from sklearn.ensemble import RandomForestRegressor",
                               {"model__max_depth": [None, 8], "model__min_samples_leaf": [1, 5]}),
    ("regression", "boosting"): ("HistGradientBoostingRegressor(random_state=0)",
                                 "from sklearn.ensemble import HistGradientBoostingRegressor",
                                 {"model__learning_rate": [0.05, 0.1],
                                  "model__max_leaf_nodes": [15, 31]}),
}


def estimator(ctx: Context, balanced: bool = False) -> tuple[str, str, dict]:
    kind = "classification" if ctx.is_classification else "regression"
    code, import_line, grid = ESTIMATORS[(kind, ctx.facts["estimator"])]
    weight = ', class_weight="balanced"' if balanced and ctx.is_classification else ""
    return code.replace("$weight", weight), import_line, grid


def _split(ctx: Context, stratify: bool, drop_id: bool = True) -> None:
    """The shared split cell: features, then a held-out validation split."""
    case = ctx.case
    excluded = [case.target] + ([case.id_column] if case.id_column and drop_id else [])
    strat = f", stratify={ctx.names['train']}[{case.target!r}]" if stratify else ""
    ctx.code("split", """
        $features = [c for c in $train.columns if c not in $excluded]
        $X_tr, $X_va, $y_tr, $y_va = train_test_split(
            $train[$features], $train[$target_lit], test_size=0.2, random_state=$split_seed$strat
        )
        print(f"train rows: {len($X_tr)}, validation rows: {len($X_va)}")
    """, "from sklearn.model_selection import train_test_split", excluded=repr(excluded),
             target_lit=repr(case.target), split_seed=ctx.choose([0, 1, 7, 42]), strat=strat)


def register(registry: VariantRegistry) -> None:
    add = registry.add

    # ------------------------------------------------------------------ load
    # Loading is not graded; it is written by the assembler (see notebook.py).

    # ------------------------------------------------------- data exploration
    dim = "data_exploration"

    @add(dim, 3, "inspects shape, dtypes, missing values per column and the target "
         "distribution, relates features to the target, and states what follows for modelling",
         applies=_tabular)
    def explore_thorough(ctx: Context) -> None:
        case = ctx.case
        ctx.code("explore", """
            print($train.shape)
            $train.dtypes
        """)
        ctx.code("explore", "$train.isna().sum().sort_values(ascending=False)")
        if ctx.is_classification:
            ctx.code("explore", "$train[$target].value_counts(normalize=True)",
                     target=repr(case.target))
        else:
            ctx.code("explore", "$train[$target].describe()", target=repr(case.target))
        numeric = [c for c in case.properties.columns
                   if c not in case.properties.categorical_columns
                   and c not in (case.target, case.id_column)]
        if ctx.is_classification:
            ctx.code("explore", "$train.groupby($target)[$cols].mean().round(2)",
                     target=repr(case.target), cols=repr(numeric[:4]))
        else:
            ctx.code("explore",
                     "$train[$cols + [$target]].corr(numeric_only=True)[$target].round(2)",
                     target=repr(case.target), cols=repr(numeric[:5]))
        ctx.markdown("explore", _conclusion(ctx))

    @add(dim, 3, "profiles the table with info(), plots the target, checks missingness and "
         "correlations, and writes down the modelling consequences", applies=_tabular)
    def explore_with_plots(ctx: Context) -> None:
        case = ctx.case
        ctx.code("explore", "$train.info()")
        ctx.code("explore", """
            missing = $train.isna().mean().mul(100).round(1)
            missing[missing > 0]
        """)
        if ctx.is_classification:
            ctx.code("explore", """
                ax = $train[$target].value_counts().plot(kind="bar", title="Target classes")
                ax.set_ylabel("rows")
                plt.show()
            """, "import matplotlib.pyplot as plt", target=repr(case.target))
        else:
            ctx.code("explore", """
                ax = $train[$target].plot(kind="hist", bins=30, title="Target distribution")
                plt.show()
                print("skew:", round($train[$target].skew(), 2))
            """, "import matplotlib.pyplot as plt", target=repr(case.target))
        ctx.code("explore", "$train.select_dtypes('number').corr().round(2)")
        ctx.markdown("explore", _conclusion(ctx))

    @add(dim, 2, "looks at head() and describe() only, without drawing conclusions",
         ("exploration limited to head() and describe()", "no conclusion drawn for modelling"),
         applies=_tabular)
    def explore_head_describe(ctx: Context) -> None:
        ctx.code("explore", "$train.head()")
        ctx.code("explore", "$train.describe()")

    @add(dim, 2, "plots histograms of the numeric columns but draws no conclusion",
         ("plots without any conclusion", "target distribution never examined"),
         applies=_tabular)
    def explore_plots_only(ctx: Context) -> None:
        ctx.code("explore", """
            $train.hist(figsize=(10, 6), bins=20)
            plt.tight_layout()
            plt.show()
        """, "import matplotlib.pyplot as plt")

    @add(dim, 1, "does no exploration at all", ("no data exploration",), applies=_tabular)
    def explore_none(ctx: Context) -> None:
        ctx.facts["no_exploration"] = True

    @add(dim, 1, "explores the test table instead of the training data",
         ("exploration done on the test table, not the training data",), applies=_tabular)
    def explore_test_table(ctx: Context) -> None:
        ctx.code("explore", "$test.describe(include='all')")
        ctx.code("explore", "$test.isna().sum()")

    @add(dim, 1, "prints summaries but states conclusions the output contradicts",
         ("conclusion contradicts the output shown (claims no missing values or balanced "
          "classes)",),
         applies=lambda ctx: _tabular(ctx) and (ctx.has_missing or _imbalanced(ctx)
                                                or ctx.is_classification))
    def explore_contradiction(ctx: Context) -> None:
        ctx.code("explore", "$train.isna().sum()")
        if ctx.is_classification:
            ctx.code("explore", "$train[$target].value_counts()", target=repr(ctx.case.target))
        claims = []
        if ctx.has_missing:
            claims.append("There are no missing values, so no imputation is needed.")
        if _imbalanced(ctx):
            claims.append("The classes are roughly balanced, so accuracy is a fine metric.")
        elif ctx.is_classification:
            claims.append("One class makes up almost all rows, so the data is highly "
                          "imbalanced.")
        ctx.markdown("explore", " ".join(claims))

    # -------------------------------------------------------- data imputation
    dim = "data_imputation"

    @add(dim, "N/A", "the data has no missing values, so there is nothing to impute",
         applies=lambda ctx: _tabular(ctx) and not ctx.has_missing)
    def impute_not_needed(ctx: Context) -> None:
        ctx.facts["pipeline_imputers"] = False

    @add(dim, 3, "imputes inside the cross-validated Pipeline: median with missing-indicator "
         "columns for numerics, most frequent value for categoricals", applies=_missing)
    def impute_in_pipeline(ctx: Context) -> None:
        ctx.facts["pipeline_imputers"] = True
        ctx.code("features", """
            # Imputers live in the pipeline so they are fit on training folds only.
            numeric_imputer = SimpleImputer(strategy="median", add_indicator=True)
            categorical_imputer = SimpleImputer(strategy="most_frequent")
        """, "from sklearn.impute import SimpleImputer")

    @add(dim, 3, "imputes inside the Pipeline with a per-type strategy (median for numerics, "
         "a constant 'missing' level for categoricals)", applies=_missing)
    def impute_in_pipeline_constant(ctx: Context) -> None:
        ctx.facts["pipeline_imputers"] = True
        ctx.code("features", """
            numeric_imputer = SimpleImputer(strategy="median")
            categorical_imputer = SimpleImputer(strategy="constant", fill_value="missing")
        """, "from sklearn.impute import SimpleImputer")

    @add(dim, 2, "fits a SimpleImputer on the training split but outside the pipeline, then "
         "transforms validation and test", ("imputer fit outside the cross-validated pipeline",),
         applies=_missing)
    def impute_outside_pipeline(ctx: Context) -> None:
        ctx.facts["pipeline_imputers"] = False
        ctx.code("post_split", """
            num_cols = $X_tr.select_dtypes("number").columns
            cat_cols = $X_tr.columns.difference(num_cols)
            num_imputer = SimpleImputer(strategy="median").fit($X_tr[num_cols])
            for frame in ($X_tr, $X_va, $test):
                frame[num_cols] = num_imputer.transform(frame[num_cols])
                for col in cat_cols:
                    frame[col] = frame[col].fillna($X_tr[col].mode()[0])
        """, "from sklearn.impute import SimpleImputer")

    @add(dim, 2, "drops training rows with missing values without reporting how many were "
         "lost, and fills the test rows with training medians",
         ("dropna() without reporting the rows lost",), applies=_missing)
    def impute_dropna(ctx: Context) -> None:
        ctx.facts["pipeline_imputers"] = False
        ctx.code("post_split", """
            $X_tr = $X_tr.dropna()
            $y_tr = $y_tr.loc[$X_tr.index]
            fill = {c: ($X_tr[c].median() if $X_tr[c].dtype.kind in "fi" else $X_tr[c].mode()[0])
                    for c in $X_tr.columns}
            $X_va = $X_va.fillna(fill)
            $test = $test.fillna(fill)
        """)

    @add(dim, 1, "fills gaps with statistics of the training and test tables combined, "
         "before the split", ("imputation statistics computed on train and test together "
                              "before the split (leakage)",), applies=_missing)
    def impute_combined_mean(ctx: Context) -> None:
        ctx.facts["pipeline_imputers"] = False
        ctx.code("prepare", """
            combined = pd.concat([$train, $test], keys=["train", "test"])
            for col in combined.columns:
                if col == $target_lit:
                    continue
                if combined[col].dtype.kind in "fi":
                    combined[col] = combined[col].fillna(combined[col].mean())
                else:
                    combined[col] = combined[col].fillna(combined[col].mode()[0])
            $train, $test = combined.loc["train"].copy(), combined.loc["test"].drop(columns=$target_lit)
        """, "import pandas as pd", target_lit=repr(ctx.case.target))

    @add(dim, 1, "runs df.fillna(df.mean()) on the full training table before the split and "
         "fills the test table with its own means",
         ("fillna with the full-data mean before the train/validation split (leakage)",
          "test table imputed with its own statistics"), applies=_missing)
    def impute_fillna_full(ctx: Context) -> None:
        ctx.facts["pipeline_imputers"] = False
        ctx.code("prepare", """
            $train = $train.fillna($train.mean(numeric_only=True))
            $test = $test.fillna($test.mean(numeric_only=True))
            for col in $train.select_dtypes(exclude="number").columns:
                $train[col] = $train[col].fillna("unknown")
                if col in $test:
                    $test[col] = $test[col].fillna("unknown")
        """)

    # ---------------------------------------------------- feature engineering
    dim = "feature_engineering"

    def _column_transformer(ctx: Context, scale: bool, onehot: str, numeric_only: bool = False):
        imputers = ctx.facts.get("pipeline_imputers", False)
        num_steps = []
        if imputers:
            num_steps.append('("impute", numeric_imputer)')
        if scale:
            num_steps.append('("scale", StandardScaler())')
            ctx.imports.add("from sklearn.preprocessing import StandardScaler")
        cat_steps = (['("impute", categorical_imputer)'] if imputers else []) + [
            f'("onehot", {onehot})']
        ctx.imports.update({"from sklearn.compose import ColumnTransformer",
                            "from sklearn.pipeline import Pipeline"})
        num = f"Pipeline([{', '.join(num_steps)}])" if num_steps else '"passthrough"'
        if numeric_only:
            ctx.code("features", """
                $pre = ColumnTransformer([("num", $num, list($X_tr.columns))])
            """, num=num)
            return
        ctx.imports.add("from sklearn.preprocessing import OneHotEncoder")
        # Gradient boosting needs dense input; one-hot output is sparse by default.
        dense = ", sparse_threshold=0" if ctx.facts["estimator"] == "boosting" else ""
        ctx.code("features", """
            num_cols = $X_tr.select_dtypes("number").columns.tolist()
            cat_cols = [c for c in $X_tr.columns if c not in num_cols]
            $pre = ColumnTransformer([
                ("num", $num, num_cols),
                ("cat", Pipeline([$cat]), cat_cols),
            ]$dense)
        """, num=num, cat=", ".join(cat_steps), dense=dense)

    @add(dim, 3, "encodes categoricals with OneHotEncoder(handle_unknown='ignore') inside a "
         "ColumnTransformer, scaling numerics only for the linear model", applies=_tabular)
    def features_column_transformer(ctx: Context) -> None:
        _column_transformer(ctx, scale=ctx.facts["estimator"] == "linear",
                            onehot='OneHotEncoder(handle_unknown="ignore")')

    @add(dim, 3, "builds the preprocessing as a ColumnTransformer in the pipeline, with a "
         "ratio feature motivated by the exploration",
         applies=lambda ctx: _tabular(ctx) and len(_numeric(ctx)) >= 2)
    def features_ratio_in_pipeline(ctx: Context) -> None:
        a, b = _numeric(ctx)[:2]
        ctx.code("prepare", """
            # Ratio of the two strongest numeric signals; computed row by row, no target involved.
            for frame in ($train, $test):
                frame["${a}_per_${b}"] = frame[$a_lit] / (frame[$b_lit].abs() + 1)
        """, a=a, b=b, a_lit=repr(a), b_lit=repr(b))
        _column_transformer(ctx, scale=ctx.facts["estimator"] == "linear",
                            onehot='OneHotEncoder(handle_unknown="ignore", min_frequency=5)')

    @add(dim, 2, "one-hot encodes with pd.get_dummies on the whole table before the split",
         ("pd.get_dummies on the full data before the split (column mismatch risk at "
          "inference)",), applies=lambda ctx: _tabular(ctx) and _has_categoricals(ctx))
    def features_get_dummies(ctx: Context) -> None:
        cats = ctx.case.properties.categorical_columns
        ctx.code("prepare", """
            $train = pd.get_dummies($train, columns=$cats, dtype=int)
            $test = pd.get_dummies($test, columns=$cats, dtype=int).reindex(
                columns=[c for c in $train.columns if c != $target_lit], fill_value=0
            )
        """, "import pandas as pd", cats=repr(cats), target_lit=repr(ctx.case.target))
        _column_transformer(ctx, scale=ctx.facts["estimator"] == "linear", onehot="",
                            numeric_only=True)

    @add(dim, 2, "scales every feature although the model is tree-based",
         ("scaling applied for a tree model (no effect, adds noise to the pipeline)",),
         applies=lambda ctx: _tabular(ctx) and ctx.facts["estimator"] != "linear")
    def features_scaled_trees(ctx: Context) -> None:
        _column_transformer(ctx, scale=True, onehot='OneHotEncoder(handle_unknown="ignore")')

    @add(dim, 2, "feeds unscaled features to a linear model",
         ("no scaling for a linear model",),
         applies=lambda ctx: _tabular(ctx) and ctx.facts["estimator"] == "linear")
    def features_unscaled_linear(ctx: Context) -> None:
        _column_transformer(ctx, scale=False, onehot='OneHotEncoder(handle_unknown="ignore")')

    @add(dim, 1, "keeps the identifier column as a model feature",
         ("identifier column used as a feature",),
         applies=lambda ctx: _tabular(ctx) and ctx.case.id_column is not None)
    def features_id_kept(ctx: Context) -> None:
        ctx.facts["keep_id"] = True
        _column_transformer(ctx, scale=ctx.facts["estimator"] == "linear",
                            onehot='OneHotEncoder(handle_unknown="ignore")')

    @add(dim, 1, "adds a target-mean encoding computed on the whole training table, validation "
         "rows included, before the split", ("feature derived from the target before the "
                                             "split (target leakage)",), applies=_tabular)
    def features_target_encoding(ctx: Context) -> None:
        case = ctx.case
        column = (case.properties.categorical_columns or _numeric(ctx))[0]
        positive = _target_indicator(ctx)
        ctx.code("prepare", """
            key = $key
            encoding = $train.assign(_y=$positive).groupby(key(${train}))["_y"].mean()
            $train["${column}_target_mean"] = key($train).map(encoding).astype(float)
            $test["${column}_target_mean"] = key($test).map(encoding).astype(float).fillna(
                encoding.mean()
            )
        """, key=_key_function(ctx, column), positive=positive, column=column)
        _column_transformer(ctx, scale=ctx.facts["estimator"] == "linear",
                            onehot='OneHotEncoder(handle_unknown="ignore")')

    # ---------------------------------------------------------- model training
    dim = "model_training"

    def _pipeline(ctx: Context, balanced: bool) -> str:
        code, import_line, _ = estimator(ctx, balanced)
        ctx.imports.update({import_line, "from sklearn.pipeline import Pipeline"})
        return f'Pipeline([("prep", $pre), ("model", {code})])'

    def _cv(ctx: Context) -> str:
        if ctx.is_classification:
            ctx.imports.add("from sklearn.model_selection import StratifiedKFold")
            return "StratifiedKFold(n_splits=4, shuffle=True, random_state=0)"
        ctx.imports.add("from sklearn.model_selection import KFold")
        return "KFold(n_splits=4, shuffle=True, random_state=0)"

    def _scoring(ctx: Context) -> str:
        if _imbalanced(ctx):
            return "average_precision"
        if ctx.is_classification:
            return "f1_macro"
        return "neg_mean_absolute_error"

    def _baseline(ctx: Context) -> None:
        if ctx.is_classification:
            ctx.code("train", """
                $baseline = DummyClassifier(strategy="most_frequent").fit($X_tr, $y_tr)
            """, "from sklearn.dummy import DummyClassifier")
        else:
            ctx.code("train", """
                $baseline = DummyRegressor(strategy="mean").fit($X_tr, $y_tr)
            """, "from sklearn.dummy import DummyRegressor")
        ctx.facts["baseline"] = True

    @add(dim, 3, "fits a dummy baseline, then tunes the whole pipeline with GridSearchCV and "
         "task-appropriate cross-validation on the training split", applies=_tabular)
    def train_grid_search(ctx: Context) -> None:
        _split(ctx, stratify=ctx.is_classification, drop_id=not ctx.facts.get("keep_id"))
        _baseline(ctx)
        _, _, grid = estimator(ctx)
        ctx.code("train", f"""
            pipeline = {_pipeline(ctx, balanced=_imbalanced(ctx))}
            $search = GridSearchCV(pipeline, $grid, cv=$cv, scoring="$scoring", n_jobs=1)
            $search.fit($X_tr, $y_tr)
            $model = $search.best_estimator_
            print("best params:", $search.best_params_)
            print("cross-validated $scoring:", round($search.best_score_, 4))
        """, "from sklearn.model_selection import GridSearchCV", grid=repr(grid), cv=_cv(ctx),
                 scoring=_scoring(ctx))
        ctx.facts["params_expr"] = f"{ctx.names['search']}.best_params_"

    @add(dim, 3, "compares the tuned pipeline against a baseline with cross_val_score and "
         "searches hyperparameters with RandomizedSearchCV inside cross-validation",
         applies=_tabular)
    def train_random_search(ctx: Context) -> None:
        _split(ctx, stratify=ctx.is_classification, drop_id=not ctx.facts.get("keep_id"))
        _baseline(ctx)
        _, _, grid = estimator(ctx)
        ctx.code("train", f"""
            cv = $cv
            baseline_cv = cross_val_score($baseline, $X_tr, $y_tr, cv=cv, scoring="$scoring")
            print("baseline cv $scoring:", baseline_cv.mean().round(4))
            $search = RandomizedSearchCV(
                {_pipeline(ctx, balanced=_imbalanced(ctx))},
                param_distributions=$grid,
                n_iter=3,
                cv=cv,
                scoring="$scoring",
                random_state=0,
            ).fit($X_tr, $y_tr)
            $model = $search.best_estimator_
            print("tuned cv $scoring:", round($search.best_score_, 4), $search.best_params_)
        """, "from sklearn.model_selection import RandomizedSearchCV",
                 "from sklearn.model_selection import cross_val_score", grid=repr(grid),
                 cv=_cv(ctx), scoring=_scoring(ctx))
        ctx.facts["params_expr"] = f"{ctx.names['search']}.best_params_"

    @add(dim, 2, "fits the pipeline once on a single train/validation split with default "
         "hyperparameters and no baseline",
         ("single train/test split, no cross-validation", "default hyperparameters",
          "no baseline model"), applies=_tabular)
    def train_single_fit(ctx: Context) -> None:
        _split(ctx, stratify=False, drop_id=not ctx.facts.get("keep_id"))
        ctx.code("train", f"""
            $model = {_pipeline(ctx, balanced=False)}
            $model.fit($X_tr, $y_tr)
        """)
        ctx.facts["params_expr"] = '{{"model": type({}.named_steps["model"]).__name__}}'.format(ctx.names["model"])

    @add(dim, 2, "fits once with a few hand-picked hyperparameters, no search and no baseline",
         ("hand-picked hyperparameters, no search", "no baseline model"), applies=_tabular)
    def train_hand_picked(ctx: Context) -> None:
        _split(ctx, stratify=ctx.is_classification, drop_id=not ctx.facts.get("keep_id"))
        _, _, grid = estimator(ctx)
        chosen = {k: v[-1] for k, v in grid.items()}
        ctx.code("train", f"""
            params = $chosen
            $model = {_pipeline(ctx, balanced=_imbalanced(ctx))}.set_params(**params)
            $model.fit($X_tr, $y_tr)
        """, chosen=repr(chosen))
        ctx.facts["params_expr"] = "params"

    @add(dim, 1, "tunes hyperparameters on the validation split and reports that same split's "
         "score as the model's performance",
         ("hyperparameters tuned on the held-out set it is evaluated on",), applies=_tabular)
    def train_tuned_on_validation(ctx: Context) -> None:
        _split(ctx, stratify=False, drop_id=not ctx.facts.get("keep_id"))
        _, _, grid = estimator(ctx)
        ctx.code("train", f"""
            best_score, $model = None, None
            for params in ParameterGrid($grid):
                candidate = {_pipeline(ctx, balanced=False)}.set_params(**params)
                candidate.fit($X_tr, $y_tr)
                score = candidate.score($X_va, $y_va)
                if best_score is None or score > best_score:
                    best_score, $model, best_params = score, candidate, params
            print("best validation score:", round(best_score, 4), best_params)
        """, "from sklearn.model_selection import ParameterGrid", grid=repr(grid))
        ctx.facts["params_expr"] = "best_params"

    @add(dim, 1, "picks between two models by their score on the training data",
         ("model selected by its score on the training data",), applies=_tabular)
    def train_selected_on_train(ctx: Context) -> None:
        _split(ctx, stratify=False, drop_id=not ctx.facts.get("keep_id"))
        code, import_line, _ = estimator(ctx)
        kind = "Classifier" if ctx.is_classification else "Regressor"
        ctx.code("train", f"""
            candidates = {{
                "default": Pipeline([("prep", $pre), ("model", {code})]),
                "deep tree": Pipeline([("prep", $pre), ("model", DecisionTree{kind}(random_state=0))]),
            }}
            train_scores = {{name: m.fit($X_tr, $y_tr).score($X_tr, $y_tr) for name, m in candidates.items()}}
            print(train_scores)
            chosen = max(train_scores, key=train_scores.get)
            $model = candidates[chosen]
        """, import_line, "from sklearn.pipeline import Pipeline",
                 f"from sklearn.tree import DecisionTree{kind}")
        ctx.facts["params_expr"] = '{"chosen": chosen}'

    @add(dim, 1, "oversamples the minority class by duplicating rows before the split, so "
         "copies of training rows land in the validation set",
         ("oversampling before the train/validation split (duplicates leak into validation)",),
         applies=_imbalanced)
    def train_oversample_before_split(ctx: Context) -> None:
        target = repr(ctx.case.target)
        ctx.code("split", """
            minority = $train[$train[$target] == 1]
            $train = pd.concat([$train] + [minority] * 5, ignore_index=True)
            print($train[$target].value_counts())
        """, "import pandas as pd", target=target)
        _split(ctx, stratify=True, drop_id=not ctx.facts.get("keep_id"))
        ctx.code("train", f"""
            $model = {_pipeline(ctx, balanced=False)}
            $model.fit($X_tr, $y_tr)
        """)
        ctx.facts["params_expr"] = '{"oversampling": 5}'

    # ------------------------------------------------------ metrics evaluation
    dim = "metrics_evaluation"

    def _ensure_baseline(ctx: Context) -> None:
        if not ctx.facts.get("baseline"):
            if ctx.is_classification:
                ctx.code("evaluate", """
                    $baseline = DummyClassifier(strategy="most_frequent").fit($X_tr, $y_tr)
                """, "from sklearn.dummy import DummyClassifier")
            else:
                ctx.code("evaluate", """
                    $baseline = DummyRegressor(strategy="mean").fit($X_tr, $y_tr)
                """, "from sklearn.dummy import DummyRegressor")

    @add(dim, 3, "evaluates on the held-out split with metrics that fit the task, compares "
         "with the baseline, and explains what the numbers mean", applies=_tabular)
    def metrics_task_fit(ctx: Context) -> None:
        _ensure_baseline(ctx)
        if _imbalanced(ctx):
            ctx.code("evaluate", """
                proba = $model.predict_proba($X_va)[:, 1]
                $preds = $model.predict($X_va)
                $metrics = {
                    "pr_auc": average_precision_score($y_va, proba),
                    "f1": f1_score($y_va, $preds),
                    "recall": recall_score($y_va, $preds),
                    "baseline_pr_auc": average_precision_score($y_va, $baseline.predict_proba($X_va)[:, 1]),
                }
                print(confusion_matrix($y_va, $preds))
                $metrics
            """, "from sklearn.metrics import average_precision_score",
                     "from sklearn.metrics import f1_score", "from sklearn.metrics import recall_score",
                     "from sklearn.metrics import confusion_matrix")
            note = ("PR-AUC is the metric to watch with so few positives: the baseline's PR-AUC "
                    "equals the positive rate, so any lift above it is real signal.")
        elif ctx.is_classification:
            ctx.code("evaluate", """
                $preds = $model.predict($X_va)
                $metrics = {
                    "accuracy": accuracy_score($y_va, $preds),
                    "macro_f1": f1_score($y_va, $preds, average="macro"),
                    "baseline_accuracy": accuracy_score($y_va, $baseline.predict($X_va)),
                }
                $metrics
            """, "from sklearn.metrics import accuracy_score", "from sklearn.metrics import f1_score")
            note = ("Accuracy and macro-F1 on the held-out rows, next to the majority-class "
                    "baseline: macro-F1 shows whether every class is predicted, not only the "
                    "largest.")
        else:
            ctx.code("evaluate", """
                $preds = $model.predict($X_va)
                $metrics = {
                    "mae": mean_absolute_error($y_va, $preds),
                    "rmse": root_mean_squared_error($y_va, $preds),
                    "baseline_mae": mean_absolute_error($y_va, $baseline.predict($X_va)),
                }
                $metrics
            """, "from sklearn.metrics import mean_absolute_error",
                     "from sklearn.metrics import root_mean_squared_error")
            note = ("MAE is in the target's own units and RMSE weighs large misses; both are far "
                    "below the mean-predicting baseline, so the model has learned real signal.")
        ctx.markdown("evaluate", note)

    @add(dim, 3, "reports a full classification report or error summary on held-out data with "
         "a baseline comparison and a written interpretation", applies=_tabular)
    def metrics_report(ctx: Context) -> None:
        _ensure_baseline(ctx)
        if ctx.is_classification:
            ctx.code("evaluate", """
                $preds = $model.predict($X_va)
                print(classification_report($y_va, $preds))
                $metrics = {
                    "macro_f1": f1_score($y_va, $preds, average="macro"),
                    "baseline_macro_f1": f1_score($y_va, $baseline.predict($X_va), average="macro"),
                }
            """, "from sklearn.metrics import classification_report",
                     "from sklearn.metrics import f1_score")
            if _imbalanced(ctx):
                ctx.code("evaluate", """
                    $metrics["pr_auc"] = average_precision_score($y_va, $model.predict_proba($X_va)[:, 1])
                    $metrics["baseline_pr_auc"] = $y_va.mean()
                """, "from sklearn.metrics import average_precision_score")
            ctx.code("evaluate", "print($metrics)")
        else:
            ctx.code("evaluate", """
                $preds = $model.predict($X_va)
                errors = $y_va - $preds
                $metrics = {
                    "mae": mean_absolute_error($y_va, $preds),
                    "rmse": float((errors ** 2).mean() ** 0.5),
                    "baseline_mae": mean_absolute_error($y_va, $baseline.predict($X_va)),
                }
                print($metrics)
                print("largest misses:")
                print(errors.abs().sort_values().tail(3))
            """, "from sklearn.metrics import mean_absolute_error")
        ctx.markdown("evaluate", "The held-out scores beat the baseline clearly; the remaining "
                     "errors are where the table gives the model little to go on.")

    @add(dim, 2, "reports accuracy only on an imbalanced target, without a baseline",
         ("accuracy only on an imbalanced target", "no baseline comparison"),
         applies=_imbalanced)
    def metrics_accuracy_imbalanced(ctx: Context) -> None:
        ctx.code("evaluate", """
            $preds = $model.predict($X_va)
            $metrics = {"accuracy": accuracy_score($y_va, $preds)}
            print("accuracy:", $metrics["accuracy"])
        """, "from sklearn.metrics import accuracy_score")

    @add(dim, 2, "reports a single held-out metric with no baseline and no interpretation",
         ("one metric where the task needs two", "no baseline comparison"),
         applies=lambda ctx: _tabular(ctx) and not _imbalanced(ctx))
    def metrics_single(ctx: Context) -> None:
        if ctx.is_classification:
            ctx.code("evaluate", """
                $metrics = {"accuracy": $model.score($X_va, $y_va)}
                print($metrics)
            """)
        else:
            ctx.code("evaluate", """
                $metrics = {"r2": r2_score($y_va, $model.predict($X_va))}
                print($metrics)
            """, "from sklearn.metrics import r2_score")

    @add(dim, 2, "reports held-out precision and recall but no baseline and no reading of the "
         "numbers", ("no baseline comparison", "numbers reported without interpretation"),
         applies=lambda ctx: _tabular(ctx) and ctx.is_classification)
    def metrics_no_baseline(ctx: Context) -> None:
        average = '"binary"' if ctx.case.task_type != "multiclass" else '"macro"'
        ctx.code("evaluate", """
            $preds = $model.predict($X_va)
            $metrics = {
                "precision": precision_score($y_va, $preds, average=$avg),
                "recall": recall_score($y_va, $preds, average=$avg),
            }
            $metrics
        """, "from sklearn.metrics import precision_score", "from sklearn.metrics import recall_score",
                 avg=average)

    @add(dim, 1, "computes the metrics on the training data", ("metrics on the training data",),
         applies=_tabular)
    def metrics_on_train(ctx: Context) -> None:
        if ctx.is_classification:
            ctx.code("evaluate", """
                train_preds = $model.predict($X_tr)
                $metrics = {"accuracy": accuracy_score($y_tr, train_preds)}
                print("accuracy:", $metrics["accuracy"])
            """, "from sklearn.metrics import accuracy_score")
        else:
            ctx.code("evaluate", """
                $metrics = {"r2": $model.score($X_tr, $y_tr)}
                print("R^2:", $metrics["r2"])
            """)

    @add(dim, 1, "computes R^2 on class labels, a regression metric on a classification task",
         ("R^2 used on a classification target",), applies=lambda ctx: _tabular(ctx) and
         ctx.is_classification)
    def metrics_r2_classification(ctx: Context) -> None:
        ctx.code("evaluate", """
            codes = {label: i for i, label in enumerate(sorted($y_tr.unique()))}
            $metrics = {"r2": r2_score($y_va.map(codes), pd.Series($model.predict($X_va)).map(codes))}
            print($metrics)
        """, "from sklearn.metrics import r2_score", "import pandas as pd")

    @add(dim, 1, "calls a metric with the wrong kind of input, which raises an error",
         ("metric API misused (roc_auc_score on a 2-D probability array, or a classification "
          "metric on a continuous target); the notebook crashes here",),
         applies=_tabular, crash=True)
    def metrics_crash(ctx: Context) -> None:
        if ctx.is_classification:
            ctx.code("evaluate", """
                $metrics = {"roc_auc": roc_auc_score($y_va, $model.predict_proba($X_va))}
                print($metrics)
            """, "from sklearn.metrics import roc_auc_score")
        else:
            ctx.code("evaluate", """
                $metrics = {"precision": precision_score($y_va, $model.predict($X_va))}
                print($metrics)
            """, "from sklearn.metrics import precision_score")

    # ---------------------------------------------------------------- model use
    dim = "model_use"

    def _features_of_test(ctx: Context) -> str:
        return f"{ctx.names['test']}[{ctx.names['features']}]"

    @add(dim, 3, "loads the logged pipeline back from MLflow and scores the new table, writing "
         "predictions with their ids", applies=_tabular)
    def use_mlflow_reload(ctx: Context) -> None:
        reload_model(ctx, "loaded", "mlflow.pyfunc.load_model", f"{ctx.case.case_id}_model")
        ctx.code("use", """
            new_predictions = pd.DataFrame({
                $id_lit: $test[$id_lit],
                "prediction": loaded.predict($test_features),
            })
            new_predictions.to_csv("predictions.csv", index=False)
            print(len(new_predictions), "rows scored")
            new_predictions.head()
        """, "import pandas as pd", id_lit=repr(ctx.case.id_column),
                 test_features=_features_of_test(ctx))

    @add(dim, 3, "reloads the model with mlflow.sklearn.load_model and writes predicted "
         "probabilities or values for every new row with its id", applies=_tabular)
    def use_sklearn_reload(ctx: Context) -> None:
        reload_model(ctx, "reloaded", "mlflow.sklearn.load_model",
                     f"{ctx.case.case_id}_pipeline")
        column = "predicted_probability" if ctx.case.task_type in (
            "binary", "binary_imbalanced") else "prediction"
        predict = ("reloaded.predict_proba(X_new)[:, 1]" if column == "predicted_probability"
                   else "reloaded.predict(X_new)")
        ctx.code("use", """
            X_new = $test_features
            output = $test[[$id_lit]].assign($column=$predict)
            output.to_csv("scored_${table}.csv", index=False)
            output.describe(include="all")
        """, id_lit=repr(ctx.case.id_column), test_features=_features_of_test(ctx),
                 column=column, predict=predict, table=ctx.case.tables["test"])

    @add(dim, 2, "predicts the new table with the in-memory model instead of a logged one",
         ("predictions from the in-memory model only, nothing reloaded",), applies=_tabular)
    def use_in_memory(ctx: Context) -> None:
        ctx.code("use", """
            $test["prediction"] = $model.predict($test_features)
            $test[[$id_lit, "prediction"]].to_csv("predictions.csv", index=False)
            $test[[$id_lit, "prediction"]].head()
        """, id_lit=repr(ctx.case.id_column), test_features=_features_of_test(ctx))

    @add(dim, 2, "prints predictions for the new rows from the in-memory model without saving "
         "them or keeping their ids", ("predictions printed, not saved with their ids",
                                       "in-memory model only"), applies=_tabular)
    def use_print_only(ctx: Context) -> None:
        ctx.code("use", """
            print(pd.Series($model.predict($test_features)).value_counts().head(10))
        """, "import pandas as pd", test_features=_features_of_test(ctx))

    @add(dim, 1, "never applies the model to the new table", ("no inference on the new data",),
         applies=_tabular)
    def use_none(ctx: Context) -> None:
        ctx.markdown("use", ctx.choose(["Done! The model is trained.",
                                        "The model looks good and is ready."]))

    @add(dim, 1, "saves predictions of the validation split as if they were the requested "
         "predictions; the new table is never scored",
         ("predictions made on the validation split instead of the new table",),
         applies=_tabular)
    def use_validation_as_new(ctx: Context) -> None:
        ctx.code("use", """
            pd.DataFrame({"prediction": $model.predict($X_va)}).to_csv("predictions.csv", index=False)
            print("predictions saved")
        """, "import pandas as pd")


def _numeric(ctx: Context) -> list[str]:
    case = ctx.case
    return [c for c in case.properties.columns
            if c not in case.properties.categorical_columns
            and c not in (case.target, case.id_column)]


def _target_indicator(ctx: Context) -> str:
    """Code for a numeric version of the target, to average per group."""
    case = ctx.case
    target = f"{ctx.names['train']}[{case.target!r}]"
    if case.task_type == "multiclass":
        top = max(case.properties.class_balance or {"": 0},
                  key=(case.properties.class_balance or {"": 0}).get)
        return f"({target} == {top!r}).astype(int)"
    return target


def _key_function(ctx: Context, column: str) -> str:
    """A grouping key: the category itself, or quintile bins of a numeric column."""
    if column in ctx.case.properties.categorical_columns:
        return f"lambda frame: frame[{column!r}]"
    edges = f"{ctx.names['train']}[{column!r}].quantile([0, .2, .4, .6, .8, 1]).unique()"
    return (f"lambda frame, edges={edges}: pd.cut(frame[{column!r}], edges, "
            "include_lowest=True).astype(str)")


def _conclusion(ctx: Context) -> str:
    """A modelling consequence consistent with the case's real properties."""
    case = ctx.case
    sentences = []
    if case.task_type == "binary_imbalanced" and case.properties.class_balance:
        positive = min(case.properties.class_balance.values())
        sentences.append(f"Only {positive:.0%} of rows are positive: use stratified splits, "
                         "class weights and PR-AUC rather than accuracy.")
    elif ctx.is_classification:
        sentences.append("The classes are reasonably balanced, so stratified splits with "
                         "accuracy and macro-F1 are adequate.")
    else:
        sentences.append("The target is continuous and somewhat skewed: report MAE and RMSE "
                         "against a mean baseline.")
    if case.properties.missing_columns:
        cols = ", ".join(case.properties.missing_columns)
        sentences.append(f"Missing values in {cols} must be imputed inside the pipeline.")
    else:
        sentences.append("There are no missing values.")
    if case.properties.categorical_columns:
        sentences.append("Categorical columns need one-hot encoding.")
    return " ".join(sentences)
