"""The whole pipeline's plan, for ``python -m nbjudge plan``: every stage that calls a model.

Each stage is planned from the files it will read, at the paths ``dvc.yaml``
gives them. A stage whose inputs do not exist yet is estimated, and the plan
says from what:

- notebooks written but not executed: counted as written, without the outputs
  execution adds (each notebook's text stays within the judges' budget);
- no notebooks yet: the suite's notebook count, each notebook at the judges'
  whole notebook budget (an upper bound);
- no labels yet: one label per notebook and dimension, without rationale;
- no folds yet: assigned from the notebook index as the ``folds`` stage assigns
  them, or (no index either) cases dealt round-robin to ``cv.k`` folds;
- with ``compare.arms`` set and the arms not built yet: each arm's notebooks from the suite
  (an ``import`` arm's: the notebooks in its folder), at the judges' whole notebook
  budget, and each ``llm`` arm's writer; judge sets other than ``baseline`` are counted
  with the rubric judges' prompts, none of their answers as cached.

Nothing is sent, no key is needed, no server is started, and no file is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbjudge.judges.batch import render_options
from nbjudge.judges.dimension import notebook_outputs
from nbjudge.judges.requests import NotebookView, load_views
from nbjudge.llm.config import LLMConfig
from nbjudge.params import LlmGenerateParams, MemAlignSettings, Params, need
from nbjudge.plan.judging import (
    Bound,
    Fold,
    alignment_plan,
    curve_plan,
    judging_plan,
    registration_plan,
)
from nbjudge.schemas import DIMENSIONS, Case, Label, Notebook, StagePlan, read_records

if TYPE_CHECKING:
    from nbjudge.alignment.folds import FoldAssignment

__all__ = ["PipelinePaths", "plan_pipeline"]


@dataclass(frozen=True)
class PipelinePaths:
    """Where the stages read their inputs (``dvc.yaml``'s paths)."""

    cases: Path = Path("data/cases/cases.jsonl")
    datasets: Path = Path("data/cases/datasets")
    index: Path = Path("data/notebooks/index.jsonl")
    executed_index: Path = Path("data/notebooks/executed/index.jsonl")
    labels: Path = Path("data/labels/labels.jsonl")
    folds: Path = Path("data/folds.json")
    compared: Path = Path("data/compare/notebooks")   # compare-notebooks' output

    def under(self, root: str | Path) -> PipelinePaths:
        root = Path(root)
        return PipelinePaths(*(root / getattr(self, name) for name in self.__dataclass_fields__))


def _suite_notebooks(params: Params) -> list[tuple[str, str, int]]:
    """(case_id, prompt, notebooks) of every case of the configured suite."""
    from nbjudge.benchmark.suites import load_suite

    suite = load_suite(need(params.suite, "suite").path)
    generate = params.generate
    per_case = generate.notebooks_per_case if isinstance(generate, LlmGenerateParams) else None
    return [(c["case_id"], str(c["prompt"]), int(per_case or c.get("notebooks", 1)))
            for c in suite["cases"]]


def _views(params: Params, llm: LLMConfig, judge: Mapping[str, Any], paths: PipelinePaths,
           root: Path) -> tuple[list[NotebookView], Bound, str]:
    """The notebooks as the judges will read them, the bound, and how they were found."""
    retrieval_k = params.memalign.retrieval_k if params.memalign else 0
    options = render_options(judge, llm, retrieval_k)
    if paths.executed_index.is_file() and paths.cases.is_file():
        views = load_views(read_records(paths.executed_index, Notebook),
                           read_records(paths.cases, Case), options, root)
        return views, "exact", f"the {len(views)} executed notebooks"
    if paths.index.is_file() and paths.cases.is_file():
        views = load_views(read_records(paths.index, Notebook),
                           read_records(paths.cases, Case), options, root)
        return views, "estimate", (
            f"the {len(views)} notebooks are not executed yet: counted as written, without "
            f"the outputs execution adds (each notebook's text is at most "
            f"{options.max_tokens:,} tokens)")
    cases = _suite_notebooks(params)
    views = _budget_views(cases, options.max_tokens)
    return views, "estimate", (
        f"no notebooks yet: the suite's {len(views)} notebooks ({len(cases)} cases), each "
        f"counted at the judges' whole notebook budget of {options.max_tokens:,} tokens "
        "(an upper bound)")


def _budget_views(cases: Sequence[tuple[str, str, int]], max_tokens: int,
                  prefix: str = "") -> list[NotebookView]:
    """``n`` notebooks of every ``(case_id, prompt, n)``, each exactly at the judges' whole
    notebook budget (an upper bound of what they read)."""
    # " x" is one token in every tiktoken encoding: a notebook exactly at the budget.
    text = " x" * max_tokens
    return [NotebookView(f"{prefix}{case_id}__{i:02d}", case_id, prompt,
                         notebook_outputs(prompt, text), max_tokens, False)
            for case_id, prompt, n in cases for i in range(1, n + 1)]


def _compare(params: Params, llm: LLMConfig, judge: Mapping[str, Any], paths: PipelinePaths,
             root: Path) -> tuple[list[StagePlan], list[str]]:
    """The compare stages' plans when ``compare.arms`` is set: each ``llm`` arm's writer,
    then every arm's notebooks judged by ``compare.judges``."""
    from nbjudge.compare.arms import ImportArm, LlmArm, parse_arms
    from nbjudge.compare.build import arm_notebook_id
    from nbjudge.plan.judging import judging_line
    from nbjudge.plan.writing import writing_plan
    from nbjudge.writer import WriterSettings, writer_config

    arms = parse_arms(params.compare)
    if not arms:
        return [], []
    plans, notes = [], []
    retrieval_k = params.memalign.retrieval_k if params.memalign else 0
    options = render_options(judge, llm, retrieval_k)
    index, cases_file = paths.compared / "index.jsonl", paths.compared / "cases.jsonl"
    built = index.is_file() and cases_file.is_file() and bool(read_records(index, Notebook))
    suite = _suite_notebooks(params)
    for arm in arms:
        if not isinstance(arm.settings, LlmArm) or built:
            continue
        settings = WriterSettings.from_params(arm.settings, need(params.seed, "seed"))
        config = writer_config(llm, arm.settings.writer, settings.max_output_tokens)
        if not paths.cases.is_file():
            notes.append(f"compare-notebooks: the cases are not built yet (`dvc repro cases`): "
                         f"arm {arm.name}'s writer requests are not counted")
            continue
        plan = writing_plan(read_records(paths.cases, Case), settings, config, paths.datasets)
        plans.append(plan.model_copy(update={"stage": f"compare-notebooks ({arm.name})"}))
    if built:
        views = load_views(read_records(index, Notebook), read_records(cases_file, Case),
                           options, root)
        how = f"the {len(views)} compared notebooks"
    else:
        views = []
        for arm in arms:
            if isinstance(arm.settings, ImportArm):
                folder = Path(arm.settings.path)
                count = len(list((folder if folder.is_absolute() else root / folder)
                                 .rglob("*.ipynb")))
                views += _budget_views([("imported", "", count)], options.max_tokens,
                                       arm_notebook_id(arm.name, ""))
            else:
                per_case = arm.settings.notebooks_per_case
                views += _budget_views([(c, p, per_case or n) for c, p, n in suite],
                                       options.max_tokens, arm_notebook_id(arm.name, ""))
        how = (f"no compared notebooks yet: the arms' {len(views)} notebooks, each counted at "
               f"the judges' whole notebook budget of {options.max_tokens:,} tokens")
    compare = need(params.compare, "compare")
    exact = compare.judges == "baseline"
    line, tokenizer = judging_line(
        views, llm, judge, variant=compare.judges, bound="exact" if exact and built
        else "estimate",
        how=f"{how}, compare.judges={compare.judges}" + (
            "" if exact else ": counted with the rubric judges' prompts, without the "
            "guidelines and retrieved examples the aligned judges add, and none of their "
            "answers counted as cached"))
    if not exact:   # the lookup above used the rubric judges' keys: not these judges'
        line = line.model_copy(update={"cached": 0, "send_prompt_tokens": line.prompt_tokens,
                                       "send_reply_tokens": line.reply_tokens})
    plans.append(StagePlan(stage="compare-judge", tokenizer=tokenizer.description,
                           lines=[line]))
    return plans, notes


def _labels(views: Sequence[NotebookView], paths: PipelinePaths) -> tuple[list[Label], str]:
    if paths.labels.is_file():
        return read_records(paths.labels, Label), ""
    return ([Label(notebook_id=v.notebook_id, dimension=d, score=2, rationale="-",
                   rater_id="planned", source="simulated")
             for v in views for d in DIMENSIONS],
            "no labels yet: one label per notebook and dimension assumed, with no rationale")


def _assignments(params: Params, views: Sequence[NotebookView], paths: PipelinePaths
                 ) -> tuple[list[FoldAssignment], str]:
    from nbjudge.alignment.folds import FoldAssignment, assign_folds, read_folds

    if paths.folds.is_file():
        return read_folds(paths.folds), ""
    cv = need(params.cv, "cv")
    k, repeats, seed = cv.k, cv.repeats, need(params.seed, "seed")
    if paths.cases.is_file():
        task = {c.case_id: c.task_type for c in read_records(paths.cases, Case)}
        triples = [(v.notebook_id, v.case_id, task.get(v.case_id, "unknown")) for v in views]
        return ([assign_folds(triples, k, seed=seed, repeat=r) for r in range(repeats)],
                "no folds yet: assigned from the notebook index as the folds stage does")
    cases = sorted({v.case_id for v in views})
    fold_of = {c: i % k for i, c in enumerate(cases)}
    assignments = [FoldAssignment(k=k, seed=seed, repeat=repeat, fold_seed=seed,
                                  folds={v.notebook_id: fold_of[v.case_id] for v in views},
                                  cases={v.notebook_id: v.case_id for v in views})
                   for repeat in range(repeats)]
    return assignments, f"no folds yet: the suite's cases dealt round-robin to {k} folds"


def _curve(params: Params, views: Sequence[NotebookView], labels: Sequence[Label],
           assignments: Sequence[FoldAssignment], llm: LLMConfig, settings: MemAlignSettings
           ) -> list[StagePlan]:
    fractions = list(params.curve.fractions or []) if params.curve else []
    variants = list(params.curve.variants) if params.curve else []
    if not fractions or all(v == "calibrated" for v in variants):
        return []
    from nbjudge.alignment.curve import curve_splits

    splits = curve_splits(assignments, fractions, seed=need(params.seed, "seed"))
    return [curve_plan(views, labels, splits, variants, llm, settings)]


def _writing(params: Params, paths: PipelinePaths) -> tuple[list[StagePlan], list[str]]:
    generate = params.generate
    if not isinstance(generate, LlmGenerateParams):
        return [], []
    from nbjudge.plan.writing import writing_plan
    from nbjudge.writer import WriterSettings, writer_config

    settings = WriterSettings.from_params(generate, need(params.seed, "seed"))
    config = writer_config(need(params.llm, "llm"), generate.writer, settings.max_output_tokens)
    if not paths.cases.is_file():
        return [], ["generate: the cases are not built yet (`dvc repro cases`, no model "
                    "involved): the notebook writer's requests are not counted"]
    return [writing_plan(read_records(paths.cases, Case), settings, config,
                         paths.datasets)], []


def plan_pipeline(params: Params, *, root: str | Path = ".",
                  paths: PipelinePaths | None = None) -> tuple[list[StagePlan], list[str]]:
    """The plan of every stage that calls a model, in pipeline order, and notes on what
    was estimated. ``params`` is ``params.yaml`` as :func:`~nbjudge.params.load_params`
    reads it."""
    root = Path(root)
    paths = (paths or PipelinePaths()).under(root)
    llm = need(params.llm, "llm")
    judge = params.judge_settings()
    plans, notes = _writing(params, paths)
    views, bound, how = _views(params, llm, judge, paths, root)
    plans.append(judging_plan(views, llm, judge, bound=bound,
                              how=how if bound != "exact" else ""))
    labels, label_note = _labels(views, paths)
    assignments, fold_note = _assignments(params, views, paths)
    folds = [Fold(a.repeat, f, a.train_ids(f), a.test_ids(f))
             for a in assignments for f in range(a.k)]
    notes += [n for n in (label_note, fold_note) if n]
    settings = need(params.memalign, "memalign")
    variants = list(params.ablation.memory_variants) if params.ablation else []
    for variant in variants:
        plans.append(alignment_plan(views, labels, folds, llm, settings, variant))
    plans += _curve(params, views, labels, assignments, llm, settings)
    plans.append(registration_plan(views, labels, llm, settings))
    compared, compare_notes = _compare(params, llm, judge, paths, root)
    return plans + compared, notes + compare_notes
