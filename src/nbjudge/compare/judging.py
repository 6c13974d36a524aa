"""Judging every compared notebook with one judge set (``compare.judges``).

Any judge variant of the experiment:

- ``registered`` (default): the aligned judges the ``register`` stage registered
  (``data/registered/judges.json``), loaded from the tracking store and checked against
  that record as ``nbjudge score`` does;
- ``full``: the same judges under the experiment's name for the variant (the registered
  judges are MemAlign's full memory, aligned on every label);
- ``semantic_only``: the registered judges' instructions and distilled guidelines, no
  retrieved examples (as the experiment's ``semantic_only`` variant and the robustness
  suite build them);
- ``baseline``: the rubric judges, unaligned;
- ``calibrated``, ``calibrated_full``: the ``baseline`` and ``registered`` judges, each score
  then mapped by the calibration learned on every expert label of the experiment
  (:mod:`nbjudge.compare.calibrated`); their requests, and so their cached answers, are the
  underlying judges'.

Answers are cached by request (``judge.cache_dir``); the key holds the judge's instructions
and memory, so the sets never share an answer unless their prompts are the same (a
``semantic_only`` judge with no distilled guideline is the baseline judge), and a
re-registered judge asks again. The plan is printed and checked against
``llm.max_requests`` and ``llm.max_cost`` before anything is sent.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, get_args

from nbjudge.compare.calibrated import (
    CALIBRATED_SETS,
    Calibration,
    apply_calibration,
    fit_all_labels,
)
from nbjudge.errors import ConfigError, InputError
from nbjudge.judges.batch import baseline_judges, judge_views, render_options
from nbjudge.judges.requests import DimensionJudge, NotebookView, load_views
from nbjudge.llm.backends import Backend
from nbjudge.llm.calls import RunSummary
from nbjudge.llm.config import LLMConfig
from nbjudge.params import CompareParams, Params, need
from nbjudge.schemas import DIMENSIONS, Case, Judgment, Label, Notebook, StagePlan, read_records

__all__ = ["JUDGE_SETS", "JudgeSet", "judge_compared", "load_calibration", "load_judge_set"]

JUDGE_SETS: tuple[str, ...] = get_args(CompareParams.model_fields["judges"].annotation)


class JudgeSet:
    """The judges of one set, by dimension, and what the stage says about them."""

    def __init__(self, name: str, judges: dict[str, DimensionJudge], embeddings: bool,
                 description: str) -> None:
        self.name = name
        self.judges = judges
        self.embeddings = embeddings
        self.description = description


def load_judge_set(name: str, llm: LLMConfig, judge: Mapping[str, Any],
                   registration: Path) -> JudgeSet:
    """The judge set ``name`` (one of :data:`JUDGE_SETS`); every set but ``baseline`` reads
    ``registration`` and the tracking store."""
    if name == "baseline":
        return JudgeSet(name, baseline_judges(llm), False, "the rubric judges (baseline)")
    if name in CALIBRATED_SETS:
        under = load_judge_set(CALIBRATED_SETS[name], llm, judge, registration)
        return JudgeSet(name, under.judges, under.embeddings,
                        f"{under.description}, each score then calibrated on every expert "
                        f"label ({name})")
    if name not in JUDGE_SETS:
        raise ConfigError(f"compare.judges is {name!r}: use one of {', '.join(JUDGE_SETS)} "
                          "(conf/compare/none.yaml says what each is)")
    from nbjudge.alignment.final import registered_dimension_judges, semantic_only_judges

    loaded = registered_dimension_judges(
        llm, judge, registration,
        missing=f"compare.judges={name} judges with the aligned judges the register stage "
                "registers (`dvc repro register`), or set -S compare.judges=baseline")
    if name == "semantic_only":
        return JudgeSet(name, semantic_only_judges(loaded.judges), False,
                        "the registered judges' instructions and distilled guidelines, no "
                        f"retrieved examples ({registration})")
    return JudgeSet(name, loaded.judges, loaded.embeddings,
                    f"the registered aligned judges ({registration})")


def load_calibration(params: Params, labels: Path, judgments: Path) -> Calibration:
    """The calibration ``compare.judges`` (``calibrated`` or ``calibrated_full``) applies,
    learned from the expert labels ``labels`` and the experiment's judgments in the folder
    ``judgments`` (``baseline.jsonl``; ``full.jsonl``, the align stage's out-of-fold ones)."""
    from nbjudge.controls import CALIBRATED_FROM, ControlSettings

    compare, stats = need(params.compare, "compare"), need(params.stats, "stats")
    source = CALIBRATED_FROM[compare.judges]
    scores = judgments / f"{source}.jsonl"
    stage = "judge" if source == "baseline" else "align"
    for path, what in ((labels, "expert labels"), (scores, f"judgments of the {source} judges")):
        if not path.is_file():
            raise InputError(
                f"{path}: no {what}; compare.judges={compare.judges} learns its calibration "
                f"from the experiment's labels and the {source} judges' scores of them: run "
                f"`dvc repro {stage}` first (with full among ablation.memory_variants for "
                "calibrated_full), or choose another compare.judges")
    settings = ControlSettings(variants=(compare.judges,), consensus=stats.consensus,
                               consensus_na=stats.consensus_na, na_policy=stats.na_policy)
    return fit_all_labels(compare.judges, read_records(labels, Label),
                          read_records(scores, Judgment), settings, DIMENSIONS)


@contextlib.contextmanager
def _backend(llm: LLMConfig, judges: JudgeSet, views: list[NotebookView],
             judge: Mapping[str, Any]) -> Iterator[Backend | None]:
    """An open backend (with MemAlign's embeddings for registered judges) when some answer is
    not cached; None otherwise, starting nothing."""
    from nbjudge.judges.requests import build_requests
    from nbjudge.llm.backends import open_backend
    from nbjudge.llm.cache import CACHE_ROOT, AnswerCache, cache_path
    from nbjudge.llm.config import inference_params, judge_model_uri

    requests = build_requests(views, judges.judges, variant=judges.name,
                              model=judge_model_uri(llm), inference_params=inference_params(llm))
    with AnswerCache(cache_path(judge.get("cache_dir"), ".nbjudge-cache/judgments")) as cache:
        missing = any(r.key not in cache for r in requests)
    if not missing:
        yield None
        return
    with open_backend(llm, embeddings=judges.embeddings, cache_dir=CACHE_ROOT,
                      log_dir=CACHE_ROOT / "logs") as backend:
        yield backend


def compared_views(params: Params, index: Path, cases: Path) -> list[NotebookView]:
    """Every compared notebook rendered as the judges read it."""
    llm = need(params.llm, "llm")
    retrieval_k = params.memalign.retrieval_k if params.memalign else 0
    return load_views(read_records(index, Notebook), read_records(cases, Case),
                      render_options(params.judge_settings(), llm, retrieval_k))


def compare_plan(views: list[NotebookView], llm: LLMConfig, judge: Mapping[str, Any],
                 judges: JudgeSet) -> StagePlan:
    """What judging ``views`` with ``judges`` sends that the cache does not hold."""
    from nbjudge.plan.judging import judging_line

    # an aligned judge's memory (guidelines, retrieved examples) is not in its instructions
    aligned = any(j.memory is not None for j in judges.judges.values())
    line, tokenizer = judging_line(
        views, llm, judge, judges=judges.judges, variant=judges.name,
        bound="estimate" if aligned else "exact",
        how=f"{len(views)} notebooks x {len(judges.judges)} dimensions, {judges.description}"
            + ("; prompts counted without the guidelines and retrieved examples the aligned "
               "judges add" if aligned else ""))
    return StagePlan(stage="compare-judge", tokenizer=tokenizer.description, lines=[line])


def judge_compared(params: Params, *, index: Path, cases: Path, registration: Path,
                   plan: Path, labels: Path | None = None, judgments: Path | None = None
                   ) -> tuple[list[Judgment], RunSummary | None]:
    """Judge every compared notebook with ``compare.judges``: print and check the plan, write
    it to ``plan``, then judge (cached answers are not asked again). A calibrated set learns
    its map first (before anything is sent) from ``labels`` and the experiment's
    ``judgments`` folder, and maps the scores after judging."""
    from nbjudge.llm.config import check_credentials
    from nbjudge.plan import announce

    llm, judge = need(params.llm, "llm"), params.judge_settings()
    compare = need(params.compare, "compare")
    check_credentials(llm)
    if llm.banner:
        print(llm.banner)
    calibration = None
    if compare.judges in CALIBRATED_SETS:
        if labels is None or judgments is None:
            raise ConfigError(f"compare.judges={compare.judges} needs the experiment's labels "
                              "and judgments (--labels, --judgments)")
        calibration = load_calibration(params, labels, judgments)
    views = compared_views(params, index, cases)
    judges = load_judge_set(compare.judges, llm, judge, registration)
    announce(compare_plan(views, llm, judge, judges), llm, plan)
    with _backend(llm, judges, views, judge) as backend:
        records, summary = judge_views(views, llm, judge, variant=judges.name,
                                       judges=judges.judges, backend=backend)
    if calibration is not None:
        records = apply_calibration(records, calibration)
    _trace(views, records, judge)
    return records, summary


def _trace(views: list[NotebookView], judgments: list[Judgment],
           judge: Mapping[str, Any]) -> None:
    """Each compared notebook as an MLflow trace in the judges' experiment (idempotent),
    with its judgments as assessments."""
    from nbjudge.judges.tracing import (
        NotebookTrace,
        ensure_traces,
        labels_digest,
        log_judgments,
        resolve_tracking_uri,
        setup_tracking,
    )

    experiment_id = setup_tracking(resolve_tracking_uri(judge.get("tracking_uri")),
                                   judge["experiment"])
    trace_ids = ensure_traces([NotebookTrace(v.notebook_id, v.task_prompt, v.outputs,
                                             labels_digest([])) for v in views], experiment_id)
    log_judgments(judgments, trace_ids)
