"""A model's answer -> notebook cells -> a valid .ipynb. Pure functions, no I/O.

Two answer formats are understood, tried in this order:

- **json**: ``{"cells": [{"cell_type": "markdown"|"code", "source": "..."}, ...]}``
  (also a bare list of cells, or the object inside a ```` ```json ```` fence);
  ``source`` may be a string or a list of lines.
- **fenced**: Markdown text with fenced code blocks; every ```` ```python ````
  block (also ``py``, ``python3``, ``ipython`` or no language) becomes a code
  cell and the text between blocks a markdown cell, in order. Blocks in other
  languages stay in the markdown.

An answer cut off before its end (an unterminated JSON document or code
fence, as when the reply hits ``max_tokens``) keeps the cells that are
complete and is flagged ``truncated``; the cell that was cut is dropped,
never patched. An answer with no complete code cell (refusals, prose,
garbage, a JSON document of another shape) raises
:class:`UnusableAnswerError`: it cannot become a notebook.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from nbjudge.errors import BackendError

__all__ = ["Cell", "ParsedAnswer", "UnusableAnswerError", "build_notebook", "parse_answer"]

CellType = Literal["markdown", "code"]
_CODE_LANGUAGES = frozenset({"", "python", "py", "python3", "ipython", "ipython3"})
_CELL_TYPES: dict[str, CellType] = {"code": "code", "python": "code", "markdown": "markdown",
                                     "md": "markdown", "text": "markdown", "raw": "markdown"}
_FENCE = re.compile(r"^(?P<indent>[ \t]{0,3})(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+-]*)[^\n]*$",
                    re.MULTILINE)
_JSON_FENCE = re.compile(r"^\s*(`{3,}|~{3,})[ \t]*json[^\n]*\n", re.IGNORECASE)


class UnusableAnswerError(BackendError):
    """The answer holds no complete code cell; the message says what was wrong."""


@dataclass(frozen=True)
class Cell:
    cell_type: CellType
    source: str


@dataclass(frozen=True)
class ParsedAnswer:
    """Cells recovered from an answer, and how."""

    cells: tuple[Cell, ...]
    answer_format: Literal["json", "fenced"]
    truncated: bool = False
    problem: str | None = None     # what was dropped, when ``truncated``

    @property
    def code_cells(self) -> int:
        return sum(cell.cell_type == "code" for cell in self.cells)


def parse_answer(text: str) -> ParsedAnswer:
    """The cells of ``text``, a model's answer; raises :class:`UnusableAnswerError`."""
    if not isinstance(text, str) or not text.strip():
        raise UnusableAnswerError("the answer is empty")
    stripped = _JSON_FENCE.sub("", text, count=1).strip()
    reasons = []
    if stripped[:1] in ("{", "["):
        try:
            return _usable(_parse_json(stripped))
        except UnusableAnswerError as error:
            reasons.append(f"as JSON: {error}")
    try:
        return _usable(_parse_fenced(text))
    except UnusableAnswerError as error:
        reasons.append(f"as fenced code blocks: {error}")
    raise UnusableAnswerError("; ".join(reasons))


def _usable(parsed: ParsedAnswer) -> ParsedAnswer:
    if parsed.code_cells == 0:
        where = " before the answer was cut off" if parsed.truncated else ""
        raise UnusableAnswerError(f"no complete code cell{where}")
    return parsed


# -- JSON ---------------------------------------------------------------------------------
def _cell_from(item: Any, number: int) -> Cell:
    if not isinstance(item, Mapping):
        raise UnusableAnswerError(f"cell {number} is not an object: {_preview(item)}")
    kind = _CELL_TYPES.get(str(item.get("cell_type", item.get("type", ""))).strip().lower())
    if kind is None:
        raise UnusableAnswerError(f"cell {number} has no cell_type markdown or code: "
                                  f"{_preview(item)}")
    source = item.get("source", item.get("content"))
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        source = "".join(source)
    if not isinstance(source, str):
        raise UnusableAnswerError(f"cell {number} has no source text: {_preview(item)}")
    return Cell(kind, source.strip("\n"))


def _cells_of(document: Any) -> list[Any]:
    items = document.get("cells") if isinstance(document, Mapping) else document
    if not isinstance(items, list):
        raise UnusableAnswerError(f"expected {{\"cells\": [...]}}, got {_preview(document)}")
    return items


def _parse_json(text: str) -> ParsedAnswer:
    try:
        document, _ = json.JSONDecoder().raw_decode(text)  # text after the document is ignored
    except json.JSONDecodeError:
        pass
    else:
        cells = [_cell_from(item, n) for n, item in enumerate(_cells_of(document), start=1)]
        return ParsedAnswer(tuple(c for c in cells if c.source.strip()), "json")
    return _parse_partial_json(text)


def _parse_partial_json(text: str) -> ParsedAnswer:
    """Complete cell objects of a JSON answer that does not parse (cut off, or broken)."""
    if text.startswith("["):
        position = 1
    else:
        match = re.match(r'\{\s*"cells"\s*:\s*\[', text)
        if match is None:
            raise UnusableAnswerError(f"not valid JSON and no \"cells\" list: {_preview(text)}")
        position = match.end()
    decoder = json.JSONDecoder()
    cells: list[Cell] = []
    while True:
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        if position >= len(text) or text[position] == "]":
            break
        try:
            item, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            break
        cell = _cell_from(item, len(cells) + 1)
        if cell.source.strip():
            cells.append(cell)
    rest = text[position:].strip()
    ended = position < len(text) and text[position] == "]"
    if ended and re.fullmatch(r"\]\s*\}?", rest):
        problem = None  # complete apart from a missing closing brace
    elif not rest or _is_json_prefix(rest):
        problem = (f"the answer ends inside cell {len(cells) + 1} (cut off, e.g. at "
                   f"max_output_tokens); kept the {len(cells)} complete cell(s)")
    else:
        problem = (f"the answer is malformed after cell {len(cells)} "
                   f"({_preview(rest)}); kept the {len(cells)} complete cell(s)")
    return ParsedAnswer(tuple(cells), "json", truncated=problem is not None, problem=problem)


def _is_json_prefix(text: str) -> bool:
    """Whether ``text`` could be the start of one more JSON value (an unfinished cell)."""
    if not text.startswith("{"):
        return False
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth <= 0:
                return False  # the value closed, so it was not cut off but broken
    return True


# -- fenced code blocks ---------------------------------------------------------------------
def _parse_fenced(text: str) -> ParsedAnswer:
    cells: list[Cell] = []
    markdown: list[str] = []
    lines = text.replace("\r\n", "\n").split("\n")
    i = 0
    cut_at: int | None = None
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None:
            markdown.append(lines[i])
            i += 1
            continue
        fence, lang = match["fence"], match["lang"].lower()
        closing = re.compile(rf"^[ \t]{{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = next((j for j in range(i + 1, len(lines)) if closing.match(lines[j])), None)
        if end is None:
            cut_at = i + 1
            break
        body = "\n".join(lines[i + 1:end])
        if lang in _CODE_LANGUAGES:
            _flush(markdown, cells)
            if body.strip():
                cells.append(Cell("code", body.strip("\n")))
        else:
            markdown.extend(lines[i:end + 1])
        i = end + 1
    _flush(markdown, cells)
    problem = None if cut_at is None else (
        f"the answer ends inside the code block opened on line {cut_at} (cut off, e.g. at "
        f"max_output_tokens); kept the {len(cells)} complete cell(s) before it")
    return ParsedAnswer(tuple(cells), "fenced", truncated=cut_at is not None, problem=problem)


def _text(lines: Sequence[str]) -> str:
    return "\n".join(lines).strip()


def _flush(markdown: list[str], cells: list[Cell]) -> None:
    text = _text(markdown)
    if text:
        cells.append(Cell("markdown", text))
    markdown.clear()


def _preview(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


# -- the notebook ------------------------------------------------------------------------------
def build_notebook(parsed: ParsedAnswer,
                   metadata: Mapping[str, Any] | None = None) -> nbformat.NotebookNode:
    """A valid nbformat 4 notebook of ``parsed``'s cells (``nbformat.validate`` passes)."""
    notebook: nbformat.NotebookNode = new_notebook(metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        **({"nbjudge": dict(metadata)} if metadata else {}),
    })
    for index, cell in enumerate(parsed.cells):
        cell_id = f"cell-{index:03d}"
        notebook.cells.append(new_code_cell(cell.source, id=cell_id) if cell.cell_type == "code"
                              else new_markdown_cell(cell.source, id=cell_id))
    nbformat.validate(notebook)
    return notebook
