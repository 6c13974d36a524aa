"""Stage `stats`: agreement statistics of every judge variant against the human labels.

    python -m stages.stats --labels data/labels/labels.jsonl
        --judgments data/judgments data/controls
        --index data/notebooks/index.jsonl --metrics reports/metrics.json
        --detail reports/metrics_detail.json --out reports/stats [--params params.yaml]

Reads the `stats` section and the top-level `seed` of `params.yaml` (and what names
the experiment in the headline: `suite.name`, `generate.backend`, `labels.source`,
`llm.backend`, `llm.model`, `ablation.memory_variants`), the
labels, every `*.jsonl` of judgments in the `--judgments` folders (there may
be none yet; the controls' `controls.json` gives the prior's expected MAE, the judge's
`run.json` what its model's numbers are worth) and the notebook
index (each notebook's case: the bootstrap resamples cases), and writes
`metrics.json`, the headline `dvc exp show` lists (first line: what the numbers
are worth when the judge is the smoke model), `metrics_detail.json`, every figure
the report reads, and one tidy CSV per table. The logic lives in `nbjudge.stats`.
"""

from __future__ import annotations

import sys

from nbjudge.schemas import (
    ControlsRun,
    JudgeRun,
    Judgment,
    Label,
    Notebook,
    read_json,
    read_json_record,
    read_records,
)
from nbjudge.stage import StageCommand, run_stage
from nbjudge.stats import StatsConfig, analyze_experiment
from nbjudge.stats.headline import experiment_identity, write_headline


def main(argv: list[str] | None = None) -> None:
    stage = (StageCommand("stats", __doc__).path("--labels").path("--judgments", nargs="+")
             .path("--index").path("--metrics").path("--detail").path("--out")
             .path("--robustness", default=None,
                   help="the robustness stage's summary.json (its headline joins metrics.json)"))
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
    warning = runs[0].metrics_warning if runs else None
    result.write(args.detail, args.out, warning=warning)
    robustness = (read_json(args.robustness, "robustness summary")
                  if args.robustness is not None and args.robustness.is_file() else {})
    write_headline(args.metrics, result.metrics, reference=config.reference, warning=warning,
                   robustness=robustness.get("headline") if robustness.get("enabled") else None,
                   identity=experiment_identity(params.model_dump()))
    stage.done(f"{result.metrics['status']}; wrote {args.metrics}, {args.detail} and "
               f"{len(result.frames)} tables under {args.out}")


if __name__ == "__main__":
    sys.exit(run_stage(main))
