"""Stage `cases`: the test cases and their datasets.

    python -m stages.cases --out data/cases [--params params.yaml]

With the procedural generator, cases come from the suite file (`suite.path`);
with `generate=import`, from the folder of your notebooks (`generate.input`).
Writes `<out>/cases.jsonl` and one folder of tables per case under
`<out>/datasets/`. With `generate.prompt: infer`, the judge model (`llm`) states the
task of each imported notebook that does not state one.
"""

from __future__ import annotations

import shutil
import sys

from nbjudge.benchmark.importer import TaskStater, copy_case_data, read_notebook_folder
from nbjudge.benchmark.suites import build_cases
from nbjudge.params import need
from nbjudge.schemas import write_records
from nbjudge.stage import StageCommand, run_stage


def main(argv: list[str] | None = None) -> None:
    stage = StageCommand("cases", __doc__).path("--out")
    args, params = stage.parse(argv, "suite", "seed", "generate")
    shutil.rmtree(args.out / "datasets", ignore_errors=True)
    if params.generate.backend == "import":
        stater: TaskStater | None = None
        if params.generate.prompt == "infer":
            from nbjudge.benchmark.importer.stating import task_stater

            stater = task_stater(need(params.llm, "llm"), progress=True)
        imported = read_notebook_folder(params.generate.input, stater=stater)
        copy_case_data(imported, args.out / "datasets")
        cases, source = imported.cases, f"folder {params.generate.input}"
        for warning in imported.warnings:
            print(f"cases: warning: {warning}")
        prompts = {c.case_id: c.prompt for c in cases}
        for notebook in imported.notebooks:
            if imported.prompt_sources[notebook.notebook_id] == "inferred":
                print(f"cases: {imported.sources[notebook.notebook_id]}: task inferred by the "
                      f"judge model ({imported.prompt_notes[notebook.notebook_id]}): "
                      f"{prompts[notebook.case_id]}")
    else:
        cases = build_cases(params.suite.path, params.seed, args.out / "datasets")
        source = f"suite {params.suite.name!r}"
    write_records(args.out / "cases.jsonl", cases)
    notebooks = sum(case.notebooks for case in cases)
    stage.done(f"{len(cases)} cases from {source}, {notebooks} notebooks -> "
               f"{args.out}/cases.jsonl")


if __name__ == "__main__":
    sys.exit(run_stage(main))
