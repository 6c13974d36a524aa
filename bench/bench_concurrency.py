"""Judging at scale: speed-up of requests in flight against one at a time.

A scripted OpenAI-compatible server (testing/fault_server.py), in a process of
its own, answers every request after a fixed latency, like a serving engine
that is never the bottleneck. Each request is a real judgment: the MLflow
judge of one dimension, its full rubric, a notebook text of its own, sent
through nbjudge's runner (answer cache, retries, pacing, caps) exactly as the
judge stage sends it. For each concurrency c the runner sends ``rounds x c``
requests with a fresh cache; the speed-up is the throughput (requests per
second) at c over the throughput at c = 1, and ideally equals c.

    .venv/bin/python bench/bench_concurrency.py [--latency 2] [--rounds 4]
        [--concurrency 1 2 4 8 16 32 64]

Prints a markdown table; the target is a speed-up of at least 0.8 x c up to c = 32.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIMENSION = "data_imputation"
MODEL = "bench-model"


def _serve(connection, latency: float) -> None:
    sys.path.insert(0, str(ROOT))
    from testing.fault_server import FaultServer, score

    with FaultServer(lambda i, body: score(2, "scripted", delay=latency)) as server:
        connection.send(server.base_url)
        connection.recv()            # until the benchmark is done


def _requests(base_url: str, count: int, tag: str, concurrency: int):
    from nbjudge.judges.dimension import make_dimension_judge
    from nbjudge.judges.requests import JudgeRequest
    from nbjudge.llm.backends import LLMConfig, inference_params, judge_model_uri
    from nbjudge.llm.cache import request_key
    from nbjudge.rubrics import load_rubric

    config = LLMConfig.from_mapping({
        "backend": "openai_compatible", "model": MODEL, "base_url": base_url,
        "context_size": 32768, "notebook_tokens": None, "concurrency": concurrency,
        "timeout": 120, "max_retries": 2, "temperature": 0.0, "max_output_tokens": 600,
        "rationale_max_chars": 1200})
    params = inference_params(config)
    judge = make_dimension_judge(load_rubric(DIMENSION), inference_params=params,
                                 model=judge_model_uri(config), base_url=base_url)
    requests = []
    for i in range(count):
        outputs = (f"# Task prompt\n\nPredict churn ({tag} {i}).\n\n# Notebook\n\n"
                   f"[cell 1: code]\n```python\nimport pandas as pd\ndf = pd.read_csv('d.csv')\n"
                   f"df = df.fillna(df.mean())  # {tag} {i}\n```\n")
        key = request_key(model=judge_model_uri(config), instructions=judge.instructions,
                          outputs=outputs, inference_params=params)
        requests.append(JudgeRequest(f"nb{i:04d}", DIMENSION, "baseline", key, 2000,
                                     payload=(judge, outputs)))
    return requests


def _call(request):
    from nbjudge.judges.dimension import call_judge

    judge, outputs = request.payload
    return call_judge(judge, outputs)


def measure(base_url: str, concurrency: int, count: int, tag: str) -> tuple[float, int]:
    """Seconds to judge ``count`` fresh requests at ``concurrency``, and requests sent."""
    from nbjudge.judges.requests import run_requests
    from nbjudge.llm.cache import AnswerCache
    from nbjudge.llm.calls import RetryPolicy, RunSummary

    requests = _requests(base_url, count, tag, concurrency)
    summary = RunSummary()
    with tempfile.TemporaryDirectory() as folder, AnswerCache(folder) as cache:
        started = time.perf_counter()
        records = run_requests(requests, _call, model=f"hosted_vllm:/{MODEL}", cache=cache,
                               concurrency=concurrency, progress=False, summary=summary,
                               retry=RetryPolicy(max_retries=2, base_delay=0.1))
        seconds = time.perf_counter() - started
    failed = [r for r in records if r.status != "ok"]
    if failed:
        raise SystemExit(f"{len(failed)} judgments failed at c={concurrency}: "
                         f"{failed[0].error}")
    return seconds, summary.sent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=2.0,
                        help="seconds the server takes per request")
    parser.add_argument("--rounds", type=int, default=4,
                        help="requests per run = rounds x concurrency (at least 8)")
    parser.add_argument("--concurrency", type=int, nargs="+",
                        default=[1, 2, 4, 8, 16, 32, 64])
    args = parser.parse_args(argv)
    os.environ.update({"LITELLM_LOCAL_MODEL_COST_MAP": "True", "MLFLOW_MODEL_CATALOG_URI": "",
                       "LITELLM_LOG": "ERROR"})

    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    server = context.Process(target=_serve, args=(theirs, args.latency), daemon=True)
    server.start()
    base_url = ours.recv()
    try:
        measure(base_url, 4, 8, "warm-up")     # imports, connections
        rows = []
        for c in args.concurrency:
            count = max(8, args.rounds * c)
            seconds, sent = measure(base_url, c, count, f"c{c}")
            rows.append((c, count, sent, seconds, count / seconds))
    finally:
        ours.send("stop")
        server.join(timeout=10)
    base = next((rate for c, _, _, _, rate in rows if c == 1), rows[0][4])
    print(f"Scripted server, {args.latency:g} s per request; real MLflow judges "
          f"({DIMENSION}, full rubric) through nbjudge's runner.\n")
    print("| in flight (c) | requests | seconds | requests/s | speed-up | speed-up / c |")
    print("|---:|---:|---:|---:|---:|---:|")
    for c, count, _sent, seconds, rate in rows:
        speedup = rate / base
        print(f"| {c} | {count} | {seconds:.2f} | {rate:.2f} | {speedup:.1f} | "
              f"{speedup / c:.2f} |")
    short = [c for c, _, _, _, rate in rows if c <= 32 and rate / base < 0.8 * c]
    print("\ntarget (speed-up >= 0.8 x c up to c = 32): "
          + ("met" if not short else f"missed at c = {', '.join(map(str, short))}"))


if __name__ == "__main__":
    main()
