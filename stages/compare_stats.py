"""Stage `compare-stats`: each arm against the reference, per dimension (off without arms).

    python -m stages.compare_stats --notebooks data/compare/notebooks
        --judgments data/compare/judgments.jsonl --arms data/compare/arms.jsonl
        --comparisons data/compare/comparisons.jsonl --grades data/compare/grades.jsonl
        --metrics reports/compare.json [--params params.yaml]

Gathers expert grades of compared notebooks (`compare.grades`: a label file, an
MLflow grading experiment, or the simulated panel for procedural arms), runs the
comparison with the experiment's statistics settings (`stats`: level, N/A and
failure policies, sign-flip resamples; `seed`) and writes `--arms` (ArmSummary),
`--comparisons` (ArmComparison: what `python -m nbjudge gate` reads), `--grades`
(the grades used) and the metrics file
`--metrics` (per arm and dimension the mean, per comparison the difference and
PPI's). Each arm is logged as an MLflow run in the judges' experiment, linked to the
traces of its notebooks. With no arms it writes empty files and logs nothing.
"""

from __future__ import annotations

import sys
import time

from nbjudge.compare.build import read_manifest
from nbjudge.compare.results import compared_grades, comparison, metrics
from nbjudge.params import need
from nbjudge.runlog import log_values
from nbjudge.schemas import (
    BlueprintEntry,
    Judgment,
    Notebook,
    read_records,
    write_json,
    write_records,
)
from nbjudge.stage import StageCommand, run_stage


def main(argv: list[str] | None = None) -> None:
    stage = (StageCommand("compare-stats", __doc__).path("--notebooks").path("--judgments")
             .path("--arms").path("--comparisons").path("--grades").path("--metrics"))
    args, params = stage.parse(argv, "compare", "stats", "seed")
    manifest = read_manifest(args.notebooks / "arms.json")
    arms_file, comparisons_file, grades_file = args.arms, args.comparisons, args.grades
    if manifest.off:
        for path in (arms_file, comparisons_file, grades_file):
            write_records(path, [])
        write_json(args.metrics, metrics(None))
        stage.done(f"off (compare.arms is empty) -> {comparisons_file}")
        return
    start = time.perf_counter()
    index = read_records(args.notebooks / "index.jsonl", Notebook)
    grades = compared_grades(params, index, manifest.arm_of, manifest.backends,
                             read_records(args.notebooks / "blueprint.jsonl", BlueprintEntry))
    assert manifest.reference is not None
    result = comparison(params, read_records(args.judgments, Judgment), index, manifest.arm_of,
                        manifest.arms, manifest.reference, grades)
    stats = need(params.stats, "stats")
    write_records(grades_file, grades)
    write_records(arms_file, result.arms.to_records(
        level=result.level, na_policy=result.na_policy, failure_policy=result.failure_policy))
    write_records(comparisons_file, result.to_records())
    write_json(args.metrics, metrics(result))
    seconds = time.perf_counter() - start
    from nbjudge.compare.tracking import log_arm_runs
    from nbjudge.judges.tracing import resolve_tracking_uri

    judge, llm = params.judge_settings(), params.llm
    runs = log_arm_runs(
        result, tracking_uri=resolve_tracking_uri(judge.get("tracking_uri")),
        experiment=judge["experiment"], settings=manifest.settings, backends=manifest.backends,
        reference=manifest.reference, banner=llm.banner if llm else None,
        arm_of=manifest.arm_of,
        extra_params={"judges": need(params.compare, "compare").judges,
                      "grades": need(params.compare, "compare").grades.source,
                      "level": stats.bootstrap.level, "na_policy": stats.na_policy,
                      "failure_policy": stats.failure_policy,
                      "judge_model": llm.model if llm else ""})
    log_values(comparisons_file, [{"seconds": round(seconds, 3), "runs": runs}])
    graded = len({g.notebook_id for g in grades})
    stage.done(f"{len(result.comparisons)} comparison(s) against {manifest.reference} on "
               f"{len(result.dimensions)} dimensions, {graded} graded notebook(s); MLflow runs "
               f"{', '.join(f'{a}={r[:8]}' for a, r in runs.items())} -> {comparisons_file}, "
               f"{args.metrics}")


if __name__ == "__main__":
    sys.exit(run_stage(main))
