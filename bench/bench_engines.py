"""Execution engines: the same demo notebooks on the local process pool and on a
Dask cluster (``execute.engine``), measured in one run.

Runs the first N demo notebooks (default 8) through ``execute_index`` with
``workers`` (default 2) on each engine, without the execution cache, the
engine order alternating over ``rounds`` (default 2) so that drift on a shared
machine falls on both. The Dask cluster is a local one with the same number
of worker processes, started before the clock runs (as a user's cluster
would already be running); what it costs on top of the pool is shipping each
notebook and its tables as bytes and scheduling. Prints seconds per round,
seconds per notebook and the ratio dask / local.

    .venv/bin/python bench/bench_engines.py [N] [workers] [rounds]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from distributed import LocalCluster

from nbjudge.benchmark.procedural import generate_notebooks
from nbjudge.benchmark.suites import build_cases
from nbjudge.notebooks.batch import Engine, execute_index, plan_jobs


def main(count: int = 8, workers: int = 2, rounds: int = 2) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cases = build_cases("data/suites/demo.yaml", 42, root / "datasets")
        index, _ = generate_notebooks(cases, 42, root / "gen", root=root)
        index = index[:count]
        seconds: dict[str, list[float]] = {"local": [], "dask": []}
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster:
            engines = {"local": Engine(), "dask": Engine("dask", cluster.scheduler_address)}
            for round_ in range(rounds):
                order = ("local", "dask") if round_ % 2 == 0 else ("dask", "local")
                for name in order:
                    jobs = plan_jobs(index, cases, root / "datasets", root / f"{name}{round_}",
                                     root)
                    started = time.perf_counter()
                    runs = execute_index(jobs, timeout=300, workers=workers, root=root,
                                         progress=False, engine=engines[name])
                    seconds[name].append(time.perf_counter() - started)
                    failed = [e.notebook_id for e in runs if e.execution.status != "ok"]
                    if failed:
                        raise SystemExit(f"{name}: notebooks did not run: {failed}")
                    print(f"  round {round_ + 1} {name}: {seconds[name][-1]:.1f} s", flush=True)
    local, dask = (statistics.median(seconds[name]) for name in ("local", "dask"))
    print(f"{len(index)} notebooks, {workers} workers, median of {rounds} rounds: "
          f"local {local:.1f} s ({local / len(index):.2f} s/notebook), "
          f"dask {dask:.1f} s ({dask / len(index):.2f} s/notebook), "
          f"dask / local = {dask / local:.2f}")


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:4]))
