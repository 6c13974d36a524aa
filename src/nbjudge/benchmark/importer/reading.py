"""Reading an import folder: its notebooks, ``cases.yaml`` and data files.

Every problem is appended to the caller's ``problems`` list rather than raised,
so that one run of the import names all of them (:class:`NotebookImportError`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import yaml

from nbjudge.errors import InputError
from nbjudge.notebooks.execute import printable

from .prompts import PLACEHOLDER, PROMPTS_FILE, PromptRow, read_prompts_csv, task_cell

__all__ = [
    "CASES_FILE",
    "CASE_KEYS",
    "NotebookImportError",
    "Source",
    "data_files",
    "notebook_ids",
    "read_sources",
    "read_table",
    "readable_file",
    "unencodable",
]

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
_REPORTED = 20
# A notebook is hostile input: these bound what one file may cost the importer and every
# stage after it. Real notebooks stay far below both (hundreds of cells, depth under 20).
MAX_CELLS = 5000
MAX_DEPTH = 100


class NotebookImportError(InputError):
    """A notebook folder cannot be imported; ``problems`` lists every reason."""

    def __init__(self, folder: Path, problems: list[str]) -> None:
        self.folder = folder
        self.problems = problems
        lines = [f"{folder}: {len(problems)} problem(s); nothing was imported. Fix them and rerun:"]
        lines += [f"  {problem}" for problem in problems[:_REPORTED]]
        if len(problems) > _REPORTED:
            lines.append(f"  ... and {len(problems) - _REPORTED} more")
        super().__init__("\n".join(lines))


@dataclass
class Source:
    """One readable notebook of the folder: its id, hash, settings and task prompt."""

    file: str
    notebook_id: str
    sha256: str
    settings: dict[str, Any]
    prompt: str
    explicit_prompt: bool
    # metadata, cases.yaml, prompts.csv, markdown cell, inferred or unknown (PLACEHOLDER)
    prompt_source: str = "markdown cell"
    repaired: bytes | None = None   # the notebook as imported, when it needed a repair
    task_type_source: str | None = None       # where an explicit task_type comes from
    prompt_note: str = ""                      # the markdown cell taken, the cells skipped
    code: tuple[str, ...] = ()                 # the code cells' sources
    notebook: nbformat.NotebookNode | None = None   # kept only while its prompt is unknown


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
        missing: dict[str, Any] = {"metadata": {}}
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


def _depth(data: Any) -> int:
    """How deeply ``data``'s lists and mappings nest (iteratively: no recursion limit)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def unencodable(text: str) -> str | None:
    """The first lone surrogate (``\\ud800``) in ``text``, escaped, or None: JSON may
    spell one, but no file, terminal or API can carry it as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return text[exc.start:exc.end].encode("utf-8", "backslashreplace").decode()
    return None


def _lone_surrogate(data: dict[str, Any]) -> str | None:
    """Where the notebook holds a lone surrogate (``cell 2``, ``metadata``), and which."""
    parts = [(f"cell {number}", cell) for number, cell in enumerate(data["cells"], start=1)]
    parts += [(key, value) for key, value in data.items() if key != "cells"]
    for where, part in parts:
        found = unencodable(json.dumps(part, ensure_ascii=False))
        if found is not None:
            return f"{where} holds a lone surrogate ({found})"
    return None


def _read_notebook(path: Path, problems: list[str]
                   ) -> tuple[nbformat.NotebookNode, bool] | None:
    """The notebook at ``path`` (as nbformat 4) and whether it needed :func:`_repair`."""
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except RecursionError:
        problems.append(f"{path.name}: its JSON nests deeper than {MAX_DEPTH} levels; "
                        "a notebook never does: is this really a notebook?")
        return None
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
    if _depth(data) > MAX_DEPTH:
        problems.append(f"{path.name}: its JSON nests deeper than {MAX_DEPTH} levels; "
                        "a notebook never does: is this really a notebook?")
        return None
    cells = data.get("cells")
    if isinstance(cells, list) and len(cells) > MAX_CELLS:
        problems.append(f"{path.name}: {len(cells):,} cells, more than the {MAX_CELLS:,} "
                        "the importer takes: split the notebook")
        return None
    if isinstance(cells, list) and (surrogate := _lone_surrogate(data)) is not None:
        problems.append(f"{path.name}: {surrogate}, half of a character that no file, "
                        "terminal or API can carry: remove it and re-save the notebook")
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


def _read_cases_file(folder: Path, names: list[str],
                     problems: list[str]) -> dict[str, dict[str, Any]]:
    path = folder / CASES_FILE
    if not os.path.lexists(path) or not readable_file(folder, CASES_FILE, problems):
        return {}
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        problems.append(f"{CASES_FILE}: not valid YAML: {' '.join(str(exc).split())}")
        return {}
    if not isinstance(content, dict):
        problems.append(f"{CASES_FILE}: expected a mapping of notebook file name -> settings")
        return {}
    if (found := unencodable(json.dumps(content, ensure_ascii=False, default=str))) is not None:
        problems.append(f"{CASES_FILE}: holds a lone surrogate ({found}), half of a character "
                        "that no file, terminal or API can carry: remove it")
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


def readable_file(folder: Path, name: str, problems: list[str]) -> bool:
    """Whether ``folder / name`` is a regular file the importer may read: a symbolic link
    is followed only when it stays inside ``folder``, and a device, pipe or socket is never
    opened (a link to ``/proc/self/environ`` would hand the importer's secrets to judges)."""
    path = folder / name
    if printable(name) != name:
        problems.append(f"{printable(name)}: the file name holds control characters or is "
                        "not UTF-8: rename the file")
        return False
    if path.is_symlink():
        target = path.resolve()
        if not target.is_relative_to(folder.resolve()):
            problems.append(f"{name}: a symbolic link to {os.readlink(path)}, outside the "
                            "import folder; the importer reads only the folder's own files: "
                            "copy the file into the folder instead of linking it")
            return False
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        problems.append(f"{name}: cannot be read ({exc.strerror})")
        return False
    if not stat.S_ISREG(mode):
        problems.append(f"{name}: not a regular file (a device, pipe or socket); the importer "
                        "reads only regular files: remove it from the folder")
        return False
    return True


def data_files(folder: Path, problems: list[str]) -> list[str]:
    """Every file but notebooks, ``cases.yaml``, ``prompts.csv`` and hidden ones, relative
    to ``folder``;
    one problem per entry :func:`readable_file` refuses."""
    files = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if (
            not (path.is_dir() and not path.is_symlink())
            and not any(part.startswith(".") for part in relative.parts)
            and "__pycache__" not in relative.parts
            and path.suffix != ".ipynb"
            and relative.as_posix() not in (CASES_FILE, PROMPTS_FILE)
            and readable_file(folder, relative.as_posix(), problems)
        ):
            files.append(relative.as_posix())
    return files


def _origin(key: str, metadata: Mapping[str, Any], entry: Mapping[str, Any],
            row: PromptRow | None) -> str:
    """Which of metadata, the notebook's ``cases.yaml`` entry, its ``prompts.csv`` row or
    ``cases.yaml``'s ``"*"`` gives ``key`` (settings are merged in that order)."""
    def given(value: Any) -> bool:
        return value is not None and (not isinstance(value, str) or bool(value.strip()))

    if given(metadata.get(key)):
        return "metadata"
    if given(entry.get(key)):
        return CASES_FILE
    if row is not None and given(row.prompt if key == "prompt" else row.task_type):
        return PROMPTS_FILE
    return CASES_FILE


def read_sources(folder: Path, problems: list[str]) -> list[Source]:
    """The folder's top-level notebooks with their settings (metadata over its entry in
    ``cases.yaml`` over its row in ``prompts.csv`` over ``cases.yaml``'s ``"*"`` entry)
    and prompts: given, else the first markdown cell that reads like a task
    (:func:`~nbjudge.benchmark.importer.prompts.task_cell`), else
    :data:`~nbjudge.benchmark.importer.prompts.PLACEHOLDER` (``prompt_source: unknown``)."""
    files = sorted(
        p.name for p in folder.glob("*.ipynb")
        if not p.name.startswith(".") and not (p.is_dir() and not p.is_symlink())
        and readable_file(folder, p.name, problems)
    )
    if not files and not problems:
        problems.append(f"{folder}: no .ipynb notebooks at the top of the folder")
        return []
    cases_file = _read_cases_file(folder, files, problems)
    rows: dict[str, PromptRow] = {}
    if os.path.lexists(folder / PROMPTS_FILE) and readable_file(folder, PROMPTS_FILE, problems):
        rows = read_prompts_csv(folder, files, problems)
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
        row = rows.get(name)
        from_csv = {} if row is None else {
            "prompt": row.prompt, **({"task_type": row.task_type} if row.task_type else {})}
        # Metadata keys other than CASE_KEYS are left alone: other tools may keep state there.
        settings = {
            **cases_file.get("*", {}),
            **from_csv,
            **cases_file.get(name, {}),
            **{k: v for k, v in metadata.items() if k in CASE_KEYS},
        }
        if settings.get("prompt") is not None and not isinstance(settings["prompt"], str):
            problems.append(f"{name}: the prompt must be text, got {settings['prompt']!r}")
            continue
        explicit = bool((settings.get("prompt") or "").strip())
        entry = cases_file.get(name, {})
        note, kept = "", None
        if explicit:
            prompt = " ".join(settings["prompt"].split())
            origin = _origin("prompt", metadata, entry, row)
        else:
            found = task_cell(notebook)
            skipped = "; ".join(f"cell {number} skipped: {reason}"
                                for number, reason in found.skipped)
            if found.prompt is not None:
                prompt, origin = found.prompt, "markdown cell"
                note = f"cell {found.cell}" + (f"; {skipped}" if skipped else "")
            else:
                prompt, origin, kept = PLACEHOLDER, "unknown", notebook
                note = skipped or ("no markdown cell before the third code cell"
                                   if any(c.cell_type == "markdown" for c in notebook.cells)
                                   else "no markdown cell")
        # The prompt reaches terminals and reports: no escape sequence of the notebook's.
        prompt = printable(prompt)
        # A repaired notebook is imported as nbformat writes it, the rest byte for byte.
        content = nbformat.writes(notebook).encode() if repaired else path.read_bytes()
        sha = hashlib.sha256(content).hexdigest()
        task_source = (_origin("task_type", metadata, entry, row)
                       if settings.get("task_type") is not None else None)
        code = tuple(str(c.source) for c in notebook.cells if c.cell_type == "code")
        sources.append(Source(name, ids[name], sha, settings, prompt, explicit, origin,
                              content if repaired else None, task_source, note, code, kept))
    return sources


def read_table(folder: Path, file: str, problems: list[str]) -> pd.DataFrame | None:
    """A CSV, TSV or Parquet table; None (and a problem) when pandas cannot read it."""
    path = folder / file
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",")
    except Exception as exc:  # pandas raises many types; the message is what helps
        problems.append(f"{file}: cannot read this table ({' '.join(str(exc).split())})")
        return None
