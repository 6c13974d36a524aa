"""Stage `generate`: notebooks for every test case.

Backend `procedural` (default) writes runnable notebooks with known defects and
their blueprint; backend `import` brings in a folder of your own notebooks
(the blueprint is then empty). Writes data/notebooks/generated/*.ipynb,
data/notebooks/index.jsonl and data/blueprint/blueprint.jsonl.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from nbjudge.benchmark.generator import LevelDistribution, generate_notebooks
from nbjudge.config import ConfigError, as_plain, load_params, run_stage
from nbjudge.schemas import Case, read_records, write_records

OUT = Path("data/notebooks/generated")
INDEX = Path("data/notebooks/index.jsonl")
BLUEPRINT = Path("data/blueprint/blueprint.jsonl")


def main() -> None:
    params = load_params("params.yaml", "generate", "seed")
    backend = params.generate.backend
    shutil.rmtree(OUT, ignore_errors=True)
    if backend == "procedural":
        levels = as_plain(params.generate.levels)
        distribution = LevelDistribution(
            default=tuple(levels["default"]),
            per_dimension={k: tuple(v) for k, v in (levels.get("per_dimension") or {}).items()},
        )
        cases = read_records("data/cases/cases.jsonl", Case)
        index, blueprint = generate_notebooks(cases, int(params.seed), OUT, distribution)
    elif backend == "import":
        from nbjudge.benchmark.importer import copy_notebooks, read_notebook_folder

        imported = read_notebook_folder(params.generate.input, notebooks_dir=OUT)
        copy_notebooks(imported, OUT)
        index, blueprint = imported.notebooks, []
    else:
        raise ConfigError(f"generate.backend {backend!r} is not known: use procedural or import")
    write_records(INDEX, index)
    write_records(BLUEPRINT, blueprint)
    print(f"generate ({backend}): {len(index)} notebooks -> {OUT}/, index {INDEX}, "
          f"blueprint {BLUEPRINT} ({len(blueprint)} entries, never shown to judges)")


if __name__ == "__main__":
    sys.exit(run_stage(main))
