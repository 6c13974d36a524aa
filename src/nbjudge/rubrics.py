"""The nine grading rubrics, read from ``rubrics/<dimension>.yaml``.

A rubric says what its dimension covers, what a 3 (good), 2 (average), 1 (bad)
and N/A look like through concrete anchors, how a crash is graded, and what
changes per task type. The same text reaches human graders and LLM judges
through :func:`render_rubric`. Files are validated on read: a bad file raises
:class:`RubricError` naming the file and the field.

File layout (``schema_version`` 1)::

    schema_version: 1
    dimension: data_imputation          # must match the file name
    title: Data imputation
    covers: what the dimension is about
    scores:                             # all four levels, nothing else
      "3": {summary: ..., anchors: [..., ...]}   # at least two anchors each
      "2": {...}
      "1": {...}
      "N/A": {...}
    crashes: how a crash in (or before) this section is graded
    task_types:                         # optional; keys from nbjudge.schemas.TASK_TYPES
      forecasting: [..., ...]
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from nbjudge.errors import InputError
from nbjudge.schemas import DIMENSIONS, TASK_TYPES, describe

__all__ = [
    "Rubric",
    "RubricError",
    "ScoreLevel",
    "Scores",
    "load_rubric",
    "load_rubrics",
    "render_rubric",
]

_FOLDER = "rubrics"

_LEVEL_HEADINGS = {3: "3 (good)", 2: "2 (average)", 1: "1 (bad)", "N/A": "N/A (not applicable)"}

_TASK_TYPE_NAMES = {
    "binary": "Binary classification",
    "binary_imbalanced": "Imbalanced binary classification",
    "multiclass": "Multiclass classification",
    "regression": "Regression",
    "forecasting": "Forecasting",
}


class RubricError(InputError):
    """A rubric file is missing or malformed; the message names the file and the field."""


def _one_line(value: str) -> str:
    """YAML folds long text over lines; a rubric's text is compared and rendered as one line."""
    text = " ".join(value.split())
    if not text:
        raise ValueError("must not be empty")
    return text


_Text = Annotated[str, AfterValidator(_one_line)]


class ScoreLevel(BaseModel):
    """One score level: a one-sentence summary and the concrete things that earn it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    summary: _Text
    anchors: tuple[_Text, ...] = Field(min_length=2)


class Scores(BaseModel):
    """The four levels, keyed in the file by the score a grader gives: 3, 2, 1, N/A."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    good: ScoreLevel = Field(alias="3")
    average: ScoreLevel = Field(alias="2")
    bad: ScoreLevel = Field(alias="1")
    not_applicable: ScoreLevel = Field(alias="N/A")

    @model_validator(mode="before")
    @classmethod
    def _keys_as_text(cls, data: Any) -> Any:
        # An unquoted `3:` in YAML is the integer 3; it means the level "3".
        if isinstance(data, dict):
            return {str(key): value for key, value in data.items()}
        return data


class Rubric(BaseModel):
    """The grading guide of one dimension."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: Literal[1]
    dimension: str
    title: _Text
    covers: _Text
    scores: Scores
    crashes: _Text
    task_types: dict[str, tuple[_Text, ...]] = Field(default_factory=dict)

    @field_validator("dimension")
    @classmethod
    def _known_dimension(cls, value: str) -> str:
        if value not in DIMENSIONS:
            raise ValueError(f"unknown dimension {value!r}; valid: {', '.join(DIMENSIONS)}")
        return value

    @field_validator("task_types")
    @classmethod
    def _known_task_types(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for task_type, notes in value.items():
            if task_type not in TASK_TYPES:
                raise ValueError(
                    f"unknown task type {task_type!r}; valid: {', '.join(TASK_TYPES)}"
                )
            if not notes:
                raise ValueError(f"task type {task_type!r} has no notes")
        # Task types in one fixed order, whatever the file's order, so rendering is stable.
        return {task_type: value[task_type] for task_type in TASK_TYPES if task_type in value}

    def levels(self) -> tuple[tuple[int | str, ScoreLevel], ...]:
        """The levels from best to N/A, each with the score a grader gives for it."""
        scores = self.scores
        return ((3, scores.good), (2, scores.average), (1, scores.bad),
                ("N/A", scores.not_applicable))


def _folder(root: str | os.PathLike[str] | None) -> Path:
    """``root/rubrics``, or the first ``rubrics/`` above this module (the repository's)."""
    if root is not None:
        folder = Path(root) / _FOLDER
        if not folder.is_dir():
            raise RubricError(f"{folder}: no rubrics folder (root must be the repository root)")
        return folder
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / _FOLDER).is_dir():
            return parent / _FOLDER
    raise RubricError(f"no {_FOLDER}/ folder above {here}; pass root= the repository root")


def _read(path: Path, dimension: str) -> Rubric:
    if not path.is_file():
        raise RubricError(f"{path}: rubric file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RubricError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise RubricError(f"{path}: expected a mapping of rubric fields, "
                          f"got {type(data).__name__}")
    try:
        rubric = Rubric.model_validate(data)
    except ValidationError as exc:
        raise RubricError(f"{path}: invalid rubric: {describe(exc, whole='(rubric)')}") from None
    if rubric.dimension != dimension:
        raise RubricError(f"{path}: field 'dimension': {rubric.dimension!r} does not match "
                          f"the file name (expected {dimension!r})")
    return rubric


def load_rubric(dimension: str, root: str | os.PathLike[str] | None = None) -> Rubric:
    """Read and validate ``rubrics/<dimension>.yaml``.

    ``root`` is the repository root holding ``rubrics/``; without it the
    folder is found by walking up from this module. Stages pass the root
    they run in, so that a copy of the repository reads its own rubrics.
    """
    if dimension not in DIMENSIONS:
        raise RubricError(f"unknown dimension {dimension!r}; valid: {', '.join(DIMENSIONS)}")
    return _read(_folder(root) / f"{dimension}.yaml", dimension)


def load_rubrics(root: str | os.PathLike[str] | None = None) -> dict[str, Rubric]:
    """All nine rubrics keyed by dimension, in ``DIMENSIONS`` order.

    Every missing file is named in one error before any file is read.
    """
    folder = _folder(root)
    missing = [f"{d}.yaml" for d in DIMENSIONS if not (folder / f"{d}.yaml").is_file()]
    if missing:
        raise RubricError(f"{folder}: missing rubric files: {', '.join(missing)}")
    return {d: _read(folder / f"{d}.yaml", d) for d in DIMENSIONS}


def render_rubric(rubric: Rubric, detail: Literal["full", "summary"] = "full") -> str:
    """The rubric as the plain markdown text that human graders and LLM judges read.

    Deterministic: the same rubric always gives the same text, levels from 3
    to N/A, task types in ``TASK_TYPES`` order. ``detail="summary"`` keeps
    what the dimension covers and one line per score (about a tenth of the
    text), for models whose context or speed cannot afford the anchors.
    """
    if detail == "summary":
        lines = [f"# {rubric.title} ({rubric.dimension})", "", rubric.covers, ""]
        lines += [f"- {_LEVEL_HEADINGS[score]}: {level.summary}"
                  for score, level in rubric.levels()]
        return "\n".join(lines) + "\n"
    if detail != "full":
        raise ValueError(f"rubric detail must be 'full' or 'summary', got {detail!r}")
    lines = [f"# {rubric.title} ({rubric.dimension})", "", rubric.covers, "", "## Scores"]
    for score, level in rubric.levels():
        lines += ["", f"### {_LEVEL_HEADINGS[score]}", level.summary]
        lines += [f"- {anchor}" for anchor in level.anchors]
    lines += ["", "## Crashes", "", rubric.crashes, "", "## Task types"]
    if rubric.task_types:
        for task_type, notes in rubric.task_types.items():
            lines += ["", f"### {_TASK_TYPE_NAMES[task_type]}"]
            lines += [f"- {note}" for note in notes]
    else:
        lines += ["", "Nothing specific: grade every task type alike."]
    return "\n".join(lines) + "\n"
