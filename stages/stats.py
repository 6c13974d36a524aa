"""Stage `stats`: agreement statistics of every judge variant against the human labels.

    python -m stages.stats --labels data/labels/labels.jsonl
        --judgments data/judgments data/controls
        --index data/notebooks/index.jsonl --metrics reports/metrics.json
        --out reports/stats [--params params.yaml]

Reads the `stats` section and the top-level `seed` of `params.yaml`, the
labels, every `*.jsonl` of judgments in the `--judgments` folders (there may
be none yet; the controls' `controls.json` gives the prior's expected MAE, the judge's
`run.json` what its model's numbers are worth) and the notebook
index (each notebook's case: the bootstrap resamples cases), and writes
`metrics.json` (first line: what the numbers are worth when the judge is the
smoke model) and one tidy CSV per table. The logic lives in `nbjudge.stats`.
"""

from __future__ import annotations

import sys

from nbjudge.schemas import (
    ControlsRun,
    JudgeRun,
    Judgment,
    Label,
    Notebook,
    read_json_record,
    read_records,
)
from nbjudge.stage import StageCommand, run_stage
from nbjudge.stats import StatsConfig, analyze_experiment


def main(argv: list[str] | None = None) -> None:
    stage = (StageCommand("stats", __doc__).path("--labels").path("--judgments", nargs="+")
             .path("--index").path("--metrics").path("--out"))
    args, params = stage.parse(argv, "stats", "seed")
    config = StatsConfig.from_mapping(params.stats.model_dump(exclude_unset=True))
    labels = read_records(args.labels, Label)
    judgments = [j for folder in args.judgments for path in sorted(folder.glob("*.jsonl"))
                 for j in read_records(path, Judgment)]
    priors = [p for folder in args.judgments if (folder / "controls.json").exists()
              for p in read_json_record(folder / "controls.json", ControlsRun).priors]
    cases = {n.notebook_id: n.case_id for n in read_records(args.index, Notebook)}
    result = analyze_experiment(labels, judgments, config, seed=params.seed, cases=cases,
                                priors=priors)
    # What the judge stage said about its model (the smoke model's numbers mean nothing).
    runs = [read_json_record(folder / "run.json", JudgeRun) for folder in args.judgments
            if (folder / "run.json").exists()]
    result.write(args.metrics, args.out, warning=runs[0].metrics_warning if runs else None)
    stage.done(f"{result.metrics['status']}; wrote {args.metrics} and "
               f"{len(result.frames)} tables under {args.out}")


if __name__ == "__main__":
    sys.exit(run_stage(main))
