"""What one aligned judge learned and retrieved, for audit.

One file per judge: ``data/alignment/<variant>/fold<k>/<dimension>.json``.

An audit file keeps the guidelines MemAlign distilled (with the feedback
they came from), the episodic examples it stored, what each judged notebook
retrieved, and the cost. The leakage check and the report read it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from nbjudge.schemas import DIMENSIONS, Record, RecordError

from ._io import describe, read_json, write_json

__all__ = ["AlignmentAudit", "Guideline", "read_audit", "write_audit"]

NonEmpty = Annotated[str, Field(min_length=1)]


def _fold_all_is_none(value: Any) -> Any:
    return None if value == "all" else value


class Guideline(BaseModel):
    """One distilled guideline and the ids of the feedback it came from."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    text: Annotated[str, Field(min_length=1, pattern=r"\S")]
    source_ids: list[NonEmpty] = Field(default_factory=list)


class AlignmentAudit(Record):
    """The memory and retrievals of one aligned judge (variant, fold, repeat, dimension).

    ``fold`` is ``None`` for the final judge aligned on every notebook
    (``"all"`` is read as ``None``). ``retrievals`` maps each judged notebook
    to the ids retrieved for it, at most ``retrieval_k`` of them. Ids are as
    recorded (often MLflow trace ids); map them to notebook ids before the
    leakage check.
    """

    variant: NonEmpty
    fold: Annotated[Annotated[int, Field(ge=0)] | None, BeforeValidator(_fold_all_is_none)] = None
    repeat: int = Field(default=0, ge=0)
    dimension: str
    guidelines: list[Guideline] = Field(default_factory=list)
    episodic_ids: list[NonEmpty] = Field(default_factory=list)
    retrievals: dict[NonEmpty, list[NonEmpty]] = Field(default_factory=dict)
    seconds: float = Field(ge=0.0)
    tokens: dict[NonEmpty, Annotated[int, Field(ge=0)]] | None = None
    reflection_model: NonEmpty
    embedding_model: NonEmpty | None = None
    retrieval_k: int = Field(ge=0)

    @field_validator("dimension")
    @classmethod
    def _known_dimension(cls, value: str) -> str:
        if value not in DIMENSIONS:
            raise ValueError(f"unknown dimension {value!r}; expected one of {DIMENSIONS}")
        return value

    @model_validator(mode="after")
    def _retrievals_within_k(self) -> AlignmentAudit:
        over = sorted(n for n, ids in self.retrievals.items() if len(ids) > self.retrieval_k)
        if over:
            raise ValueError(
                f"retrievals longer than retrieval_k={self.retrieval_k} for: {', '.join(over)}"
            )
        return self

    def memory_ids(self) -> list[str]:
        """Every id in the memory: guideline sources and episodic examples, sorted."""
        ids = {i for g in self.guidelines for i in g.source_ids}
        return sorted(ids.union(self.episodic_ids))


def write_audit(path: str | os.PathLike[str], audit: AlignmentAudit) -> None:
    """Validate ``audit`` and write it to ``path`` as JSON, atomically."""
    path = Path(path)
    try:
        AlignmentAudit.model_validate(audit.model_dump())
    except ValidationError as exc:
        raise RecordError(f"{path}: invalid AlignmentAudit: {describe(exc)}") from None
    write_json(path, audit.model_dump(mode="json"))


def read_audit(path: str | os.PathLike[str]) -> AlignmentAudit:
    """Read and validate an audit file; :class:`~nbjudge.schemas.RecordError` names the field."""
    path = Path(path)
    data = read_json(path, "alignment audit")
    try:
        return AlignmentAudit.model_validate(data)
    except ValidationError as exc:
        raise RecordError(f"{path}: invalid AlignmentAudit: {describe(exc)}") from None
