"""Stage `robustness`: how far a notebook can move its judge without changing its quality
(off unless `robustness.enabled`).

    python -m stages.robustness --index data/notebooks/executed/index.jsonl
        --cases data/cases --registration data/registered/judges.json
        --out data/robustness [--params params.yaml]

With `robustness.enabled` false it writes an empty result (`summary.json` saying so) and
starts no model. Otherwise it samples `robustness.notebooks` executed notebooks (seeded),
writes the metamorphic suite of each (`robustness.variants`; injection, cosmetic, defect:
`nbjudge.robustness.variants`), executes the variants whose code changed in the sandbox
(`execute` settings, cached), and judges originals and variants with `robustness.judges`
under each of `robustness.defences`. It prints its plan first and stops when the plan goes
over `llm.max_requests` or `llm.max_cost`; answers are cached like every judge's.

Writes `<out>/judgments.jsonl` (variants named `<judge>@<defence>`, notebook ids
`<original>~<variant>`), `<out>/shifts.jsonl` (nbjudge.stats.robustness), `<out>/findings.jsonl`
(what the injection scanner flags in the suite), `<out>/summary.json` (per judge and
defence: susceptibility, invariance, sensitivity; the scanner's detection) and
`<out>/plan.json`; logs the headline numbers to an MLflow run `robustness`.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from nbjudge.judges.batch import judge_views, render_options
from nbjudge.judges.requests import build_requests, load_views
from nbjudge.llm.cache import CACHE_ROOT, AnswerCache, cache_path
from nbjudge.llm.config import check_credentials, inference_params, judge_model_uri
from nbjudge.notebooks.batch import Engine, OutputPolicy, execute_index, plan_jobs
from nbjudge.notebooks.execute import SandboxLimits, SandboxSettings
from nbjudge.params import need
from nbjudge.plan import announce
from nbjudge.robustness.suite import (
    DEFENCE_MARKED,
    DEFENCE_ON_INJECTION,
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
             .path("--registration").path("--out"))
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
    kept, to_run = build_suite(originals, variants, args.out)
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
    for defence in settings.defences:
        views = load_views(index, cases, options, marked=DEFENCE_MARKED[defence],
                           on_injection=DEFENCE_ON_INJECTION[defence])
        for name, judges in judge_sets(settings.judges, llm, judge, args.registration,
                                       dimensions, DEFENCE_MARKED[defence]).items():
            runs.append((defence, name, views, judges))

    from nbjudge.plan.judging import judging_line
    lines, tokenizer = [], None
    for defence, name, views, judges in runs:
        line, tokenizer = judging_line(
            views, llm, judge, judges=judges, variant=f"{name}@{defence}",
            bound="exact" if name == "baseline" else "estimate",
            how=f"{name} under defence {defence}: {len(views)} notebooks (originals and "
                f"variants) x {len(judges)} dimensions")
        lines.append(line)
    assert tokenizer is not None
    announce(StagePlan(stage="robustness", tokenizer=tokenizer.description, lines=lines),
             llm, args.out / "plan.json")

    requests = [r for _, name, views, judges in runs
                for r in build_requests(views, judges, variant=name, model=model,
                                        inference_params=inference_params(llm))]
    with AnswerCache(cache_path(judge.get("cache_dir"), ".nbjudge-cache/judgments")) as cache:
        missing = any(r.key not in cache for r in requests)
    from nbjudge.llm.backends import open_backend
    judgments = []
    embeddings = any(name == "registered" for _, name, _, _ in runs)
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
