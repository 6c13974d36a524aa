"""Model training on a table: the split and the fitted ``$model``. Good: a
baseline and a hyperparameter search with cross-validation on the training
split; average: one fit, no search or no baseline; bad: tuning or selecting on
the data the model is judged on, oversampling before the split."""

from __future__ import annotations

from nbjudge.benchmark.procedural.context import Context, join_code
from nbjudge.benchmark.procedural.estimators import (
    estimator,
    fit_defaults,
    fit_hand_picked,
    model_type_params,
    pipeline,
    tuned_search,
)
from nbjudge.benchmark.procedural.tabular.common import dummy_baseline, is_imbalanced, is_tabular
from nbjudge.benchmark.procedural.templates import DimensionTemplates

__all__ = ["TEMPLATES"]

TEMPLATES = DimensionTemplates("model_training")


def _split(ctx: Context, stratify: bool) -> None:
    """The split cell: features (the id column too if feature engineering kept it),
    then a held-out validation split."""
    case = ctx.case
    keep_id = ctx.facts.get("keep_id")
    excluded = [case.target] + ([case.id_column] if case.id_column and not keep_id else [])
    stratify_by = f", stratify={ctx.names['train']}[{case.target!r}]" if stratify else ""
    ctx.code("split", """
        $features = [c for c in $train.columns if c not in $excluded]
        $X_tr, $X_va, $y_tr, $y_va = train_test_split(
            $train[$features], $train[$target_column], test_size=0.2, random_state=$split_seed$stratify_by
        )
        print(f"train rows: {len($X_tr)}, validation rows: {len($X_va)}")
    """, "from sklearn.model_selection import train_test_split", excluded=repr(excluded),
             target_column=repr(case.target), split_seed=ctx.choose([0, 1, 7, 42]),
             stratify_by=stratify_by)


def _baseline(ctx: Context) -> None:
    dummy_baseline(ctx, "train")
    ctx.facts["baseline"] = True


def _cross_validation(ctx: Context) -> str:
    if ctx.is_classification:
        ctx.imports.add("from sklearn.model_selection import StratifiedKFold")
        return "StratifiedKFold(n_splits=4, shuffle=True, random_state=0)"
    ctx.imports.add("from sklearn.model_selection import KFold")
    return "KFold(n_splits=4, shuffle=True, random_state=0)"


def _scoring(ctx: Context) -> str:
    if is_imbalanced(ctx):
        return "average_precision"
    if ctx.is_classification:
        return "f1_macro"
    return "neg_mean_absolute_error"


@TEMPLATES.add(3, "fits a dummy baseline, then tunes the whole pipeline with GridSearchCV and "
               "task-appropriate cross-validation on the training split", applies=is_tabular)
def train_grid_search(ctx: Context) -> None:
    _split(ctx, stratify=ctx.is_classification)
    _baseline(ctx)
    ctx.code("train", join_code(
        f"pipeline = {pipeline(ctx, balanced=is_imbalanced(ctx))}",
        tuned_search(ctx, "GridSearchCV",
                     ["pipeline", "$grid", "cv=$cv", 'scoring="$scoring"', "n_jobs=1"],
                     one_line=True),
        """
        print("best params:", $search.best_params_)
        print("cross-validated $scoring:", round($search.best_score_, 4))
        """,
    ), grid=repr(estimator(ctx).grid), cv=_cross_validation(ctx), scoring=_scoring(ctx))


@TEMPLATES.add(3, "compares the tuned pipeline against a baseline with cross_val_score and "
               "searches hyperparameters with RandomizedSearchCV inside cross-validation",
               applies=is_tabular)
def train_random_search(ctx: Context) -> None:
    _split(ctx, stratify=ctx.is_classification)
    _baseline(ctx)
    ctx.code("train", join_code(
        """
        cv = $cv
        baseline_cv = cross_val_score($baseline, $X_tr, $y_tr, cv=cv, scoring="$scoring")
        print("baseline cv $scoring:", baseline_cv.mean().round(4))
        """,
        tuned_search(ctx, "RandomizedSearchCV",
                     [pipeline(ctx, balanced=is_imbalanced(ctx)), "param_distributions=$grid",
                      "n_iter=3", "cv=cv", 'scoring="$scoring"', "random_state=0"],
                     chain_fit=True),
        'print("tuned cv $scoring:", round($search.best_score_, 4), $search.best_params_)',
    ), "from sklearn.model_selection import cross_val_score", grid=repr(estimator(ctx).grid),
        cv=_cross_validation(ctx), scoring=_scoring(ctx))


@TEMPLATES.add(2, "fits the pipeline once on a single train/validation split with default "
               "hyperparameters and no baseline",
               ("single train/test split, no cross-validation", "default hyperparameters",
                "no baseline model"), applies=is_tabular)
def train_single_fit(ctx: Context) -> None:
    _split(ctx, stratify=False)
    ctx.code("train", fit_defaults(ctx))
    ctx.facts["params_expr"] = model_type_params(ctx)


@TEMPLATES.add(2, "fits once with a few hand-picked hyperparameters, no search and no baseline",
               ("hand-picked hyperparameters, no search", "no baseline model"),
               applies=is_tabular)
def train_hand_picked(ctx: Context) -> None:
    _split(ctx, stratify=ctx.is_classification)
    fit_hand_picked(ctx, balanced=is_imbalanced(ctx))


@TEMPLATES.add(1, "tunes hyperparameters on the validation split and reports that same split's "
               "score as the model's performance",
               ("hyperparameters tuned on the held-out set it is evaluated on",),
               applies=is_tabular)
def train_tuned_on_validation(ctx: Context) -> None:
    _split(ctx, stratify=False)
    ctx.code("train", f"""
        best_score, $model = None, None
        for params in ParameterGrid($grid):
            candidate = {pipeline(ctx)}.set_params(**params)
            candidate.fit($X_tr, $y_tr)
            score = candidate.score($X_va, $y_va)
            if best_score is None or score > best_score:
                best_score, $model, best_params = score, candidate, params
        print("best validation score:", round(best_score, 4), best_params)
    """, "from sklearn.model_selection import ParameterGrid", grid=repr(estimator(ctx).grid))
    ctx.facts["params_expr"] = "best_params"


@TEMPLATES.add(1, "picks between two models by their score on the training data",
               ("model selected by its score on the training data",), applies=is_tabular)
def train_selected_on_train(ctx: Context) -> None:
    _split(ctx, stratify=False)
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


@TEMPLATES.add(1, "oversamples the minority class by duplicating rows before the split, so "
               "copies of training rows land in the validation set",
               ("oversampling before the train/validation split (duplicates leak into "
                "validation)",), applies=is_imbalanced)
def train_oversample_before_split(ctx: Context) -> None:
    ctx.code("split", """
        minority = $train[$train[$target_column] == 1]
        $train = pd.concat([$train] + [minority] * 5, ignore_index=True)
        print($train[$target_column].value_counts())
    """, "import pandas as pd", target_column=repr(ctx.case.target))
    _split(ctx, stratify=True)
    ctx.code("train", fit_defaults(ctx))
    ctx.facts["params_expr"] = '{"oversampling": 5}'
