"""Stage `folds`: grouped, stratified K-fold assignment of notebooks, per CV repeat.

    python -m stages.folds --index data/notebooks/index.jsonl
        --cases data/cases/cases.jsonl --out data/folds.json [--params params.yaml]

All notebooks of one test case share a fold; folds are stratified by task
type where the cases allow; repeat r uses a fold seed derived from (seed, r).
"""

from __future__ import annotations

import sys

from nbjudge.alignment import assign_folds, write_folds
from nbjudge.schemas import Case, Notebook, read_records
from nbjudge.stage import StageCommand, run_stage


def main(argv: list[str] | None = None) -> None:
    stage = StageCommand("folds", __doc__).path("--index").path("--cases").path("--out")
    args, params = stage.parse(argv, "cv", "seed")
    task_type = {c.case_id: c.task_type for c in read_records(args.cases, Case)}
    notebooks = [(n.notebook_id, n.case_id, task_type[n.case_id])
                 for n in read_records(args.index, Notebook)]
    assignments = [assign_folds(notebooks, params.cv.k, seed=params.seed, repeat=r)
                   for r in range(params.cv.repeats)]
    write_folds(args.out, assignments)
    sizes = [len(assignments[0].test_ids(f)) for f in range(assignments[0].k)]
    stage.done(f"{len(notebooks)} notebooks, {len({n[1] for n in notebooks})} cases, "
               f"k={assignments[0].k}, {len(assignments)} repeat(s); fold sizes {sizes} "
               f"-> {args.out}")


if __name__ == "__main__":
    sys.exit(run_stage(main))
