"""Execution of generated notebooks: seconds per notebook, and a resumed run.

Runs the first N demo notebooks (default 4) cold, then again with the
execution cache warm (what a rerun after an interruption sees), and prints
both times and their ratio, measured in one run.

    .venv/bin/python bench/bench_execute.py [N]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from nbjudge.benchmark.procedural import generate_notebooks
from nbjudge.benchmark.suites import build_cases
from nbjudge.notebooks.batch import execute_index, plan_jobs


def main(count: int = 4) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cases = build_cases("data/suites/demo.yaml", 42, root / "datasets")
        index, _ = generate_notebooks(cases, 42, root / "gen", root=root)
        jobs = plan_jobs(index[:count], cases, root / "datasets", root / "exec", root)
        timings = {}
        for label in ("cold", "warm cache"):
            started = time.perf_counter()
            executed = execute_index(jobs, timeout=300, workers=2, cache_dir=root / "cache",
                                     root=root, progress=False)
            timings[label] = time.perf_counter() - started
        kernel = sum(e.execution.seconds for e in executed)
        print(f"{count} notebooks, 2 workers: cold {timings['cold']:.1f} s "
              f"({kernel / count:.1f} s of kernel time per notebook), "
              f"warm cache {timings['warm cache']:.2f} s, "
              f"ratio {timings['cold'] / timings['warm cache']:.0f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 4)
