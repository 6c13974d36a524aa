"""Stage `register`: align the nine judges on every label and register them in MLflow.

    python -m stages.register [--params params.yaml] [--out data/registered/judges.json]

The registered judges (``nbjudge_<dimension>``, MemAlign's full memory) are what
``python -m nbjudge score NOTEBOOK.ipynb`` grades new notebooks with. The run's
parameters are logged to an MLflow run named ``register-judges``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

from nbjudge.alignment.final import align_final, register_judges
from nbjudge.alignment.memalign import MemAlignSettings
from nbjudge.config import as_plain, load_params, run_stage
from nbjudge.judges.backends import LLMConfig, check_credentials, open_backend
from nbjudge.judges.batch import CACHE_ROOT, render_options
from nbjudge.judges.pipeline import load_views
from nbjudge.judges.tracing import (
    NotebookTrace,
    ensure_traces,
    log_human_labels,
    resolve_tracking_uri,
    setup_tracking,
)
from nbjudge.schemas import Case, Label, Notebook, read_records


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--index", default="data/notebooks/executed/index.jsonl")
    parser.add_argument("--cases", default="data/cases/cases.jsonl")
    parser.add_argument("--labels", default="data/labels/labels.jsonl")
    parser.add_argument("--out", type=Path, default=Path("data/registered/judges.json"))
    args = parser.parse_args(argv)

    params = load_params(args.params, "llm", "judge", "memalign")
    llm = LLMConfig.from_mapping(as_plain(params.llm))
    check_credentials(llm)
    settings = MemAlignSettings.from_mapping(as_plain(params.memalign))
    if llm.banner:
        print(llm.banner)
    judge = as_plain(params.judge)
    views = load_views(read_records(args.index, Notebook), read_records(args.cases, Case),
                       render_options(judge))
    labels = read_records(args.labels, Label)
    labelled: dict[str, set[str]] = defaultdict(set)
    for label in labels:
        labelled[label.dimension].add(label.notebook_id)

    import mlflow

    experiment_id = setup_tracking(resolve_tracking_uri(judge.get("tracking_uri")),
                                   judge["experiment"])
    trace_ids = ensure_traces([NotebookTrace(v.notebook_id, v.task_prompt, v.outputs)
                               for v in views], experiment_id)
    log_human_labels(labels, trace_ids)
    traces = {n: mlflow.get_trace(t) for n, t in trace_ids.items()}
    with open_backend(llm, embeddings=True, cache_dir=CACHE_ROOT,
                      log_dir=CACHE_ROOT / "logs") as backend:
        aligned = align_final(traces, labelled, llm=llm, backend=backend, settings=settings)
    registered = register_judges(aligned, experiment_id)
    facts = {"judge_model": f"{llm.backend}:{llm.model}", "smoke": llm.smoke,
             "notebooks": len(views), "labels": len(labels),
             "retrieval_k": settings.retrieval_k, "embedding_dim": settings.embedding_dim,
             "reflection_model": settings.reflection_model or "the judge's model"}
    with mlflow.start_run(run_name="register-judges"):
        mlflow.log_params(facts)
        mlflow.log_dict({"judges": registered}, "registered_judges.json")
        if llm.banner:
            mlflow.set_tag("mlflow.note.content", llm.banner)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"params": facts, "judges": registered}, indent=2) + "\n",
                        encoding="utf-8")
    print(f"register: {len(registered)} aligned judges registered "
          f"({', '.join(r['name'] for r in registered[:2])}, ...) -> {args.out}")


if __name__ == "__main__":
    sys.exit(run_stage(main))
