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

import shutil
import sys

from nbjudge.benchmark.procedural import LevelDistribution, generate_notebooks
from nbjudge.errors import BackendError
from nbjudge.params import need
from nbjudge.schemas import Case, GenerationAttempt, read_records, write_records
from nbjudge.stage import StageCommand, run_stage


def main(argv: list[str] | None = None) -> None:
    stage = (StageCommand("generate", __doc__).path("--cases").path("--out").path("--index")
             .path("--attempts").path("--blueprint"))
    args, params = stage.parse(argv, "generate", "seed")
    generate = params.generate
    shutil.rmtree(args.out, ignore_errors=True)
    attempts: list[GenerationAttempt] = []
    if generate.backend == "procedural":
        distribution = LevelDistribution(default=generate.levels.default,
                                         per_dimension=dict(generate.levels.per_dimension))
        cases = read_records(args.cases / "cases.jsonl", Case)
        index, blueprint = generate_notebooks(cases, params.seed, args.out, distribution)
    elif generate.backend == "import":
        from nbjudge.benchmark.importer import copy_notebooks, read_notebook_folder

        imported = read_notebook_folder(generate.input, notebooks_dir=args.out)
        copy_notebooks(imported, args.out)
        index, blueprint = imported.notebooks, []
    else:
        from nbjudge.plan import announce
        from nbjudge.plan.writing import writing_plan
        from nbjudge.writer import WriterSettings, write_notebooks, writer_config

        settings = WriterSettings.from_params(generate, params.seed)
        config = writer_config(need(params.llm, "llm"), generate.writer,
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
            raise BackendError(f"no answer of the writer became a notebook; the raw answers "
                               f"and errors are in {args.attempts}")
    write_records(args.index, index)
    write_records(args.blueprint, blueprint)
    write_records(args.attempts, attempts)
    print(f"generate ({generate.backend}): {len(index)} notebooks -> {args.out}/, index "
          f"{args.index}, blueprint {args.blueprint} ({len(blueprint)} entries, never shown to "
          "judges)")


if __name__ == "__main__":
    sys.exit(run_stage(main))
