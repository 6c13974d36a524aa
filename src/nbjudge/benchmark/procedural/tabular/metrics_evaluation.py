"""Metrics evaluation of a table model: ``$metrics``. Good: held-out metrics
that fit the task next to the baseline, and what they mean; average: one
metric, accuracy on an imbalanced target, no baseline; bad: training-data
metrics, a regression metric on classes, a misused metric API (a crash)."""

from __future__ import annotations

from nbjudge.benchmark.procedural.context import Context
from nbjudge.benchmark.procedural.tabular.common import dummy_baseline, is_imbalanced, is_tabular
from nbjudge.benchmark.procedural.templates import DimensionTemplates

__all__ = ["TEMPLATES"]

TEMPLATES = DimensionTemplates("metrics_evaluation")


def _ensure_baseline(ctx: Context) -> None:
    """``$baseline``, unless model training already fitted one."""
    if not ctx.facts.get("baseline"):
        dummy_baseline(ctx, "evaluate")


@TEMPLATES.add(3, "evaluates on the held-out split with metrics that fit the task, compares "
               "with the baseline, and explains what the numbers mean", applies=is_tabular)
def metrics_task_fit(ctx: Context) -> None:
    _ensure_baseline(ctx)
    if is_imbalanced(ctx):
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


@TEMPLATES.add(3, "reports a full classification report or error summary on held-out data "
               "with a baseline comparison and a written interpretation", applies=is_tabular)
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
        if is_imbalanced(ctx):
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


@TEMPLATES.add(2, "reports accuracy only on an imbalanced target, without a baseline",
               ("accuracy only on an imbalanced target", "no baseline comparison"),
               applies=is_imbalanced)
def metrics_accuracy_imbalanced(ctx: Context) -> None:
    ctx.code("evaluate", """
        $preds = $model.predict($X_va)
        $metrics = {"accuracy": accuracy_score($y_va, $preds)}
        print("accuracy:", $metrics["accuracy"])
    """, "from sklearn.metrics import accuracy_score")


@TEMPLATES.add(2, "reports a single held-out metric with no baseline and no interpretation",
               ("one metric where the task needs two", "no baseline comparison"),
               applies=lambda ctx: is_tabular(ctx) and not is_imbalanced(ctx))
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


@TEMPLATES.add(2, "reports held-out precision and recall but no baseline and no reading of "
               "the numbers",
               ("no baseline comparison", "numbers reported without interpretation"),
               applies=lambda ctx: is_tabular(ctx) and ctx.is_classification)
def metrics_no_baseline(ctx: Context) -> None:
    average = '"binary"' if ctx.case.task_type != "multiclass" else '"macro"'
    ctx.code("evaluate", """
        $preds = $model.predict($X_va)
        $metrics = {
            "precision": precision_score($y_va, $preds, average=$average),
            "recall": recall_score($y_va, $preds, average=$average),
        }
        $metrics
    """, "from sklearn.metrics import precision_score", "from sklearn.metrics import recall_score",
             average=average)


@TEMPLATES.add(1, "computes the metrics on the training data",
               ("metrics on the training data",), applies=is_tabular)
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


@TEMPLATES.add(1, "computes R^2 on class labels, a regression metric on a classification "
               "task", ("R^2 used on a classification target",),
               applies=lambda ctx: is_tabular(ctx) and ctx.is_classification)
def metrics_r2_classification(ctx: Context) -> None:
    ctx.code("evaluate", """
        codes = {label: i for i, label in enumerate(sorted($y_tr.unique()))}
        $metrics = {"r2": r2_score($y_va.map(codes), pd.Series($model.predict($X_va)).map(codes))}
        print($metrics)
    """, "from sklearn.metrics import r2_score", "import pandas as pd")


@TEMPLATES.add(1, "calls a metric with the wrong kind of input, which raises an error",
               ("metric API misused (roc_auc_score on a 2-D probability array, or a "
                "classification metric on a continuous target); the notebook crashes here",),
               applies=is_tabular, crash=True)
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
