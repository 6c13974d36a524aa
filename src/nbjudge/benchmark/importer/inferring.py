"""Inferring what a folder does not say: table roles, target, task type, data properties.

The pandas guesswork of the import, each rule documented in
:mod:`nbjudge.benchmark.importer`: tables get a role from their file names,
the target is the one column the train table has and the others lack, the
task type follows from the target (else from the prompt's words), and the
properties are measured on the train table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "dataset_name",
    "infer_target",
    "infer_task_type",
    "read_properties",
    "table_roles",
    "task_type_from_data_or_prompt",
]

_TABLE_SUFFIXES = (".csv", ".tsv", ".parquet")
_ROLE_WORDS = {"train": "train", "history": "train", "test": "test", "future": "future"}
_CLASSIFICATION = ("binary", "binary_imbalanced", "multiclass")
_MAX_CLASSES = 20
_IMBALANCE = 0.2  # minority share below which a binary target counts as imbalanced
# Prompt words, tried in order, when the data cannot tell the task type.
_TASK_WORDS = (
    ("forecasting", ("forecast", "time series", "horizon")),
    ("regression", ("regression", "price", "how much", "estimate", "amount", "progression")),
    ("binary_imbalanced", ("imbalanced", "fraud", "rare", "churn")),
    ("multiclass", ("multiclass", "multi-class", "classify", "category", "categories", "species")),
)
_DATE_NAMES = ("date", "ds", "time", "timestamp", "datetime", "day", "month", "week")


def _role(stem: str) -> str | None:
    words = re.split(r"[^a-z0-9]+", stem.lower())
    roles = {_ROLE_WORDS[word] for word in words if word in _ROLE_WORDS}
    return roles.pop() if len(roles) == 1 else None


def table_roles(files: list[str], named: Mapping[str, str] | None) -> dict[str, str]:
    """Role -> data file: as ``named`` (role -> table name) says, else from file names.

    A lone table is the train table.
    """
    tables = [f for f in files if Path(f).suffix.lower() in _TABLE_SUFFIXES]
    roles: dict[str, str] = {}
    for role, name in (named or {}).items():
        matches = [f for f in tables if Path(f).stem == name]
        if matches:
            roles[role] = matches[0]
    for file in tables:
        found = _role(Path(file).stem)
        if found is not None:
            roles.setdefault(found, file)
    if "train" not in roles and len(tables) == 1:
        roles["train"] = tables[0]
    return roles


def infer_target(train: pd.DataFrame, other: pd.DataFrame | None) -> str | None:
    """The one column ``train`` has and ``other`` (test or future) lacks, else None."""
    if other is None:
        return None
    only_train = [c for c in train.columns if c not in set(other.columns)]
    return str(only_train[0]) if len(only_train) == 1 else None


def _time_column(frame: pd.DataFrame) -> str | None:
    for column in frame.columns:
        series = frame[column]
        if pd.api.types.is_datetime64_any_dtype(series):
            return str(column)
        if str(column).lower() in _DATE_NAMES or str(column).lower().endswith("_date"):
            parsed = pd.to_datetime(series, errors="coerce")
            if parsed.notna().mean() > 0.9:
                return str(column)
    return None


def task_type_from_data_or_prompt(
    prompt: str, train: pd.DataFrame | None, target: str | None, has_future: bool
) -> tuple[str, str]:
    """From the data when it tells (a date column and a future table, the target's values),
    else from the prompt's words, else ``unknown``; with what tells it."""
    if train is not None and has_future and (time := _time_column(train)) is not None:
        return "forecasting", f"data: date column {time} and a future table"
    if train is not None and target in train.columns:
        values = train[target].dropna()
        classes = values.nunique()
        if pd.api.types.is_numeric_dtype(values) and classes > _MAX_CLASSES:
            return "regression", f"data: target {target} is numeric with {classes} values"
        if classes == 2:
            minority = values.value_counts(normalize=True).min()
            told = f"data: target {target} has 2 classes, minority {minority:.0%}"
            return ("binary_imbalanced" if minority < _IMBALANCE else "binary"), told
        if 2 < classes <= _MAX_CLASSES:
            return "multiclass", f"data: target {target} has {classes} classes"
    words = prompt.lower()
    for task_type, cues in _TASK_WORDS:
        found = [cue for cue in cues if cue in words]
        if found:
            return task_type, f"prompt: the word {found[0]!r}"
    return "unknown", ""


def infer_task_type(
    prompt: str, train: pd.DataFrame | None, target: str | None, has_future: bool
) -> str:
    """From the data when it tells (a date column and a future table, the target's values),
    else from the prompt's words, else ``unknown``."""
    return task_type_from_data_or_prompt(prompt, train, target, has_future)[0]


def _frequency(series: pd.Series) -> str | None:
    dates = pd.DatetimeIndex(pd.to_datetime(series, errors="coerce").dropna().sort_values())
    if len(dates.unique()) < 3:
        return None
    try:
        # pandas 4 returns an offset; ask for it now (the string form warns).
        with pd.option_context("future.infer_freq_returns_offset", True):
            offset = pd.infer_freq(dates.unique())
    except (TypeError, ValueError):
        return None
    return None if offset is None else offset.freqstr


def read_properties(
    train: pd.DataFrame, task_type: str, target: str | None, id_column: str | None
) -> dict[str, Any]:
    """The :class:`~nbjudge.schemas.DatasetProperties` fields measured on the train table."""
    time_index = _time_column(train) if task_type == "forecasting" else None
    measured = [c for c in train.columns if c not in {id_column, time_index}]
    missing = [str(c) for c in train.columns if train[c].isna().any()]
    cells = train[measured].size
    rate = round(float(train[measured].isna().sum().sum()) / cells, 4) if cells else 0.0
    balance = None
    if task_type in _CLASSIFICATION and target in train.columns:
        shares = train[target].value_counts(normalize=True).sort_index()
        balance = {str(k): round(float(v), 4) for k, v in shares.items()}
    return {
        "rows": len(train),
        "columns": [str(c) for c in train.columns],
        "missing_columns": missing,
        "missing_rate": rate,
        "missing_mechanism": "MCAR" if missing else "none",
        "categorical_columns": [
            str(c)
            for c in train.columns
            if c not in {target, id_column, time_index}
            and not pd.api.types.is_numeric_dtype(train[c])
        ],
        "class_balance": balance,
        "time_index": time_index,
        "frequency": _frequency(train[time_index]) if time_index else None,
    }


def dataset_name(files: list[str]) -> str | None:
    """The words the table names share (``titanic`` for titanic_train, titanic_test)."""
    names = [re.split(r"[^A-Za-z0-9]+", Path(f).stem) for f in files]
    if not names:
        return None
    shared = []
    for words in zip(*names, strict=False):
        if len(set(words)) > 1:
            break
        shared.append(words[0])
    kept = [w for w in shared if w.lower() not in _ROLE_WORDS]
    return "_".join(kept) or None
