"""Importing and rendering notebooks the size agents write: throughput and peak memory.

Writes N notebooks of about 100 KB each (default 500: markdown, 40 code cells with
long stream outputs and an image, made deterministically here), then times
``read_notebook_folder`` (read, validate, group into cases) and rendering every
notebook for a hosted model's budget (``RenderOptions(max_tokens=20_000)``) and for
a small one (6,000 tokens, where shrinking works hardest). Prints notebooks per
second and the peak resident memory of the process, measured in one run.

    .venv/bin/python bench/bench_import.py [N]
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from nbjudge.benchmark.importer import read_notebook_folder
from nbjudge.notebooks.render import RenderOptions, render


def agent_notebook(i: int) -> nbformat.NotebookNode:
    cells = [new_markdown_cell(f"# Task {i}\nPredict which customers churn next month.")]
    for k in range(40):
        cells.append(new_code_cell(
            f"frame['f{k}'] = frame['x'].rolling({k + 2}).mean()\nprint(frame['f{k}'].describe())",
            execution_count=k + 1,
            outputs=[new_output("stream", name="stdout", text=f"count {k}  mean 0.5\n" * 110)]))
    cells.append(new_code_cell("frame.plot()", execution_count=41, outputs=[
        new_output("display_data", data={"image/png": "iVBORw0KGgo" * 200})]))
    return new_notebook(cells=cells)


def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for i in range(count):
            nbformat.write(agent_notebook(i), folder / f"run_{i:04d}.ipynb")
        size = sum(p.stat().st_size for p in folder.glob("*.ipynb")) / count
        started = time.perf_counter()
        imported = read_notebook_folder(folder)
        imported_s = time.perf_counter() - started
        print(f"{count} notebooks of {size / 1024:.0f} KB on average")
        print(f"import (read, validate, group): {imported_s:.2f} s, "
              f"{count / imported_s:.0f} notebooks/s")
        for budget in (20_000, 6_000):
            started = time.perf_counter()
            cut = 0
            for file in imported.sources.values():
                rendered = render(nbformat.read(folder / file, as_version=4),
                                  RenderOptions(max_tokens=budget))
                cut += rendered.cut
            seconds = time.perf_counter() - started
            print(f"read + render at {budget:,} tokens: {seconds:.2f} s, "
                  f"{count / seconds:.0f} notebooks/s, {cut} of {count} shortened")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak:.0f} MB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
