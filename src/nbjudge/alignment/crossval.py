"""Grouped K-fold cross-validation of aligned judges, one memory variant at a time.

For every repeat, fold and dimension: align the baseline judge on the human
feedback of the other folds, judge the held-out fold with the aligned judge
(``full``) or with its guidelines only (``semantic_only``), check that no
held-out notebook (nor another notebook of its test case) reached the fold's
memory or any retrieval, and write the audit of what the judge remembered.
Every notebook ends with exactly one out-of-fold judgment per dimension and
repeat.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from nbjudge.alignment.folds import FoldAssignment
from nbjudge.alignment.leakage import assert_no_leakage
from nbjudge.alignment.memalign import (
    MEMORY_VARIANTS,
    AlignedJudge,
    ConsensusRule,
    HumanConsensus,
    MemAlignSettings,
    align_dimension,
    human_consensus,
)
from nbjudge.errors import InputError
from nbjudge.judges.batch import attach_judges, baseline_judges, judge_views
from nbjudge.judges.dimension import make_dimension_judge
from nbjudge.judges.marking import neutralise_guidelines
from nbjudge.judges.requests import DimensionJudge, NotebookView
from nbjudge.llm.backends import Backend, LLMConfig
from nbjudge.llm.calls import RunSummary
from nbjudge.rubrics import load_rubric
from nbjudge.runlog import set_aside
from nbjudge.schemas import (
    DIMENSIONS,
    AlignmentAudit,
    Guideline,
    Judgment,
    Label,
    write_json_record,
)

__all__ = ["align_fold", "audit_path", "cross_validate", "variant_judge"]


_NO_EMBEDDINGS = "MemAlign needs an embedding model: open the backend with embeddings=True"


def audit_path(root: str | Path, fold: int | None, dimension: str, repeat: int = 0) -> Path:
    """``<root>/fold<k>/<dimension>.json`` (``repeat<r>/`` inserted for r > 0; ``final/``
    for the judges aligned on every notebook); ``root`` is one variant's audit folder."""
    folder = Path(root)
    if repeat:
        folder = folder / f"repeat{repeat}"
    folder = folder / ("final" if fold is None else f"fold{fold}")
    return folder / f"{dimension}.json"


def variant_judge(result: AlignedJudge, variant: str, base: DimensionJudge,
                  backend: Backend, settings: MemAlignSettings,
                  notebook_of: Mapping[str, str] | None = None) -> DimensionJudge:
    """The judge that a memory variant scores with, built from one alignment.

    ``notebook_of`` maps trace ids to notebook ids: the answer cache keys the episodic
    memory by notebook, since a fresh MLflow store gives the same traces new ids.
    """
    if variant == "full":
        memory = result.snapshot.as_key()
        memory["episodic_ids"] = sorted(_notebook_ids(memory["episodic_ids"], notebook_of or {}))
        return DimensionJudge(result.dimension, base.instructions, judge=result.aligned,
                              memory=memory, examples_per_prompt=settings.retrieval_k,
                              notebook_of=notebook_of)
    if variant == "semantic_only":
        # the distilled guidelines quote notebooks: neutralised like a notebook's text
        instructions = neutralise_guidelines(result.aligned.instructions, base.instructions)
        judge = make_dimension_judge(load_rubric(result.dimension), instructions=instructions,
                                     inference_params=backend.inference_params(),
                                     **backend.judge_kwargs())
        return DimensionJudge(result.dimension, instructions, judge=judge)
    raise ValueError(f"unknown memory variant {variant!r}; known: {list(MEMORY_VARIANTS)}")


def align_fold(base: DimensionJudge, training: Iterable[str], traces: Mapping[str, Any],
               labelled: Mapping[str, set[str]],
               human: Mapping[tuple[str, str], HumanConsensus], *, labels: bool,
               settings: MemAlignSettings, backend: Backend, nothing_to_teach: str
               ) -> AlignedJudge:
    """MemAlign of ``base`` (one dimension's baseline judge) on one fold's ``training``
    notebooks: the align stage's rule, which the robustness stage repeats to rebuild a
    fold's judges.

    A training notebook teaches when it has a human label for the dimension and, with
    ``labels`` (the raters' grades rather than feedback on the traces alone), a consensus
    in ``human``: MemAlign learns the consensus the statistics score against, and a
    notebook without one (under ``stats.consensus=rater:<id>``, one that rater did not
    grade) counts for nothing in the statistics. None teaching is an
    :class:`~nbjudge.errors.InputError` with the message ``nothing_to_teach``.
    """
    if backend.embedding_model is None:
        raise ValueError(_NO_EMBEDDINGS)
    training = list(training)
    dimension = base.dimension
    teach = [traces[n] for n in training if n in labelled.get(dimension, set())
             and (not labels or (n, dimension) in human)]
    if not teach:
        raise InputError(nothing_to_teach)
    return align_dimension(
        base.judge, teach, settings=settings, reflection_model=backend.judge_model,
        embedding_model=backend.embedding_model, usage=backend.usage,
        human={traces[n].info.trace_id: human[n, dimension] for n in training
               if (n, dimension) in human and n in traces})


def _notebook_ids(trace_ids: Iterable[str], notebook_of: Mapping[str, str]) -> list[str]:
    return [notebook_of.get(t, t) for t in trace_ids]


def cross_validate(
    views: Sequence[NotebookView],
    traces: Mapping[str, Any],
    labelled: Mapping[str, set[str]],
    assignments: Sequence[FoldAssignment],
    *,
    variant: str,
    llm: LLMConfig,
    judge: Mapping[str, Any],
    settings: MemAlignSettings,
    backend: Backend,
    audit_root: str | Path,
    dimensions: Sequence[str] = DIMENSIONS,
    progress: bool = True,
    labels: Sequence[Label] = (),
    consensus_rule: ConsensusRule | None = None,
) -> tuple[list[Judgment], RunSummary, list[AlignmentAudit]]:
    """Out-of-fold judgments of ``variant`` for every notebook, with the fold audits.

    ``traces`` maps notebook id to its MLflow trace (with HUMAN feedback);
    ``labelled`` maps each dimension to the notebooks that have a human label
    for it (only those teach the judge). With ``labels``, MemAlign learns one HUMAN
    grade per notebook and dimension, their consensus under ``consensus_rule``
    (:func:`nbjudge.alignment.memalign.human_consensus`), and each audit names its raters.
    """
    if variant not in MEMORY_VARIANTS:
        raise ValueError(f"unknown memory variant {variant!r}; known: {list(MEMORY_VARIANTS)}")
    if backend.embedding_model is None:
        raise ValueError(_NO_EMBEDDINGS)
    notebook_of = {trace.info.trace_id: n for n, trace in traces.items()}
    case_of = {v.notebook_id: v.case_id for v in views}
    base = baseline_judges(llm, dimensions)
    attach_judges(base, backend)
    rule = consensus_rule or ConsensusRule()
    human = human_consensus(labels, rule) if labels else {}
    summary = RunSummary()
    judgments: list[Judgment] = []
    audits: list[AlignmentAudit] = []
    for assignment in assignments:
        for fold in range(assignment.k):
            held_out = assignment.test_ids(fold)
            training = assignment.train_ids(fold)
            fold_judges: dict[str, DimensionJudge] = {}
            aligned: dict[str, AlignedJudge] = {}
            for dimension in dimensions:
                result = align_fold(
                    base[dimension], training, traces, labelled, human, labels=bool(labels),
                    settings=settings, backend=backend,
                    nothing_to_teach=f"fold {fold}: no labelled training notebook for "
                    f"{dimension}{_consensus_hint(labels, rule)}; label more notebooks or "
                    "lower cv.k")
                aligned[dimension] = result
                fold_judges[dimension] = variant_judge(result, variant, base[dimension],
                                                       backend, settings, notebook_of)
            fold_results, _ = judge_views(
                views, llm, judge, variant=variant, judges=fold_judges, backend=backend,
                fold=fold, repeat=assignment.repeat, notebook_ids=held_out, summary=summary,
                progress=progress)
            # The judges name retrieved examples by notebook (variant_judge's notebook_of).
            judgments += fold_results
            for dimension, result in aligned.items():
                retrievals = {j.notebook_id: list(j.retrieved_ids)
                              for j in fold_results if j.dimension == dimension}
                snapshot = result.snapshot
                memory = _notebook_ids(snapshot.memory_ids(), notebook_of)
                assert_no_leakage(assignment, fold, case_of, memory, retrievals)
                audit = AlignmentAudit(
                    variant=variant, fold=fold, repeat=assignment.repeat, dimension=dimension,
                    guidelines=[Guideline(text=g["text"],
                                          source_ids=_notebook_ids(g["source_ids"], notebook_of))
                                for g in snapshot.guidelines],
                    episodic_ids=_notebook_ids(snapshot.episodic_ids, notebook_of),
                    retrievals=retrievals if variant == "full" else {},
                    seconds=result.seconds, tokens=result.tokens,
                    reflection_model=snapshot.reflection_model or backend.judge_model,
                    embedding_model=snapshot.embedding_model,
                    retrieval_k=snapshot.retrieval_k if variant == "full" else 0,
                    consensus_raters={notebook_of.get(t, t): list(raters)
                                      for t, raters in result.consensus_raters.items()},
                    consensus_rule=rule.describe() if result.consensus_raters else None)
                path = audit_path(audit_root, fold, dimension, assignment.repeat)
                write_json_record(path, set_aside([audit], path)[0])
                audits.append(audit)
    return judgments, summary, audits


def _consensus_hint(labels: Sequence[Label], rule: ConsensusRule) -> str:
    if labels and rule.consensus.startswith("rater:"):
        return (f" graded by {rule.consensus.removeprefix('rater:')} "
                f"(stats.consensus={rule.consensus})")
    return ""
