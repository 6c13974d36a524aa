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
neutralised), ``marked+strip`` (and the scanner's flagged lines removed). Answers are
cached by request like every judge's. Judgments are named ``<judge>@<defence>`` and carry
the variant in their notebook id.

The judge set ``full`` is the align stage's cross-validated judges
(:func:`rebuild_fold_judges`). The align stage keeps each fold's aligned judges in memory
only and writes what they remembered (the audits: distilled guidelines, episodic examples
by notebook). The suite rebuilds them: each fold's judge of each dimension is aligned
again on the other folds' consensus grades exactly as the align stage aligned it
(:func:`nbjudge.alignment.memalign.align_dimension`, the same traces and consensus; the
distillation is deterministic and DSPy keeps its answers in the backend's cache folder, so
with that cache no reflection request is sent again), and its memory is checked against
the fold's audit: the same guidelines, the same examples, or the stage stops. Each fold's
judges then judge only that fold's held-out notebooks and their variants, as the align
stage judged the notebooks out of fold: a judge never has the notebook it grades (nor
another notebook of its case) among its examples, which a registered judge, aligned on
every label, does.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Collection, Mapping, Sequence
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

__all__ = ["SEPARATOR", "FoldJudges", "SuiteEntry", "build_suite", "defended",
           "judge_sets", "rebuild_fold_judges", "score_pairs", "split_id"]

SEPARATOR = "~"
DEFENCE_MARKED = {"none": False, "marked": True, "marked+strip": True}
DEFENCE_ON_INJECTION = {"none": "judge", "marked": "judge", "marked+strip": "strip"}


@dataclass(frozen=True)
class SuiteEntry:
    """One variant notebook of the suite."""

    notebook: Notebook
    original: str
    variant: Variant
    # a procedural notebook's defect redrawn by the generator: the template it drew
    redrawn: str | None = None


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


# (original, dimension) -> (the notebook with that dimension's defect, what was drawn) or None
Redraw = Callable[[Notebook, str], "tuple[Any, str] | None"]


def build_suite(originals: Sequence[Notebook], variants: Sequence[Variant], out: Path,
                root: Path = Path("."), redraw: Redraw | None = None
                ) -> tuple[list[SuiteEntry], list[SuiteEntry]]:
    """Write every variant of every original; ``(kept, to_run)``: variants that keep their
    outputs (already indexed as kept) and variants whose code changed (to execute).

    With ``redraw``, a defect variant is the notebook ``redraw`` gives for the original and
    the defect's dimension, where it gives one (the stage's: a procedural notebook written
    again by the generator with that dimension drawn at level 1); elsewhere the variant's
    code edit."""
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
            drawn = (redraw(entry, variant.dimension)
                     if redraw is not None and variant.family == "defect"
                     and variant.dimension is not None else None)
            changed = drawn[0] if drawn is not None else variant.apply(notebook)
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
                SuiteEntry(record, entry.notebook_id, variant,
                           drawn[1] if drawn is not None else None))
    return kept, to_run


def judge_sets(names: Sequence[str], llm: Any, judge: Mapping[str, Any], registration: Path,
               dimensions: Sequence[str], marked: bool) -> dict[str, dict[str, DimensionJudge]]:
    """The judges of each set in ``names``: ``baseline`` (the rubric judges), ``registered``
    (the aligned judges of the register stage, loaded from the tracking store),
    ``semantic_only`` (the registered judges' instructions and guidelines, no examples).
    ``full``, the align stage's cross-validated judges, needs a backend to be rebuilt: the
    stage builds it (:func:`rebuild_fold_judges`).

    ``marked``: every judge's instructions carry the data sentence and an aligned judge's
    memory (guidelines, retrieved examples) is neutralised
    (:func:`nbjudge.alignment.memalign.mark_memory`); without it nothing is marked, for
    the aligned judges as for the baseline, so that a defence is measured the same way for
    every judge."""
    sets: dict[str, dict[str, DimensionJudge]] = {}
    if "baseline" in names:
        sets["baseline"] = baseline_judges(llm, dimensions, marked=marked)
    if "registered" in names or "semantic_only" in names:
        from nbjudge.alignment.final import semantic_only_judges

        registered = defended(_registered(llm, judge, registration, dimensions), marked)
        if "registered" in names:
            sets["registered"] = registered
        if "semantic_only" in names:
            sets["semantic_only"] = semantic_only_judges(registered, marked)
    return sets


def _registered(llm: Any, judge: Mapping[str, Any], registration: Path,
                dimensions: Sequence[str]) -> dict[str, DimensionJudge]:
    from nbjudge.alignment.final import registered_dimension_judges

    return registered_dimension_judges(
        llm, judge, registration, dimensions,
        missing="robustness.judges registered and semantic_only need the register stage's "
                "judges (`dvc repro register`), or list only baseline").judges


def defended(judges: Mapping[str, DimensionJudge], marked: bool
              ) -> dict[str, DimensionJudge]:
    """The aligned ``judges`` with their memory marked, or (not ``marked``) with nothing
    marked: MLflow's own quoting and instructions without the data sentence. Their cache
    keys say which. The MemAlign judges themselves are set up in place, so judge with the
    result before calling this again on the same judges with the other value."""
    from nbjudge.alignment.memalign import mark_memory, memory_marking
    from nbjudge.judges.marking import plain_instructions

    result = {}
    for dimension, judge in judges.items():
        mark_memory(judge.judge, marked=marked)
        result[dimension] = dataclasses.replace(
            judge, instructions=(judge.instructions if marked
                                 else plain_instructions(judge.instructions)),
            memory={**(judge.memory or {}), "marking": memory_marking(judge.judge)})
    return result


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


@dataclass(frozen=True)
class FoldJudges:
    """One fold's cross-validated judges and the notebooks they judge."""

    repeat: int
    fold: int
    held_out: tuple[str, ...]    # the suite's originals in this fold's test set
    judges: Mapping[str, Any]    # dimension -> DimensionJudge (the ``full`` variant)
    # dimension -> the calls and tokens its alignment sent ({"calls": 0, ...} when DSPy's
    # cache answered the whole distillation)
    sent: Mapping[str, Mapping[str, int]] = dataclasses.field(default_factory=dict)


def rebuild_fold_judges(inputs: Any, assignment: Any, *, originals: Collection[str],
                        dimensions: Sequence[str], settings: Any, backend: Any,
                        rule: Any, audit_root: Path) -> list[FoldJudges]:
    """The ``full`` judges of each fold of ``assignment`` (a
    :class:`~nbjudge.alignment.FoldAssignment`) that holds out one of ``originals``.

    ``inputs`` is the stage's :class:`~nbjudge.judges.batch.JudgingInputs` (views, labels
    and their traces), ``settings`` the ``memalign`` section, ``rule`` the
    :class:`~nbjudge.alignment.memalign.ConsensusRule`, ``audit_root`` the align stage's
    audit folder of the ``full`` variant (``data/alignment/full``).
    """
    from nbjudge.alignment.crossval import align_fold, audit_path, variant_judge
    from nbjudge.alignment.memalign import human_consensus
    from nbjudge.judges.batch import attach_judges, baseline_judges

    traces = inputs.traces()
    labelled = inputs.labelled()
    notebook_of = {trace.info.trace_id: n for n, trace in traces.items()}
    human = human_consensus(inputs.labels, rule) if inputs.labels else {}
    base = baseline_judges(inputs.llm, dimensions)
    attach_judges(base, backend)
    rebuilt = []
    for fold in range(assignment.k):
        held_out = tuple(n for n in assignment.test_ids(fold) if n in originals)
        if not held_out:
            continue   # no notebook of the suite to judge: no alignment needed
        training = assignment.train_ids(fold)
        judges = {}
        sent = {}
        for dimension in dimensions:
            result = align_fold(
                base[dimension], training, traces, labelled, human,
                labels=bool(inputs.labels), settings=settings, backend=backend,
                nothing_to_teach=f"fold {fold}: no labelled training notebook for "
                f"{dimension}, so the align stage had no judge there; leave full out of "
                "robustness.judges")
            _check_audit(result.snapshot, notebook_of,
                         audit_path(audit_root, fold, dimension, assignment.repeat))
            judges[dimension] = variant_judge(result, "full", base[dimension], backend,
                                              settings, notebook_of)
            sent[dimension] = dict(result.tokens)
        rebuilt.append(FoldJudges(assignment.repeat, fold, held_out, judges, sent))
    return rebuilt


def _check_audit(snapshot: Any, notebook_of: Mapping[str, str], path: Path) -> None:
    """Stop unless the rebuilt memory is the one the align stage audited at ``path``."""
    from nbjudge.schemas import AlignmentAudit, read_json_record

    rerun = ("rerun the align stage (`dvc repro align@full`) with these labels, folds and "
             "settings, or leave full out of robustness.judges")
    if not path.is_file():
        raise InputError(f"{path}: no audit of this fold's aligned judge; {rerun}")
    audit = read_json_record(path, AlignmentAudit)
    guidelines = [g["text"] for g in snapshot.guidelines]
    examples = sorted(notebook_of.get(i, i) for i in snapshot.episodic_ids)
    problems = []
    if guidelines != [g.text for g in audit.guidelines]:
        problems.append(f"it distilled {len(guidelines)} guideline(s) where the align stage "
                        f"distilled {len(audit.guidelines)}, or other ones")
    if examples != sorted(audit.episodic_ids):
        problems.append(f"its examples are {examples} where the align stage's were "
                        f"{sorted(audit.episodic_ids)}")
    if problems:
        raise InputError(f"fold {audit.fold}, {audit.dimension}: the judge aligned again is "
                         f"not the align stage's ({'; '.join(problems)}): the labels, folds, "
                         f"settings or the distillation cache changed since; {rerun}")
