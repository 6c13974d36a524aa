"""Judges of the providers MLflow knows natively send each request once, and the
runner retries: Retry-After honoured, every attempt counted, keys never shown.

``llm=openai``, ``databricks`` and ``anthropic`` go through MLflow's own HTTP
client, pointed here at the scripted server (``OPENAI_BASE_URL``,
``DATABRICKS_HOST``, Anthropic's base URL).
"""

from __future__ import annotations

import contextlib
import importlib

import pytest

from nbjudge.judges.dimension import make_dimension_judge
from nbjudge.judges.requests import JudgeRequest
from nbjudge.llm.backends import LLMConfig, open_backend
from nbjudge.llm.cache import request_key
from nbjudge.llm.calls import BackendFatalError, CallRunner, RetryPolicy, RunSummary
from nbjudge.llm.limits import BudgetExceededError, Limits
from nbjudge.llm.native import compatible, send_once, single_attempts
from nbjudge.rubrics import load_rubric
from testing.fault_server import (
    FakeClock,
    FaultServer,
    hang,
    rate_limited,
    score,
    server_error,
    status,
)
from tests.llm.test_calls import DIMENSION, call, notebook_text
from tests.llm.test_limits import http_date

pytestmark = pytest.mark.usefixtures("offline")

CLIENT = "mlflow.genai.judges.adapters.gateway_adapter"
SECRET = "sk-native-0123456789-do-not-leak"
RETRY = RetryPolicy(max_retries=3, base_delay=0.01, max_delay=0.05, abort_after=6)


def native_config(backend: str, **changes) -> LLMConfig:
    return LLMConfig.from_mapping({
        "backend": backend, "model": "fault-model", "context_size": 8192,
        "notebook_tokens": 300, "concurrency": 1, "timeout": 5, "max_retries": 3,
        "temperature": 0.0, "max_output_tokens": 60, "rationale_max_chars": 80, **changes})


@contextlib.contextmanager
def provider(backend: str, server: FaultServer, monkeypatch, tmp_path, **changes):
    """``llm=<backend>`` opened against the scripted server; yields the judge requests and
    the open backend."""
    if backend == "openai":
        monkeypatch.setenv("OPENAI_API_KEY", SECRET)
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    elif backend == "databricks":
        monkeypatch.setenv("DATABRICKS_HOST", f"http://127.0.0.1:{server.port}")
        monkeypatch.setenv("DATABRICKS_TOKEN", SECRET)
    else:
        from mlflow.gateway.providers.anthropic import AnthropicProvider

        monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
        monkeypatch.setattr(AnthropicProvider, "base_url",
                            property(lambda self: server.base_url))
    config = native_config(backend, **changes)
    with open_backend(config, cache_dir=tmp_path / "cache") as backend_:
        params = backend_.inference_params()
        judge = make_dimension_judge(load_rubric(DIMENSION), inference_params=params,
                                     **backend_.judge_kwargs())
        requests = []
        for i in range(2):
            outputs = notebook_text(i)
            key = request_key(model=backend_.judge_model, instructions=judge.instructions,
                              outputs=outputs, inference_params=params)
            requests.append(JudgeRequest(notebook_id=f"nb{i:02d}", dimension=DIMENSION,
                                         variant="baseline", key=key, prompt_tokens=500,
                                         payload=(judge, outputs)))
        yield requests, backend_


def send(requests, cache, limits, summary=None):
    runner = CallRunner(call, cache, concurrency=1, retry=RETRY, progress=False, limits=limits)
    return runner.run(requests, summary)


# -- the replacement itself --------------------------------------------------------------
def test_mlflows_judge_client_has_the_shape_that_is_replaced():
    """Fails first when an MLflow upgrade changes the client: then judges of native
    providers would silently fall back to MLflow's own retries."""
    assert compatible() is None


def test_the_replacement_lasts_only_as_long_as_the_block(caplog):
    client = importlib.import_module(CLIENT)
    original = client.send_chat_request
    with caplog.at_level("WARNING", logger="nbjudge.llm.native"), \
            single_attempts() as replaced:
        assert replaced
        assert client.send_chat_request is send_once
        with single_attempts() as nested:
            assert nested
            assert client.send_chat_request is send_once
        assert client.send_chat_request is send_once
    assert client.send_chat_request is original
    assert not caplog.records


def test_a_changed_client_keeps_mlflows_retries_and_says_so(monkeypatch, caplog):
    import nbjudge.llm.native as native

    client = importlib.import_module(CLIENT)
    original = client.send_chat_request
    monkeypatch.setattr(client, "send_chat_request", lambda endpoint, headers, payload: {})
    monkeypatch.setattr(native, "_warned", False)
    with caplog.at_level("WARNING", logger="nbjudge.llm.native"), \
            single_attempts() as replaced:
        assert not replaced
        assert client.send_chat_request is not send_once
    assert "ignore Retry-After" in caplog.text
    assert "Pin the MLflow version" in caplog.text
    monkeypatch.setattr(client, "send_chat_request", original)


def test_a_litellm_routed_backend_leaves_mlflows_client_alone(tmp_path):
    client = importlib.import_module(CLIENT)
    original = client.send_chat_request
    config = native_config("openai_compatible", base_url="http://127.0.0.1:9/v1")
    with open_backend(config, cache_dir=tmp_path):
        assert client.send_chat_request is original


# -- through MLflow's native adapter, against the scripted server --------------------------
NATIVE = ["openai", "databricks", "anthropic"]


@pytest.mark.parametrize("backend", NATIVE)
def test_retry_after_is_honoured_on_the_clock(backend, cache, monkeypatch, tmp_path):
    clock = FakeClock()
    with FaultServer([rate_limited(retry_after=120), score(2, "imputer fit on train")]) as server, \
            provider(backend, server, monkeypatch, tmp_path) as (requests, _):
        summary = RunSummary()
        [outcome] = send(requests[:1], cache, Limits(clock=clock), summary)
        assert server.count == 2          # MLflow alone: its own retry after 1 s
    assert outcome.status == "ok", outcome
    assert outcome.details["value"] == 2
    assert clock.sleeps == [120.0]
    assert summary.sent == 2


def test_an_http_date_on_a_503_is_honoured(cache, monkeypatch, tmp_path):
    clock = FakeClock(wall=1_800_000_000)
    unavailable = status(503, headers={"Retry-After": http_date(clock.time() + 30)})
    with FaultServer([unavailable, score(3)]) as server, \
            provider("openai", server, monkeypatch, tmp_path) as (requests, _):
        [outcome] = send(requests[:1], cache, Limits(clock=clock))
        assert server.count == 2
    assert outcome.status == "ok"
    assert clock.sleeps == [pytest.approx(30.0, abs=1.0)]


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_every_attempt_counts_against_the_request_cap(backend, cache, monkeypatch, tmp_path):
    with FaultServer([server_error(), server_error()], default=score(2)) as server, \
            provider(backend, server, monkeypatch, tmp_path, max_requests=2) as (requests, opened):
        with pytest.raises(BudgetExceededError):
            send(requests, cache, opened.limits)
        assert server.count == 2          # MLflow alone: 11 before giving up
    assert not any(r.key in cache for r in requests)


def test_a_timeout_is_retried_by_the_runner(cache, monkeypatch, tmp_path):
    with FaultServer([hang(), score(1)]) as server, \
            provider("openai", server, monkeypatch, tmp_path, timeout=1) as (requests, _):
        [outcome] = send(requests[:1], cache, Limits(clock=FakeClock()))
        assert server.count == 2
    assert outcome.status == "ok"
    assert outcome.details["value"] == 1


@pytest.mark.parametrize("backend", NATIVE)
def test_a_rejected_key_stops_at_once_and_is_never_shown(backend, cache, monkeypatch,
                                                         tmp_path):
    rejected = status(401, {"error": {"message": "Incorrect API key provided",
                                      "type": "invalid_request_error"}})
    with FaultServer([rejected]) as server, \
            provider(backend, server, monkeypatch, tmp_path) as (requests, opened):
        with pytest.raises(BackendFatalError) as caught:
            send(requests, cache, opened.limits)
        assert server.count == 1
    assert "Incorrect API key" in str(caught.value)
    assert SECRET not in str(caught.value)
