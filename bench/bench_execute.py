"""Execution of generated notebooks: what the bubblewrap sandbox costs per notebook.

Runs the first N demo notebooks (default 4) one at a time, each once in the
sandbox (``execute.sandbox=bwrap``) and once without (``none``), the order
alternating from notebook to notebook so that drift on a shared machine
falls on both; then an empty notebook (one ``print``) three times each way,
which is the sandbox's fixed cost (bwrap, the private mount namespace, the
kernel starting inside). Prints seconds per notebook, the ratio and the
overhead, measured in one run. The target is an overhead under 10% of a
notebook's run time.

    .venv/bin/python bench/bench_execute.py [N]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from nbjudge.benchmark.procedural import generate_notebooks
from nbjudge.benchmark.suites import build_cases
from nbjudge.notebooks.execute import SandboxSettings, check_sandbox, execute_notebook

MODES = {"bwrap": SandboxSettings("bwrap"), "none": SandboxSettings("none")}


def _timed(notebook, data_dir, mode: str) -> float:
    started = time.perf_counter()
    result = execute_notebook(notebook, data_dir, timeout=300, sandbox=MODES[mode])
    seconds = time.perf_counter() - started
    if result.status != "ok":
        raise SystemExit(f"{mode}: the notebook did not run: {result.status}: {result.error}")
    return seconds


def main(count: int = 4) -> None:
    check_sandbox(MODES["bwrap"])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cases = build_cases("data/suites/demo.yaml", 42, root / "datasets")
        index, _ = generate_notebooks(cases, 42, root / "gen", root=root)
        seconds: dict[str, list[float]] = {"bwrap": [], "none": []}
        for i, entry in enumerate(index[:count]):
            notebook = nbformat.read(root / entry.path, as_version=4)
            data_dir = root / "datasets" / entry.case_id
            order = ("bwrap", "none") if i % 2 == 0 else ("none", "bwrap")
            for mode in order:
                seconds[mode].append(_timed(notebook, data_dir, mode))
            print(f"  {entry.notebook_id}: bwrap {seconds['bwrap'][-1]:.2f} s, "
                  f"none {seconds['none'][-1]:.2f} s", flush=True)
        empty = new_notebook(cells=[new_code_cell("print(1)", id="c0")])
        start_up: dict[str, list[float]] = {"bwrap": [], "none": []}
        for i in range(3):
            for mode in (("bwrap", "none") if i % 2 == 0 else ("none", "bwrap")):
                start_up[mode].append(_timed(empty, None, mode))
    total = {mode: sum(values) for mode, values in seconds.items()}
    fixed = {mode: statistics.median(values) for mode, values in start_up.items()}
    n = len(seconds["bwrap"])
    print(f"{n} demo notebooks, one at a time: bwrap {total['bwrap'] / n:.2f} s per notebook, "
          f"none {total['none'] / n:.2f} s; ratio {total['bwrap'] / total['none']:.3f} "
          f"({100 * (total['bwrap'] / total['none'] - 1):+.1f}%)")
    print(f"empty notebook (median of 3): bwrap {fixed['bwrap']:.2f} s, none "
          f"{fixed['none']:.2f} s: the sandbox's fixed cost is "
          f"{fixed['bwrap'] - fixed['none']:+.2f} s, "
          f"{100 * (fixed['bwrap'] - fixed['none']) / (total['none'] / n):+.1f}% of a demo "
          "notebook's run")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 4)
