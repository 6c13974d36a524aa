"""Stage `execute`: run every notebook in a sandboxed kernel.

Reads the notebook index and the cases' tables; writes the executed notebooks
to data/notebooks/executed/ and the index with status, seconds and error of
each run to data/notebooks/executed/index.jsonl.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from nbjudge.config import load_params, run_stage
from nbjudge.notebooks.batch import execute_index, plan_jobs
from nbjudge.schemas import Case, Notebook, read_records, write_records

OUT = Path("data/notebooks/executed")


def main() -> None:
    params = load_params("params.yaml", "execute").execute
    index = read_records("data/notebooks/index.jsonl", Notebook)
    cases = read_records("data/cases/cases.jsonl", Case)
    jobs = plan_jobs(index, cases, Path("data/cases/datasets"), OUT, Path("."))
    executed = execute_index(jobs, timeout=int(params.timeout), workers=int(params.workers),
                             cache_dir=Path(params.cache_dir) if params.cache_dir else None)
    write_records(OUT / "index.jsonl", executed)
    counts = Counter(entry.execution.status for entry in executed)
    seconds = sum(entry.execution.seconds for entry in executed)
    print(f"execute: {len(executed)} notebooks ({dict(counts)}), {seconds:.0f} s of kernel time "
          f"-> {OUT}/")
    for entry in executed:
        if entry.execution.status != "ok":
            print(f"  {entry.notebook_id}: {entry.execution.status}: {entry.execution.error}")


if __name__ == "__main__":
    sys.exit(run_stage(main))
