"""Stage `generate`: notebooks for every test case.

    python -m stages.generate --cases data/cases --out data/notebooks/generated
        --index data/notebooks/index.jsonl --attempts data/notebooks/generation.jsonl
        --blueprint data/blueprint/blueprint.jsonl [--params params.yaml]

Backend `procedural` (default) writes runnable notebooks with known defects and
their blueprint; backend `llm` has a model write them from each case's prompt
and tables; backend `import` brings in a folder of your own notebooks (the
blueprint is empty for `llm` and `import`). `--attempts` gets one record per
requested notebook with `generate=llm`, failures and raw answers included
(empty otherwise).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from nbjudge.benchmark.procedural import LevelDistribution, generate_notebooks
from nbjudge.config import ConfigError, as_plain, load_params, run_stage
from nbjudge.schemas import Case, GenerationAttempt, read_records, write_records


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--cases", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--attempts", type=Path, required=True)
    parser.add_argument("--blueprint", type=Path, required=True)
    args = parser.parse_args(argv)

    params = load_params(args.params, "generate", "seed")
    backend = params.generate.backend
    shutil.rmtree(args.out, ignore_errors=True)
    attempts: list[GenerationAttempt] = []
    if backend == "procedural":
        distribution = LevelDistribution.from_mapping(as_plain(params.generate.levels))
        cases = read_records(args.cases / "cases.jsonl", Case)
        index, blueprint = generate_notebooks(cases, int(params.seed), args.out, distribution)
    elif backend == "import":
        from nbjudge.benchmark.importer import copy_notebooks, read_notebook_folder

        imported = read_notebook_folder(params.generate.input, notebooks_dir=args.out)
        copy_notebooks(imported, args.out)
        index, blueprint = imported.notebooks, []
    elif backend == "llm":
        from nbjudge.plan import announce
        from nbjudge.plan.writing import writing_plan
        from nbjudge.writer import WriterSettings, write_notebooks, writer_config

        params = load_params(args.params, "generate", "seed", "llm")
        generate = as_plain(params.generate)
        settings = WriterSettings.from_params(generate, int(params.seed))
        config = writer_config(as_plain(params.llm), generate.get("writer"),
                               settings.max_output_tokens)
        cases = read_records(args.cases / "cases.jsonl", Case)
        announce(writing_plan(cases, settings, config, args.cases / "datasets"), config)
        result = write_notebooks(cases, settings,
                                 config, out_dir=args.out, datasets_dir=args.cases / "datasets")
        index, blueprint, attempts = result.notebooks, [], result.attempts
        write_records(args.attempts, attempts)
        print(f"generate (llm, {config.backend}:{config.model}): {result.line()} "
              f"-> {args.attempts}")
        for attempt in attempts:
            if attempt.error:
                print(f"  {attempt.notebook_id}: {attempt.status}: {attempt.error[:200]}")
        if not index:
            raise ValueError(f"no answer of the writer became a notebook; the raw answers and "
                             f"errors are in {args.attempts}")
    else:
        raise ConfigError(f"generate.backend {backend!r} is not known: "
                          "use procedural, llm or import")
    write_records(args.index, index)
    write_records(args.blueprint, blueprint)
    write_records(args.attempts, attempts)
    print(f"generate ({backend}): {len(index)} notebooks -> {args.out}/, index {args.index}, "
          f"blueprint {args.blueprint} ({len(blueprint)} entries, never shown to judges)")


if __name__ == "__main__":
    sys.exit(run_stage(main))
