"""Test-case suites: committed YAML files turned into Case records and tables."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from nbjudge.benchmark.datasets import Dataset, DatasetSpec, build_dataset
from nbjudge.errors import InputError
from nbjudge.schemas import Case, DatasetProperties

__all__ = ["SuiteError", "build_cases", "load_suite", "table_path"]

_CLASSIFICATION = ("binary", "binary_imbalanced", "multiclass")
_SPEC_KEYS = {f.name for f in fields(DatasetSpec)}


class SuiteError(InputError):
    """A suite file is malformed; the message names the file, the case and the fix."""


def load_suite(path: str | Path) -> dict[str, Any]:
    """Read a suite file and check its shape (not yet the datasets)."""
    path = Path(path)
    if not path.exists():
        folder = path.parent
        available = sorted(p.stem for p in folder.glob("*.yaml")) if folder.exists() else []
        raise SuiteError(f"{path}: suite file not found; available suites: {available}")
    try:
        suite = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SuiteError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(suite, dict) or not isinstance(suite.get("cases"), list) \
            or not suite["cases"]:
        raise SuiteError(f"{path}: expected a mapping with a non-empty 'cases' list")
    seen: set[str] = set()
    for index, case in enumerate(suite["cases"], start=1):
        where = f"{path}: case {index}"
        if not isinstance(case, dict):
            raise SuiteError(f"{where}: expected a mapping, got {type(case).__name__}")
        for key in ("case_id", "prompt", "task_type", "dataset"):
            if key not in case:
                raise SuiteError(f"{where}: missing key '{key}'")
        if case["case_id"] in seen:
            raise SuiteError(f"{where}: duplicate case_id {case['case_id']!r}")
        seen.add(case["case_id"])
        unknown = set(case["dataset"]) - _SPEC_KEYS
        if unknown:
            raise SuiteError(f"{where} ({case['case_id']}): unknown dataset keys "
                             f"{sorted(unknown)}; allowed: {sorted(_SPEC_KEYS)}")
    return suite


def table_path(datasets_dir: str | Path, case_id: str, table: str) -> Path:
    """Where the table ``table`` of case ``case_id`` is stored as CSV."""
    return Path(datasets_dir) / case_id / f"{table}.csv"


def _properties(dataset: Dataset, task_type: str, missing_mechanism: str) -> DatasetProperties:
    train = dataset.tables["train"]
    excluded = {dataset.target, dataset.id_column, dataset.time_index}
    features = [c for c in train.columns if c not in excluded]
    missing = [c for c in train.columns if train[c].isna().any()]
    cells = train[features].size + len(train)
    categorical = [c for c in features if not _is_numeric(train[c])]
    balance = None
    if task_type in _CLASSIFICATION:
        shares = train[dataset.target].value_counts(normalize=True).sort_index()
        balance = {str(k): round(float(v), 4) for k, v in shares.items()}
    return DatasetProperties(
        rows=len(train),
        columns=[str(c) for c in train.columns],
        missing_columns=missing,
        missing_rate=round(float(train[[*features, dataset.target]].isna().sum().sum()) / cells, 4),
        missing_mechanism=missing_mechanism if missing else "none",
        categorical_columns=categorical,
        class_balance=balance,
        time_index=dataset.time_index,
        frequency=dataset.frequency,
    )


def _is_numeric(series: object) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(series))


def build_cases(suite_path: str | Path, seed: int, datasets_dir: str | Path) -> list[Case]:
    """Build every case of a suite: write its tables as CSV, return its records."""
    suite_path = Path(suite_path)
    suite = load_suite(suite_path)
    name = suite.get("suite", suite_path.stem)
    cases = []
    for index, entry in enumerate(suite["cases"], start=1):
        where = f"{suite_path}: case {index} ({entry['case_id']})"
        try:
            spec = DatasetSpec(**entry["dataset"])
        except (TypeError, ValueError) as exc:
            raise SuiteError(f"{where}: {exc}") from None
        dataset = build_dataset(spec, seed)
        roles = ("train", "future") if entry["task_type"] == "forecasting" else ("train", "test")
        if set(dataset.tables) != set(roles):
            raise SuiteError(f"{where}: dataset {spec.name!r} does not fit task_type "
                             f"{entry['task_type']!r} (it has tables {sorted(dataset.tables)})")
        prefix = entry.get("table_prefix", spec.name)
        suffix = {"train": "history" if entry["task_type"] == "forecasting" else "train",
                  "test": "test", "future": "future"}
        tables = {role: f"{prefix}_{suffix[role]}" for role in roles}
        for role, table in tables.items():
            path = table_path(datasets_dir, entry["case_id"], table)
            path.parent.mkdir(parents=True, exist_ok=True)
            dataset.tables[role].to_csv(path, index=False, lineterminator="\n")
        try:
            case = Case(
                case_id=entry["case_id"],
                suite=name,
                prompt=" ".join(entry["prompt"].split()),
                task_type=entry["task_type"],
                dataset=spec.name,
                tables=tables,
                target=dataset.target,
                id_column=dataset.id_column,
                horizon=dataset.horizon,
                notebooks=entry.get("notebooks", 1),
                properties=_properties(dataset, entry["task_type"], spec.missing_mechanism
                                       if spec.missing_rate > 0 else dataset.missing_mechanism),
            )
        except ValidationError as exc:
            raise SuiteError(f"{where}: {exc}") from None
        for role, table in tables.items():
            if table not in case.prompt and role != "future":
                raise SuiteError(f"{where}: the prompt never names the table {table!r}; "
                                 "a user names the tables the data lives in")
        cases.append(case)
    return cases
