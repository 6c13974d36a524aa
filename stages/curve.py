"""Stage `curve`: the label-efficiency curve (off unless `curve.fractions` lists shares).

    python -m stages.curve --folds data/folds.json
        --index data/notebooks/executed/index.jsonl --cases data/cases/cases.jsonl
        --labels data/labels/labels.jsonl --judgments data/judgments
        --index-cases data/notebooks/index.jsonl --out data/curve [--params params.yaml]

With `curve.fractions` null or empty it writes an empty curve (`curve.csv` with
its header, `curve.json` saying so) and starts no model. Otherwise, for each
fraction, it aligns every fold's judges on that share of each training fold's
notebooks (nested, seeded subsets), judges the held-out fold with `full`,
`semantic_only` and `calibrated` (`curve.variants`), and writes the judgments
(`judgments.jsonl`, variants named `<variant>@<fraction>`), the alignment
audits (`alignment/`), and MAE per fraction, variant and dimension with the
stats stage's bootstrap interval (`curve.csv`). The logic lives in
`nbjudge.alignment.curve` and `nbjudge.stats.curve`.

When a variant needs a model (`full`, `semantic_only`), it prints its plan
before sending anything (upper bounds, as for `align`), writes it to
`--out`/plan.json for the report, and stops when the plan goes over
`llm.max_requests` or `llm.max_cost`.
"""

from __future__ import annotations

import shutil
import sys
import time

from nbjudge.alignment.curve import curve_judgments
from nbjudge.runlog import log_values, set_aside
from nbjudge.schemas import (
    Label,
    Notebook,
    atomic_write_text,
    read_records,
    write_json,
    write_records,
)
from nbjudge.stage import StageCommand, run_stage
from nbjudge.stats import StatsConfig, curve_table


def main(argv: list[str] | None = None) -> None:
    stage = (StageCommand("curve", __doc__).path("--folds").path("--index").path("--cases")
             .path("--labels").path("--judgments")
             .path("--index-cases", help="the notebook index (each notebook's case, for the "
                                         "bootstrap)")
             .path("--out"))
    args, params = stage.parse(argv, "curve", "stats", "seed")
    fractions, variants = list(params.curve.fractions or []), params.curve.variants
    shutil.rmtree(args.out, ignore_errors=True)  # no stale fractions
    args.out.mkdir(parents=True)
    start = time.perf_counter()
    judgments, n_labelled = curve_judgments(
        params, folds=args.folds, index=args.index, cases=args.cases, labels=args.labels,
        judgments=args.judgments, out=args.out)
    cases = {n.notebook_id: n.case_id for n in read_records(args.index_cases, Notebook)}
    table = curve_table(read_records(args.labels, Label), judgments, n_labelled,
                        StatsConfig.from_mapping(params.stats.model_dump(exclude_unset=True)),
                        seed=params.seed, cases=cases)
    write_records(args.out / "judgments.jsonl", set_aside(judgments, args.out / "judgments.jsonl"))
    atomic_write_text(args.out / "curve.csv", table.to_csv(index=False))
    seconds = time.perf_counter() - start
    write_json(args.out / "curve.json", {
        "fractions": fractions, "variants": list(variants) if fractions else [],
        "n_labelled": {f"{q:g}": n for q, n in n_labelled.items()}})
    log_values(args.out / "curve.json", [{"seconds": round(seconds, 3)}])
    if not fractions:
        stage.done(f"off (curve.fractions is empty) -> {args.out}")
    else:
        stage.done(f"{len(judgments)} judgments at fractions {fractions} for "
                   f"{', '.join(variants)} in {seconds:.0f} s -> {args.out}/curve.csv")


if __name__ == "__main__":
    sys.exit(run_stage(main))
