"""Stage `register`: align the nine judges on every label and register them in MLflow.

    python -m stages.register --index data/notebooks/executed/index.jsonl
        --cases data/cases/cases.jsonl --labels data/labels/labels.jsonl
        --out data/registered/judges.json [--params params.yaml]

The registered judges (`nbjudge_<dimension>`, MemAlign's full memory) are what
`python -m nbjudge score NOTEBOOK.ipynb` grades new notebooks with. The run's
parameters are logged to an MLflow run named `register-judges`. The record names each
judge by its digest; the registry's version (which depends on what `mlflow.db` already
held) goes to that run and to `.nbjudge-cache/runlog/data/registered/judges.json.jsonl`,
not into the record (`nbjudge.alignment.final.judge_digest`). Before sending
anything it prints its plan (an upper bound) and stops when the plan goes over
`llm.max_requests` or `llm.max_cost`.
"""

from __future__ import annotations

import sys

from nbjudge.alignment.final import align_final, log_registration_run, register_judges
from nbjudge.alignment.memalign import ConsensusRule
from nbjudge.judges.batch import load_judging_inputs
from nbjudge.llm.backends import open_backend
from nbjudge.llm.cache import CACHE_ROOT
from nbjudge.plan import announce
from nbjudge.plan.judging import registration_plan
from nbjudge.runlog import set_aside
from nbjudge.schemas import Registration, write_json_record
from nbjudge.stage import StageCommand, run_stage


def main(argv: list[str] | None = None) -> None:
    stage = (StageCommand("register", __doc__).path("--index").path("--cases").path("--labels")
             .path("--out"))
    args, params = stage.parse(argv, "llm", "judge", "memalign", "stats")
    settings, stats = params.memalign, params.stats
    inputs = load_judging_inputs(params, index=args.index, cases=args.cases, labels=args.labels)
    llm = inputs.llm
    announce(registration_plan(inputs.views, inputs.labels, llm, settings), llm)
    with open_backend(llm, embeddings=True, cache_dir=CACHE_ROOT,
                      log_dir=CACHE_ROOT / "logs") as backend:
        aligned = align_final(
            inputs.traces(), inputs.labelled(), llm=llm, backend=backend, settings=settings,
            labels=inputs.labels, experiment_id=inputs.experiment_id,
            consensus_rule=ConsensusRule(stats.consensus, stats.consensus_na, stats.na_policy))
    registration = Registration(
        params={"judge_model": f"{llm.backend}:{llm.model}", "smoke": llm.smoke,
                "notebooks": len(inputs.views), "labels": len(inputs.labels),
                "retrieval_k": settings.retrieval_k, "embedding_dim": settings.embedding_dim,
                "reflection_model": settings.reflection_model or "the judge's model"},
        judges=register_judges(aligned, inputs.experiment_id))
    log_registration_run(registration, llm.banner)
    write_json_record(args.out, set_aside([registration], args.out)[0])
    names = ", ".join(f"{judge.name} version {judge.version}"
                      for judge in registration.judges[:2])
    stage.done(f"{len(registration.judges)} aligned judges registered ({names}, ...) "
               f"-> {args.out}")


if __name__ == "__main__":
    sys.exit(run_stage(main))
