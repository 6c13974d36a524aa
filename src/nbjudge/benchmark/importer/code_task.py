"""The task type a notebook's code shows: the estimators it fits and the metrics it reports.

Each code cell is parsed with :mod:`ast` once IPython's magics and shell lines
(``%matplotlib inline``, ``!pip install``) are blanked; a cell that still does not
parse (Python 2's ``print 'x'``, another language) is read with regular expressions
instead. What counts is every name the code calls, imports or reads as an attribute,
and every string it passes (``scoring="roc_auc"``):

- forecasting: a forecasting model (ARIMA, SARIMAX, Prophet, ExponentialSmoothing,
  Holt, auto_arima, ...), a forecast horizon (``make_future_dataframe``,
  ``ForecastingHorizon``, ``.forecast(``) or a forecasting metric (MAPE, sMAPE, MASE);
- classification: a classifier (``*Classifier``, LogisticRegression, SVC, naive Bayes,
  ...) or a classification metric (accuracy, F1, ROC AUC, precision, recall, confusion
  matrix, log loss, ``predict_proba``); multiclass when an averaged metric
  (``average="macro"``), ``multi_class`` or a one-vs-rest model says so, imbalanced
  when resampling (SMOTE, imblearn) or ``class_weight="balanced"`` does, else binary;
- regression: a regressor (``*Regressor``, LinearRegression, Ridge, Lasso, SVR, OLS, ...)
  or a regression metric (RMSE, MAE, R2, mean squared error).

A forecasting model or horizon decides forecasting; otherwise the family with the
most evidence wins (a metric counts twice an estimator), forecasting metrics alone
count as forecasting when they outweigh the rest; a tie, or nothing, is ``unknown``.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["CodeEvidence", "code_evidence"]

_FORECAST_MODELS = frozenset({
    "ARIMA", "SARIMAX", "SARIMA", "AutoARIMA", "auto_arima", "Prophet", "NeuralProphet",
    "ExponentialSmoothing", "SimpleExpSmoothing", "Holt", "ETSModel", "VAR", "VARMAX",
    "ThetaModel", "STLForecast", "TBATS", "BATS", "NaiveForecaster", "AutoETS",
    "ForecastingHorizon", "make_future_dataframe", "forecast", "TimeSeriesSplit",
    "AutoReg", "StatsForecast", "NBEATSModel", "TFTModel",
})
_FORECAST_METRICS = frozenset({
    "mean_absolute_percentage_error", "mape", "smape", "mase",
    "mean_absolute_scaled_error", "symmetric_mean_absolute_percentage_error",
})
_CLASSIFIERS = frozenset({
    "LogisticRegression", "LogisticRegressionCV", "SVC", "LinearSVC", "NuSVC", "GaussianNB",
    "MultinomialNB", "BernoulliNB", "ComplementNB", "Perceptron",
    "LinearDiscriminantAnalysis", "QuadraticDiscriminantAnalysis", "OneVsRestClassifier",
    "LogisticRegressionModel", "Logit", "Probit", "logit", "probit",
})
_CLASSIFICATION_METRICS = frozenset({
    "accuracy_score", "f1_score", "roc_auc_score", "precision_score", "recall_score",
    "confusion_matrix", "classification_report", "log_loss", "balanced_accuracy_score",
    "roc_curve", "precision_recall_curve", "average_precision_score", "matthews_corrcoef",
    "cohen_kappa_score", "ConfusionMatrixDisplay", "RocCurveDisplay", "predict_proba",
    "accuracy", "f1", "roc_auc", "precision", "recall", "f1_macro", "f1_weighted",
    "roc_auc_ovr", "neg_log_loss", "balanced_accuracy", "BinaryClassificationEvaluator",
    "MulticlassClassificationEvaluator", "binary:logistic", "multi:softmax",
    "multi:softprob", "binary_crossentropy", "categorical_crossentropy",
    "sparse_categorical_crossentropy",
})
_REGRESSORS = frozenset({
    "LinearRegression", "Ridge", "Lasso", "ElasticNet", "RidgeCV", "LassoCV", "ElasticNetCV",
    "SVR", "LinearSVR", "NuSVR", "BayesianRidge", "OLS", "ols", "GLM", "PoissonRegressor",
    "LinearRegressionModel",
})
_REGRESSION_METRICS = frozenset({
    "mean_squared_error", "mean_absolute_error", "r2_score", "root_mean_squared_error",
    "median_absolute_error", "explained_variance_score", "mean_squared_log_error",
    "rmse", "mae", "r2", "neg_mean_squared_error", "neg_root_mean_squared_error",
    "neg_mean_absolute_error", "RegressionEvaluator", "reg:squarederror", "mse",
})
_MULTICLASS = frozenset({
    "macro", "micro", "weighted", "multi_class", "ovr", "ovo", "OneVsRestClassifier",
    "OneVsOneClassifier", "f1_macro", "f1_weighted", "roc_auc_ovr", "multi:softmax",
    "multi:softprob", "categorical_crossentropy", "sparse_categorical_crossentropy",
    "MulticlassClassificationEvaluator", "num_class", "softmax", "multiclass",
})
_IMBALANCED = frozenset({
    "SMOTE", "ADASYN", "RandomUnderSampler", "RandomOverSampler", "imblearn",
    "BalancedRandomForestClassifier", "scale_pos_weight", "balanced",
})
_MAGIC = re.compile(r"^\s*[%!?]|^\s*\w+\s*=\s*!|\?\s*$")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.:]*")


@dataclass(frozen=True)
class CodeEvidence:
    """The task type a notebook's code shows, and what shows it."""

    task_type: str                 # one of TASK_TYPES; unknown when nothing indicates one
    evidence: tuple[str, ...]      # the names found, strongest family first
    unparsed_cells: int = 0        # read with regular expressions (Python 2, magics, ...)

    def describe(self) -> str:
        if not self.evidence:
            return "nothing in the code indicates it"
        return "code: " + ", ".join(self.evidence[:6]) + (
            f" (+{len(self.evidence) - 6} more)" if len(self.evidence) > 6 else "")


def _names(source: str) -> tuple[list[str], bool]:
    """Names called, imported or read, and strings passed, in ``source``; whether it parsed."""
    blanked = "\n".join("" if _MAGIC.search(line) else line for line in source.splitlines())
    try:
        tree = ast.parse(blanked)
    except (SyntaxError, ValueError):
        # Python 2 (``print 'x'``), another kernel's language: the words will do.
        return _WORD.findall(blanked), False
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.append(node.id)
        elif isinstance(node, ast.Attribute):
            names.append(node.attr)
        elif isinstance(node, ast.alias):
            names.extend(node.name.split("."))
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.extend(node.module.split("."))
        elif isinstance(node, ast.keyword) and node.arg:
            names.append(node.arg)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and len(
                node.value) <= 40:
            names.append(node.value)
    return names, True


def _family(name: str) -> str | None:
    bare = name.rsplit(".", 1)[-1]
    if bare in _FORECAST_MODELS:
        return "forecast_model"
    if bare in _FORECAST_METRICS or name.lower() in _FORECAST_METRICS:
        return "forecast_metric"
    if bare in _CLASSIFIERS or (bare.endswith("Classifier") and len(bare) > len("Classifier")):
        return "classifier"
    if bare in _CLASSIFICATION_METRICS:
        return "classification_metric"
    if bare in _REGRESSORS or (bare.endswith("Regressor") and len(bare) > len("Regressor")):
        return "regressor"
    if bare in _REGRESSION_METRICS or name.lower() in ("rmse", "mae", "r2"):
        return "regression_metric"
    return None


_KIND = {"classifier": "classification", "classification_metric": "classification",
         "regressor": "regression", "regression_metric": "regression",
         "forecast_model": "forecasting", "forecast_metric": "forecasting"}
_WEIGHT = {"classifier": 1, "classification_metric": 2, "regressor": 1,
           "regression_metric": 2, "forecast_model": 3, "forecast_metric": 2}


def code_evidence(sources: Iterable[str]) -> CodeEvidence:
    """The task type the code cells ``sources`` show, with the names that show it."""
    found: dict[str, Counter[str]] = {}
    hints: set[str] = set()
    unparsed = 0
    for source in sources:
        names, parsed = _names(source)
        unparsed += not parsed
        for name in names:
            family = _family(name)
            if family is not None:
                found.setdefault(family, Counter())[name.rsplit(".", 1)[-1]] += 1
            if name in _MULTICLASS or name in _IMBALANCED:
                hints.add(name)
    score = Counter[str]()
    for family, counted in found.items():
        score[_KIND[family]] += _WEIGHT[family] * len(counted)

    def names_of(kind: str) -> tuple[str, ...]:
        families = sorted((f for f in found if _KIND[f] == kind),
                          key=lambda f: (-_WEIGHT[f], f))
        return tuple(name for f in families for name, _ in found[f].most_common())

    if "forecast_model" in found:
        return CodeEvidence("forecasting", names_of("forecasting"), unparsed)
    ranked = score.most_common()
    if not ranked or (len(ranked) > 1 and ranked[0][1] == ranked[1][1]):
        every = tuple(name for kind, _ in ranked for name in names_of(kind))
        return CodeEvidence("unknown", every, unparsed)
    kind = ranked[0][0]
    if kind != "classification":
        return CodeEvidence(kind, names_of(kind), unparsed)
    if hints & _MULTICLASS:
        task_type = "multiclass"
    elif hints & _IMBALANCED:
        task_type = "binary_imbalanced"
    else:
        task_type = "binary"
    return CodeEvidence(task_type, (*names_of(kind), *sorted(hints)), unparsed)
