"""Stage `execute`: run every notebook in a sandbox (bubblewrap; `execute.sandbox`), or keep
the outputs it came with (`execute.mode`).

    python -m stages.execute --index data/notebooks/index.jsonl --cases data/cases
        --out data/notebooks/executed [--params params.yaml]

Reads the notebook index and the cases' tables; writes the executed notebooks
to `<out>/` and the index with status, seconds and error of each run (the
limit reached, the cell it stopped at, the sandbox) to `<out>/index.jsonl`.
Stops with a message when the sandbox cannot start; it never falls back to
running notebooks unsandboxed (that is `execute.sandbox=none`, asked for).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from nbjudge.notebooks.batch import Engine, OutputPolicy, execute_index, plan_jobs
from nbjudge.notebooks.execute import SandboxLimits, SandboxSettings
from nbjudge.runlog import set_aside
from nbjudge.schemas import Case, Notebook, read_records, write_records
from nbjudge.stage import StageCommand, run_stage


def main(argv: list[str] | None = None) -> None:
    stage = StageCommand("execute", __doc__).path("--index").path("--cases").path("--out")
    args, params = stage.parse(argv, "execute")
    execute = params.execute
    sandbox = SandboxSettings(execute.sandbox, SandboxLimits(**execute.limits.model_dump()))
    policy = OutputPolicy(execute.mode, execute.on_environment_failure,
                          execute.keep_original_on_limit)
    engine = Engine(execute.engine, execute.address)
    if sandbox.mode == "none":
        stage.done("WARNING: execute.sandbox=none: notebooks run unsandboxed, with the "
                   "network and every file this user can reach (the report will say so)")
    index = read_records(args.index, Notebook)
    cases = read_records(args.cases / "cases.jsonl", Case)
    jobs = plan_jobs(index, cases, args.cases / "datasets", args.out, Path("."))
    executed = execute_index(jobs, timeout=execute.timeout, workers=execute.workers,
                             cache_dir=Path(execute.cache_dir) if execute.cache_dir else None,
                             sandbox=sandbox, policy=policy, engine=engine)
    write_records(args.out / "index.jsonl", set_aside(executed, args.out / "index.jsonl"))
    runs = [entry.execution for entry in executed if entry.execution]
    counts = Counter(run.status for run in runs)
    sources = Counter(run.outputs for run in runs)
    seconds = sum(run.seconds for run in runs)
    ran = sum(run.mode == "run" for run in runs)
    where = f", on dask {engine.address or '(local cluster)'}" if engine.name == "dask" else ""
    how = (f"{ran} run in sandbox {sandbox.mode}{where}, {seconds:.0f} s of kernel time" if ran
           else "none run")
    stage.done(f"{len(executed)} notebooks ({how}; "
               + ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
               + f") -> {args.out}/")
    stage.done("outputs the judges read: " + ", ".join(
        f"{count} {_SOURCES[source]}" for source, count in sorted(sources.items())))
    for entry in executed:
        run = entry.execution
        if run and run.status not in ("ok", "not_run"):
            # The record numbers cells from 1, as Jupyter and the judge's text do.
            where = f" at cell {run.cell}" if run.cell is not None else ""
            what = f" ({run.limit})" if run.limit else ""
            kept = "; judged with its original outputs" if run.outputs == "original" else ""
            print(f"  {entry.notebook_id}: {run.status}{what}{where}, {run.failure} failure"
                  f"{kept}: {run.error}")


_SOURCES = {"run": "from this run", "original": "as the notebook came",
            "none": "none (came without outputs; -S execute.mode=auto runs such notebooks)"}


if __name__ == "__main__":
    sys.exit(run_stage(main))
