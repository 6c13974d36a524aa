"""Stage `execute`: run every notebook in a sandbox (bubblewrap; `execute.sandbox`).

    python -m stages.execute --index data/notebooks/index.jsonl --cases data/cases
        --out data/notebooks/executed [--params params.yaml]

Reads the notebook index and the cases' tables; writes the executed notebooks
to `<out>/` and the index with status, seconds and error of each run (the
limit reached, the cell it stopped at, the sandbox) to `<out>/index.jsonl`.
Stops with a message when the sandbox cannot start; it never falls back to
running notebooks unsandboxed (that is `execute.sandbox=none`, asked for).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from nbjudge.config import as_plain, load_params, run_stage
from nbjudge.notebooks.batch import execute_index, plan_jobs
from nbjudge.notebooks.execute import SandboxSettings
from nbjudge.schemas import Case, Notebook, read_records, write_records


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--cases", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    params = load_params(args.params, "execute").execute
    sandbox = SandboxSettings.from_params(as_plain(params))
    if sandbox.mode == "none":
        print("execute: WARNING: execute.sandbox=none: notebooks run unsandboxed, with the "
              "network and every file this user can reach (the report will say so)")
    index = read_records(args.index, Notebook)
    cases = read_records(args.cases / "cases.jsonl", Case)
    jobs = plan_jobs(index, cases, args.cases / "datasets", args.out, Path("."))
    executed = execute_index(jobs, timeout=int(params.timeout), workers=int(params.workers),
                             cache_dir=Path(params.cache_dir) if params.cache_dir else None,
                             sandbox=sandbox)
    write_records(args.out / "index.jsonl", executed)
    counts = Counter(entry.execution.status for entry in executed if entry.execution)
    seconds = sum(entry.execution.seconds for entry in executed if entry.execution)
    print(f"execute: {len(executed)} notebooks ({dict(counts)}), {seconds:.0f} s of kernel time, "
          f"sandbox {sandbox.mode} -> {args.out}/")
    for entry in executed:
        run = entry.execution
        if run and run.status != "ok":
            where = f" at cell {run.cell}" if run.cell is not None else ""
            what = f" ({run.limit})" if run.limit else ""
            print(f"  {entry.notebook_id}: {run.status}{what}{where}: {run.error}")


if __name__ == "__main__":
    sys.exit(run_stage(main))
