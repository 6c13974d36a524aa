"""Stage `track`: log the experiment to one MLflow run (params, metrics, figures, reports).

    python -m stages.track [--params params.yaml] [--out reports/mlflow_run.json]

The run is named after the DVC experiment (``DVC_EXP_NAME``) when there is one,
and lives in the same absolute tracking store as the traces and the
registered judges, so ``mlflow ui`` shows all three together.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nbjudge.config import as_plain, load_params, run_stage
from nbjudge.judges.tracing import resolve_tracking_uri
from nbjudge.llm.backends import LLMConfig
from nbjudge.mlflow_run import log_experiment_run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--metrics", type=Path, default=Path("reports/metrics.json"))
    parser.add_argument("--out", type=Path, default=Path("reports/mlflow_run.json"))
    args = parser.parse_args(argv)

    params = load_params(args.params, "llm", "judge")
    llm = LLMConfig.from_mapping(as_plain(params.llm))
    judge = as_plain(params.judge)
    if not args.metrics.exists():
        raise ValueError(f"{args.metrics} not found: run the stats stage first")
    metrics = json.loads(args.metrics.read_text(encoding="utf-8"))
    artifacts = [Path("reports/report.html"), Path("reports/report.pdf"),
                 Path("reports/figures"), Path("reports/stats"), args.metrics,
                 Path("data/folds.json"), Path("data/registered/judges.json")]
    run = log_experiment_run(
        tracking_uri=resolve_tracking_uri(judge.get("tracking_uri")),
        experiment=judge["experiment"], params=as_plain(params), metrics=metrics,
        artifacts=artifacts, banner=llm.banner)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # The URI holds the machine's path: keep it out of the tracked file.
    facts = {k: v for k, v in run.items() if k != "tracking_uri"}
    args.out.write_text(json.dumps(facts, indent=2) + "\n", encoding="utf-8")
    print(f"track: MLflow run {run['run_name']} ({run['run_id']}) in experiment "
          f"{run['experiment']} -> {args.out}")


if __name__ == "__main__":
    sys.exit(run_stage(main))
