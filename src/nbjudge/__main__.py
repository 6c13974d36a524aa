"""nbjudge's command line.

``python -m nbjudge score NOTEBOOK.ipynb``: grade a notebook with the registered judges.

Reads the ``llm`` and ``judge`` sections of ``params.yaml`` (the same model and
tracking store the pipeline used), loads the judge versions that
``data/registered/judges.json`` records, checks that each rebuilds from the tracking
store the episodic examples it was aligned with (count and labels; it stops when they
are gone or changed), starts the local server when the backend is ``local``, and prints
each judge's memory and the nine scores with their rationales.

``python -m nbjudge labels-template OUT.csv``: a label file for experts to fill,
one row per notebook of ``data/notebooks/index.jsonl`` and dimension.

``python -m nbjudge import-check FOLDER``: what ``generate=import`` would make of a
folder of notebooks (each prompt, its source, the task type and what shows it, the doubtful
ones, outputs, tokens, what the judge's budget cuts), before any judgment is paid for.

``python -m nbjudge plan [-S group=option ...]``: the requests every stage that calls a
model will send (those the answer cache does not hold), their prompt tokens, an upper
bound of reply tokens and their price, per stage and in total; offline, no key needed.

``python -m nbjudge gate [RESULTS]``: the release gate over a comparison's records
(default ``data/compare/comparisons.jsonl``), tolerances and margins from ``compare.gate`` of
``params.yaml`` unless options override them: exit 0 (no regression beyond tolerance), 1
(a regression), 2 (cannot decide, or any error); a Markdown summary and JUnit XML.

``python -m nbjudge compare grading-list --fraction 0.2 --seed 42``: which compared notebooks
experts grade (seeded, stratified by arm and case), as a label template and, with
``--raters``, MLflow grading traces.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbjudge.errors import InputError, NbjudgeError
from nbjudge.offline import offline
from nbjudge.params import load_params, need

if TYPE_CHECKING:
    from nbjudge.compare.gate import GateSettings


def _score(args: argparse.Namespace) -> int:
    import nbformat

    from nbjudge.alignment.final import registered_dimension_judges, score_notebook
    from nbjudge.judges.batch import render_options
    from nbjudge.judges.dimension import notebook_outputs
    from nbjudge.llm.backends import check_credentials, open_backend
    from nbjudge.llm.cache import CACHE_ROOT
    from nbjudge.notebooks.render import render_notebook

    params = load_params(args.params, "llm", "judge")
    llm = need(params.llm, "llm")
    check_credentials(llm)
    judge = params.judge_settings()
    try:
        notebook = nbformat.read(args.notebook, as_version=4)
    except FileNotFoundError:
        raise InputError(f"{args.notebook}: no such notebook") from None
    except Exception as error:  # nbformat raises several types for malformed files
        raise InputError(f"{args.notebook}: not a readable notebook ({error})") from None
    retrieval_k = params.memalign.retrieval_k if params.memalign else 0
    outputs = notebook_outputs(args.prompt, render_notebook(
        notebook, render_options(judge, llm, retrieval_k)))
    loaded = registered_dimension_judges(
        llm, judge, args.registration,
        missing="run the pipeline first (`make repro`, stage `register`) or pass "
                "--registration")
    judges, examples = {d: j.judge for d, j in loaded.judges.items()}, loaded.examples
    if llm.banner:
        print(llm.banner)
    print(f"episodic examples rebuilt from the tracking store, as {args.registration} records "
          "them (count and labels): " + ", ".join(f"{d} {n}" for d, n in examples.items()))
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
        raise InputError(f"{args.index}: no notebook index (run `dvc repro generate` first)")
    notebooks = read_records(args.index, Notebook)
    rows = write_label_template([n.notebook_id for n in notebooks], args.out,
                                rater_id=args.rater)
    print(f"{args.out}: {rows} rows ({len(notebooks)} notebooks x {len(DIMENSIONS)} "
          f"dimensions) to fill with a score (1, 2, 3 or N/A) and a rationale; then -S labels=file "
          f"-S labels.path={args.out}")
    return 0


def _import_check(args: argparse.Namespace) -> int:
    from nbjudge.benchmark.importer import TaskStater, check_folder
    from nbjudge.judges.batch import render_options

    params = load_params(args.params, "llm", "judge")
    llm = need(params.llm, "llm")
    retrieval_k = params.memalign.retrieval_k if params.memalign else 0
    options = render_options(params.judge_settings(), llm, retrieval_k)
    stater: TaskStater | None = None
    if args.infer or getattr(params.generate, "prompt", None) == "infer":
        from nbjudge.benchmark.importer.stating import task_stater

        stater = task_stater(llm)
    rows, warnings = check_folder(args.folder, options, stater)
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
    print("\nWhat each notebook will be judged against (? marks a doubt):")
    for r in rows:
        prompt = r.prompt if len(r.prompt) <= 100 else r.prompt[:97] + "..."
        note = f" ({r.prompt_note})" if r.prompt_note else ""
        source = {"unknown": "no task prompt", "inferred": "prompt inferred by the judge model"
                  }.get(r.prompt_source, f"prompt from {r.prompt_source}")
        print(f"{'?' if r.doubts else ' '} {r.file}: {source}{note}")
        print(f"    \"{prompt}\"")
        print(f"    task type {r.task_type} ({r.task_type_evidence or 'no evidence'})")
        if r.doubts:
            print(f"    doubtful: {'; '.join(r.doubts)}")
    doubtful = sum(bool(r.doubts) for r in rows)
    if doubtful:
        print(f"{doubtful} of {len(rows)} notebook(s) doubtful: check their prompts; a row "
              "file,prompt,task_type in prompts.csv beside the notebooks states the task")
    for warning in warnings:
        print(f"warning: {warning}")
    return 0


def _plan(args: argparse.Namespace) -> int:
    import tempfile

    from nbjudge.config import compose_params
    from nbjudge.plan import format_plans
    from nbjudge.plan.pipeline import plan_pipeline

    with tempfile.TemporaryDirectory() as folder:
        path = args.params
        if args.set or not path.exists():
            path = Path(folder) / "params.yaml"
            compose_params(path, list(args.set))
        params = load_params(path, "llm", "judge", "memalign")
    plans, notes = plan_pipeline(params)
    llm, suite = need(params.llm, "llm"), need(params.suite, "suite")
    print(f"plan for llm={llm.backend} ({llm.model}), suite {suite.name}: what each "
          "stage will send that the answer cache does not hold")
    print(format_plans(plans))
    for note in notes:
        print(f"estimated: {note}")
    return 0


def _grading_notebook_ids(index: Path) -> list[str]:
    from nbjudge.schemas import Notebook, read_records

    if not index.is_file():
        raise InputError(f"{index}: no notebook index (run `dvc repro execute` first)")
    return [n.notebook_id for n in read_records(index, Notebook)]


def _grading_start(args: argparse.Namespace) -> int:
    import textwrap
    from urllib.parse import urlsplit

    from nbjudge.grading.start import notebook_for_grading, start_grading
    from nbjudge.grading.traces import how_to_grade, resolve_tracking_uri
    from nbjudge.schemas import Case, Notebook, read_records

    if not args.index.is_file():
        raise InputError(f"{args.index}: no notebook index (run `dvc repro execute` first)")
    prompts = {c.case_id: c.prompt for c in read_records(args.cases, Case)}
    notebooks = [notebook_for_grading(n, prompts.get(n.case_id, "(no task prompt)"))
                 for n in read_records(args.index, Notebook)]
    uri = resolve_tracking_uri(args.tracking_uri)
    result = start_grading(notebooks, args.raters.split(","), tracking_uri=uri,
                           experiment=args.experiment)
    print(f"grading experiment {args.experiment!r} (id {result.experiment_id}) at {uri}: "
          f"{result.created} trace(s) logged, {result.existing} already there; "
          f"{len(notebooks)} notebook(s) x {len(result.raters)} rater(s) "
          f"({', '.join(result.raters)})")
    if uri.startswith(("http://", "https://")):
        base = uri.rstrip("/")
    else:
        print(f"start the UI:  mlflow ui --backend-store-uri {uri} --port {args.port}")
        base = f"http://127.0.0.1:{args.port}"
        if urlsplit(uri).scheme not in ("sqlite", "file", ""):
            print("  (or open the UI of the server behind that tracking URI)")
    forms = result.forms
    print(f"review form: {forms.schemas_created} question(s) made (nine in all); "
          f"{forms.items_added} trace(s) put in the raters' queues")
    print(f"then open:     {base}/#/experiments/{result.experiment_id}/review-queue")
    print("Each grader picks their queue (grading: <rater>) and presses Start review: the "
          "notebook\non the left, the nine questions with their rubric lines on the right.")
    print(textwrap.fill(how_to_grade(), 92))
    print("`python -m nbjudge grading status` shows what is left; then "
          "`dvc exp run -S labels=mlflow`.")
    return 0


def _grading_status(args: argparse.Namespace) -> int:
    from nbjudge.grading import read_grades, resolve_tracking_uri, status_lines, write_digest

    uri = resolve_tracking_uri(args.tracking_uri)
    grades = read_grades(uri, args.experiment, _grading_notebook_ids(args.index))
    for line in status_lines(grades, args.experiment):
        print(line)
    digest = write_digest(args.digest, grades, args.experiment)
    print(f"{args.digest}: digest {digest[:12]} (the label stage's dependency with "
          "labels=mlflow: a changed grade reruns it)")
    return 2 if grades.problems else 0


def _grading_export(args: argparse.Namespace) -> int:
    from nbjudge.grading import export_grades, read_grades, resolve_tracking_uri

    uri = resolve_tracking_uri(args.tracking_uri)
    grades = read_grades(uri, args.experiment, _grading_notebook_ids(args.index))
    rows = export_grades(grades, args.out, args.experiment)
    print(f"{args.out}: {rows} label(s) from grading experiment {args.experiment!r}; import "
          f"them with -S labels=file -S labels.path={args.out}")
    return 0


def _grading_serve(args: argparse.Namespace) -> int:
    import os
    import subprocess

    from mlflow import MlflowClient

    from nbjudge.grading import resolve_tracking_uri
    from nbjudge.grading.serve import prepare_sign_in, server_command

    uri = resolve_tracking_uri(args.tracking_uri)
    experiment = MlflowClient(uri).get_experiment_by_name(args.experiment)
    if experiment is None:
        raise InputError(f"no grading experiment {args.experiment!r} at {uri}: run `python -m "
                         "nbjudge grading start --raters ...` first, with the same raters")
    sign_in = prepare_sign_in(args.auth_dir, args.raters.split(","), experiment.experiment_id)
    if sign_in.created:
        print(f"accounts made: {', '.join(sign_in.created)}; their passwords are in "
              f"{sign_in.passwords} (hand each expert theirs)")
    print(f"MLflow with sign-in on {uri}: http://{args.host}:{args.port} (each expert signs "
          "in as their rater id; grades carry that name). Ctrl-C stops it.")
    command = server_command(uri, args.host, args.port)
    return subprocess.run(command, env=os.environ | sign_in.environ(), check=False).returncode


def _add_grading(sub: Any) -> None:
    from nbjudge.grading.traces import DEFAULT_EXPERIMENT

    grading = sub.add_parser("grading", help="experts grade the notebooks in MLflow's UI")
    commands = grading.add_subparsers(dest="grading_command", required=True)

    def common(parser: argparse.ArgumentParser, index: str) -> None:
        parser.add_argument("--experiment", default=DEFAULT_EXPERIMENT,
                            help="the grading experiment (labels.experiment)")
        parser.add_argument("--tracking-uri", default=None,
                            help="MLflow store (labels.tracking_uri); default "
                                 "$MLFLOW_TRACKING_URI, else sqlite:///<repo>/mlflow.db")
        parser.add_argument("--index", type=Path, default=Path(index))

    start = commands.add_parser("start", help="one trace per notebook and rater to grade")
    common(start, "data/notebooks/executed/index.jsonl")
    start.add_argument("--cases", type=Path, default=Path("data/cases/cases.jsonl"))
    start.add_argument("--raters", default="expert_1",
                       help="comma-separated rater ids, one trace per notebook each")
    start.add_argument("--port", type=int, default=5000, help="port of the printed mlflow ui")
    start.set_defaults(run=_grading_start)
    status = commands.add_parser("status", help="graded, missing and invalid grades; "
                                                "writes the digest the label stage depends on")
    common(status, "data/notebooks/index.jsonl")
    status.add_argument("--digest", type=Path, default=Path("labels/mlflow_grades.json"),
                        help="the digest file (labels.input)")
    status.set_defaults(run=_grading_status)
    export = commands.add_parser("export", help="the grades as a label file (labels=file)")
    export.add_argument("out", type=Path)
    common(export, "data/notebooks/index.jsonl")
    export.set_defaults(run=_grading_export)
    serve = commands.add_parser("serve", help="MLflow's UI with sign-in: one user per rater, "
                                              "grades under their names (the auth extra)")
    serve.add_argument("--raters", default="expert_1",
                       help="comma-separated rater ids, as given to `grading start`")
    serve.add_argument("--experiment", default=DEFAULT_EXPERIMENT,
                       help="the grading experiment (labels.experiment)")
    serve.add_argument("--tracking-uri", default=None,
                       help="MLflow store (labels.tracking_uri); default "
                            "$MLFLOW_TRACKING_URI, else sqlite:///<repo>/mlflow.db")
    serve.add_argument("--auth-dir", type=Path, default=Path(".nbjudge-cache/grading-auth"),
                       help="where the users, their passwords and the settings are kept")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5000)
    serve.set_defaults(run=_grading_serve)


def _gate_settings(args: argparse.Namespace) -> GateSettings:
    """``compare.gate`` of the parameters file, each option given on the command line
    overriding its key; the defaults of :class:`~nbjudge.params.GateParams` when the
    default ``params.yaml`` does not exist (a file named with ``--params`` must)."""
    from nbjudge.compare.gate import GateSettings, parse_tolerances
    from nbjudge.params import GateParams

    if args.params.exists() or args.params != Path("params.yaml"):
        compare = load_params(args.params).compare
        gate = compare.gate if compare is not None else GateParams()
    else:
        gate = GateParams()
    chosen = gate.model_dump()
    if args.tolerances is not None:
        chosen["tolerances"] = parse_tolerances(args.tolerances)
    for key in ("level", "min_cases", "max_failure_rate", "source", "min_graded_cases"):
        if getattr(args, key) is not None:
            chosen[key] = getattr(args, key)
    return GateSettings(**chosen)


def _gate(args: argparse.Namespace) -> int:
    """Exit 2 on any error, never 1: CI must not read a crash as a regression."""
    import traceback

    from nbjudge.compare.gate import EXIT_UNDECIDED, evaluate_gate
    from nbjudge.schemas import ArmComparison, read_records

    try:
        settings = _gate_settings(args)
        result = evaluate_gate(read_records(args.results, ArmComparison), settings)
        result.write(args.summary, args.junit)
    except NbjudgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_UNDECIDED
    except Exception:  # a bug: keep its traceback, and still "cannot decide"
        traceback.print_exc()
        return EXIT_UNDECIDED
    print(result.markdown(), end="")
    return result.exit_code


def _add_gate(sub: Any) -> None:
    gate = sub.add_parser(
        "gate", help="exit 0/1/2: no regression, a regression, cannot decide; Markdown "
                     "summary and JUnit XML",
        description="Tolerances and margins come from compare.gate in the parameters file; "
                    "an option given here overrides its key.")
    gate.add_argument("results", type=Path, nargs="?",
                      default=Path("data/compare/comparisons.jsonl"),
                      help="comparison records (ArmComparison JSONL; default: "
                           "data/compare/comparisons.jsonl)")
    gate.add_argument("--params", type=Path, default=Path("params.yaml"),
                      help="parameters file whose compare.gate is read (default: params.yaml)")
    gate.add_argument("--tolerances", default=None,
                      help="per dimension, the drop in mean score (points) that is not a "
                           "regression: 'model_training=0.1,default=0.2', or a YAML file, "
                           "optionally with a key (file.yaml:some.key); default: "
                           "compare.gate.tolerances")
    gate.add_argument("--level", type=float, default=None,
                      help="confidence of the verdict (default: compare.gate.level, else the "
                           "comparison's level)")
    gate.add_argument("--min-cases", type=int, default=None,
                      help="fewer cases cannot decide (default: compare.gate.min_cases)")
    gate.add_argument("--max-failure-rate", type=float, default=None,
                      help="a judge failure rate above this cannot decide (default: "
                           "compare.gate.max_failure_rate)")
    gate.add_argument("--min-graded-cases", type=int, default=None,
                      help="a PPI verdict needs expert grades in at least this many cases "
                           "(default: compare.gate.min_graded_cases)")
    gate.add_argument("--source", default=None, choices=("auto", "ppi", "judge"),
                      help="auto: PPI where experts graded a subset, else the judge alone "
                           "(default: compare.gate.source)")
    gate.add_argument("--summary", type=Path, default=None,
                      help="write the Markdown here (in GitHub Actions: \"$GITHUB_STEP_SUMMARY\")")
    gate.add_argument("--junit", type=Path, default=None, help="write JUnit XML here")
    gate.set_defaults(run=_gate)


def _compare_grading_list(args: argparse.Namespace) -> int:
    from nbjudge.compare.grading import grading_list

    raters = [r for r in args.raters.split(",") if r.strip()] if args.raters else []
    result = grading_list(args.notebooks, fraction=args.fraction, seed=args.seed, out=args.out,
                          rater=args.rater, raters=raters, tracking_uri=args.tracking_uri,
                          experiment=args.experiment)
    print(f"{len(result.notebooks)} notebook(s) to grade ("
          + ", ".join(f"{arm} {n}" for arm, n in result.per_arm.items())
          + f"), drawn at random by arm and case with seed {args.seed}")
    print(f"{args.out}: {result.template_rows} rows to fill with a score (1, 2, 3 or N/A) and "
          f"a rationale; then -S compare.grades.source=file -S compare.grades.path={args.out}")
    if result.traces is not None:
        print(f"grading experiment {args.experiment!r} (id {result.traces.experiment_id}): "
              f"{result.traces.created} trace(s) logged, {result.traces.existing} already "
              "there; graders open its review queue in MLflow's UI; then "
              "-S compare.grades.source=mlflow")
    return 0


def _add_compare(sub: Any) -> None:
    from nbjudge.compare.grading import COMPARE_GRADING_EXPERIMENT

    compare = sub.add_parser("compare", help="comparison of agent builds (arms)")
    commands = compare.add_subparsers(dest="compare_command", required=True)
    grading = commands.add_parser(
        "grading-list", help="which compared notebooks experts grade: a seeded sample by arm "
                             "and case, as a label template and MLflow grading traces")
    grading.add_argument("--fraction", type=float, default=0.2,
                         help="share of each arm's notebooks to grade (at least 2 per arm)")
    grading.add_argument("--seed", type=int, default=42)
    grading.add_argument("--notebooks", type=Path, default=Path("data/compare/notebooks"),
                         help="the compare_notebooks stage's output")
    grading.add_argument("--out", type=Path, default=Path("labels/compare_grading.csv"),
                         help="the label template to write (labels=file format)")
    grading.add_argument("--rater", default="expert_1", help="rater_id of the template's rows")
    grading.add_argument("--raters", default=None,
                         help="comma-separated rater ids: also log MLflow grading traces for "
                              "them (one per notebook and rater)")
    grading.add_argument("--experiment", default=COMPARE_GRADING_EXPERIMENT,
                         help="the grading experiment (compare.grades.experiment)")
    grading.add_argument("--tracking-uri", default=None,
                         help="MLflow store; default $MLFLOW_TRACKING_URI, else "
                              "sqlite:///<repo>/mlflow.db")
    grading.set_defaults(run=_compare_grading_list)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nbjudge",
                                     description="nbjudge command line")
    sub = parser.add_subparsers(dest="command", required=True)
    score = sub.add_parser("score", help="grade a notebook with the registered aligned judges")
    score.add_argument("notebook", type=Path)
    score.add_argument("--prompt", default="(no task prompt given)",
                       help="the task the notebook was written for")
    score.add_argument("--params", default="params.yaml")
    score.add_argument("--registration", type=Path,
                       default=Path("data/registered/judges.json"),
                       help="the register stage's record: judge versions and the episodic "
                            "examples they were aligned with")
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
    check.add_argument("--infer", action="store_true",
                       help="let the judge model state the task of notebooks that do not "
                            "(as generate.prompt=infer; answers cached)")
    check.set_defaults(run=_import_check)
    _add_grading(sub)
    plan = sub.add_parser("plan", help="requests, tokens and cost of a run, before sending")
    plan.add_argument("-S", "--set", action="append", default=[], metavar="GROUP=OPTION",
                      help="an override composed into the parameters as `dvc exp run -S` "
                           "does (repeatable); without one, params.yaml is read")
    plan.add_argument("--params", type=Path, default=Path("params.yaml"))
    plan.set_defaults(run=_plan)
    _add_gate(sub)
    _add_compare(sub)
    args = parser.parse_args(argv)
    try:
        with offline():   # litellm and MLflow fetch nothing
            code: int = args.run(args)
            return code
    except NbjudgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
