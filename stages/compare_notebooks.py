"""Stage `compare-notebooks`: every arm's notebooks, built and executed (off without arms).

    python -m stages.compare_notebooks --cases data/cases --out data/compare/notebooks
        [--params params.yaml]

Reads `compare.arms` (conf/compare/): procedural arms through the procedural
generator, `llm` arms through the writer (plan printed and checked first), `import`
arms through the importer; then every notebook through the sandboxed execution of
the `execute` section (imports keep their outputs by `execute.mode`). Writes the
notebooks, `index.jsonl`, `cases.jsonl`, `blueprint.jsonl`, `generation.jsonl` and
`arms.json` under `--out` (`nbjudge.compare.build`). With no arms it writes them
empty and runs nothing.
"""

from __future__ import annotations

import sys
from collections import Counter

from nbjudge.compare.arms import parse_arms
from nbjudge.compare.build import build_arms
from nbjudge.stage import StageCommand, run_stage


def main(argv: list[str] | None = None) -> None:
    stage = StageCommand("compare-notebooks", __doc__).path("--cases").path("--out")
    args, params = stage.parse(argv, "compare", "execute", "seed")
    arms = parse_arms(params.compare)
    built = build_arms(arms, params, cases_dir=args.cases, out=args.out)
    if not arms:
        stage.done(f"off (compare.arms is empty) -> {args.out}")
        return
    for note in built.notes:
        print(f"  {note}")
    per_arm = Counter(built.arm_of.values())
    status = Counter(n.execution.status for n in built.index if n.execution is not None)
    seconds = sum(n.execution.seconds or 0.0 for n in built.index if n.execution is not None)
    stage.done(", ".join(f"{arm} {per_arm[arm]}" for arm in (a.name for a in arms))
               + f" notebooks on {len({n.case_id for n in built.index})} cases ("
               + ", ".join(f"{count} {s}" for s, count in sorted(status.items()))
               + f"; {seconds:.0f} s of kernel time) -> {args.out}/")


if __name__ == "__main__":
    sys.exit(run_stage(main))
