"""Stage `cases`: the test cases and their datasets.

With the procedural generator, cases come from the suite file (`suite.path`);
with `generate=import`, from the folder of your notebooks (`generate.input`).
Writes data/cases/cases.jsonl and one folder of tables per case under
data/cases/datasets/.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from nbjudge.benchmark.importer import copy_case_data, read_notebook_folder
from nbjudge.benchmark.suites import build_cases
from nbjudge.config import load_params, run_stage
from nbjudge.schemas import write_records

OUT = Path("data/cases")


def main() -> None:
    params = load_params("params.yaml", "suite", "seed", "generate")
    shutil.rmtree(OUT / "datasets", ignore_errors=True)
    if params.generate.backend == "import":
        imported = read_notebook_folder(params.generate.input)
        copy_case_data(imported, OUT / "datasets")
        cases, source = imported.cases, f"folder {params.generate.input}"
    else:
        cases = build_cases(params.suite.path, int(params.seed), OUT / "datasets")
        source = f"suite {params.suite.name!r}"
    write_records(OUT / "cases.jsonl", cases)
    notebooks = sum(case.notebooks for case in cases)
    print(f"cases: {len(cases)} cases from {source}, {notebooks} notebooks -> "
          f"{OUT}/cases.jsonl")


if __name__ == "__main__":
    sys.exit(run_stage(main))
