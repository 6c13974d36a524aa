"""MemAlign, per fold and dimension, through MLflow's public API.

``judge.align(traces, MemAlignOptimizer(...))`` distils guidelines from the
training folds' human feedback (semantic memory) and indexes those examples
for retrieval (episodic memory). The two memory variants of the ablation are
built from the same aligned judge:

- ``full``: the aligned judge itself (guidelines + retrieved examples);
- ``semantic_only``: ``make_judge(instructions=aligned.instructions, ...)``;
  the aligned judge's ``instructions`` are the rubric plus the distilled
  guidelines and never the examples (``retrieval_k=0`` is refused by MLflow).

What the memory holds is read from ``aligned.model_dump()`` (public and
serialisable), never from private attributes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from nbjudge.llm.usage import TokenCounter

__all__ = [
    "MEMORY_VARIANTS",
    "AlignedJudge",
    "MemAlignSettings",
    "MemorySnapshot",
    "align_dimension",
    "memory_snapshot",
]

MEMORY_VARIANTS = ("full", "semantic_only")


@dataclass(frozen=True)
class MemAlignSettings:
    """The ``memalign`` section of ``params.yaml``."""

    retrieval_k: int = 5
    embedding_dim: int = 512
    reflection_model: str | None = None   # None: the judge's own model

    def __post_init__(self) -> None:
        if self.retrieval_k < 1:
            raise ValueError(f"memalign.retrieval_k must be at least 1 (MemAlign refuses 0; "
                             f"the semantic_only variant is the no-examples ablation), "
                             f"got {self.retrieval_k}")
        if self.embedding_dim < 1:
            raise ValueError(f"memalign.embedding_dim must be positive, got {self.embedding_dim}")

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> MemAlignSettings:
        known = {"retrieval_k", "embedding_dim", "reflection_model"}
        unknown = set(mapping) - known
        if unknown:
            raise ValueError(f"unknown memalign settings {sorted(unknown)}; known: {sorted(known)}")
        return cls(**dict(mapping))


@dataclass(frozen=True)
class MemorySnapshot:
    """What an aligned judge remembers, by MLflow trace id."""

    guidelines: list[dict[str, Any]]      # {"text", "source_ids"}
    episodic_ids: list[str]
    retrieval_k: int
    embedding_model: str | None
    reflection_model: str | None

    def as_key(self) -> dict[str, Any]:
        """The part of the memory that shapes prompts (for the answer cache key)."""
        return {"guidelines": [g["text"] for g in self.guidelines],
                "episodic_ids": sorted(self.episodic_ids), "retrieval_k": self.retrieval_k,
                "embedding_model": self.embedding_model}

    def memory_ids(self) -> list[str]:
        ids = {str(i) for g in self.guidelines for i in g["source_ids"]}
        return sorted(ids | set(self.episodic_ids))


def memory_snapshot(aligned: Any) -> MemorySnapshot:
    """Read an aligned judge's memory from its public serialisation."""
    dumped = aligned.model_dump()
    data = dumped.get("memory_augmented_judge_data") or {}
    guidelines = [{"text": str(g.get("guideline_text", "")),
                   "source_ids": [str(i) for i in (g.get("source_trace_ids") or [])]}
                  for g in data.get("semantic_memory") or []]
    return MemorySnapshot(
        guidelines=guidelines,
        episodic_ids=[str(i) for i in data.get("episodic_trace_ids") or []],
        retrieval_k=int(data.get("retrieval_k") or 0),
        embedding_model=data.get("embedding_model"),
        reflection_model=data.get("reflection_lm"),
    )


@dataclass
class AlignedJudge:
    """One dimension's judge after alignment, and what it cost."""

    dimension: str
    aligned: Any                     # the MemoryAugmentedJudge
    snapshot: MemorySnapshot
    seconds: float
    tokens: dict[str, int] = field(default_factory=dict)


def align_dimension(
    base_judge: Any,
    traces: Sequence[Any],
    *,
    settings: MemAlignSettings,
    reflection_model: str,
    embedding_model: str,
) -> AlignedJudge:
    """Align ``base_judge`` on ``traces`` (each with HUMAN feedback named after the judge)."""
    from mlflow.genai.judges.optimizers import MemAlignOptimizer

    optimizer = MemAlignOptimizer(reflection_lm=settings.reflection_model or reflection_model,
                                  retrieval_k=settings.retrieval_k,
                                  embedding_model=embedding_model,
                                  embedding_dim=settings.embedding_dim)
    started = time.monotonic()
    with TokenCounter() as counter:
        aligned = base_judge.align(traces=list(traces), optimizer=optimizer)
    seconds = time.monotonic() - started
    return AlignedJudge(base_judge.name, aligned, memory_snapshot(aligned), round(seconds, 3),
                        counter.as_dict())


Variant = Literal["full", "semantic_only"]
