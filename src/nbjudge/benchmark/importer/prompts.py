"""Where an imported notebook's task prompt comes from, when nothing names it.

A notebook's first markdown cell is often not its task: a title (``# Titanic``),
a book chapter's or a course's header (``Chapter 4 - Training Models``,
``mlcourse.ai - Open Machine Learning Course``), a conclusion (``In conclusion, we
achieved 82% accuracy``). :func:`task_cell` takes the first markdown cell that reads
like a task, by the rule :func:`skip_reason` states; :func:`read_prompts_csv` reads the
simple table of prompts a folder may hold beside its notebooks.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat

__all__ = [
    "MIN_WORDS",
    "OPENING_CODE_CELLS",
    "PLACEHOLDER",
    "PROMPTS_FILE",
    "PromptRow",
    "TaskCell",
    "read_prompts_csv",
    "skip_reason",
    "task_cell",
]

PROMPTS_FILE = "prompts.csv"
# What the judge is told when nothing states the task; it names no task type on purpose.
PLACEHOLDER = ("The task is unknown: the notebook does not state it. Judge the notebook "
               "by what its own code sets out to do.")
MIN_WORDS = 5           # prose shorter than this is a label, not a task
OPENING_CODE_CELLS = 2  # a task is stated before the notebook's third code cell

_HEADING = re.compile(r"^\s{0,3}(#{1,6}\s|#{1,6}$)")
_SETEXT = re.compile(r"^\s*(=+|-+)\s*$")
_RULE = re.compile(r"^\s*([-*_]\s*){3,}$")
_BOLD_LINE = re.compile(r"^\s*(\*\*|__)[^*_]+(\*\*|__)\s*$")
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_TAG = re.compile(r"<[^>]+>")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_NUMBERED = re.compile(
    r"\b(chapter|lesson|lecture|week|module|unit|part|session|seminar|tutorial)\s+\d+",
    re.IGNORECASE)
_HEADER = re.compile(
    r"\b(course|author|authors|instructor|licen[cs]e[ds]?|copyright|creative commons)\b"
    r"|©|\bthis notebook contains (all )?the (sample )?code",
    re.IGNORECASE)
_CONCLUSION_START = re.compile(
    r"^\W*(in conclusion|to conclude|to sum up|to summari[sz]e|in summary|summary|"
    r"conclusions?|results?|final thoughts|wrapping up)\b", re.IGNORECASE)
_PAST = re.compile(
    r"\b(we|i)\s+(have\s+|had\s+)?"
    r"(?!(need|proceed|feed|seed|succeed|exceed|embed)\b)(\w+ed|achieved|got|built|found|saw|made|ran|did|took|chose|"
    r"wrote|won|beat|reached|obtained|managed|tried)\b", re.IGNORECASE)
_NARRATION = re.compile(r"^\W*(let's|let us|now,?\s|next,?\s|here we\b|then,?\s)",
                        re.IGNORECASE)


def _prose(text: str) -> str:
    """``text`` without headings, title lines, images, HTML tags, link targets and rules."""
    lines = []
    for line in text.splitlines():
        if (_HEADING.match(line) or _SETEXT.match(line) or _RULE.match(line)
                or _BOLD_LINE.match(line)):
            continue
        line = _LINK.sub(r"\1", _TAG.sub(" ", _IMAGE.sub(" ", line)))
        lines.append(line)
    return " ".join(" ".join(lines).split())


def skip_reason(text: str) -> str | None:
    """Why a markdown cell does not read like a task, or None when it does.

    First rule that applies: ``a title or heading`` (nothing but headings, bold title
    lines, images, HTML tags and rules); ``a course or chapter header`` (names a
    chapter, lesson, lecture, week, module, unit, part, session or tutorial with its
    number on its first line, or a course, author, licence or copyright anywhere);
    ``a conclusion`` (starts with In conclusion, To sum up, Summary, Results, ..., or
    tells in the past tense what "we" or "I" did: "we achieved", "we trained");
    ``a step of the notebook`` (starts with Let's, Now, Next, Here we, Then);
    ``too short`` (under :data:`MIN_WORDS` words of prose).
    """
    prose = _prose(text)
    if not prose or not re.search(r"[^\W\d_]", prose):
        return "a title or heading"
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    if _NUMBERED.search(first_line) or _HEADER.search(text):
        return "a course or chapter header"
    first = re.split(r"(?<=[.!?])\s", prose, maxsplit=1)[0]
    if _CONCLUSION_START.match(prose) or _PAST.search(first):
        return "a conclusion"
    if _NARRATION.match(prose):
        return "a step of the notebook"
    if len(prose.split()) < MIN_WORDS:
        return "too short"
    return None


@dataclass(frozen=True)
class TaskCell:
    """The prompt a notebook's markdown gives, and the cells skipped on the way."""

    prompt: str | None
    cell: int | None                        # 1-based, as Jupyter shows it
    skipped: tuple[tuple[int, str], ...]    # (cell number, reason)


def task_cell(notebook: nbformat.NotebookNode) -> TaskCell:
    """The first markdown cell before the notebook's third code cell
    (:data:`OPENING_CODE_CELLS`) that reads like a task (:func:`skip_reason`)."""
    skipped: list[tuple[int, str]] = []
    code = 0
    for number, cell in enumerate(notebook.cells, start=1):
        if cell.cell_type == "code":
            code += 1
            if code > OPENING_CODE_CELLS:
                break
            continue
        if cell.cell_type != "markdown" or not cell.source.strip():
            continue
        reason = skip_reason(cell.source)
        if reason is None:
            return TaskCell(" ".join(cell.source.split()), number, tuple(skipped))
        skipped.append((number, reason))
    return TaskCell(None, None, tuple(skipped))


@dataclass(frozen=True)
class PromptRow:
    """One row of ``prompts.csv``."""

    line: int
    prompt: str
    task_type: str | None


_HEADER_ROW = ("file", "prompt", "task_type")


def read_prompts_csv(folder: Path, names: Sequence[str],
                     problems: list[str]) -> dict[str, PromptRow]:
    """``prompts.csv``: a row per notebook, ``file,prompt[,task_type]`` (the header row
    may be left out); file name -> row. Unknown files, empty prompts, extra columns and
    duplicates are problems named with their line."""
    path = folder / PROMPTS_FILE
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(f"{PROMPTS_FILE}: not UTF-8 text ({exc.reason}): save it as UTF-8 CSV")
        return {}
    except OSError as exc:
        problems.append(f"{PROMPTS_FILE}: cannot be read ({exc.strerror})")
        return {}
    rows = list(csv.reader(io.StringIO(text)))
    start = 1
    if rows and [c.strip().lower() for c in rows[0]][:2] == ["file", "prompt"]:
        header = tuple(c.strip().lower() for c in rows[0])
        if header not in (_HEADER_ROW[:2], _HEADER_ROW):
            problems.append(f"{PROMPTS_FILE}: line 1: the columns are file, prompt and "
                            f"optionally task_type, got {', '.join(header)}")
            return {}
        rows, start = rows[1:], 2
    found: dict[str, PromptRow] = {}
    for line, row in enumerate(rows, start=start):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        where = f"{PROMPTS_FILE}: line {line}"
        if len(cells) not in (2, 3):
            problems.append(f"{where}: expected file,prompt[,task_type], got {len(cells)} "
                            "column(s); quote a prompt that holds commas")
        elif cells[0] not in names:
            problems.append(f"{where}: {cells[0]!r} is not a notebook in the folder "
                            f"({', '.join(names)})")
        elif cells[0] in found:
            problems.append(f"{where}: {cells[0]!r} is given again (first on line "
                            f"{found[cells[0]].line})")
        elif not cells[1]:
            problems.append(f"{where}: {cells[0]!r} has an empty prompt")
        else:
            task_type = cells[2] if len(cells) == 3 and cells[2] else None
            found[cells[0]] = PromptRow(line, " ".join(cells[1].split()), task_type)
    return found
