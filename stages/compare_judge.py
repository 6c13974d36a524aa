"""Stage `compare-judge`: every compared notebook judged by `compare.judges` (off without arms).

    python -m stages.compare_judge --index data/compare/notebooks/index.jsonl
        --cases data/compare/notebooks/cases.jsonl --registration data/registered/judges.json
        --out data/compare/judgments.jsonl --plan data/compare/plan.json
        --labels data/labels/labels.jsonl --judgments data/judgments [--params params.yaml]

`compare.judges: registered` (default) judges with the aligned judges of the
registration record (`full` names the same judges as the experiment does),
`semantic_only` with their instructions and distilled guidelines but no retrieved
examples, `baseline` with the rubric judges; `calibrated` and `calibrated_full` map the
baseline and registered judges' scores through the calibration learned on every expert
label (`--labels`) from the experiment's judgments of them (`--judgments`: `baseline.jsonl`,
`full.jsonl` out of fold), stated in each record's rationale. Answers are cached
(`judge.cache_dir`); the plan is printed, written to `--plan` and checked against
`llm.max_requests` and `llm.max_cost` before anything is sent. Each notebook is an
MLflow trace in the judges' experiment, with the judgments as assessments. With no
arms it writes an empty file and an empty plan and starts no model.
"""

from __future__ import annotations

import sys
from pathlib import Path

from nbjudge.compare.arms import parse_arms
from nbjudge.compare.judging import judge_compared
from nbjudge.runlog import set_aside
from nbjudge.schemas import StagePlan, write_json_record, write_records
from nbjudge.stage import StageCommand, run_stage


def main(argv: list[str] | None = None) -> None:
    stage = (StageCommand("compare-judge", __doc__).path("--index").path("--cases")
             .path("--registration").path("--out").path("--plan")
             .path("--labels", default=Path("data/labels/labels.jsonl"))
             .path("--judgments", default=Path("data/judgments")))
    args, params = stage.parse(argv, "compare", "llm", "judge")
    if not parse_arms(params.compare):
        write_records(args.out, [])
        write_json_record(args.plan, StagePlan(stage="compare-judge", tokenizer="none",
                                               lines=[], notes=["off: compare.arms is empty"]))
        stage.done(f"off (compare.arms is empty) -> {args.out}")
        return
    judgments, summary = judge_compared(params, index=args.index, cases=args.cases,
                                        registration=args.registration, plan=args.plan,
                                        labels=args.labels, judgments=args.judgments)
    write_records(args.out, set_aside(judgments, args.out))
    stage.done(f"{summary.line() if summary else len(judgments)} -> {args.out}")


if __name__ == "__main__":
    sys.exit(run_stage(main))
