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

import sys

from nbjudge.alignment import read_folds
from nbjudge.controls import CALIBRATED_FROM, ControlSettings, run_controls
from nbjudge.runlog import set_aside
from nbjudge.schemas import Judgment, Label, read_records, write_json_record, write_records
from nbjudge.stage import StageCommand, run_stage


def main(argv: list[str] | None = None) -> None:
    stage = (StageCommand("controls", __doc__).path("--folds").path("--labels")
             .path("--judgments").path("--out").path("--run"))
    args, params = stage.parse(argv, "controls", "stats", "seed")
    stats = params.stats
    settings = ControlSettings(
        variants=params.controls.variants, seed=params.seed, consensus=stats.consensus,
        consensus_na=stats.consensus_na, na_policy=stats.na_policy)
    sources = {CALIBRATED_FROM[v] for v in settings.variants if v in CALIBRATED_FROM}
    judgments = [j for source in sorted(sources)
                 if (args.judgments / f"{source}.jsonl").exists()
                 for j in read_records(args.judgments / f"{source}.jsonl", Judgment)]
    records, run = run_controls(read_records(args.labels, Label), judgments,
                                read_folds(args.folds), settings)
    write_records(args.out, records)
    write_json_record(args.run, set_aside([run], args.run)[0])
    skipped = f"; skipped {'; '.join(run.skipped)}" if run.skipped else ""
    stage.done(f"{len(records)} judgments of {', '.join(run.variants) or 'no control'} "
               f"in {run.seconds:.2f} s, no LLM call{skipped} -> {args.out}")


if __name__ == "__main__":
    sys.exit(run_stage(main))
