"""Stage `track`: log the experiment to one MLflow run (params, metrics, figures, reports).

    python -m stages.track --metrics reports/metrics.json --out reports/mlflow_run.json
        --artifact reports/report.html --artifact reports/report.pdf ... [--params params.yaml]

Every `--artifact` (a file or a folder) is logged to the run. The run is
named after the DVC experiment (`DVC_EXP_NAME`) when there is one, and lives
in the same absolute tracking store as the traces and the registered judges,
so `mlflow ui` shows all three together.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nbjudge.config import as_plain, load_params, run_stage
from nbjudge.judges.tracing import resolve_tracking_uri
from nbjudge.llm.backends import LLMConfig
from nbjudge.mlflow_run import log_experiment_run
from nbjudge.run_params import result_params
from nbjudge.schemas import read_json, write_json


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--artifact", type=Path, action="append", default=[])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    params = load_params(args.params, "llm", "judge")
    llm = LLMConfig.from_mapping(as_plain(params.llm))
    judge = as_plain(params.judge)
    metrics = read_json(args.metrics, "metrics file")
    run = log_experiment_run(
        tracking_uri=resolve_tracking_uri(judge.get("tracking_uri")),
        experiment=judge["experiment"], params=result_params(as_plain(params)), metrics=metrics,
        artifacts=[args.metrics, *args.artifact], banner=llm.banner)
    # The URI holds the machine's path: keep it out of the tracked file.
    write_json(args.out, {k: v for k, v in run.items() if k != "tracking_uri"})
    print(f"track: MLflow run {run['run_name']} ({run['run_id']}) in experiment "
          f"{run['experiment']} -> {args.out}")


if __name__ == "__main__":
    sys.exit(run_stage(main))
