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
serialisable), never from private attributes. The aligned judge quotes its memory
as data: MLflow pastes retrieved examples and guidelines into its instructions at every
call, and :func:`mark_memory` has them neutralised there
(:mod:`nbjudge.judges.marking`), the one place nbjudge reaches into MLflow's private
methods besides :func:`deterministic_distillation`.

MemAlign learns from one HUMAN assessment per (trace, dimension): the human
consensus the statistics compare the judges with (``stats.consensus``,
``stats.consensus_na``, ``stats.na_policy``, computed by
:func:`nbjudge.stats.tables.consensus`), rounded to the scale half up (1.5 is 2,
2.5 is 3, as the agreement statistics round it), N/A where the consensus is N/A.
Its rationale quotes every rater's. The traces in the store keep each rater's own
feedback; in cross-validation MemAlign gets copies whose HUMAN feedback for the judge
is replaced by the consensus (otherwise it keeps one of two conflicting raters, whichever
it resolves first), and those judges live in memory only. A registered judge rebuilds its
episodic memory from the tracking store when it is loaded, so it is aligned on stored
traces that carry the consensus alone (:mod:`nbjudge.alignment.final`). The audit records
which raters each consensus came from.
"""

from __future__ import annotations

import contextlib
import copy
import math
import threading
import time
import types
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from nbjudge.judges.marking import neutralise, plain_instructions
from nbjudge.llm.usage import UsageLog
from nbjudge.offline import environment
from nbjudge.params import MemAlignSettings  # the `memalign` section
from nbjudge.schemas import Label
from nbjudge.stats.tables import round_half_up

__all__ = [
    "DISTILLATION_SEED",
    "DISTILLATION_TEMPERATURE",
    "MEMORY_VARIANTS",
    "AlignedJudge",
    "ConsensusRule",
    "HumanConsensus",
    "MemAlignSettings",
    "MemorySnapshot",
    "align_dimension",
    "deterministic_distillation",
    "human_consensus",
    "mark_memory",
    "memalign_label",
    "memory_marking",
    "memory_snapshot",
    "round_half_up",
    "with_consensus",
]

MEMORY_VARIANTS = ("full", "semantic_only")

# MemAlign's distillation: greedy, with a fixed seed, one batch at a time (see
# deterministic_distillation), so that the same traces give the same guidelines.
DISTILLATION_TEMPERATURE = 0.0
DISTILLATION_SEED = 0
_DISTILLATION_LOCK = threading.Lock()
# The name distill_guidelines calls in mlflow.genai.judges.optimizers.memalign.utils
# (imported there from dspy_utils, hence not in that module's exports).
_LM_BUILDER = "construct_dspy_lm"
# The method MemoryAugmentedJudge.__call__ builds each prompt's instructions with (MLflow
# 3.17: base instructions, retrieved examples, distilled guidelines), and the attribute
# that records how mark_memory set a judge up.
_PROMPT_BUILDER = "_build_augmented_instructions"
_MARKING = "_nbjudge_marking"


@contextlib.contextmanager
def deterministic_distillation(temperature: float = DISTILLATION_TEMPERATURE,
                               seed: int = DISTILLATION_SEED) -> Iterator[None]:
    """MemAlign distils guidelines at ``temperature`` with ``seed``, batch after batch.

    MLflow 3.17 builds the distillation LM from the reflection model's URI with DSPy's
    defaults: no temperature, so the provider's own (llama-server's samples at 0.8 with
    a random seed), and batches sent by up to eight threads whose guidelines are kept in
    the order the replies arrive. Within the block the LM MLflow builds
    (``construct_dspy_lm``, which its ``memalign.utils`` calls) carries ``temperature``
    and ``seed`` in its request defaults (``dspy.LM.kwargs``; reasoning models keep the
    temperature their provider requires, a provider without ``seed`` gets none), and
    ``MLFLOW_GENAI_OPTIMIZE_MAX_WORKERS=1`` makes the batches run in order. DSPy's answer
    cache keys on these settings, so no answer sampled before is reused; it lives under
    the backend's cache folder (``DSPY_CACHEDIR``, :func:`nbjudge.llm.config.offline_settings`).
    One block at a time in a process; everything is restored on exit.
    """
    from mlflow.genai.judges.optimizers.memalign import utils

    with _DISTILLATION_LOCK:
        built = getattr(utils, _LM_BUILDER)

        def construct(model: str) -> Any:
            lm = built(model)
            params = lm.supported_params
            if "temperature" in params and not lm.supports_reasoning:
                lm.kwargs["temperature"] = temperature
            if "seed" in params:
                lm.kwargs["seed"] = seed
            return lm

        setattr(utils, _LM_BUILDER, construct)
        try:
            with environment({"MLFLOW_GENAI_OPTIMIZE_MAX_WORKERS": "1"}):
                yield
        finally:
            setattr(utils, _LM_BUILDER, built)


@dataclass(frozen=True)
class ConsensusRule:
    """How several raters' grades become the one MemAlign learns (the ``stats`` section's
    ``consensus``, ``consensus_na`` and ``na_policy``, as the statistics use them)."""

    consensus: str = "mean"
    consensus_na: str = "majority"
    na_policy: str = "zero"

    def describe(self) -> str:
        return (f"{self.consensus} (N/A: {self.consensus_na}, na_policy {self.na_policy}), "
                "rounded half up")


@dataclass(frozen=True)
class HumanConsensus:
    """The one HUMAN grade MemAlign learns for a (notebook, dimension)."""

    score: int | str           # 1, 2, 3 or "N/A"
    raters: tuple[str, ...]    # whose grades it came from
    rationale: str
    notebook_id: str = ""


def memalign_label(score: int | str) -> str:
    """The label MemAlign stores for a HUMAN grade (``str(value).lower()``: "2", "n/a")."""
    return str(score).lower()


def human_consensus(labels: Iterable[Label], rule: ConsensusRule
                    ) -> dict[tuple[str, str], HumanConsensus]:
    """``(notebook_id, dimension) -> HumanConsensus`` of every labelled cell.

    The value is :func:`nbjudge.stats.tables.consensus` of the cell's raters (so
    MemAlign learns the score the judges are scored against), rounded half up; a
    ``rater:<id>`` consensus keeps only that rater, and a cell it did not grade has none.
    """
    import numpy as np

    from nbjudge.stats.tables import consensus

    cells: dict[tuple[str, str], list[Label]] = {}
    for label in labels:
        cells.setdefault((label.notebook_id, label.dimension), []).append(label)
    only = rule.consensus.removeprefix("rater:") if rule.consensus.startswith("rater:") else None
    result: dict[tuple[str, str], HumanConsensus] = {}
    for key, graded in sorted(cells.items()):
        graded.sort(key=lambda label: label.rater_id)
        raters = [label.rater_id for label in graded]
        if only is not None and only not in raters:
            continue
        ratings = np.array([[[0.0 if lb.score == "N/A" else float(lb.score)]] for lb in graded])
        value = float(consensus(ratings, rule.consensus, raters=raters,
                                na_policy=rule.na_policy, na_rule=rule.consensus_na)[0, 0])
        if math.isnan(value):
            continue
        if only is not None:
            graded = [lb for lb in graded if lb.rater_id == only]
        rounded = round_half_up(value)
        score: int | str = "N/A" if rounded == 0 else rounded
        if len(graded) == 1:
            rationale = graded[0].rationale
        else:
            rationale = (f"Consensus of {len(graded)} raters ({rule.describe()}): "
                         + " | ".join(f"{lb.rater_id} gave {lb.score}: {lb.rationale}"
                                      for lb in graded))
        result[key] = HumanConsensus(score, tuple(lb.rater_id for lb in graded), rationale,
                                     notebook_id=key[0])
    return result


def with_consensus(trace: Any, judge_name: str, grade: HumanConsensus) -> Any:
    """A copy of ``trace`` whose HUMAN feedback for ``judge_name`` is ``grade`` alone
    (the stored trace is left as it is)."""
    from mlflow.entities import AssessmentSource, AssessmentSourceType, Feedback

    def sanitize(name: str | None) -> str:
        return (name or "").strip().lower()

    kept = [a for a in trace.info.assessments or []
            if not (sanitize(a.name) == sanitize(judge_name)
                    and a.source.source_type == AssessmentSourceType.HUMAN)]
    feedback = Feedback(
        name=judge_name, value=grade.score, rationale=grade.rationale,
        trace_id=trace.info.trace_id,
        source=AssessmentSource(source_type=AssessmentSourceType.HUMAN,
                                source_id="consensus:" + "+".join(grade.raters)))
    copied = copy.copy(trace)
    copied.info = copy.copy(trace.info)
    copied.info.assessments = [*kept, feedback]
    return copied


@dataclass(frozen=True)
class MemorySnapshot:
    """What an aligned judge remembers, by MLflow trace id."""

    guidelines: list[dict[str, Any]]      # {"text", "source_ids"}
    episodic_ids: list[str]
    retrieval_k: int
    embedding_model: str | None
    reflection_model: str | None
    # how the judge's prompts quote this memory (mark_memory): "marked", "plain", or None
    # where MLflow builds them as it does for any MemAlign judge
    marking: str | None = None

    def as_key(self) -> dict[str, Any]:
        """The part of the memory that shapes prompts (for the answer cache key)."""
        key: dict[str, Any] = {"guidelines": [g["text"] for g in self.guidelines],
                               "episodic_ids": sorted(self.episodic_ids),
                               "retrieval_k": self.retrieval_k,
                               "embedding_model": self.embedding_model}
        if self.marking is not None:
            key["marking"] = self.marking
        return key

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
        marking=memory_marking(aligned),
    )


def mark_memory(judge: Any, *, marked: bool = True) -> Any:
    """``judge`` (a MemAlign judge), set up so that its memory reaches its prompts as data.

    MLflow pastes the retrieved examples and the distilled guidelines into the aligned
    judge's instructions itself, at every call (``MemoryAugmentedJudge.__call__`` through
    its ``_build_augmented_instructions``; MLflow offers no public hook). With ``marked``,
    this judge's prompts get every guideline and every field of every example
    (the example's notebook, its label and rationale) neutralised
    (:func:`nbjudge.judges.marking.neutralise`): neither can close or imitate the
    delimiters of the notebook being graded, and the example's own delimiters become
    look-alikes, so the only delimiter lines of a prompt are those around the notebook
    being graded. Without ``marked`` ("plain") nothing is marked: memory as MLflow quotes
    it, and the base instructions without the data sentence
    (:func:`nbjudge.judges.marking.plain_instructions`), the judge without the defence.

    MLflow's own formatting (headers, order) is kept; only this instance changes
    (:func:`memory_marking` says how; :func:`memory_snapshot` puts it in the cache key).
    """
    if not callable(getattr(type(judge), _PROMPT_BUILDER, None)):
        raise TypeError(
            f"{type(judge).__name__} has no {_PROMPT_BUILDER}: not a MemAlign judge, or "
            "MLflow's MemoryAugmentedJudge no longer builds its prompts there; "
            "nbjudge.alignment.memalign.mark_memory must follow it")
    setattr(judge, _MARKING, "marked" if marked else "plain")
    setattr(judge, _PROMPT_BUILDER, types.MethodType(_memory_prompt, judge))
    return judge


def memory_marking(judge: Any) -> str | None:
    """How :func:`mark_memory` set ``judge`` up: "marked", "plain" or None (not at all)."""
    marking = getattr(judge, _MARKING, None)
    return marking if isinstance(marking, str) else None


def _memory_prompt(judge: Any, guidelines: list[str], examples: list[Any]) -> str:
    built = getattr(type(judge), _PROMPT_BUILDER)
    if memory_marking(judge) == "marked":
        text: str = built(judge, [neutralise(str(g)) for g in guidelines],
                          [_neutralised_example(e) for e in examples])
        return text
    return plain_instructions(built(judge, guidelines, examples))


def _neutralised_example(example: Any) -> Any:
    """A copy of a DSPy example whose text fields are neutralised."""
    return example.copy(**{key: neutralise(value) for key, value in example.items()
                           if isinstance(value, str)})


@dataclass
class AlignedJudge:
    """One dimension's judge after alignment, and what it cost."""

    dimension: str
    aligned: Any                     # the MemoryAugmentedJudge
    snapshot: MemorySnapshot
    seconds: float
    tokens: dict[str, int] = field(default_factory=dict)
    # trace id -> the consensus that was the HUMAN grade MemAlign learned from it
    taught: dict[str, HumanConsensus] = field(default_factory=dict)

    @property
    def consensus_raters(self) -> dict[str, tuple[str, ...]]:
        """Trace id -> the raters whose consensus MemAlign learned from that trace."""
        return {trace_id: grade.raters for trace_id, grade in self.taught.items()}


def align_dimension(
    base_judge: Any,
    traces: Sequence[Any],
    *,
    settings: MemAlignSettings,
    reflection_model: str,
    embedding_model: str,
    usage: UsageLog,
    human: Mapping[str, HumanConsensus] | None = None,
    human_in_store: bool = False,
) -> AlignedJudge:
    """Align ``base_judge`` on ``traces`` (each with HUMAN feedback named after the judge).

    ``human`` maps trace ids to the consensus grade MemAlign learns for them instead of
    the trace's own HUMAN feedback (:func:`with_consensus`); traces it does not name are
    used as they are. With ``human_in_store`` the stored traces already carry exactly
    that grade and are aligned on as they are, so that a judge rebuilt from the store
    learns what this one learned. ``usage`` is the open backend's
    (:attr:`nbjudge.llm.backends.Backend.usage`): the alignment's calls and tokens
    are counted from it. The aligned judge quotes its memory as data (:func:`mark_memory`).
    """
    from mlflow.genai.judges.optimizers import MemAlignOptimizer
    from mlflow.genai.judges.optimizers.memalign.optimizer import MemoryAugmentedJudge

    human = human or {}
    if not human_in_store:
        traces = [with_consensus(t, base_judge.name, human[t.info.trace_id])
                  if t.info.trace_id in human else t for t in traces]

    optimizer = MemAlignOptimizer(reflection_lm=settings.reflection_model or reflection_model,
                                  retrieval_k=settings.retrieval_k,
                                  embedding_model=embedding_model,
                                  embedding_dim=settings.embedding_dim)
    started = time.monotonic()
    with usage.counter() as counter, deterministic_distillation():
        aligned = base_judge.align(traces=list(traces), optimizer=optimizer)
    if isinstance(aligned, MemoryAugmentedJudge):
        mark_memory(aligned)
    seconds = time.monotonic() - started
    return AlignedJudge(base_judge.name, aligned, memory_snapshot(aligned), round(seconds, 3),
                        counter.as_dict(),
                        {t.info.trace_id: human[t.info.trace_id]
                         for t in traces if t.info.trace_id in human})


Variant = Literal["full", "semantic_only"]
