"""Stage `align@<variant>`: MemAlign per fold and dimension, out-of-fold judgments.

    python -m stages.align --memory full|semantic_only --folds data/folds.json
        --index data/notebooks/executed/index.jsonl --cases data/cases/cases.jsonl
        --labels data/labels/labels.jsonl --out data/judgments/full.jsonl
        --audit data/alignment/full [--params params.yaml]

For each CV repeat and fold: align the nine judges on the human feedback of
the other folds, judge the held-out notebooks, check for fold leakage, and
write the judgments to `--out` and one audit per fold and dimension under
`--audit`. Judge answers are cached like the baseline's; DSPy caches the
distillation and embedding calls, so a rerun or a resume after a kill sends
only what is missing.

Before sending anything it prints its plan (an upper bound: what MemAlign
distils is not known before), writes it to `--audit`/plan.json for the
report, and stops when the plan goes over `llm.max_requests` or `llm.max_cost`.
"""

from __future__ import annotations

import shutil
import sys

from nbjudge.alignment import read_folds
from nbjudge.alignment.crossval import cross_validate
from nbjudge.alignment.memalign import MEMORY_VARIANTS, ConsensusRule
from nbjudge.judges.batch import load_judging_inputs
from nbjudge.judges.tracing import log_judgments
from nbjudge.llm.backends import open_backend
from nbjudge.llm.cache import CACHE_ROOT
from nbjudge.plan import announce
from nbjudge.plan.judging import Fold, alignment_plan
from nbjudge.runlog import set_aside
from nbjudge.schemas import write_records
from nbjudge.stage import StageCommand, run_stage


def main(argv: list[str] | None = None) -> None:
    stage = (StageCommand("align", __doc__).option("--memory", required=True,
                                                   choices=list(MEMORY_VARIANTS))
             .path("--folds").path("--index").path("--cases").path("--labels").path("--out")
             .path("--audit"))
    args, params = stage.parse(argv, "llm", "judge", "memalign", "stats")
    settings, stats = params.memalign, params.stats
    assignments = read_folds(args.folds)
    inputs = load_judging_inputs(params, index=args.index, cases=args.cases, labels=args.labels)

    shutil.rmtree(args.audit, ignore_errors=True)  # no stale folds
    folds = [Fold(a.repeat, f, a.train_ids(f), a.test_ids(f))
             for a in assignments for f in range(a.k)]
    announce(alignment_plan(inputs.views, inputs.labels, folds, inputs.llm, settings,
                            args.memory), inputs.llm, args.audit / "plan.json")
    with open_backend(inputs.llm, embeddings=True, cache_dir=CACHE_ROOT,
                      log_dir=CACHE_ROOT / "logs") as backend:
        judgments, summary, audits = cross_validate(
            inputs.views, inputs.traces(), inputs.labelled(), assignments,
            variant=args.memory, llm=inputs.llm, judge=inputs.judge, settings=settings,
            backend=backend, audit_root=args.audit, labels=inputs.labels,
            consensus_rule=ConsensusRule(stats.consensus, stats.consensus_na, stats.na_policy))
    write_records(args.out, set_aside(judgments, args.out))
    log_judgments(judgments, inputs.trace_ids)
    seconds = sum(a.seconds for a in audits)
    print(f"align@{args.memory}: {len(audits)} alignments in {seconds:.0f} s "
          f"({seconds / max(len(audits), 1):.1f} s each); {summary.line()} -> {args.out}")


if __name__ == "__main__":
    sys.exit(run_stage(main))
