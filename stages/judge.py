"""Stage `judge`: the nine baseline judges over every executed notebook.

    python -m stages.judge --index data/notebooks/executed/index.jsonl
        --cases data/cases/cases.jsonl --labels data/labels/labels.jsonl
        --out data/judgments/baseline.jsonl --run data/judgments/run.json
        --plan data/judgments/baseline.plan.json [--params params.yaml]

Reads the `llm` and `judge` sections of `params.yaml`. Writes one judgment per
notebook and dimension to `--out` and the run's facts (model, smoke flag,
counts) to `--run`; logs one MLflow trace per notebook with the human labels
and the judgments as assessments. Answers are cached by request
(`judge.cache_dir`): a rerun, or a resume after a kill, sends only what is
not answered yet, and starts no server when nothing is left.

Before sending anything it prints its plan (requests not in the cache, their
prompt tokens, the reply bound, the price), writes it to `--plan` for the
report, and stops when the plan goes over `llm.max_requests` or `llm.max_cost`.

Every notebook is scanned for text addressed to the grader first
(`nbjudge.robustness.scanner`); what it flags is written to `--injections` for the report
and printed, and `judge.on_injection` says what happens to such a notebook (judge it as it
is, strip the flagged lines, or stop before judging).
"""

from __future__ import annotations

import sys

from nbjudge.judges.batch import judge_views, load_judging_inputs
from nbjudge.judges.tracing import log_judgments
from nbjudge.llm.config import judge_model_uri
from nbjudge.plan import announce
from nbjudge.plan.judging import judging_plan
from nbjudge.runlog import set_aside
from nbjudge.schemas import InjectionFinding, JudgeRun, write_json_record, write_records
from nbjudge.stage import StageCommand, run_stage


def main(argv: list[str] | None = None) -> None:
    stage = (StageCommand("judge", __doc__).path("--index").path("--cases").path("--labels")
             .path("--out").path("--run").path("--plan")
             .path("--injections", help="what the injection scanner flagged (JSONL)"))
    args, params = stage.parse(argv, "llm", "judge")
    inputs = load_judging_inputs(params, index=args.index, cases=args.cases, labels=args.labels)
    llm = inputs.llm
    action = inputs.judge.get("on_injection", "judge")
    findings = [InjectionFinding(notebook_id=v.notebook_id, cell=f.cell, where=f.where,
                                 rule=f.rule, text=f.text, output=f.output, action=action)
                for v in inputs.views for f in v.injections]
    write_records(args.injections, findings)
    for finding in findings:
        print(f"  injection? {finding.notebook_id} cell {finding.cell} ({finding.where}, "
              f"{finding.rule}): {finding.text[:100]}")
    announce(judging_plan(inputs.views, llm, inputs.judge), llm, args.plan)
    judgments, summary = judge_views(inputs.views, llm, inputs.judge, variant="baseline")
    write_records(args.out, set_aside(judgments, args.out))
    log_judgments(judgments, inputs.trace_ids)
    write_json_record(args.run, JudgeRun(
        model=judge_model_uri(llm), backend=llm.backend, smoke=llm.smoke, banner=llm.banner,
        metrics_warning=llm.metrics_warning,
        notebooks=len(inputs.views), judgments=summary.total, ok=summary.ok,
        failed=summary.failed))
    stage.done(f"{summary.line()} -> {args.out}")


if __name__ == "__main__":
    sys.exit(run_stage(main))
