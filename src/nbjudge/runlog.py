"""What differs on every run of the same inputs, kept out of the pipeline's DVC outputs.

How long a notebook ran, a request took or an alignment lasted, and the id MLflow
gave a run, change every time a stage runs. So do what a run found in its caches
and stores: how many of a plan's requests the answer cache held (and so how many
were sent), the calls and tokens an alignment sent (DSPy's cache answers the
rest), the version the model registry gave a registered judge (2 when the store
already held one), and the commit the report was rendered at. ``dvc.lock``
records the hash of each output, so one of these values inside an output makes
``make repro`` on a fresh clone leave ``git status`` dirty, and makes every later
stage rerun after an upstream rerun that changed nothing else. Stages therefore
write their records with these fields empty (``None``) and log the values beside
them, in ``.nbjudge-cache/runlog/<output>.jsonl``: one line per record, with the
fields that identify it. That folder is git-ignored and no stage declares or
reads it, like the answer caches next to it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from nbjudge.schemas import (
    AlignmentAudit,
    ControlsRun,
    Judgment,
    Notebook,
    Registration,
    StagePlan,
    atomic_write_text,
)

__all__ = ["RUNLOG_ROOT", "VOLATILE", "log_values", "runlog_path", "set_aside"]

RUNLOG_ROOT = Path(".nbjudge-cache") / "runlog"

# Per record type: the fields that identify a record, and its volatile fields (dotted
# paths into nested records; ``*`` is every item of a list).
VOLATILE: dict[type[BaseModel], tuple[tuple[str, ...], tuple[str, ...]]] = {
    Notebook: (("notebook_id",), ("execution.seconds",)),
    Judgment: (("notebook_id", "dimension", "variant", "fold", "repeat"), ("latency_s",)),
    AlignmentAudit: (("variant", "fold", "repeat", "dimension"), ("seconds", "tokens")),
    ControlsRun: ((), ("seconds",)),
    Registration: ((), ("judges.*.seconds", "judges.*.version")),
    StagePlan: (("stage",), ("lines.*.cached", "lines.*.send_prompt_tokens",
                             "lines.*.send_reply_tokens")),
}

M = TypeVar("M", bound=BaseModel)


def runlog_path(output: str | os.PathLike[str], root: Path | None = None) -> Path:
    """The side file of ``output``: its path under :data:`RUNLOG_ROOT`, in the working
    folder (a stage's is the repository), or under ``root``."""
    output = Path(output)
    if output.is_absolute():
        try:
            output = output.relative_to(Path.cwd())
        except ValueError:
            output = output.relative_to(output.anchor)
    return (root or RUNLOG_ROOT) / output.parent / f"{output.name}.jsonl"


def _pop(data: Any, path: Sequence[str], found: dict[str, Any], prefix: str) -> None:
    """Move the value at ``path`` in ``data`` (dicts and lists) into ``found``."""
    if not path or data is None:
        return
    head, rest = path[0], path[1:]
    if head == "*":
        for i, item in enumerate(data):
            _pop(item, rest, found, f"{prefix}{i}.")
    elif isinstance(data, dict) and head in data:
        if rest:
            _pop(data[head], rest, found, f"{prefix}{head}.")
        elif data[head] is not None:
            found[f"{prefix}{head}"] = data[head]
            data[head] = None


def set_aside(records: Iterable[M], output: str | os.PathLike[str], *,
              root: Path | None = None) -> list[M]:
    """``records`` with their volatile fields ``None``; the values go to the side file of
    ``output`` (:func:`runlog_path`), which is replaced."""
    kept: list[M] = []
    lines: list[dict[str, Any]] = []
    for record in records:
        keys, fields = VOLATILE[type(record)]
        data = record.model_dump()
        found: dict[str, Any] = {}
        for field in fields:
            _pop(data, field.split("."), found, "")
        kept.append(type(record).model_validate(data))
        if found:
            lines.append({**{key: getattr(record, key) for key in keys}, **found})
    log_values(output, lines, root=root)
    return kept


def log_values(output: str | os.PathLike[str], lines: Iterable[Mapping[str, Any]], *,
               root: Path | None = None) -> Path:
    """Write ``lines`` (JSON objects) to the side file of ``output``, replacing it."""
    path = runlog_path(output, root)
    atomic_write_text(path, "".join(json.dumps(dict(line)) + "\n" for line in lines))
    return path
