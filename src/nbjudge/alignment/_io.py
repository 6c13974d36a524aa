"""Atomic JSON files and readable validation errors, shared by folds and audits."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from nbjudge.schemas import RecordError


def describe(error: ValidationError) -> str:
    """One line per failing field: where it is, what is wrong, what was found."""
    parts = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) or "(file)"
        parts.append(f"field '{field}': {item['msg']} (got {item.get('input')!r})")
    return "; ".join(parts)


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON; readers never see a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=False)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path, what: str) -> Any:
    """Parse a JSON file, raising :class:`RecordError` that names the file."""
    if not path.exists():
        raise RecordError(f"{path}: {what} not found (run the stage that writes it first)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RecordError(
            f"{path}: {what} is not valid JSON: {exc.msg} (line {exc.lineno})"
        ) from None
