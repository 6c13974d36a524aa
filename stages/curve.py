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

import argparse
import contextlib
import shutil
import sys
import time
from pathlib import Path

from nbjudge.alignment import read_folds
from nbjudge.alignment.curve import curve_splits, label_efficiency
from nbjudge.alignment.memalign import ConsensusRule, MemAlignSettings
from nbjudge.config import as_plain, load_params, run_stage
from nbjudge.controls import ControlSettings
from nbjudge.judges.batch import load_judging_inputs
from nbjudge.llm.backends import open_backend
from nbjudge.llm.cache import CACHE_ROOT
from nbjudge.plan import announce
from nbjudge.plan.judging import curve_plan
from nbjudge.schemas import (
    Judgment,
    Label,
    Notebook,
    atomic_write_text,
    read_records,
    write_json,
    write_records,
)
from nbjudge.stats import StatsConfig, curve_table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--folds", required=True)
    parser.add_argument("--index", required=True)
    parser.add_argument("--cases", required=True)
    parser.add_argument("--labels", required=True)
    parser.add_argument("--judgments", type=Path, required=True)
    parser.add_argument("--index-cases", type=Path, required=True,
                        help="the notebook index (each notebook's case, for the bootstrap)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    params = load_params(args.params, "curve", "stats", "seed")
    curve = as_plain(params.curve)
    fractions = [float(q) for q in curve.get("fractions") or []]
    variants = tuple(curve.get("variants") or ())
    shutil.rmtree(args.out, ignore_errors=True)  # no stale fractions
    args.out.mkdir(parents=True)
    start = time.perf_counter()
    judgments: list[Judgment] = []
    n_labelled: dict[float, float] = {}
    config = StatsConfig.from_mapping(as_plain(params.stats))
    if fractions and variants:
        params = load_params(args.params, "llm", "judge", "memalign", "curve", "stats", "seed")
        settings = MemAlignSettings.from_mapping(as_plain(params.memalign))
        inputs = load_judging_inputs(params, index=args.index, cases=args.cases,
                                     labels=args.labels)
        baseline = (read_records(args.judgments / "baseline.jsonl", Judgment)
                    if "calibrated" in variants else [])
        controls = ControlSettings(seed=int(params.seed), consensus=config.consensus,
                                   consensus_na=config.consensus_na, na_policy=config.na_policy)
        needs_model = any(v != "calibrated" for v in variants)
        folds = read_folds(args.folds)
        if needs_model:
            announce(curve_plan(inputs.views, inputs.labels,
                                curve_splits(folds, fractions, seed=int(params.seed)),
                                variants, inputs.llm, settings),
                     inputs.llm, args.out / "plan.json")
        backend_context = (open_backend(inputs.llm, embeddings=True, cache_dir=CACHE_ROOT,
                                        log_dir=CACHE_ROOT / "logs") if needs_model
                           else contextlib.nullcontext(None))  # calibration needs no model
        with backend_context as backend:
            judgments, n_labelled = label_efficiency(
                inputs, folds, fractions, variants=variants,
                baseline=baseline, settings=settings, controls=controls, backend=backend,
                audit_root=args.out / "alignment", seed=int(params.seed),
                consensus_rule=ConsensusRule.from_mapping(as_plain(params.stats)))
    cases = {n.notebook_id: n.case_id for n in read_records(args.index_cases, Notebook)}
    table = curve_table(read_records(args.labels, Label), judgments, n_labelled, config,
                        seed=int(params.seed), cases=cases)
    write_records(args.out / "judgments.jsonl", judgments)
    atomic_write_text(args.out / "curve.csv", table.to_csv(index=False))
    seconds = time.perf_counter() - start
    write_json(args.out / "curve.json", {
        "fractions": fractions, "variants": list(variants) if fractions else [],
        "n_labelled": {f"{q:g}": n for q, n in n_labelled.items()},
        "seconds": round(seconds, 3)})
    if not fractions:
        print(f"curve: off (curve.fractions is empty) -> {args.out}")
    else:
        print(f"curve: {len(judgments)} judgments at fractions {fractions} for "
              f"{', '.join(variants)} in {seconds:.0f} s -> {args.out}/curve.csv")


if __name__ == "__main__":
    sys.exit(run_stage(main))
