"""Stage `track`: log the experiment to one MLflow run (params, metrics, figures, reports).

    python -m stages.track --metrics reports/metrics.json --out reports/mlflow_run.json
        --artifact reports/report.html --artifact reports/report.pdf ... [--params params.yaml]

Every `--artifact` (a file or a folder) is logged to the run. The run is
named after the DVC experiment (`DVC_EXP_NAME`) when there is one, and lives
in the same absolute tracking store as the traces and the registered judges,
so `mlflow ui` shows all three together.
"""

from __future__ import annotations

import sys

from nbjudge.config import read_params_mapping
from nbjudge.judges.tracing import resolve_tracking_uri
from nbjudge.mlflow_run import log_experiment_run
from nbjudge.run_params import result_params
from nbjudge.runlog import log_values
from nbjudge.schemas import read_json, write_json
from nbjudge.stage import StageCommand, run_stage


def main(argv: list[str] | None = None) -> None:
    stage = (StageCommand("track", __doc__).path("--metrics")
             .path("--artifact", action="append", default=[]).path("--out"))
    args, params = stage.parse(argv, "llm", "judge")
    metrics = read_json(args.metrics, "metrics file")
    run = log_experiment_run(
        tracking_uri=resolve_tracking_uri(params.judge.tracking_uri),
        experiment=params.judge.experiment,
        # Run-only keys (execute.workers, ...) change no result: dvc.yaml does not list them.
        params=result_params(read_params_mapping(args.params)),
        metrics=metrics, artifacts=[args.metrics, *args.artifact], banner=params.llm.banner)
    # The run's id is new on every run, the URI holds the machine's path: both stay out of
    # the tracked file.
    write_json(args.out, {k: v for k, v in run.items() if k not in ("run_id", "tracking_uri")})
    log_values(args.out, [{"run_id": run["run_id"]}])
    stage.done(f"MLflow run {run['run_name']} ({run['run_id']}) in experiment "
               f"{run['experiment']} -> {args.out}")


if __name__ == "__main__":
    sys.exit(run_stage(main))
