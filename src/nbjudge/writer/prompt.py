"""The notebook writer's prompt: a template kept in the repository, and the case it is filled with.

The template (``prompts/notebook_writer.yaml``) has a ``system`` and a
``user`` part, each a jinja2 template over the case's task prompt, its tables
(file, rows, columns with dtypes, the first rows as CSV) and the answer format
(``json`` when the backend constrains answers to a JSON schema, else
``fenced``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from nbjudge.errors import ConfigError, InputError

__all__ = [
    "CELLS_SCHEMA",
    "PromptTemplate",
    "TableSchema",
    "describe_tables",
    "load_template",
    "messages_sha256",
    "render_messages",
]

# The answer the writer is asked for when the backend supports response_format json_schema.
CELLS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "cells": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "cell_type": {"enum": ["markdown", "code"]},
                    "source": {"type": "string"},
                },
                "required": ["cell_type", "source"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["cells"],
    "additionalProperties": False,
}

_SAMPLE_CHARS = 40   # longest value shown in a sample row


@dataclass(frozen=True)
class TableSchema:
    """What the writer is told about one table."""

    name: str
    file: str
    rows: int
    columns: tuple[dict[str, str], ...]   # {"name": ..., "dtype": ...}
    sample: str                            # the first rows, as CSV text


def describe_tables(dataset_dir: str | os.PathLike[str], sample_rows: int = 3
                    ) -> list[TableSchema]:
    """Every CSV table of a case's dataset folder, in file-name order."""
    import pandas as pd

    folder = Path(dataset_dir)
    if not folder.is_dir():
        raise InputError(f"{folder}: the case's tables are missing; run the cases stage first")
    tables = []
    for path in sorted(folder.glob("*.csv")):
        frame = pd.read_csv(path)
        sample = frame.head(sample_rows).map(_shorten)  # missing values stay empty
        tables.append(TableSchema(
            name=path.stem, file=path.name, rows=len(frame),
            columns=tuple({"name": str(c), "dtype": str(t)} for c, t in frame.dtypes.items()),
            sample=sample.to_csv(index=False, lineterminator="\n").strip()))
    return tables


def _shorten(value: Any) -> Any:
    if not isinstance(value, str) or len(value) <= _SAMPLE_CHARS:
        return value
    return value[: _SAMPLE_CHARS - 3] + "..."


@dataclass(frozen=True)
class PromptTemplate:
    """The writer's system and user templates, and the file they come from."""

    path: str
    system: str
    user: str


def load_template(path: str | os.PathLike[str]) -> PromptTemplate:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: prompt template not found (generate.template)") from None
    if not isinstance(data, dict) or not all(
            isinstance(data.get(part), str) and data[part].strip() for part in ("system", "user")):
        raise InputError(f"{path}: a prompt template needs the text keys 'system' and 'user'")
    return PromptTemplate(path.as_posix(), data["system"], data["user"])


def render_messages(template: PromptTemplate, *, prompt: str, tables: Sequence[TableSchema],
                    answer_format: Literal["json", "fenced"], sample_rows: int = 3
                    ) -> list[dict[str, str]]:
    """The chat messages for one case."""
    import jinja2

    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True,
                                     lstrip_blocks=True, keep_trailing_newline=False,
                                     autoescape=False)
    values = {"prompt": prompt.strip(), "tables": [t.__dict__ for t in tables],
              "answer_format": answer_format, "sample_rows": sample_rows}
    try:
        system = environment.from_string(template.system).render(values)
        user = environment.from_string(template.user).render(values)
    except jinja2.TemplateError as error:
        raise InputError(f"{template.path}: the prompt template does not render: {error}"
                         ) from None
    return [{"role": "system", "content": system.strip() + "\n"},
            {"role": "user", "content": user.strip() + "\n"}]


def messages_sha256(messages: Sequence[dict[str, str]]) -> str:
    text = json.dumps(list(messages), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
