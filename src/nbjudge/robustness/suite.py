"""The metamorphic suite, written, executed where its code changed, and judged.

:func:`build_suite` samples originals (seeded), writes each variant of each to
``<out>/notebooks/<original>~<variant>.ipynb`` and returns their index: a variant that
changes only text keeps its outputs (``execute.mode keep``); a variant that changes code
(the defects) is executed in the sandbox through :func:`nbjudge.notebooks.batch.execute_index`
with the ``execute`` settings, its runs cached like the execute stage's.

:func:`judge_suite` judges originals and variants with each judge set under each defence:
``none`` (the notebook as plain text, instructions without the data sentence, an aligned
judge's memory quoted as MLflow quotes it), ``marked`` (delimiters and the data sentence,
:mod:`nbjudge.judges.marking`, and an aligned judge's guidelines and retrieved examples
neutralised), ``marked+strip`` (and the scanner's flagged lines removed). Answers are cached by request like every judge's.
Judgments are named ``<judge>@<defence>`` and carry the variant in their notebook id.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import numpy as np

from nbjudge.errors import InputError
from nbjudge.judges.batch import baseline_judges
from nbjudge.judges.requests import DimensionJudge
from nbjudge.robustness.variants import Variant
from nbjudge.schemas import Execution, Judgment, Notebook
from nbjudge.stats.robustness import ScorePair

__all__ = ["SEPARATOR", "SuiteEntry", "build_suite", "judge_sets", "score_pairs",
           "split_id"]

SEPARATOR = "~"
DEFENCE_MARKED = {"none": False, "marked": True, "marked+strip": True}
DEFENCE_ON_INJECTION = {"none": "judge", "marked": "judge", "marked+strip": "strip"}


@dataclass(frozen=True)
class SuiteEntry:
    """One variant notebook of the suite."""

    notebook: Notebook
    original: str
    variant: Variant


def split_id(notebook_id: str) -> tuple[str, str | None]:
    """``(original, variant)`` of a suite notebook id (variant None for an original)."""
    original, _, variant = notebook_id.partition(SEPARATOR)
    return original, variant or None


def sample(index: Sequence[Notebook], n: int | None, seed: int) -> list[Notebook]:
    """``n`` notebooks of ``index`` drawn with ``seed`` (all for None), in index order."""
    if n is None or n >= len(index):
        return list(index)
    rng = np.random.default_rng(seed)
    chosen = set(rng.choice(len(index), size=n, replace=False).tolist())
    return [entry for k, entry in enumerate(index) if k in chosen]


def _executed_path(entry: Notebook, root: Path) -> Path:
    if entry.execution is not None and entry.execution.path:
        return root / entry.execution.path
    return root / entry.path


def build_suite(originals: Sequence[Notebook], variants: Sequence[Variant], out: Path,
                root: Path = Path(".")) -> tuple[list[SuiteEntry], list[SuiteEntry]]:
    """Write every variant of every original; ``(kept, to_run)``: variants that keep their
    outputs (already indexed as kept) and variants whose code changed (to execute)."""
    folder = out / "notebooks"
    folder.mkdir(parents=True, exist_ok=True)
    kept: list[SuiteEntry] = []
    to_run: list[SuiteEntry] = []
    for entry in originals:
        path = _executed_path(entry, root)
        try:
            notebook = nbformat.read(path, as_version=4)
        except FileNotFoundError:
            raise InputError(f"{path}: notebook not found; rerun the execute stage") from None
        for variant in variants:
            changed = variant.apply(notebook)
            if changed is None:
                continue
            notebook_id = f"{entry.notebook_id}{SEPARATOR}{variant.name}"
            target = folder / f"{notebook_id}.ipynb"
            text = nbformat.writes(changed) + "\n"
            target.write_text(text, encoding="utf-8")
            relative = target.resolve().relative_to(root.resolve()).as_posix()
            execution = None if variant.changes_code else Execution(
                status="not_run", mode="keep", outputs="original", path=relative,
                sandbox=None)
            record = Notebook(notebook_id=notebook_id, case_id=entry.case_id, path=relative,
                              sha256=hashlib.sha256(text.encode()).hexdigest(),
                              origin=entry.origin, execution=execution,
                              generation=entry.generation)
            (to_run if variant.changes_code else kept).append(
                SuiteEntry(record, entry.notebook_id, variant))
    return kept, to_run


def judge_sets(names: Sequence[str], llm: Any, judge: Mapping[str, Any], registration: Path,
               dimensions: Sequence[str], marked: bool) -> dict[str, dict[str, DimensionJudge]]:
    """The judges of each set in ``names``: ``baseline`` (the rubric judges), ``registered``
    (the aligned judges of the register stage, loaded from the tracking store),
    ``semantic_only`` (the registered judges' instructions and guidelines, no examples).

    ``marked``: every judge's instructions carry the data sentence and an aligned judge's
    memory (guidelines, retrieved examples) is neutralised
    (:func:`nbjudge.alignment.memalign.mark_memory`); without it nothing is marked, for
    the aligned judges as for the baseline, so that a defence is measured the same way for
    every judge."""
    sets: dict[str, dict[str, DimensionJudge]] = {}
    if "baseline" in names:
        sets["baseline"] = baseline_judges(llm, dimensions, marked=marked)
    if "registered" in names or "semantic_only" in names:
        registered = _defended(_registered(llm, judge, registration, dimensions), marked)
        if "registered" in names:
            sets["registered"] = registered
        if "semantic_only" in names:
            sets["semantic_only"] = _semantic_only(registered, marked)
    return sets


def _registered(llm: Any, judge: Mapping[str, Any], registration: Path,
                dimensions: Sequence[str]) -> dict[str, DimensionJudge]:
    from nbjudge.alignment.final import registered_dimension_judges

    return registered_dimension_judges(
        llm, judge, registration, dimensions,
        missing="robustness.judges registered and semantic_only need the register stage's "
                "judges (`dvc repro register`), or list only baseline").judges


def _defended(judges: Mapping[str, DimensionJudge], marked: bool
              ) -> dict[str, DimensionJudge]:
    """The aligned ``judges`` with their memory marked, or (not ``marked``) with nothing
    marked: MLflow's own quoting and instructions without the data sentence. Their cache
    keys say which."""
    from nbjudge.alignment.memalign import mark_memory, memory_marking
    from nbjudge.judges.marking import plain_instructions

    defended = {}
    for dimension, judge in judges.items():
        mark_memory(judge.judge, marked=marked)
        defended[dimension] = dataclasses.replace(
            judge, instructions=(judge.instructions if marked
                                 else plain_instructions(judge.instructions)),
            memory={**(judge.memory or {}), "marking": memory_marking(judge.judge)})
    return defended


def _semantic_only(registered: Mapping[str, DimensionJudge], marked: bool = True
                   ) -> dict[str, DimensionJudge]:
    """The registered judges' instructions and distilled guidelines, the guidelines
    neutralised (``marked``), or as MLflow keeps them and without the data sentence."""
    from nbjudge.judges.marking import neutralise_guidelines, plain_instructions

    return {d: DimensionJudge(d, neutralise_guidelines(j.judge.instructions, j.instructions)
                              if marked else plain_instructions(j.judge.instructions))
            for d, j in registered.items()}


def score_pairs(judgments: Sequence[Judgment], entries: Sequence[SuiteEntry]
                ) -> list[ScorePair]:
    """The (original, variant) score pairs of every judged suite notebook."""
    variants = {e.notebook.notebook_id: e for e in entries}
    scores: dict[tuple[str, str, str], int | str | None] = {}
    for j in judgments:
        scores[(j.variant, j.notebook_id, j.dimension)] = j.score if j.status == "ok" else None
    pairs = []
    for (configuration, notebook_id, dimension), score in sorted(
            scores.items(), key=lambda item: (item[0][0], item[0][1], item[0][2])):
        entry = variants.get(notebook_id)
        if entry is None:
            continue
        judge, _, defence = configuration.partition("@")
        original = scores.get((configuration, entry.original, dimension))
        pairs.append(ScorePair(judge, defence, entry.original, entry.variant.name,
                               entry.variant.family, dimension,
                               original if (configuration, entry.original, dimension) in scores
                               else None, score, entry.variant.dimension))
    return pairs
