"""Documentation pages written from the code, so that they cannot drift from it.

``python -m nbjudge.docs records -o docs/records.md`` writes the records page: every
record of :mod:`nbjudge.schemas`, its files, and per field the name, type, default and
description. A description is the field's ``Field(description=...)``, else the comment
written beside or directly above the field in ``schemas.py``. ``python -m nbjudge.docs
errors -o docs/errors.md`` writes the exception tree that :mod:`nbjudge.errors` draws.
``tests/test_docs.py`` fails when a committed page differs from a fresh rendering;
``make docs-pages`` rewrites both.
"""

from __future__ import annotations

import argparse
import ast
import enum
import inspect
import io
import itertools
import re
import sys
import textwrap
import tokenize
import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from nbjudge import errors, schemas

__all__ = ["PAGES", "RECORD_FILES", "RecordFile", "main", "render_errors", "render_records"]


@dataclass(frozen=True)
class RecordFile:
    """A top-level record and the files that hold it."""

    model: type[BaseModel]
    files: tuple[str, ...]
    jsonl: bool  # one record per line; else one JSON document per file


# Which stage output holds which record: the one fact the schema classes do not carry.
RECORD_FILES: tuple[RecordFile, ...] = (
    RecordFile(schemas.Case, ("data/cases/cases.jsonl",), jsonl=True),
    RecordFile(schemas.Notebook,
               ("data/notebooks/index.jsonl", "data/notebooks/executed/index.jsonl"), jsonl=True),
    RecordFile(schemas.GenerationAttempt, ("data/notebooks/generation.jsonl",), jsonl=True),
    RecordFile(schemas.BlueprintEntry, ("data/blueprint/blueprint.jsonl",), jsonl=True),
    RecordFile(schemas.Label, ("data/labels/labels.jsonl",), jsonl=True),
    RecordFile(schemas.Judgment,
               ("data/judgments/<variant>.jsonl", "data/controls/judgments.jsonl",
                "data/curve/judgments.jsonl"), jsonl=True),
    RecordFile(schemas.JudgeRun, ("data/judgments/run.json",), jsonl=False),
    RecordFile(schemas.FoldsFile, ("data/folds.json",), jsonl=False),
    RecordFile(schemas.AlignmentAudit,
               ("data/alignment/<variant>/fold<k>/<dimension>.json", "data/curve/alignment/"),
               jsonl=False),
    RecordFile(schemas.ControlsRun, ("data/controls/controls.json",), jsonl=False),
    RecordFile(schemas.Registration, ("data/registered/judges.json",), jsonl=False),
    RecordFile(schemas.StagePlan,
               ("data/judgments/baseline.plan.json", "data/alignment/<variant>/plan.json",
                "data/curve/plan.json"), jsonl=False),
    RecordFile(schemas.ArmComparison, ("data/compare/comparisons.jsonl",), jsonl=True),
    RecordFile(schemas.ArmSummary, ("data/compare/arms.jsonl",), jsonl=True),
    RecordFile(schemas.InjectionFinding,
               ("data/injections.jsonl", "data/robustness/findings.jsonl"), jsonl=True),
    RecordFile(schemas.RobustnessShift, ("data/robustness/shifts.jsonl",), jsonl=True),
)

_GENERATED = """\
<!-- Generated from {source} by `make docs-pages`
     (`python -m nbjudge.docs {page} -o docs/{page}.md`); edit the code, not this page. -->

"""


def render_records() -> str:
    """The Markdown of ``docs/records.md``."""
    nested = _nested_models([entry.model for entry in RECORD_FILES])
    parts = ["# Records\n\n", _GENERATED.format(source="src/nbjudge/schemas.py", page="records"),
             _docstring_markdown(schemas.__doc__ or ""), "\n\n"]
    parts.append("| record | file | format |\n|---|---|---|\n")
    for entry in RECORD_FILES:
        files = ", ".join(f"`{path}`" for path in entry.files)
        form = "JSON lines" if entry.jsonl else "one JSON document"
        parts.append(f"| [{entry.model.__name__}](#{_slug(entry.model.__name__)}) | {files} "
                     f"| {form} |\n")
    parts.append("\nA score is `1`, `2`, `3` or `\"N/A\"`; label files may spell them "
                 "`\"2\"`, `2.0`, `\"n/a\"` or `\"NA\"`. The types below are Python's; "
                 "`None` is JSON's `null`.\n")
    for entry in RECORD_FILES:
        parts.append(_model_section(entry.model, level=2))
    parts.append("\n## Parts of records\n\nRecords that appear only inside the ones above.\n")
    for model in nested:
        parts.append(_model_section(model, level=3))
    parts.append("\n## Dimensions\n\nThe nine graded dimensions, in report order:\n\n")
    parts.extend(f"- `{name}`\n" for name in schemas.DIMENSIONS)
    parts.append("\n## Task types\n\n")
    parts.extend(f"- `{name}`\n" for name in schemas.TASK_TYPES)
    return "".join(parts)


def _model_section(model: type[BaseModel], *, level: int) -> str:
    comments = _field_comments(model)
    lines = [f"\n{'#' * level} {model.__name__}\n\n"]
    doc = inspect.getdoc(model)
    if doc:
        lines.append(_docstring_markdown(doc) + "\n\n")
    lines.append("| field | type | default | description |\n|---|---|---|---|\n")
    for name, info in model.model_fields.items():
        description = info.description or comments.get(name, "")
        if description and not description.endswith((".", ")", ":")):
            description += "."
        kind = _type_text(info.annotation)
        constraints = _constraints(info.metadata)
        if constraints:
            kind = f"{kind}, {constraints}"
        lines.append(f"| `{name}` | {_cell(kind)} | {_cell(_default_text(info))} "
                     f"| {_cell(description)} |\n")
    return "".join(lines)


def _nested_models(roots: Sequence[type[BaseModel]]) -> list[type[BaseModel]]:
    """Models reachable from the roots' fields, in order of first appearance."""
    seen: list[type[BaseModel]] = []
    stack = list(roots)
    while stack:
        model = stack.pop(0)
        for info in model.model_fields.values():
            for found in _models_in(info.annotation):
                if found not in roots and found not in seen:
                    seen.append(found)
                    stack.append(found)
    return seen


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for arg in get_args(annotation):
        yield from _models_in(arg)


def _type_text(annotation: Any) -> str:
    """A type as a reader of the JSON needs it: literals spelled out, records linked."""
    if annotation is type(None):
        return "None"
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Annotated:
        return _type_text(args[0])
    if origin is Literal:
        values = set(args)
        if values == set(schemas.DIMENSIONS):
            return "[dimension](#dimensions)"
        if values == set(schemas.TASK_TYPES):
            return "[task type](#task-types)"
        return " | ".join(_literal_text(value) for value in args)
    if origin in (Union, types.UnionType):
        return " | ".join(_type_text(arg) for arg in args)
    if origin in (list, tuple, set):
        return f"list[{', '.join(_type_text(arg) for arg in args if arg is not Ellipsis)}]"
    if origin is dict:
        key, value = args
        return f"dict[{_type_text(key)}, {_type_text(value)}]"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{_slug(annotation.__name__)})"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation)


def _literal_text(value: Any) -> str:
    if isinstance(value, enum.Enum):
        value = value.value
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _default_text(info: FieldInfo) -> str:
    if info.default_factory is not None:
        return repr(info.default_factory())  # type: ignore[call-arg]  # no validated-data arg
    if info.default is PydanticUndefined:
        return "required"
    if isinstance(info.default, str):
        return f'"{info.default}"'
    return repr(info.default)


def _constraints(metadata: Sequence[Any]) -> str:
    """The bounds pydantic enforces on a field, in words."""
    words = []
    for item in metadata:
        if isinstance(item, annotated_types.Gt):
            words.append(f"> {item.gt}")
        elif isinstance(item, annotated_types.Ge):
            words.append(f">= {item.ge}")
        elif isinstance(item, annotated_types.Lt):
            words.append(f"< {item.lt}")
        elif isinstance(item, annotated_types.Le):
            words.append(f"<= {item.le}")
        elif isinstance(item, annotated_types.MinLen):
            words.append("non-empty" if item.min_length == 1 else f"at least {item.min_length}")
        elif getattr(item, "pattern", None):
            words.append(f"matches `{item.pattern}`")
    return ", ".join(words)


def _field_comments(model: type[BaseModel]) -> dict[str, str]:
    """Comments beside or directly above each field, from every class of the model's MRO."""
    found: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if issubclass(cls, BaseModel) and not cls.__module__.startswith("pydantic."):
            found.update(_class_comments(cls))
    return found


def _class_comments(cls: type) -> dict[str, str]:
    source = textwrap.dedent(inspect.getsource(cls))
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    lines = source.splitlines()
    class_node = ast.parse(source).body[0]
    assert isinstance(class_node, ast.ClassDef)
    result = {}
    for node in class_node.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above: list[str] = []
        row = node.lineno - 1
        while row in comments and lines[row - 1].lstrip().startswith("#"):
            above.insert(0, comments[row])
            row -= 1
        beside = [comments[r] for r in range(node.lineno, (node.end_lineno or node.lineno) + 1)
                  if r in comments]
        text = " ".join(part for part in above + beside if part)
        if text:
            result[node.target.id] = _sentence(text)
    return result


def _sentence(text: str) -> str:
    # A ``# type: ignore[...]`` comment is for mypy, not for readers.
    text = re.sub(r"^type:\s*ignore(\[[^\]]*\])?\s*#?\s*", "", text)
    return _rst_to_markdown(text.strip())


def _docstring_markdown(doc: str) -> str:
    """A docstring's paragraphs as Markdown: lines joined, reST literals as code."""
    paragraphs = [" ".join(line.strip() for line in block.splitlines())
                  for block in inspect.cleandoc(doc).split("\n\n")]
    return "\n\n".join(_rst_to_markdown(p) for p in paragraphs if p)


def _rst_to_markdown(text: str) -> str:
    text = re.sub(r":(?:class|func|mod|meth):`~?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def _cell(text: str) -> str:
    """Text for a table cell: its pipes escaped, and no ``<`` that would open an HTML tag."""
    return text.replace("|", "\\|").replace("<", "&lt;")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading (lowercase, punctuation dropped, spaces to hyphens)."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def render_errors() -> str:
    """The Markdown of ``docs/errors.md``: the exception tree ``nbjudge.errors`` documents
    (``tests/test_errors.py`` checks that tree against the classes)."""
    text = inspect.cleandoc(errors.__doc__ or "")
    # reST: a paragraph ending in "::" introduces the indented literal block after it.
    intro, _, rest = text.partition("::\n")
    block = list(itertools.takewhile(lambda line: not line or line.startswith(" "),
                                     rest.splitlines()))
    after = rest.splitlines()[len(block):]
    code = textwrap.dedent("\n".join(block)).strip("\n")
    return "".join([
        "# Errors\n\n", _GENERATED.format(source="src/nbjudge/errors.py", page="errors"),
        _rst_to_markdown(intro) + (":\n\n```\n" + code + "\n```\n\n" if rest else "\n"),
        _rst_to_markdown("\n".join(after)).strip("\n") + "\n" if after else "",
    ])


# Page name -> its renderer: `python -m nbjudge.docs <page>` writes docs/<page>.md.
PAGES = {"records": render_records, "errors": render_errors}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nbjudge.docs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("page", choices=sorted(PAGES), help="the page to render")
    parser.add_argument("-o", "--output", help="write the page here (default: print it)")
    args = parser.parse_args(argv)
    page = PAGES[args.page]()
    if args.output:
        schemas.atomic_write_text(args.output, page)
    else:
        sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
