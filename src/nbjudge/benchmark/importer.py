"""Import of the user's own notebooks (``generate=import``).

A folder of ``.ipynb`` files (an agent's notebooks) becomes the same records
the procedural generator writes, so the rest of the pipeline runs unchanged:

- notebook index entries: each top-level notebook is copied byte for byte
  to ``data/notebooks/generated/<notebook_id>.ipynb`` and recorded with the
  sha256 of the file and ``origin: import``; ``notebook_id`` is the file
  name, lower-cased, with every run of characters outside ``[a-z0-9_-]``
  replaced by ``_`` (``_2``, ``_3``, ... make clashes unique);
- case records, one per task, each with its notebooks;
- no blueprint entries: imported notebooks have no known true levels, so the
  blueprint is empty and their labels come from ``labels=file``.

What each notebook was asked, per notebook, first found wins:

1. notebook metadata ``nbjudge`` (``{"prompt": ..., "task_type": ...}``;
   keys other than :data:`CASE_KEYS` are left to other tools);
2. ``cases.yaml`` in the folder, mapping a notebook file name (or ``"*"``,
   defaults for every notebook) to any of the keys of :data:`CASE_KEYS`;
3. for the prompt, the first markdown cell; for the rest, what the data
   shows (below).

Notebooks with the same ``case_id`` form one case; without one, notebooks
with the same prompt do, and the case takes the id of its first notebook.

Every other file in the folder (recursively; hidden files, notebooks and
``cases.yaml`` excepted) is the data the notebooks read. It is copied with
its relative path to ``data/cases/datasets/<case_id>/``, the folder whose
contents the execute stage puts in the notebook's working folder, so a
notebook that reads ``titanic_train.csv`` finds it there. A case's ``data``
key lists its files when the folder holds data of several cases.

Tables (``.csv``, ``.tsv``, ``.parquet``) get a role from their file name
unless ``tables`` names them: ``train``/``history`` -> train, ``test`` ->
test, ``future`` -> future (a lone table is train). Unless ``cases.yaml``
says otherwise, the target is the one column the train table has and the
test or future table lacks (else ``unknown``); the task type follows from
the target (numeric with many values: regression; two classes: binary,
imbalanced below 20% minority; up to 20 classes: multiclass; a date column
plus a future table: forecasting), else from the prompt's words.
``properties`` are read from the train table: rows, columns, columns with
missing values, missing rate, non-numeric columns, class balance and, for
forecasting, the date column and its frequency; ``properties`` in
``cases.yaml`` override any of them. The missingness mechanism cannot be
read from data: it is ``MCAR`` when values are missing (``none`` otherwise)
unless ``properties.missing_mechanism`` says so. A case with no table (an
agent's notebooks, executed elsewhere on data that is not here) needs
nothing: its properties are unknown, and its task type comes from the
prompt's words, else ``unknown``. Only the notebooks are required.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import yaml
from pydantic import ValidationError

from nbjudge.notebooks.render import RenderOptions, render
from nbjudge.schemas import TASK_TYPES, Case, DatasetProperties, Notebook, describe

__all__ = [
    "CASES_FILE",
    "CASE_KEYS",
    "DATASETS_DIR",
    "NOTEBOOKS_DIR",
    "ImportCheck",
    "ImportedNotebooks",
    "NotebookImportError",
    "check_folder",
    "copy_case_data",
    "copy_notebooks",
    "import_notebooks",
    "notebook_ids",
    "read_notebook_folder",
]

NOTEBOOKS_DIR = "data/notebooks/generated"
DATASETS_DIR = "data/cases/datasets"
CASES_FILE = "cases.yaml"
CASE_KEYS: tuple[str, ...] = (
    "prompt",
    "case_id",
    "task_type",
    "dataset",
    "tables",
    "target",
    "id_column",
    "horizon",
    "data",
    "properties",
)

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
_REPORTED = 20


class NotebookImportError(ValueError):
    """A notebook folder cannot be imported; ``problems`` lists every reason."""

    def __init__(self, folder: Path, problems: list[str]) -> None:
        self.folder = folder
        self.problems = problems
        lines = [f"{folder}: {len(problems)} problem(s); nothing was imported. Fix them and rerun:"]
        lines += [f"  {problem}" for problem in problems[:_REPORTED]]
        if len(problems) > _REPORTED:
            lines.append(f"  ... and {len(problems) - _REPORTED} more")
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class ImportedNotebooks:
    """The records of an imported folder, and where their files come from."""

    folder: Path
    cases: list[Case]
    notebooks: list[Notebook]
    sources: dict[str, str]  # notebook_id -> notebook file name in the folder
    data: dict[str, list[str]]  # case_id -> data files, relative to the folder
    prompt_sources: dict[str, str] = field(default_factory=dict)  # notebook_id -> where from
    repaired: dict[str, bytes] = field(default_factory=dict)  # notebook_id -> imported bytes


@dataclass
class _Source:
    file: str
    notebook_id: str
    sha256: str
    settings: dict[str, Any]
    prompt: str
    explicit_prompt: bool
    prompt_source: str = "first markdown cell"
    repaired: bytes | None = None   # the notebook as imported, when it needed a repair


def _sanitize(name: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "_", name.lower()).strip("_-") or "notebook"


def notebook_ids(file_names: list[str]) -> dict[str, str]:
    """Map notebook file names to unique ids, in sorted file-name order."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for name in sorted(file_names):
        base = _sanitize(Path(name).stem)
        candidate, number = base, 2
        while candidate in taken:
            candidate, number = f"{base}_{number}", number + 1
        taken.add(candidate)
        ids[name] = candidate
    return ids


def _validation_message(exc: Exception) -> str:
    message = " ".join(getattr(exc, "message", str(exc)).split())
    if len(message) > 200:
        # jsonschema quotes the whole offending cell first; its verdict comes last.
        message = f"{message[:80]} ... {message[-100:]}"
    where = "/".join(str(part) for part in getattr(exc, "absolute_path", []))
    return f"at {where}: {message}" if where else message


def _repair(data: dict[str, Any]) -> bool:
    """Fill in what Jupyter itself tolerates missing (a code cell's ``outputs`` and
    ``execution_count``, a cell's ``metadata``; cell ids in a format before 4.5);
    True when anything changed. Nothing a judge reads is touched."""
    if data.get("nbformat") != 4 or not isinstance(data.get("cells"), list):
        return False
    changed = False
    for cell in data["cells"]:
        if not isinstance(cell, dict):
            continue
        missing = {"metadata": {}}
        if cell.get("cell_type") == "code":
            missing |= {"outputs": [], "execution_count": None}
        for key, value in missing.items():
            if key not in cell:
                cell[key] = value
                changed = True
        if "id" in cell and data.get("nbformat_minor", 0) < 5:
            data["nbformat_minor"] = 5
            changed = True
    return changed


def _read_notebook(path: Path, problems: list[str]
                   ) -> tuple[nbformat.NotebookNode, bool] | None:
    """The notebook at ``path`` (as nbformat 4) and whether it needed :func:`_repair`."""
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except UnicodeDecodeError as exc:
        problems.append(f"{path.name}: not UTF-8 text ({exc.reason}); is this really a notebook?")
        return None
    except json.JSONDecodeError as exc:
        problems.append(
            f"{path.name}: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
            "re-save it from Jupyter"
        )
        return None
    except OSError as exc:
        problems.append(f"{path.name}: cannot be read ({exc.strerror})")
        return None
    if not isinstance(data, dict):
        problems.append(f"{path.name}: not a notebook (the JSON is a {type(data).__name__})")
        return None
    if "nbformat" not in data:
        problems.append(f"{path.name}: not a notebook (JSON without an 'nbformat' version)")
        return None
    repaired = _repair(data)
    with warnings.catch_warnings():
        # nbformat warns about fixable trifles (missing cell ids); only errors count here.
        warnings.simplefilter("ignore")
        try:
            nbformat.validate(data)
            return nbformat.reads(json.dumps(data) if repaired else text, as_version=4), repaired
        except nbformat.ValidationError as exc:
            problems.append(
                f"{path.name}: not a valid notebook: nbformat says {_validation_message(exc)}"
            )
        except Exception as exc:  # nbformat raises bare errors for unknown versions
            problems.append(f"{path.name}: not a valid notebook: nbformat says {exc}")
    return None


def _first_markdown(notebook: nbformat.NotebookNode) -> str | None:
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and cell.source.strip():
            return " ".join(cell.source.split())
    return None


def _read_cases_file(folder: Path, names: list[str], problems: list[str]) -> dict[str, dict]:
    path = folder / CASES_FILE
    if not path.exists():
        return {}
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        problems.append(f"{CASES_FILE}: not valid YAML: {' '.join(str(exc).split())}")
        return {}
    if not isinstance(content, dict):
        problems.append(f"{CASES_FILE}: expected a mapping of notebook file name -> settings")
        return {}
    entries = {}
    for key, settings in content.items():
        if key != "*" and key not in names:
            problems.append(
                f"{CASES_FILE}: {key!r} is not a notebook in the folder; "
                f"keys are notebook file names ({', '.join(names)}) or '*'"
            )
        elif not isinstance(settings, dict):
            problems.append(f"{CASES_FILE}: {key!r}: expected a mapping of settings")
        elif unknown := sorted(set(settings) - set(CASE_KEYS)):
            problems.append(
                f"{CASES_FILE}: {key!r}: unknown key(s) {', '.join(map(str, unknown))}; "
                f"allowed: {', '.join(CASE_KEYS)}"
            )
        else:
            entries[key] = settings
    return entries


def _data_files(folder: Path) -> list[str]:
    files = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if (
            path.is_file()
            and not any(part.startswith(".") for part in relative.parts)
            and "__pycache__" not in relative.parts
            and path.suffix != ".ipynb"
            and relative.as_posix() != CASES_FILE
        ):
            files.append(relative.as_posix())
    return files


def _sources(folder: Path, problems: list[str]) -> list[_Source]:
    files = sorted(
        p.name for p in folder.glob("*.ipynb") if p.is_file() and not p.name.startswith(".")
    )
    if not files:
        problems.append(f"{folder}: no .ipynb notebooks at the top of the folder")
        return []
    cases_file = _read_cases_file(folder, files, problems)
    ids = notebook_ids(files)
    sources = []
    for name in files:
        path = folder / name
        read = _read_notebook(path, problems)
        if read is None:
            continue
        notebook, repaired = read
        metadata = notebook.metadata.get("nbjudge", {})
        if not isinstance(metadata, Mapping):
            problems.append(f"{name}: metadata 'nbjudge' must be a mapping, got {metadata!r}")
            continue
        # Metadata keys other than CASE_KEYS are left alone: other tools may keep state there.
        settings = {
            **cases_file.get("*", {}),
            **cases_file.get(name, {}),
            **{k: v for k, v in metadata.items() if k in CASE_KEYS},
        }
        if settings.get("prompt") is not None and not isinstance(settings["prompt"], str):
            problems.append(f"{name}: the prompt must be text, got {settings['prompt']!r}")
            continue
        explicit = bool((settings.get("prompt") or "").strip())
        prompt = " ".join(settings["prompt"].split()) if explicit else _first_markdown(notebook)
        if prompt is None:
            problems.append(
                f"{name}: no task prompt: set metadata nbjudge.prompt, give 'prompt' for it in "
                f"{CASES_FILE}, or start the notebook with a markdown cell stating the task"
            )
            continue
        # A repaired notebook is imported as nbformat writes it, the rest byte for byte.
        content = nbformat.writes(notebook).encode() if repaired else path.read_bytes()
        sha = hashlib.sha256(content).hexdigest()
        origin = ("metadata" if str(metadata.get("prompt") or "").strip()
                  else CASES_FILE if explicit else "first markdown cell")
        sources.append(_Source(name, ids[name], sha, settings, prompt, explicit, origin,
                               content if repaired else None))
    return sources


def _group(sources: list[_Source], problems: list[str]) -> dict[str, list[_Source]]:
    """Notebooks per case: by explicit case_id, else by prompt; keyed by case id."""
    groups: dict[tuple[str, str], list[_Source]] = {}
    for source in sources:
        case_id = source.settings.get("case_id")
        if case_id is not None and not re.fullmatch(r"[A-Za-z0-9_-]+", str(case_id)):
            problems.append(
                f"{source.file}: case_id {case_id!r} may hold only letters, digits, '_' and '-'"
            )
            continue
        key = ("id", str(case_id)) if case_id is not None else ("prompt", source.prompt)
        groups.setdefault(key, []).append(source)
    taken = {value for kind, value in groups if kind == "id"}
    cases = {}
    for (kind, value), members in groups.items():
        case_id = value
        if kind == "prompt":
            base, number = members[0].notebook_id, 2
            case_id = base
            while case_id in taken:
                case_id, number = f"{base}_{number}", number + 1
            taken.add(case_id)
        cases[case_id] = members
    return cases


def _agreed(case_id: str, members: list[_Source], key: str, problems: list[str]) -> Any:
    """The one value the case's notebooks give for ``key``, or ``None``."""
    given = {s.file: s.settings[key] for s in members if s.settings.get(key) is not None}
    distinct = {json.dumps(value, sort_keys=True, default=str) for value in given.values()}
    if len(distinct) > 1:
        problems.append(
            f"case {case_id!r}: its notebooks disagree on {key}: "
            + "; ".join(f"{file}: {value!r}" for file, value in given.items())
        )
        return None
    return next(iter(given.values()), None)


def _role(stem: str) -> str | None:
    words = re.split(r"[^a-z0-9]+", stem.lower())
    roles = {_ROLE_WORDS[word] for word in words if word in _ROLE_WORDS}
    return roles.pop() if len(roles) == 1 else None


def _tables(files: list[str], named: Mapping[str, str] | None) -> dict[str, str]:
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
        role = _role(Path(file).stem)
        if role is not None:
            roles.setdefault(role, file)
    if "train" not in roles and len(tables) == 1:
        roles["train"] = tables[0]
    return roles


def _read_table(folder: Path, file: str, problems: list[str]) -> pd.DataFrame | None:
    path = folder / file
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",")
    except Exception as exc:  # pandas raises many types; the message is what helps
        problems.append(f"{file}: cannot read this table ({' '.join(str(exc).split())})")
        return None


def _infer_target(train: pd.DataFrame, other: pd.DataFrame | None) -> str | None:
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


def _infer_task_type(
    prompt: str, train: pd.DataFrame | None, target: str | None, has_future: bool
) -> str:
    if train is not None and has_future and _time_column(train) is not None:
        return "forecasting"
    if train is not None and target in train.columns:
        values = train[target].dropna()
        classes = values.nunique()
        if pd.api.types.is_numeric_dtype(values) and classes > _MAX_CLASSES:
            return "regression"
        if classes == 2:
            minority = values.value_counts(normalize=True).min()
            return "binary_imbalanced" if minority < _IMBALANCE else "binary"
        if 2 < classes <= _MAX_CLASSES:
            return "multiclass"
    words = prompt.lower()
    for task_type, cues in _TASK_WORDS:
        if any(cue in words for cue in cues):
            return task_type
    return "unknown"


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


def _read_properties(
    train: pd.DataFrame, task_type: str, target: str | None, id_column: str | None
) -> dict[str, Any]:
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


def _dataset_name(files: list[str]) -> str | None:
    """The words the table names share (``titanic`` for titanic_train, titanic_test)."""
    names = [re.split(r"[^A-Za-z0-9]+", Path(f).stem) for f in files]
    if not names:
        return None
    shared = []
    for words in zip(*names, strict=False):
        if len(set(words)) > 1:
            break
        shared.append(words[0])
    words = [w for w in shared if w.lower() not in _ROLE_WORDS]
    return "_".join(words) or None


def _case_settings(
    case_id: str, members: list[_Source], all_data: list[str], problems: list[str]
) -> tuple[dict[str, Any], str, list[str]] | None:
    """The settings the case's notebooks agree on, its prompt and its data files."""
    found = len(problems)
    value = {
        key: _agreed(case_id, members, key, problems)
        for key in CASE_KEYS
        if key not in ("prompt", "case_id")
    }
    explicit = {s.file: s.prompt for s in members if s.explicit_prompt}
    if len(set(explicit.values())) > 1:
        problems.append(
            f"case {case_id!r}: its notebooks were given different prompts: "
            + "; ".join(f"{file}: {prompt!r}" for file, prompt in explicit.items())
        )
    prompt = next(iter(explicit.values()), members[0].prompt)
    data = value["data"]
    if isinstance(data, str):
        data = [data]
    if data is None:
        data = all_data
    elif not isinstance(data, list):
        problems.append(f"case {case_id!r}: data must be a list of file names, got {data!r}")
    elif absent := [str(f) for f in data if str(f) not in all_data]:
        problems.append(
            f"case {case_id!r}: data file(s) {', '.join(absent)} not found in the folder"
        )
    for key in ("tables", "properties"):
        if value[key] is not None and not isinstance(value[key], dict):
            problems.append(f"case {case_id!r}: {key} must be a mapping, got {value[key]!r}")
    if len(problems) > found:
        return None
    return value, prompt, [str(f) for f in data]


def _build_case(
    folder: Path,
    case_id: str,
    members: list[_Source],
    all_data: list[str],
    suite: str,
    problems: list[str],
) -> tuple[Case, list[str]] | None:
    found = len(problems)
    settings = _case_settings(case_id, members, all_data, problems)
    if settings is None:
        return None
    value, prompt, data = settings
    roles = _tables(data, value["tables"])
    frames = {role: _read_table(folder, file, problems) for role, file in roles.items()}
    if len(problems) > found:
        return None
    train = frames.get("train")
    other = frames.get("test", frames.get("future"))
    target = value["target"] or (_infer_target(train, other) if train is not None else None)
    target = target or "unknown"
    task_type = value["task_type"] or _infer_task_type(prompt, train, target, "future" in frames)
    if task_type not in TASK_TYPES:
        problems.append(
            f"case {case_id!r}: task_type {task_type!r} is not one of {', '.join(TASK_TYPES)}"
        )
        return None
    inferred = (
        _read_properties(train, task_type, target, value["id_column"]) if train is not None else {}
    )
    given = value["properties"] or {}
    properties = None  # unknown: the tables are not here, and nothing needs them to judge
    if train is not None or given:
        try:
            properties = DatasetProperties(**{**inferred, **given})
        except ValidationError as exc:
            problems.append(f"case {case_id!r}: properties: {describe(exc)}")
            return None
    tables = value["tables"] or {role: Path(file).stem for role, file in roles.items()}
    try:
        case = Case(
            case_id=case_id,
            suite=suite,
            prompt=prompt,
            task_type=task_type,
            dataset=value["dataset"] or _dataset_name(list(roles.values())) or case_id,
            tables=tables,
            target=target,
            id_column=value["id_column"],
            horizon=value["horizon"],
            notebooks=len(members),
            properties=properties,
        )
    except ValidationError as exc:
        problems.append(f"case {case_id!r}: {describe(exc)}")
        return None
    return case, data


def read_notebook_folder(
    folder: str | Path, *, notebooks_dir: str | Path = NOTEBOOKS_DIR, suite: str = "import"
) -> ImportedNotebooks:
    """Check a folder of notebooks and build its records; copy and write nothing.

    Index entries point at ``<notebooks_dir>/<notebook_id>.ipynb``. Raises
    :class:`NotebookImportError` listing every problem: a notebook that is
    not JSON or not valid nbformat, a prompt that cannot be found, a
    malformed ``cases.yaml``, notebooks of one case that disagree, a table
    that cannot be read.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise NotebookImportError(folder, [f"{folder}: not a folder of notebooks"])
    problems: list[str] = []
    sources = _sources(folder, problems)
    groups = _group(sources, problems)
    all_data = _data_files(folder)
    cases, data = [], {}
    for case_id, members in groups.items():
        built = _build_case(folder, case_id, members, all_data, suite, problems)
        if built is not None:
            cases.append(built[0])
            data[case_id] = built[1]
    if problems:
        raise NotebookImportError(folder, problems)
    notebooks = [
        Notebook(
            notebook_id=source.notebook_id,
            case_id=case_id,
            path=(Path(notebooks_dir) / f"{source.notebook_id}.ipynb").as_posix(),
            sha256=source.sha256,
            origin="import",
        )
        for case_id, members in groups.items()
        for source in members
    ]
    notebooks.sort(key=lambda n: n.notebook_id)
    cases.sort(key=lambda c: c.case_id)
    sources_by_id = {s.notebook_id: s.file for s in sources}
    return ImportedNotebooks(folder, cases, notebooks, sources_by_id, data,
                             {s.notebook_id: s.prompt_source for s in sources},
                             {s.notebook_id: s.repaired for s in sources if s.repaired})


@dataclass(frozen=True)
class ImportCheck:
    """What importing one notebook would give, before any judgment is paid for."""

    file: str
    notebook_id: str
    case_id: str
    prompt_source: str       # metadata, cases.yaml or first markdown cell
    task_type: str
    code_cells: int
    cells_with_outputs: int  # 0: the judges would see code only (execute.mode decides)
    tokens: int              # the whole notebook as judges read it
    judged_tokens: int       # within the judge's budget
    cuts: tuple[str, ...]    # what the budget shortens, in order


def check_folder(folder: str | Path, options: RenderOptions) -> list[ImportCheck]:
    """Per notebook of ``folder``: prompt source, task type, outputs, rendered tokens and
    what the judge's budget (``options``) would cut. Raises like :func:`read_notebook_folder`."""
    imported = read_notebook_folder(folder)
    case_of = {n.notebook_id: n.case_id for n in imported.notebooks}
    task_type = {c.case_id: c.task_type for c in imported.cases}
    rows = []
    for notebook_id, file in sorted(imported.sources.items()):
        repaired = imported.repaired.get(notebook_id)
        notebook = (nbformat.reads(repaired.decode(), as_version=4) if repaired
                    else nbformat.read(imported.folder / file, as_version=4))
        code = [c for c in notebook.cells if c.cell_type == "code"]
        rendered = render(notebook, options)
        rows.append(ImportCheck(
            file=file, notebook_id=notebook_id, case_id=case_of[notebook_id],
            prompt_source=imported.prompt_sources[notebook_id],
            task_type=task_type[case_of[notebook_id]], code_cells=len(code),
            cells_with_outputs=sum(bool(c.get("outputs")) for c in code),
            tokens=rendered.full_tokens, judged_tokens=rendered.tokens, cuts=rendered.cuts))
    return rows


def import_notebooks(
    folder: str | Path,
    notebooks_dir: str | Path = NOTEBOOKS_DIR,
    datasets_dir: str | Path = DATASETS_DIR,
    *,
    suite: str = "import",
) -> ImportedNotebooks:
    """Import a folder of notebooks: check it whole, then copy its files.

    Copies each notebook byte for byte to ``<notebooks_dir>/<notebook_id>.ipynb``
    and each case's data files to ``<datasets_dir>/<case_id>/`` (relative
    paths kept). Returns the records; the caller writes ``notebooks`` as the
    notebook index, ``cases`` as the cases file and an empty blueprint.
    Nothing is copied when the folder has a problem.
    """
    imported = read_notebook_folder(folder, notebooks_dir=notebooks_dir, suite=suite)
    copy_notebooks(imported, notebooks_dir)
    copy_case_data(imported, datasets_dir)
    return imported


def copy_notebooks(imported: ImportedNotebooks, notebooks_dir: str | Path) -> None:
    """Copy each notebook to ``<notebooks_dir>/<notebook_id>.ipynb``: byte for byte, or as
    repaired (a code cell's missing ``outputs`` filled in, ...) where it needed that."""
    for notebook in imported.notebooks:
        target = Path(notebooks_dir) / f"{notebook.notebook_id}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        if notebook.notebook_id in imported.repaired:
            target.write_bytes(imported.repaired[notebook.notebook_id])
        else:
            shutil.copyfile(imported.folder / imported.sources[notebook.notebook_id], target)


def copy_case_data(imported: ImportedNotebooks, datasets_dir: str | Path) -> None:
    """Copy each case's data files to ``<datasets_dir>/<case_id>/``, relative paths kept."""
    for case_id, files in imported.data.items():
        for file in files:
            target = Path(datasets_dir) / case_id / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(imported.folder / file, target)
