"""Judging: throughput of the local judge, a rerun from the answer cache, and concurrency.

(a) Starts the offline backend (llama-server with conf/llm/local.yaml) and
judges the first N executed notebooks on K dimensions with a fresh answer
cache: judgments per second, mean latency, mean prompt and completion tokens
per judgment. Then the same requests again from the cache (nothing is sent).

(b) A scripted chat server that answers every request after a fixed delay
(testing/fault_server.py) is judged through the real MLflow judge, M
requests with concurrency 1 and then C: both wall times and their ratio.

Everything is measured in one run and printed as markdown tables.

    .venv/bin/python bench/bench_judge.py [--notebooks 2] [--dimensions 3]
        [--requests 32] [--delay 0.5] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from statistics import mean

import nbformat
from omegaconf import OmegaConf

from nbjudge.judges.dimension import call_judge, make_dimension_judge, notebook_outputs
from nbjudge.judges.requests import JudgeRequest, run_requests
from nbjudge.llm.backends import (
    Backend,
    LLMConfig,
    judge_model_uri,
    offline_settings,
    open_backend,
)
from nbjudge.llm.cache import AnswerCache, request_key
from nbjudge.llm.calls import RetryPolicy, RunSummary
from nbjudge.notebooks.render import RenderOptions, estimate_tokens, render_notebook
from nbjudge.rubrics import load_rubric
from nbjudge.schemas import DIMENSIONS, Case, Notebook, read_records

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from testing.fault_server import FaultServer, score  # noqa: E402

EXECUTED = ROOT / "data" / "notebooks" / "executed"


def call(request: JudgeRequest):
    judge, outputs = request.payload
    return call_judge(judge, outputs)


def notebook_views(count: int, config: LLMConfig) -> list[tuple[str, str]]:
    """(notebook id, the judge's ``{{ outputs }}``) of the first ``count`` executed notebooks."""
    cases = {c.case_id: c for c in read_records(ROOT / "data/cases/cases.jsonl", Case)}
    index = {n.notebook_id: n for n in read_records(EXECUTED / "index.jsonl", Notebook)}
    options = RenderOptions(max_tokens=config.notebook_tokens)
    views = []
    for path in sorted(EXECUTED.glob("*.ipynb"))[:count]:
        prompt = cases[index[path.stem].case_id].prompt
        text = render_notebook(nbformat.read(path, as_version=4), options)
        views.append((path.stem, notebook_outputs(prompt, text)))
    return views


def judge_requests(backend: Backend, views: list[tuple[str, str]],
                   dimensions: list[str]) -> list[JudgeRequest]:
    params = backend.inference_params()
    requests = []
    for dimension in dimensions:
        judge = make_dimension_judge(load_rubric(dimension, ROOT), inference_params=params,
                                     rubric_detail=backend.config.rubric_detail,
                                     **backend.judge_kwargs())
        for notebook_id, outputs in views:
            key = request_key(model=backend.judge_model, instructions=judge.instructions,
                              outputs=outputs, inference_params=params)
            tokens = estimate_tokens(judge.instructions) + estimate_tokens(outputs) + 150
            requests.append(JudgeRequest(notebook_id, dimension, "baseline", key, tokens,
                                         payload=(judge, outputs)))
    return requests


def timed_run(requests, backend: Backend, cache: AnswerCache, concurrency: int):
    summary = RunSummary()
    started = time.perf_counter()
    records = run_requests(requests, call, model=backend.judge_model, cache=cache,
                           concurrency=concurrency, context_tokens=backend.config.context_size,
                           retry=RetryPolicy(max_retries=backend.config.max_retries),
                           progress=False, summary=summary)
    return records, summary, time.perf_counter() - started


def local_backend(args: argparse.Namespace, tmp: Path) -> list[str]:
    config = LLMConfig.from_mapping(
        OmegaConf.to_container(OmegaConf.load(ROOT / "conf/llm/local.yaml")))
    views = notebook_views(args.notebooks, config)
    dimensions = list(DIMENSIONS[: args.dimensions])
    started = time.perf_counter()
    with open_backend(config, cache_dir=tmp / "nbjudge-cache", log_dir=tmp / "logs") as backend:
        start_seconds = time.perf_counter() - started
        requests = judge_requests(backend, views, dimensions)
        rows = []
        with AnswerCache(tmp / "answers-local") as cache:
            for label in ("fresh cache", "from cache"):
                records, summary, seconds = timed_run(requests, backend, cache,
                                                      config.concurrency)
                rows.append(_local_row(label, records, summary, seconds))
    prompt_tokens = mean(r.prompt_tokens for r in requests)
    return [
        f"### (a) Local backend: {config.model} on llama-server, {len(views)} notebooks x "
        f"{len(dimensions)} dimensions, concurrency {config.concurrency}",
        "",
        f"Server start {start_seconds:.1f} s (not in the times below); notebooks rendered to "
        f"{config.notebook_tokens} tokens, rubric detail {config.rubric_detail}, "
        f"estimated prompt {prompt_tokens:.0f} tokens.",
        "",
        "| run | judgments | ok | failed | requests sent | wall s | judgments/s "
        "| mean latency s | mean tokens in | mean tokens out |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
    ]


def _local_row(label, records, summary, seconds) -> str:
    def average(values):
        values = [v for v in values if v is not None]
        return f"{mean(values):.1f}" if values else "-"

    # A cached record keeps the latency of the run that asked; only a run that sent counts.
    latency = average([r.latency_s for r in records]) if summary.sent else "-"
    tokens_in = average([r.tokens_in for r in records])
    tokens_out = average([r.tokens_out for r in records])
    return (f"| {label} | {len(records)} | {summary.ok} | {summary.failed} | {summary.sent} "
            f"| {seconds:.2f} | {len(records) / seconds:.2f} | {latency} | {tokens_in} "
            f"| {tokens_out} |")


def concurrency_speedup(args: argparse.Namespace, tmp: Path) -> list[str]:
    rows, walls = [], {}
    with FaultServer(lambda i, body: score(2, f"answer {i}", delay=args.delay)) as server:
        config = LLMConfig.from_mapping({
            "backend": "openai_compatible", "model": "fault-model",
            "base_url": server.base_url, "context_size": 8192, "notebook_tokens": 300,
            "concurrency": args.concurrency, "timeout": 30, "max_retries": 0,
            "temperature": 0.0, "max_output_tokens": 60, "rationale_max_chars": 80,
        })
        backend = Backend(config, judge_model_uri(config), server.base_url,
                          "hosted_vllm/fault-model", server.base_url)
        views = [(f"nb{i:02d}", notebook_outputs(f"Task {i}", f"print({i})\n"))
                 for i in range(args.requests)]
        requests = judge_requests(backend, views, ["data_imputation"])
        for concurrency in (1, args.concurrency):
            before = server.count
            with AnswerCache(tmp / f"answers-c{concurrency}") as cache:  # fresh each time
                records, summary, seconds = timed_run(requests, backend, cache, concurrency)
            walls[concurrency] = seconds
            ideal = args.requests * args.delay / concurrency
            rows.append(f"| {concurrency} | {len(records)} | {summary.ok} "
                        f"| {server.count - before} | {seconds:.2f} | {ideal:.2f} |")
    ratio = walls[1] / walls[args.concurrency]
    return [
        f"### (b) Concurrency: real MLflow judge, scripted server answering after "
        f"{args.delay} s, {args.requests} requests",
        "",
        "| concurrency | judgments | ok | requests sent | wall s | ideal s |",
        "|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"speed-up with concurrency {args.concurrency}: {ratio:.1f}x "
        f"(ideal {args.concurrency}x)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", type=int, default=2, help="executed notebooks (a)")
    parser.add_argument("--dimensions", type=int, default=3, help="rubric dimensions (a)")
    parser.add_argument("--requests", type=int, default=32, help="requests (b)")
    parser.add_argument("--delay", type=float, default=0.5, help="seconds per answer (b)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrency compared (b)")
    parser.add_argument("--skip-local", action="store_true", help="only measure (b)")
    args = parser.parse_args()
    os.chdir(ROOT)  # the local server's binary is found relative to the repository
    with tempfile.TemporaryDirectory(prefix="bench-judge-") as name:
        tmp = Path(name)
        os.environ.update(offline_settings(tmp / "nbjudge-cache"))
        lines = [] if args.skip_local else [*local_backend(args, tmp), ""]
        lines += concurrency_speedup(args, tmp)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
