"""Stage `generate`: notebooks for every test case.

Backend `procedural` (default) writes runnable notebooks with known defects and
their blueprint; backend `llm` has a model write them from each case's prompt
and tables; backend `import` brings in a folder of your own notebooks (the
blueprint is empty for `llm` and `import`). Writes
data/notebooks/generated/*.ipynb, data/notebooks/index.jsonl,
data/notebooks/generation.jsonl (one record per requested notebook with
`generate=llm`, failures and raw answers included; empty otherwise) and
data/blueprint/blueprint.jsonl.
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
GENERATION_LOG = Path("data/notebooks/generation.jsonl")
BLUEPRINT = Path("data/blueprint/blueprint.jsonl")


def main() -> None:
    params = load_params("params.yaml", "generate", "seed")
    backend = params.generate.backend
    shutil.rmtree(OUT, ignore_errors=True)
    attempts: list = []
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
    elif backend == "llm":
        from nbjudge.writer import WriterSettings, write_notebooks, writer_config

        params = load_params("params.yaml", "generate", "seed", "llm")
        generate = as_plain(params.generate)
        settings = WriterSettings.from_params(generate, int(params.seed))
        config = writer_config(as_plain(params.llm), generate.get("writer"),
                               settings.max_output_tokens)
        cases = read_records("data/cases/cases.jsonl", Case)
        result = write_notebooks(cases, settings, config, out_dir=OUT,
                                 datasets_dir="data/cases/datasets")
        index, blueprint, attempts = result.notebooks, [], result.attempts
        write_records(GENERATION_LOG, attempts)
        print(f"generate (llm, {config.backend}:{config.model}): {result.line()} "
              f"-> {GENERATION_LOG}")
        for attempt in attempts:
            if attempt.error:
                print(f"  {attempt.notebook_id}: {attempt.status}: {attempt.error[:200]}")
        if not index:
            raise ValueError(f"no answer of the writer became a notebook; the raw answers and "
                             f"errors are in {GENERATION_LOG}")
    else:
        raise ConfigError(f"generate.backend {backend!r} is not known: "
                          "use procedural, llm or import")
    write_records(INDEX, index)
    write_records(BLUEPRINT, blueprint)
    if backend != "llm":
        write_records(GENERATION_LOG, attempts)
    print(f"generate ({backend}): {len(index)} notebooks -> {OUT}/, index {INDEX}, "
          f"blueprint {BLUEPRINT} ({len(blueprint)} entries, never shown to judges)")


if __name__ == "__main__":
    sys.exit(run_stage(main))
