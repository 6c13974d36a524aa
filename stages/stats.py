"""Stage `stats`: agreement statistics of every judge variant against the human labels.

    python -m stages.stats --labels data/labels/labels.jsonl
        --judgments data/judgments data/controls
        --index data/notebooks/index.jsonl --metrics reports/metrics.json
        --out reports/stats [--params params.yaml]

Reads the `stats` section and the top-level `seed` of `params.yaml`, the
labels, every `*.jsonl` of judgments in the `--judgments` folders (there may
be none yet; the controls' `controls.json` gives the prior's expected MAE) and the notebook
index (each notebook's case: the bootstrap resamples cases), and writes
`metrics.json` (first line: what the numbers are worth when the judge is the
smoke model) and one tidy CSV per table. The logic lives in `nbjudge.stats`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nbjudge.config import as_plain, load_params, run_stage
from nbjudge.llm.backends import LLMConfig
from nbjudge.schemas import (
    ControlsRun,
    Judgment,
    Label,
    Notebook,
    read_json_record,
    read_records,
)
from nbjudge.stats import StatsConfig, analyze_experiment


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--judgments", type=Path, nargs="+", required=True)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    params = load_params(args.params, "stats", "seed")
    config = StatsConfig.from_mapping(as_plain(params.stats))
    labels = read_records(args.labels, Label)
    judgments = [j for folder in args.judgments for path in sorted(folder.glob("*.jsonl"))
                 for j in read_records(path, Judgment)]
    priors = [p for folder in args.judgments if (folder / "controls.json").exists()
              for p in read_json_record(folder / "controls.json", ControlsRun).priors]
    cases = {n.notebook_id: n.case_id for n in read_records(args.index, Notebook)}
    result = analyze_experiment(labels, judgments, config, seed=int(params.seed), cases=cases,
                                priors=priors)
    llm = params.get("llm")
    warning = LLMConfig.from_mapping(as_plain(llm)).metrics_warning if llm else None
    result.write(args.metrics, args.out, warning=warning)
    print(f"stats: {result.metrics['status']}; wrote {args.metrics} and "
          f"{len(result.frames)} tables under {args.out}")


if __name__ == "__main__":
    sys.exit(run_stage(main))
