"""Stage `robustness`: how far a notebook can move its judge without changing its quality
(off unless `robustness.enabled`).

    python -m stages.robustness --index data/notebooks/executed/index.jsonl
        --cases data/cases --registration data/registered/judges.json
        --out data/robustness [--folds data/folds.json --labels data/labels/labels.jsonl
        --alignment data/alignment/full] [--params params.yaml]

With `robustness.enabled` false it writes an empty result (`summary.json` saying so) and
starts no model. Otherwise it samples `robustness.notebooks` executed notebooks (seeded),
writes the metamorphic suite of each (`robustness.variants`; injection, cosmetic, defect:
`nbjudge.robustness.variants`; a procedural notebook's defect is the generator's notebook
with that dimension drawn at level 1, where it can be had), executes the variants whose
code changed in the sandbox (`execute` settings, cached), and judges originals and
variants with `robustness.judges` under each of `robustness.defences`. It prints its plan
first and stops when the plan goes over `llm.max_requests` or `llm.max_cost`; answers are
cached like every judge's.

The judge set `full` is the align stage's cross-validated judges, rebuilt fold by fold
(`--folds`, `--labels`, and the align stage's audits under `--alignment`, which they must
match: `nbjudge.robustness.suite.rebuild_fold_judges`); each judges only its fold's
held-out notebooks and their variants.

Writes `<out>/judgments.jsonl` (variants named `<judge>@<defence>`, notebook ids
`<original>~<variant>`), `<out>/shifts.jsonl` (nbjudge.stats.robustness), `<out>/findings.jsonl`
(what the injection scanner flags in the suite), `<out>/summary.json` (per judge and
defence: susceptibility, invariance, sensitivity; the scanner's detection) and
`<out>/plan.json`; logs the headline numbers to an MLflow run `robustness`.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nbjudge.errors import ConfigError
from nbjudge.judges.batch import baseline_judges, judge_views, render_options
from nbjudge.judges.requests import NotebookView, build_requests, load_views
from nbjudge.llm.cache import CACHE_ROOT, AnswerCache, cache_path
from nbjudge.llm.config import check_credentials, inference_params, judge_model_uri
from nbjudge.notebooks.batch import Engine, OutputPolicy, execute_index, plan_jobs
from nbjudge.notebooks.execute import SandboxLimits, SandboxSettings
from nbjudge.params import need
from nbjudge.plan import announce
from nbjudge.robustness.suite import (
    DEFENCE_MARKED,
    DEFENCE_ON_INJECTION,
    SuiteEntry,
    build_suite,
    judge_sets,
    sample,
    score_pairs,
    split_id,
)
from nbjudge.robustness.variants import select_variants
from nbjudge.schemas import (
    DIMENSIONS,
    Case,
    InjectionFinding,
    Judgment,
    Notebook,
    StagePlan,
    read_records,
    write_json,
    write_records,
)
from nbjudge.stage import StageCommand, run_stage
from nbjudge.stats.robustness import robustness_summary, shift_table


def main(argv: list[str] | None = None) -> None:
    stage = (StageCommand("robustness", __doc__).path("--index").path("--cases")
             .path("--registration").path("--out")
             .path("--folds", default=None).path("--labels", default=None)
             .path("--alignment", default=None))
    args, params = stage.parse(argv, "robustness")
    settings = params.robustness
    shutil.rmtree(args.out, ignore_errors=True)   # no stale variants
    args.out.mkdir(parents=True)
    if settings is None or not settings.enabled:
        for name in ("judgments.jsonl", "shifts.jsonl", "findings.jsonl"):
            write_records(args.out / name, [])
        write_json(args.out / "summary.json", {"enabled": False})
        stage.done(f"off (robustness.enabled is false) -> {args.out}")
        return
    llm, judge = need(params.llm, "llm"), params.judge_settings()
    execute = need(params.execute, "execute")
    check_credentials(llm)
    if llm.banner:
        print(llm.banner)
    dimensions = list(settings.dimensions or DIMENSIONS)
    variants = select_variants(settings.variants)
    cases = read_records(args.cases / "cases.jsonl", Case)
    originals = sample(read_records(args.index, Notebook), settings.notebooks, params.seed or 0)
    kept, to_run = build_suite(originals, variants, args.out, redraw=_redraw(params, cases))
    sandbox = SandboxSettings(execute.sandbox, SandboxLimits(**execute.limits.model_dump()))
    executed = execute_index(
        plan_jobs([e.notebook for e in to_run], cases, args.cases / "datasets",
                  args.out / "executed", Path(".")),
        timeout=execute.timeout, workers=execute.workers,
        cache_dir=Path(execute.cache_dir) if execute.cache_dir else None, sandbox=sandbox,
        policy=OutputPolicy("run"), engine=Engine(execute.engine, execute.address)) \
        if to_run else []
    index = [*originals, *(e.notebook for e in kept), *executed]
    entries = [*kept, *to_run]
    retrieval_k = params.memalign.retrieval_k if params.memalign else 0
    options = render_options(judge, llm, retrieval_k)
    model = judge_model_uri(llm)

    runs = []   # (defence, set name, views, judges)
    # (defence, views) of the cross-validated judges, aligned once the backend is up
    full_runs: list[tuple[str, list[NotebookView]]] = []
    for defence in settings.defences:
        views = load_views(index, cases, options, marked=DEFENCE_MARKED[defence],
                           on_injection=DEFENCE_ON_INJECTION[defence])
        for name, judges in judge_sets(settings.judges, llm, judge, args.registration,
                                       dimensions, DEFENCE_MARKED[defence]).items():
            runs.append((defence, name, views, judges))
        if "full" in settings.judges:
            full_runs.append((defence, views))
    folds = _full_inputs(args, params, dimensions) if full_runs else None

    from nbjudge.plan.judging import judging_line
    lines, tokenizer = [], None
    for defence, name, views, judges in runs:
        line, tokenizer = judging_line(
            views, llm, judge, judges=judges, variant=f"{name}@{defence}",
            bound="exact" if name == "baseline" else "estimate",
            how=f"{name} under defence {defence}: {len(views)} notebooks (originals and "
                f"variants) x {len(judges)} dimensions")
        lines.append(line)
    for full_defence, views in full_runs:
        assert folds is not None
        planned = {d: dataclasses.replace(j, examples_per_prompt=retrieval_k,
                                          memory={"planned": "full"})
                   for d, j in baseline_judges(llm, dimensions).items()}
        held_out = [v for v in views if split_id(v.notebook_id)[0] in folds.fold_of]
        line, tokenizer = judging_line(
            held_out, llm, judge, judges=planned, variant=f"full@{full_defence}",
            bound="estimate",
            how=f"full (cross-validated, each fold's judges on its held-out notebooks) under "
                f"defence {full_defence}: {len(held_out)} notebooks x {len(planned)} dimensions; "
                "the judges are aligned again first, their distillation answered from the "
                "cache the align stage filled")
        lines.append(line)
    assert tokenizer is not None
    announce(StagePlan(stage="robustness", tokenizer=tokenizer.description, lines=lines),
             llm, args.out / "plan.json")

    requests = [r for _, name, views, judges in runs
                for r in build_requests(views, judges, variant=name, model=model,
                                        inference_params=inference_params(llm))]
    with AnswerCache(cache_path(judge.get("cache_dir"), ".nbjudge-cache/judgments")) as cache:
        missing = bool(full_runs) or any(r.key not in cache for r in requests)
    from nbjudge.llm.backends import open_backend
    judgments: list[Judgment] = []
    embeddings = bool(full_runs) or any(name == "registered" for _, name, _, _ in runs)
    backend_context = (open_backend(llm, embeddings=embeddings, cache_dir=CACHE_ROOT,
                                    log_dir=CACHE_ROOT / "logs") if missing else None)
    if backend_context is None:
        for defence, name, views, judges in runs:
            judgments += judge_views(views, llm, judge, variant=f"{name}@{defence}",
                                     judges=judges)[0]
    else:
        with backend_context as backend:
            for defence, name, views, judges in runs:
                judgments += judge_views(views, llm, judge, variant=f"{name}@{defence}",
                                         judges=judges, backend=backend)[0]
            if folds is not None:
                judgments += _judge_full(folds, full_runs, originals, entries, backend,
                                         params, dimensions, args.out)
    write_records(args.out / "judgments.jsonl", judgments)

    # the scanner over the suite: every injection found, nothing else flagged
    plain = load_views(index, cases, options, marked=False)
    findings = [InjectionFinding(notebook_id=v.notebook_id, cell=f.cell, where=f.where,
                                 rule=f.rule, text=f.text, output=f.output)
                for v in plain for f in v.injections]
    write_records(args.out / "findings.jsonl", findings)
    flagged = {v.notebook_id for v in plain if v.injections}
    family = {e.notebook.notebook_id: e.variant.family for e in entries}
    injected = [n for n, f in family.items() if f == "injection"]
    clean = [v.notebook_id for v in plain if family.get(v.notebook_id) != "injection"]

    rows = shift_table(score_pairs(judgments, entries), level=settings.level)
    write_records(args.out / "shifts.jsonl", rows)
    measures = robustness_summary(rows, threshold=settings.threshold)
    summary = {
        "enabled": True, "smoke": llm.smoke, "warning": llm.metrics_warning,
        "model": model, "threshold": settings.threshold, "level": settings.level,
        "originals": [n.notebook_id for n in originals],
        "variants": [v.name for v in variants], "dimensions": dimensions,
        "judges": list(settings.judges), "defences": list(settings.defences),
        "redrawn": {e.notebook.notebook_id: e.redrawn for e in entries if e.redrawn},
        "executed": {"variants": len(executed),
                     "ok": sum(1 for n in executed if n.execution and
                               n.execution.status == "ok")},
        "scanner": {"injected": len(injected),
                    "injected_found": sum(1 for n in injected if n in flagged),
                    "clean": len(clean),
                    "clean_flagged": sum(1 for n in clean if n in flagged),
                    "originals_flagged": sorted(n for n in flagged if split_id(n)[1] is None)},
        **measures,
    }
    write_json(args.out / "summary.json", summary)
    _log_mlflow(summary, judge)
    for s in measures["families"]:
        stage.done(f"{s['judge']}@{s['defence']}: injection shift {_fmt(s['susceptibility'])} "
                   f"(moved {_fmt(s['injection_moved'])}), cosmetic invariance "
                   f"{_fmt(s['invariance'])}, defect sensitivity {_fmt(s['sensitivity'])}")
    stage.done(f"scanner: {summary['scanner']['injected_found']}/{len(injected)} injected "
               f"variants found, {summary['scanner']['clean_flagged']}/{len(clean)} clean "
               f"notebooks flagged -> {args.out}/summary.json")


@dataclasses.dataclass(frozen=True)
class ProceduralRedraw:
    """How the procedural generator wrote the originals (its cases, ``seed`` and
    ``generate.levels``), so that a defect variant of a procedural notebook is the
    generator's own: the notebook written again with the dimension drawn at level 1
    (:meth:`__call__`) rather than a code edit."""

    cases: Mapping[str, Any]     # case id -> Case
    seed: int
    levels: Any                  # nbjudge.benchmark.procedural.LevelDistribution

    def __call__(self, entry: Notebook, dimension: str) -> tuple[Any, str] | None:
        """``(notebook, what was drawn)``: ``entry`` written again by the generator with
        ``dimension`` at level 1, every other dimension's template as it was; None where
        that cannot be had (not procedural, the recipe does not give back ``entry``'s
        notebook, the dimension already at level 1 or N/A, or redrawing it changed
        another dimension's template: the generator's draws are shared)."""
        import hashlib

        import nbformat

        from nbjudge.benchmark.procedural import LevelDistribution, write_notebook

        case = self.cases.get(entry.case_id)
        if entry.origin != "procedural" or case is None:
            return None
        written = write_notebook(case, entry.notebook_id, self.seed, self.levels)
        text = nbformat.writes(written.notebook) + "\n"
        if hashlib.sha256(text.encode()).hexdigest() != entry.sha256:
            return None
        per_dimension = {**(self.levels.per_dimension or {}), dimension: (1.0, 0.0, 0.0)}
        redrawn = write_notebook(case, entry.notebook_id, self.seed,
                                 LevelDistribution(self.levels.default, per_dimension))
        before: dict[str, Any] = {e.dimension: e for e in written.blueprint}
        after: dict[str, Any] = {e.dimension: e for e in redrawn.blueprint}
        changed = [d for d in before if (before[d].level, before[d].template)
                   != (after[d].level, after[d].template)]
        was, drawn = before[dimension], after[dimension]
        if changed != [dimension] or not isinstance(was.level, int) or was.level <= 1:
            return None
        defects = "; ".join(drawn.defects)
        return redrawn.notebook, (f"{drawn.template} (level {was.level} -> {drawn.level}"
                                  + (f": {defects}" if defects else "") + ")")


def _redraw(params: Any, cases: list[Case]) -> ProceduralRedraw:
    """The procedural generator's recipe (``seed``, ``generate.levels``), for redrawing a
    procedural notebook's defects."""
    from nbjudge.benchmark.procedural import LevelDistribution

    drawn = getattr(params.generate, "levels", None)   # generate.backend procedural only
    levels = (LevelDistribution(default=drawn.default, per_dimension=dict(drawn.per_dimension))
              if drawn is not None else LevelDistribution())
    return ProceduralRedraw({c.case_id: c for c in cases}, params.seed or 0, levels)


@dataclasses.dataclass
class _Full:
    """What the cross-validated judges are rebuilt from."""

    inputs: Any                 # JudgingInputs: views, labels, traces
    assignment: Any             # the folds' first repeat
    fold_of: dict[str, int]     # notebook id -> its fold
    audit_root: Path


def _full_inputs(args: Any, params: Any, dimensions: list[str]) -> _Full:
    from nbjudge.alignment import read_folds
    from nbjudge.judges.batch import load_judging_inputs

    if args.folds is None or args.labels is None or args.alignment is None:
        raise ConfigError("robustness.judges full rebuilds the align stage's judges: pass "
                          "--folds, --labels and --alignment (dvc.yaml does), or leave full "
                          "out")
    assignment = read_folds(args.folds)[0]
    inputs = load_judging_inputs(params, index=args.index, cases=args.cases / "cases.jsonl",
                                 labels=args.labels)
    fold_of = {n: f for f in range(assignment.k) for n in assignment.test_ids(f)}
    return _Full(inputs, assignment, fold_of, args.alignment)


def _judge_full(full: _Full, runs: list[tuple[str, list[NotebookView]]],
                originals: list[Notebook], entries: list[SuiteEntry], backend: Any,
                params: Any, dimensions: list[str], out: Path) -> list[Judgment]:
    """Each fold's cross-validated judges (rebuilt, checked against the align stage's
    audits) judge the fold's held-out originals and their variants, under each defence.

    What each rebuilt alignment sent (calls and tokens; none when DSPy's cache answered
    the distillation) is printed and kept in the run log beside ``summary.json``."""
    from nbjudge.alignment.memalign import ConsensusRule
    from nbjudge.robustness.suite import defended, rebuild_fold_judges
    from nbjudge.runlog import log_values

    stats = params.stats
    rule = (ConsensusRule(stats.consensus, stats.consensus_na, stats.na_policy)
            if stats is not None else ConsensusRule())
    rebuilt = rebuild_fold_judges(
        full.inputs, full.assignment, originals={n.notebook_id for n in originals},
        dimensions=dimensions, settings=need(params.memalign, "memalign"), backend=backend,
        rule=rule, audit_root=full.audit_root)
    sent = [{"repeat": f.repeat, "fold": f.fold, "dimension": d, **tokens}
            for f in rebuilt for d, tokens in f.sent.items()]
    log_values(out / "summary.json", sent)
    calls = sum(line.get("calls", 0) for line in sent)
    tokens = sum(line.get("prompt", 0) + line.get("completion", 0) for line in sent)
    print(f"robustness: full: {len(sent)} alignment(s) rebuilt ({len(rebuilt)} fold(s) x "
          f"{len(dimensions)} dimension(s)); aligning them sent {calls} request(s), "
          f"{tokens} tokens" + (" (the distillation answered from DSPy's cache)"
                                if calls == 0 else ""))
    judgments = []
    for defence, views in runs:
        for fold in rebuilt:
            ids = set(fold.held_out) | {e.notebook.notebook_id for e in entries
                                        if e.original in fold.held_out}
            judgments += judge_views(
                views, full.inputs.llm, full.inputs.judge, variant=f"full@{defence}",
                judges=defended(fold.judges, DEFENCE_MARKED[defence]), backend=backend,
                fold=fold.fold, repeat=fold.repeat, notebook_ids=ids)[0]
    return judgments


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.2f}"


def _log_mlflow(summary: dict, judge: dict) -> None:
    """The headline numbers as metrics of an MLflow run ``robustness``."""
    import mlflow

    from nbjudge.judges.tracing import resolve_tracking_uri, setup_tracking

    setup_tracking(resolve_tracking_uri(judge.get("tracking_uri")), judge["experiment"])
    metrics = {f"robustness.{measure}.{key.replace('@', '.').replace('+', '_')}": value
               for measure, values in summary["headline"].items()
               for key, value in values.items() if value is not None}
    with mlflow.start_run(run_name="robustness"):
        mlflow.set_tags({"nbjudge.stage": "robustness", "nbjudge.smoke": str(summary["smoke"])})
        mlflow.log_metrics(metrics)


if __name__ == "__main__":
    sys.exit(run_stage(main))
