"""The judging runner with a real MLflow judge against a scripted chat server.

Every test points ``make_dimension_judge`` at :class:`FaultServer` and runs
:func:`run_requests` with :func:`call_judge`, then checks the records and how
many HTTP requests the server saw.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nbjudge.judges.dimension import call_judge, make_dimension_judge
from nbjudge.judges.requests import JudgeRequest, run_requests
from nbjudge.llm.backends import Backend, LLMConfig, judge_model_uri, result_schema
from nbjudge.llm.cache import AnswerCache, request_key
from nbjudge.llm.calls import BackendFatalError, BackendUnavailableError, RetryPolicy, RunSummary
from nbjudge.rubrics import load_rubric
from nbjudge.schemas import Judgment
from testing.fault_server import (
    FaultServer,
    context_error,
    hang,
    not_json,
    rate_limited,
    score,
    server_error,
    status,
)

# Every test starts a FaultServer.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("offline")]
ROOT = Path(__file__).resolve().parents[2]
MODEL = "fault-model"
DIMENSION = "data_imputation"
FAST = RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.05, abort_after=6)


def backend_for(server: FaultServer, timeout: float = 5.0) -> Backend:
    config = LLMConfig.from_mapping({
        "backend": "openai_compatible", "model": MODEL, "base_url": server.base_url,
        "context_size": 8192, "notebook_tokens": 300, "concurrency": 4, "timeout": timeout,
        "max_retries": 2, "temperature": 0.0, "max_output_tokens": 60,
        "rationale_max_chars": 80,
    })
    return Backend(config, judge_model_uri(config), server.base_url, f"hosted_vllm/{MODEL}",
                   server.base_url)


def notebook_text(i: int) -> str:
    return (f"# Task prompt\n\nPredict churn (case {i}).\n\n# Notebook\n\n[cell 1: code]\n"
            f"```python\ndf = df.fillna(df.mean())  # notebook {i}\n```\n")


def make_requests(server: FaultServer, n: int = 1, *, timeout: float = 5.0,
                  prompt_tokens: int = 500) -> list[JudgeRequest]:
    backend = backend_for(server, timeout)
    params = backend.inference_params()
    judge = make_dimension_judge(load_rubric(DIMENSION), inference_params=params,
                                 **backend.judge_kwargs())
    requests = []
    for i in range(n):
        outputs = notebook_text(i)
        key = request_key(model=backend.judge_model, instructions=judge.instructions,
                          outputs=outputs, inference_params=params)
        requests.append(JudgeRequest(notebook_id=f"nb{i:02d}", dimension=DIMENSION,
                                     variant="baseline", key=key, prompt_tokens=prompt_tokens,
                                     payload=(judge, outputs)))
    return requests


def call(request: JudgeRequest):
    judge, outputs = request.payload
    return call_judge(judge, outputs)


def judge_all(requests, cache, *, retry=FAST, concurrency=1, context_tokens=None,
              summary=None) -> list[Judgment]:
    return run_requests(requests, call, model=f"hosted_vllm:/{MODEL}", cache=cache,
                        concurrency=concurrency, context_tokens=context_tokens, retry=retry,
                        progress=False, summary=summary)


# -- transient failures ------------------------------------------------------------------
def test_a_rate_limit_is_retried_then_answered(cache):
    with FaultServer([rate_limited(retry_after=0), score(2, "imputer fit on train")]) as server:
        summary = RunSummary()
        [record] = judge_all(make_requests(server), cache, summary=summary)
        assert server.count == 2
    assert record.status == "ok"
    assert record.score == 2
    assert record.rationale == "imputer fit on train"
    assert record.tokens_in and record.tokens_out  # the reply's usage
    assert summary.sent == 2 and summary.ok == 1


def test_server_errors_past_the_budget_fail_the_judgment_without_caching_it(cache):
    retry = RetryPolicy(max_retries=3, base_delay=0.01, max_delay=0.05)
    with FaultServer(lambda i, body: server_error()) as server:
        requests = make_requests(server)
        [record] = judge_all(requests, cache, retry=retry)
        assert server.count == retry.max_retries + 1
        assert record.status == "failed"
        assert record.error.startswith("gave up after 4 attempts")
        assert "internal error" in record.error
        assert requests[0].key not in cache
        judge_all(requests, cache, retry=retry)  # the next run asks again
        assert server.count == 2 * (retry.max_retries + 1)


def test_a_backend_that_keeps_failing_stops_the_run_and_keeps_earlier_answers(cache):
    retry = RetryPolicy(max_retries=1, base_delay=0.01, max_delay=0.05, abort_after=3)
    # Two answers, then the server is down for good.
    with FaultServer(lambda i, body: score(3) if i < 2 else server_error()) as server:
        requests = make_requests(server, 8)
        with pytest.raises(BackendUnavailableError) as caught:
            judge_all(requests, cache, retry=retry)
        # 2 answered + 3 requests x 2 attempts, then nothing more is sent.
        assert server.count == 2 + retry.abort_after * (retry.max_retries + 1)
    message = str(caught.value)
    assert "3 requests in a row" in message
    assert "cached" in message and "rerun to resume" in message
    assert str(cache.directory) in message
    assert len(cache) == 2
    assert all(cache.get(r.key)["status"] == "ok" for r in requests[:2])


def test_a_hung_request_times_out_and_is_retried(cache):
    with FaultServer([hang(), score(3)]) as server:
        started = time.monotonic()
        [record] = judge_all(make_requests(server, timeout=1.0), cache)
        assert server.count == 2
    assert record.status == "ok" and record.score == 3
    assert 1.0 <= time.monotonic() - started < 4.0


def test_a_request_that_always_hangs_fails_as_a_timeout(cache):
    retry = RetryPolicy(max_retries=1, base_delay=0.01, max_delay=0.05)
    with FaultServer(lambda i, body: hang()) as server:
        [record] = judge_all(make_requests(server, timeout=1.0), cache, retry=retry)
        assert server.count == 2
    assert record.status == "failed"
    assert record.error.startswith("gave up after 2 attempts")
    assert "timed out" in record.error
    assert len(cache) == 0


# -- answers that are not judgments ----------------------------------------------------------
def test_an_unparsable_answer_is_a_cached_failure(cache):
    with FaultServer([not_json("I think it is fine")]) as server:
        requests = make_requests(server)
        [record] = judge_all(requests, cache)
        assert server.count == 1
        assert record.status == "failed"
        assert record.error.startswith("invalid answer")
        assert "I think it is fine" in record.error  # the raw answer
        assert requests[0].key in cache
        [again] = judge_all(requests, cache)
        assert server.count == 1  # the model's answer is not asked for twice
    assert again == record


def test_a_score_outside_the_scale_is_a_failure_that_keeps_the_raw_value(cache):
    with FaultServer([score(7, "very good")]) as server:
        requests = make_requests(server)
        [record] = judge_all(requests, cache)
        assert server.count == 1
    assert record.status == "failed"
    assert record.score is None
    assert "judge answered 7" in record.error
    assert 'not 1, 2, 3 or "N/A"' in record.error
    assert record.rationale == "very good"
    assert cache.get(requests[0].key)["status"] == "failed"


def test_a_rejected_request_is_a_failure_that_is_not_cached(cache):
    rejected = status(400, {"error": {"message": "unsupported parameter"}})
    with FaultServer([rejected, rejected]) as server:
        requests = make_requests(server)
        [record] = judge_all(requests, cache)
        # MLflow asks once more without response_format after a 400, then gives up.
        assert server.count == 2
    assert record.status == "failed"
    assert "HTTP 400" in record.error and "unsupported parameter" in record.error
    assert requests[0].key not in cache


# -- prompts that do not fit -----------------------------------------------------------------
def test_the_servers_context_error_names_the_settings_to_change(cache, monkeypatch):
    monkeypatch.setenv("MLFLOW_JUDGE_MAX_ITERATIONS", "3")  # as open_backend sets it
    with FaultServer(lambda i, body: context_error()) as server:
        requests = make_requests(server)
        [record] = judge_all(requests, cache)
        # The runner does not retry it; MLflow's own attempts (pruning the messages,
        # then dropping response_format) stay bounded.
        assert 1 <= server.count <= 3
    assert record.status == "failed"
    assert "llm.notebook_tokens" in record.error and "llm.context_size" in record.error
    assert requests[0].key not in cache  # a rerun with a bigger context tries again
    assert requests[0].key not in cache


def test_a_prompt_larger_than_the_context_is_not_sent(cache):
    with FaultServer() as server:
        [record] = judge_all(make_requests(server, prompt_tokens=9000), cache,
                             context_tokens=8192)
        assert server.count == 0
    assert record.status == "failed"
    assert "9000 tokens" in record.error and "8192 tokens" in record.error
    assert "not sent" in record.error and "llm.context_size" in record.error


# -- fatal errors --------------------------------------------------------------------------
def test_a_refused_key_stops_the_run_at_once(cache):
    with FaultServer(lambda i, body: status(401)) as server:
        with pytest.raises(BackendFatalError, match=r"llm\.api_key_env"):
            judge_all(make_requests(server, 5), cache)
        assert server.count == 1


# -- the cache -------------------------------------------------------------------------------
def test_a_second_run_sends_nothing_and_gives_the_same_records(cache):
    with FaultServer(lambda i, body: score(1 + i % 3, f"answer {i}")) as server:
        requests = make_requests(server, 6)
        first = judge_all(requests, cache, concurrency=3)
        assert server.count == 6
        summary = RunSummary()
        second = judge_all(requests, cache, concurrency=3, summary=summary)
        assert server.count == 6
    assert summary.sent == 0 and summary.cached == 6
    assert [r.model_dump() for r in second] == [r.model_dump() for r in first]
    assert [r.notebook_id for r in first] == [r.notebook_id for r in requests]


# A judging process that the test kills; the rerun builds the same requests from it.
KILLED_RUN = """
import sys

from nbjudge.llm.backends import Backend, judge_model_uri, LLMConfig
from nbjudge.llm.cache import AnswerCache, request_key
from nbjudge.judges.dimension import call_judge, make_dimension_judge
from nbjudge.judges.requests import JudgeRequest, run_requests
from nbjudge.llm.calls import RetryPolicy
from nbjudge.rubrics import load_rubric

MODEL = "fault-model"


def build(base_url, n=12):
    config = LLMConfig.from_mapping({
        "backend": "openai_compatible", "model": MODEL, "base_url": base_url,
        "context_size": 8192, "notebook_tokens": 300, "concurrency": 2, "timeout": 10,
        "max_retries": 2, "temperature": 0.0, "max_output_tokens": 60,
        "rationale_max_chars": 80,
    })
    backend = Backend(config, judge_model_uri(config), base_url, f"hosted_vllm/{MODEL}",
                      base_url)
    params = backend.inference_params()
    judge = make_dimension_judge(load_rubric("data_imputation"), inference_params=params,
                                 **backend.judge_kwargs())
    requests = []
    for i in range(n):
        outputs = f"# Task prompt\\n\\nTask {i}\\n\\n# Notebook\\n\\nprint({i})\\n"
        key = request_key(model=backend.judge_model, instructions=judge.instructions,
                          outputs=outputs, inference_params=params)
        requests.append(JudgeRequest(f"nb{i:02d}", "data_imputation", "baseline", key, 300,
                                     payload=(judge, outputs)))
    return requests


def call(request):
    judge, outputs = request.payload
    return call_judge(judge, outputs)


def run(base_url, cache_dir, concurrency=2):
    with AnswerCache(cache_dir) as cache:
        return run_requests(build(base_url), call, model=f"hosted_vllm:/{MODEL}", cache=cache,
                            concurrency=concurrency, progress=False,
                            retry=RetryPolicy(base_delay=0.01, max_delay=0.05))


if __name__ == "__main__":
    print("started", flush=True)
    run(sys.argv[1], sys.argv[2])
"""


@pytest.mark.slow
def test_a_killed_run_resumes_without_resending_stored_answers(tmp_path):
    script = tmp_path / "judge_run.py"
    script.write_text(textwrap.dedent(KILLED_RUN), encoding="utf-8")
    cache_dir = tmp_path / "answers"
    with FaultServer(lambda i, body: score(2, f"answer {i}", delay=0.3)) as server:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        child = subprocess.Popen([sys.executable, str(script), server.base_url, str(cache_dir)],
                                 env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 120
            while server.answered < 4:
                assert child.poll() is None, child.stdout.read()
                assert time.monotonic() < deadline, "the judging process answered nothing"
                time.sleep(0.02)
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            child.stdout.close()
        assert child.returncode == -signal.SIGKILL
        sent_before = server.count

        namespace: dict = {"__name__": "judge_run"}
        exec(compile(script.read_text(encoding="utf-8"), str(script), "exec"), namespace)
        keys = [r.key for r in namespace["build"](server.base_url)]
        with AnswerCache(cache_dir) as cache:  # readable after the kill
            stored = len(cache)
            answers = [cache.get(key) for key in keys if key in cache]
        assert 1 <= stored < 12
        assert len(answers) == stored and all(a["status"] == "ok" for a in answers)

        records = namespace["run"](server.base_url, cache_dir, 4)
        resent = server.count - sent_before
    assert resent == 12 - stored  # nothing already answered is asked again
    assert len(records) == 12 and all(r.status == "ok" for r in records)
    with AnswerCache(cache_dir) as cache:
        assert len(cache) == 12


# -- what the model is sent --------------------------------------------------------------
def test_the_request_carries_the_rubric_the_notebook_and_the_answer_schema(cache):
    rubric = load_rubric(DIMENSION)
    with FaultServer([score(3)]) as server:
        requests = make_requests(server)
        judge_all(requests, cache)
        [body] = server.bodies
    system, user = body["messages"][0], body["messages"][-1]
    assert system["role"] == "system" and user["role"] == "user"
    assert rubric.title in system["content"]
    assert rubric.scores.good.summary in system["content"]
    assert rubric.scores.bad.summary in system["content"]
    assert json.dumps(notebook_text(0)) in user["content"]  # {{ outputs }}, JSON-quoted
    assert body["model"] == MODEL
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "judgment", "strict": True, "schema": result_schema(80)},
    }
    assert body["temperature"] == 0.0 and body["max_tokens"] == 60
    # How the client sends (timeout, retries) is not the provider's business.
    assert not {"timeout", "num_retries", "retry_policy"} & set(body), json.dumps(sorted(body))


# -- concurrency -----------------------------------------------------------------------------
def test_concurrent_requests_overlap(cache):
    n, delay = 8, 0.4
    with FaultServer(lambda i, body: score(2, delay=delay)) as server:
        requests = make_requests(server, n)
        started = time.monotonic()
        records = judge_all(requests, cache, concurrency=4)
        elapsed = time.monotonic() - started
        assert server.count == n
    assert all(r.status == "ok" for r in records)
    assert elapsed < 0.6 * n * delay, f"{elapsed:.2f} s for {n} requests of {delay} s"
