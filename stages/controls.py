"""Stage `controls`: no-skill and calibrated control variants, out of fold, no LLM call.

    python -m stages.controls --folds data/folds.json --labels data/labels/labels.jsonl
        --judgments data/judgments --out data/controls/judgments.jsonl
        --run data/controls/controls.json [--params params.yaml]

Reads `controls.variants`, the top-level `seed` and the human consensus settings
of the `stats` section (`consensus`, `consensus_na`, `na_policy`), the folds,
the labels and the judges to calibrate (`baseline.jsonl`, and `full.jsonl`
where that variant ran). Writes one judgment per control, notebook, dimension
and repeat to `--out`, and what each control learned (prior distributions,
calibration maps) and the seconds it took to `--run`. The logic lives in
`nbjudge.controls`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nbjudge.alignment import read_folds
from nbjudge.config import as_plain, load_params, run_stage
from nbjudge.controls import CALIBRATED_FROM, ControlSettings, run_controls
from nbjudge.schemas import Judgment, Label, read_records, write_json_record, write_records


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--folds", required=True)
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--judgments", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--run", type=Path, required=True)
    args = parser.parse_args(argv)

    params = load_params(args.params, "controls", "stats", "seed")
    stats = as_plain(params.stats)
    settings = ControlSettings(
        variants=tuple(as_plain(params.controls.variants) or ()), seed=int(params.seed),
        consensus=stats.get("consensus", "mean"),
        consensus_na=stats.get("consensus_na", "majority"),
        na_policy=stats.get("na_policy", "zero"))
    sources = {CALIBRATED_FROM[v] for v in settings.variants if v in CALIBRATED_FROM}
    judgments = [j for source in sorted(sources)
                 if (args.judgments / f"{source}.jsonl").exists()
                 for j in read_records(args.judgments / f"{source}.jsonl", Judgment)]
    records, run = run_controls(read_records(args.labels, Label), judgments,
                                read_folds(args.folds), settings)
    write_records(args.out, records)
    write_json_record(args.run, run)
    skipped = f"; skipped {'; '.join(run.skipped)}" if run.skipped else ""
    print(f"controls: {len(records)} judgments of {', '.join(run.variants) or 'no control'} "
          f"in {run.seconds:.2f} s, no LLM call{skipped} -> {args.out}")


if __name__ == "__main__":
    sys.exit(run_stage(main))
