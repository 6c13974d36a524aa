"""nbjudge's command line.

``python -m nbjudge score NOTEBOOK.ipynb``: grade a notebook with the registered judges.

Reads the ``llm`` and ``judge`` sections of ``params.yaml`` (the same model and
tracking store the pipeline used), starts the local server when the backend is
``local``, and prints the nine scores with their rationales.

``python -m nbjudge labels-template OUT.csv``: a label file for experts to fill,
one row per notebook of ``data/notebooks/index.jsonl`` and dimension.

``python -m nbjudge import-check FOLDER``: what ``generate=import`` would make of a
folder of notebooks (prompt source, task type, outputs, tokens, what the judge's budget
cuts), before any judgment is paid for.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nbjudge.config import as_plain, load_params


def _score(args: argparse.Namespace) -> int:
    import nbformat

    from nbjudge.alignment.final import load_registered_judges, score_notebook
    from nbjudge.judges.batch import render_options
    from nbjudge.judges.dimension import notebook_outputs
    from nbjudge.judges.tracing import resolve_tracking_uri, setup_tracking
    from nbjudge.llm.backends import LLMConfig, check_credentials, open_backend
    from nbjudge.llm.cache import CACHE_ROOT
    from nbjudge.notebooks.render import render_notebook

    params = load_params(args.params, "llm", "judge")
    llm = LLMConfig.from_mapping(as_plain(params.llm))
    check_credentials(llm)
    judge = as_plain(params.judge)
    try:
        notebook = nbformat.read(args.notebook, as_version=4)
    except FileNotFoundError:
        raise ValueError(f"{args.notebook}: no such notebook") from None
    except Exception as error:  # nbformat raises several types for malformed files
        raise ValueError(f"{args.notebook}: not a readable notebook ({error})") from None
    retrieval_k = int((params.get("memalign") or {}).get("retrieval_k", 0))
    outputs = notebook_outputs(args.prompt, render_notebook(
        notebook, render_options(judge, llm, retrieval_k)))
    experiment_id = setup_tracking(resolve_tracking_uri(judge.get("tracking_uri")),
                                   judge["experiment"])
    judges = load_registered_judges(experiment_id)
    if llm.banner:
        print(llm.banner)
    with open_backend(llm, embeddings=True, cache_dir=CACHE_ROOT, log_dir=CACHE_ROOT / "logs"):
        rows = score_notebook(judges, outputs)
    width = max(len(r["dimension"]) for r in rows)
    for row in rows:
        score = row["score"] if row["error"] is None else "failed"
        text = row["rationale"] if row["error"] is None else row["error"]
        print(f"{row['dimension']:<{width}}  {score!s:>6}  {' '.join(text.split())[:160]}")
    return 0 if all(r["error"] is None for r in rows) else 2


def _labels_template(args: argparse.Namespace) -> int:
    from nbjudge.benchmark.labels import write_label_template
    from nbjudge.schemas import DIMENSIONS, Notebook, read_records

    if not args.index.is_file():
        raise ValueError(f"{args.index}: no notebook index (run `dvc repro generate` first)")
    notebooks = read_records(args.index, Notebook)
    rows = write_label_template([n.notebook_id for n in notebooks], args.out,
                                rater_id=args.rater)
    print(f"{args.out}: {rows} rows ({len(notebooks)} notebooks x {len(DIMENSIONS)} "
          f"dimensions) to fill with a score (1, 2, 3 or N/A) and a rationale; then -S labels=file "
          f"-S labels.path={args.out}")
    return 0


def _import_check(args: argparse.Namespace) -> int:
    from nbjudge.benchmark.importer import check_folder
    from nbjudge.judges.batch import render_options
    from nbjudge.llm.backends import LLMConfig

    params = load_params(args.params, "llm", "judge")
    llm = LLMConfig.from_mapping(as_plain(params.llm))
    retrieval_k = int((params.get("memalign") or {}).get("retrieval_k", 0))
    options = render_options(as_plain(params.judge), llm, retrieval_k)
    rows = check_folder(args.folder, options)
    print(f"{len(rows)} notebook(s) in {args.folder}; the judge ({llm.backend}:{llm.model}) "
          f"reads {options.max_tokens:,} tokens of each")
    header = ("notebook", "case", "prompt from", "task type", "code", "w/ output", "tokens",
              "judged", "cut by the budget")
    table = [(r.file, r.case_id, r.prompt_source, r.task_type, str(r.code_cells),
              str(r.cells_with_outputs), f"{r.tokens:,}", f"{r.judged_tokens:,}",
              "; ".join(r.cuts) or "nothing") for r in rows]
    widths = [max(len(row[i]) for row in [header, *table]) for i in range(len(header) - 1)]
    for row in [header, *table]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  "
              + row[-1])
    no_outputs = sum(r.cells_with_outputs == 0 for r in rows)
    if no_outputs:
        print(f"{no_outputs} notebook(s) have no outputs: the judges see their code only "
              "(imported notebooks are judged as they came; -S execute.mode=auto runs those "
              "without outputs in the sandbox)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nbjudge",
                                     description="nbjudge command line")
    sub = parser.add_subparsers(dest="command", required=True)
    score = sub.add_parser("score", help="grade a notebook with the registered aligned judges")
    score.add_argument("notebook", type=Path)
    score.add_argument("--prompt", default="(no task prompt given)",
                       help="the task the notebook was written for")
    score.add_argument("--params", default="params.yaml")
    score.set_defaults(run=_score)
    template = sub.add_parser("labels-template",
                              help="a CSV of every notebook and dimension for experts to grade")
    template.add_argument("out", type=Path)
    template.add_argument("--index", type=Path, default=Path("data/notebooks/index.jsonl"))
    template.add_argument("--rater", default="expert_1", help="rater_id of every row")
    template.set_defaults(run=_labels_template)
    check = sub.add_parser("import-check",
                           help="what importing a folder of notebooks would give, judged how")
    check.add_argument("folder", type=Path)
    check.add_argument("--params", default="params.yaml")
    check.set_defaults(run=_import_check)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
