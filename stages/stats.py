"""Stage ``stats``: agreement statistics of every judge variant against the human labels.

    python -m stages.stats [--params params.yaml] [--labels data/labels/labels.jsonl]
                           [--judgments data/judgments] [--metrics reports/metrics.json]
                           [--out reports/stats]

Reads the ``stats`` section and the top-level ``seed`` of ``params.yaml``,
the labels and every ``*.jsonl`` of judgments (there may be none yet), and
writes ``metrics.json`` and one tidy CSV per table. The logic lives in
:mod:`nbjudge.stats`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from omegaconf import OmegaConf

from nbjudge.schemas import Judgment, Label, read_records
from nbjudge.stats import StatsConfig, analyze_experiment

SMOKE_WARNING = ("SMOKE TEST: judgments from a tiny offline model ({model}); "
                 "these numbers mean nothing about judge quality")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--labels", type=Path, default=Path("data/labels/labels.jsonl"))
    parser.add_argument("--judgments", type=Path, default=Path("data/judgments"))
    parser.add_argument("--metrics", type=Path, default=Path("reports/metrics.json"))
    parser.add_argument("--out", type=Path, default=Path("reports/stats"))
    args = parser.parse_args(argv)

    params = OmegaConf.load(args.params)
    config = StatsConfig.from_mapping(OmegaConf.to_container(params.stats, resolve=True))
    labels = read_records(args.labels, Label)
    judgments = [j for path in sorted(args.judgments.glob("*.jsonl"))
                 for j in read_records(path, Judgment)]

    result = analyze_experiment(labels, judgments, config, seed=params.seed)

    metrics = result.metrics
    if params.get("llm") is not None and params.llm.get("smoke"):
        # The first line of the file says what these numbers are worth.
        metrics = {"warning": SMOKE_WARNING.format(model=params.llm.model), **metrics}
    args.metrics.parent.mkdir(parents=True, exist_ok=True)
    args.metrics.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    args.out.mkdir(parents=True, exist_ok=True)
    for stale in args.out.glob("*.csv"):  # a table not produced this run must not linger
        stale.unlink()
    for name, frame in result.frames.items():
        frame.to_csv(args.out / f"{name}.csv", index=False)
    print(f"stats: {result.metrics['status']}; wrote {args.metrics} and "
          f"{len(result.frames)} tables under {args.out}")


if __name__ == "__main__":
    main()
