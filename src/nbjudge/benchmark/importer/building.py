"""Building cases and index entries from a folder's notebooks, and copying their files.

Notebooks are grouped into cases (by ``case_id``, else by prompt); each case
takes the settings its notebooks agree on and infers the rest from its
tables (:mod:`~nbjudge.benchmark.importer.inferring`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from pydantic import ValidationError

from nbjudge.notebooks.render import RenderOptions, render
from nbjudge.schemas import TASK_TYPES, Case, DatasetProperties, Notebook, describe

from .code_task import code_evidence
from .inferring import (
    dataset_name,
    infer_target,
    read_properties,
    table_roles,
    task_type_from_data_or_prompt,
)
from .reading import (
    CASE_KEYS,
    NotebookImportError,
    Source,
    data_files,
    read_sources,
    read_table,
)

__all__ = [
    "DATASETS_DIR",
    "NOTEBOOKS_DIR",
    "ImportCheck",
    "ImportedNotebooks",
    "StatedTask",
    "TaskStater",
    "check_folder",
    "copy_case_data",
    "copy_notebooks",
    "import_notebooks",
    "read_notebook_folder",
]

NOTEBOOKS_DIR = "data/notebooks/generated"
DATASETS_DIR = "data/cases/datasets"


@dataclass(frozen=True)
class StatedTask:
    """The task a model states for a notebook that does not state one: a sentence, or
    why its answer cannot serve as one (``problem``: the placeholder stays)."""

    prompt: str | None
    problem: str | None = None
    cached: bool = False
    note: str = ""   # which model; that a smoke-test model's sentence means nothing


# notebook id -> notebook, for the notebooks with no prompt; returns notebook id -> task
TaskStater = Callable[[Mapping[str, nbformat.NotebookNode]], Mapping[str, StatedTask]]


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
    prompt_notes: dict[str, str] = field(default_factory=dict)  # markdown cell taken, skipped
    warnings: list[str] = field(default_factory=list)  # one per notebook whose task is unknown


def _group(sources: list[Source], problems: list[str]) -> dict[str, list[Source]]:
    """Notebooks per case: by explicit case_id, else by prompt; keyed by case id."""
    groups: dict[tuple[str, str], list[Source]] = {}
    for source in sources:
        case_id = source.settings.get("case_id")
        if case_id is not None and not re.fullmatch(r"[A-Za-z0-9_-]+", str(case_id)):
            problems.append(
                f"{source.file}: case_id {case_id!r} may hold only letters, digits, '_' and '-'"
            )
            continue
        if case_id is not None:
            key = ("id", str(case_id))
        elif source.prompt_source in ("unknown", "inferred"):
            key = ("own", source.notebook_id)   # an unknown task is no one else's
        else:
            key = ("prompt", source.prompt)
        groups.setdefault(key, []).append(source)
    taken = {value for kind, value in groups if kind == "id"}
    cases = {}
    for (kind, value), members in groups.items():
        case_id = value
        if kind != "id":
            base, number = members[0].notebook_id, 2
            case_id = base
            while case_id in taken:
                case_id, number = f"{base}_{number}", number + 1
            taken.add(case_id)
        cases[case_id] = members
    return cases


def _agreed(case_id: str, members: list[Source], key: str, problems: list[str]) -> Any:
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


def _case_settings(
    case_id: str, members: list[Source], all_data: list[str], problems: list[str]
) -> tuple[dict[str, Any], Source, list[str]] | None:
    """The settings the case's notebooks agree on, the notebook whose prompt it takes and
    its data files."""
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
    # The case's prompt: one given, else a markdown cell's, else an inferred one.
    rank = {"markdown cell": 1, "inferred": 2, "unknown": 3}
    prompted = min(members, key=lambda s: 0 if s.explicit_prompt else rank.get(
        s.prompt_source, 3))
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
    return value, prompted, [str(f) for f in data]


def _build_case(
    folder: Path,
    case_id: str,
    members: list[Source],
    all_data: list[str],
    suite: str,
    problems: list[str],
) -> tuple[Case, list[str]] | None:
    found = len(problems)
    settings = _case_settings(case_id, members, all_data, problems)
    if settings is None:
        return None
    value, prompted, data = settings
    prompt = prompted.prompt
    roles = table_roles(data, value["tables"])
    frames = {role: read_table(folder, file, problems) for role, file in roles.items()}
    if len(problems) > found:
        return None
    train = frames.get("train")
    other = frames.get("test", frames.get("future"))
    target = value["target"] or (infer_target(train, other) if train is not None else None)
    target = target or "unknown"
    task_type, evidence = value["task_type"], ""
    if task_type is not None:
        told = next((s.task_type_source for s in members if s.task_type_source), None)
        evidence = f"given in {told or 'cases.yaml'}"
    else:
        # A prompt the model inferred is its reading of the code: the code itself comes first.
        guessed = prompted.prompt_source in ("unknown", "inferred")
        task_type, evidence = task_type_from_data_or_prompt(
            "" if guessed else prompt, train, target, "future" in frames)
    if task_type == "unknown":
        shown = code_evidence(code for member in members for code in member.code)
        task_type, evidence = shown.task_type, shown.describe()
    if task_type == "unknown" and prompted.prompt_source == "inferred":
        task_type, evidence = task_type_from_data_or_prompt(prompt, None, None, False)
    if task_type not in TASK_TYPES:
        problems.append(
            f"case {case_id!r}: task_type {task_type!r} is not one of {', '.join(TASK_TYPES)}"
        )
        return None
    inferred = (
        read_properties(train, task_type, target, value["id_column"]) if train is not None else {}
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
            dataset=value["dataset"] or dataset_name(list(roles.values())) or case_id,
            tables=tables,
            target=target,
            id_column=value["id_column"],
            horizon=value["horizon"],
            notebooks=len(members),
            properties=properties,
            prompt_source=prompted.prompt_source,
            task_type_evidence=evidence,
        )
    except ValidationError as exc:
        problems.append(f"case {case_id!r}: {describe(exc)}")
        return None
    return case, data


def _state_tasks(sources: Sequence[Source], stater: TaskStater | None) -> dict[str, str]:
    """Ask ``stater`` for the task of each notebook without a prompt; a warning (by
    notebook id) for each whose task stays unknown."""
    unknown = {s.notebook_id: s for s in sources if s.prompt_source == "unknown"}
    stated: Mapping[str, StatedTask] = {}
    if stater is not None and unknown:
        stated = stater({i: s.notebook for i, s in unknown.items() if s.notebook is not None})
    warnings = {}
    for notebook_id, source in unknown.items():
        source.notebook = None
        task = stated.get(notebook_id)
        if task is not None and task.prompt:
            source.prompt, source.prompt_source = task.prompt, "inferred"
            source.prompt_note = ", ".join(
                part for part in (task.note, "from the answer cache" if task.cached else "")
                if part)
            continue
        why = f"; the judge model's answer was unusable: {task.problem}" if task else ""
        source.prompt_note += why
        warnings[notebook_id] = (
            f"{source.file}: no task prompt ({source.prompt_note}); the judge is told the task "
            f"is unknown. Give it a row in prompts.csv (file,prompt,task_type), 'prompt' in "
            f"cases.yaml or metadata nbjudge.prompt"
            + ("" if stater is not None else ", or let the judge model state it "
               "(-S generate.prompt=infer; import-check --infer)"))
    return warnings


def read_notebook_folder(
    folder: str | Path, *, notebooks_dir: str | Path = NOTEBOOKS_DIR, suite: str = "import",
    stater: TaskStater | None = None,
) -> ImportedNotebooks:
    """Check a folder of notebooks and build its records; copy and write nothing.

    Index entries point at ``<notebooks_dir>/<notebook_id>.ipynb``. A notebook
    whose task nothing states is imported with the placeholder prompt and a
    warning, unless ``stater`` (``generate.prompt: infer``) states it. Raises
    :class:`NotebookImportError` listing every problem: a notebook that is
    not JSON or not valid nbformat, a malformed ``cases.yaml`` or
    ``prompts.csv``, notebooks of one case that disagree, a table that
    cannot be read.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise NotebookImportError(folder, [f"{folder}: not a folder of notebooks"])
    problems: list[str] = []
    sources = read_sources(folder, problems)
    unstated = _state_tasks(sources, stater) if not problems else {}
    groups = _group(sources, problems)
    all_data = data_files(folder, problems)
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
    # A notebook without a prompt in a case whose other notebook states one is told that.
    untold = {c.case_id for c in cases if c.prompt_source == "unknown"}
    warnings = [unstated[n.notebook_id] for n in notebooks
                if n.notebook_id in unstated and n.case_id in untold]
    return ImportedNotebooks(folder, cases, notebooks, sources_by_id, data,
                             {s.notebook_id: s.prompt_source for s in sources},
                             {s.notebook_id: s.repaired for s in sources if s.repaired},
                             {s.notebook_id: s.prompt_note for s in sources}, warnings)


@dataclass(frozen=True)
class ImportCheck:
    """What importing one notebook would give, before any judgment is paid for."""

    file: str
    notebook_id: str
    case_id: str
    prompt_source: str       # metadata, cases.yaml, prompts.csv, markdown cell, inferred, unknown
    task_type: str
    code_cells: int
    cells_with_outputs: int  # 0: the judges would see code only (execute.mode decides)
    tokens: int              # the whole notebook as judges read it
    judged_tokens: int       # within the judge's budget
    cuts: tuple[str, ...]    # what the budget shortens, in order
    prompt: str = ""                 # the case's prompt, as the judge reads it
    prompt_note: str = ""            # the markdown cell taken and those skipped
    task_type_evidence: str = ""     # what shows the task type
    doubts: tuple[str, ...] = ()     # why the prompt or the task type may be wrong


DOUBTFUL_WORDS = 12   # a markdown prompt shorter than this may be a label, not a task


def doubts(source: str, prompt: str, task_type: str) -> tuple[str, ...]:
    """Why a notebook's prompt or task type may be wrong: a markdown prompt that is short
    (under :data:`DOUBTFUL_WORDS` words) or starts with a heading, a prompt the model
    inferred or none at all, an unknown task type."""
    found = []
    if source == "unknown":
        found.append("no task prompt")
    elif source == "inferred":
        found.append("prompt inferred by the model")
    elif source == "markdown cell":
        if len(prompt.split()) < DOUBTFUL_WORDS:
            found.append(f"short prompt ({len(prompt.split())} words)")
        if prompt.lstrip().startswith(("#", "**", "__", "<")):
            found.append("starts with a heading")
    if task_type == "unknown":
        found.append("task type unknown")
    return tuple(found)


def check_folder(folder: str | Path, options: RenderOptions,
                 stater: TaskStater | None = None) -> tuple[list[ImportCheck], list[str]]:
    """Per notebook of ``folder``: prompt, its source, task type and its evidence, what is
    doubtful, outputs, rendered tokens and what the judge's budget (``options``) would cut;
    and the import's warnings. Raises like :func:`read_notebook_folder`."""
    imported = read_notebook_folder(folder, stater=stater)
    case_of = {n.notebook_id: n.case_id for n in imported.notebooks}
    cases = {c.case_id: c for c in imported.cases}
    rows = []
    for notebook_id, file in sorted(imported.sources.items()):
        repaired = imported.repaired.get(notebook_id)
        notebook = (nbformat.reads(repaired.decode(), as_version=4) if repaired
                    else nbformat.read(imported.folder / file, as_version=4))
        code = [c for c in notebook.cells if c.cell_type == "code"]
        rendered = render(notebook, options)
        case = cases[case_of[notebook_id]]
        source = case.prompt_source or imported.prompt_sources[notebook_id]
        own = imported.prompt_sources[notebook_id] == source
        rows.append(ImportCheck(
            file=file, notebook_id=notebook_id, case_id=case.case_id,
            prompt_source=source, task_type=case.task_type, code_cells=len(code),
            cells_with_outputs=sum(bool(c.get("outputs")) for c in code),
            tokens=rendered.full_tokens, judged_tokens=rendered.tokens, cuts=rendered.cuts,
            prompt=case.prompt,
            prompt_note=(imported.prompt_notes.get(notebook_id, "") if own
                         else f"the prompt of case {case.case_id}"),
            task_type_evidence=case.task_type_evidence or "",
            doubts=doubts(source, case.prompt, case.task_type)))
    return rows, imported.warnings


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
        source = imported.folder / imported.sources[notebook.notebook_id]
        if notebook.notebook_id in imported.repaired:
            target.write_bytes(imported.repaired[notebook.notebook_id])
        else:
            shutil.copyfile(source, target)
        _narrow_mode(source, target)


def copy_case_data(imported: ImportedNotebooks, datasets_dir: str | Path) -> None:
    """Copy each case's data files to ``<datasets_dir>/<case_id>/``, relative paths kept."""
    for case_id, files in imported.data.items():
        for file in files:
            target = Path(datasets_dir) / case_id / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(imported.folder / file, target)
            _narrow_mode(imported.folder / file, target)


def _narrow_mode(source: Path, target: Path) -> None:
    """Give ``target`` no permission ``source`` lacks: a table only its owner could read
    stays so in ``data/`` (the umask narrows it further, as for any new file)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(target, stat.S_IMODE(source.stat().st_mode) & 0o666 & ~umask)
