"""Rate limits as providers send them, pacing, adaptive concurrency and spending caps.

Waits are timed against :class:`FakeClock` (they return at once and move its
time on), never slept. The tests marked slow send real requests, through a
real MLflow judge, to the scripted :class:`FaultServer`.
"""

from __future__ import annotations

import email.utils
import itertools
import threading
import time
from datetime import UTC, datetime

import pytest

from nbjudge.llm.backends import BackendConfigError, LLMConfig
from nbjudge.llm.calls import CallRunner, RetryPolicy, RunSummary, retry_after_seconds
from nbjudge.llm.limits import (
    AdaptiveConcurrency,
    Budget,
    BudgetExceededError,
    Limits,
    RateLimiter,
)
from nbjudge.llm.usage import backend_price, price_per_token
from testing.fault_server import FakeClock, FaultServer, rate_limited, score, status

FAST = RetryPolicy(max_retries=6, base_delay=0.5, max_delay=4.0, abort_after=6)


def http_date(seconds: float) -> str:
    return email.utils.format_datetime(datetime.fromtimestamp(seconds, UTC), usegmt=True)


# -- Retry-After, parsed from the error ---------------------------------------------------
class _Response:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers
        self.status_code = 429


class _ProviderError(Exception):
    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__("rate limit")
        self.response = _Response(headers)
        self.status_code = 429


@pytest.mark.parametrize(("headers", "expected"), [
    ({"Retry-After": "7"}, 7.0),
    ({"retry-after": "2.5"}, 2.5),
    ({"Retry-After": http_date(1_800_000_030)}, 30.0),
    ({"Retry-After": http_date(1_799_999_000)}, 0.0),     # a date in the past: no wait
    ({"retry-after-ms": "1500", "Retry-After": "9"}, 1.5),
    ({"Retry-After": "soon"}, None),
    ({}, None),
])
def test_retry_after_in_seconds_or_as_an_http_date(headers, expected):
    clock = FakeClock(wall=1_800_000_000)
    assert retry_after_seconds(_ProviderError(headers), clock) == expected


def test_retry_after_is_found_on_a_wrapped_error():
    clock = FakeClock(wall=1_800_000_000)
    try:
        try:
            raise _ProviderError({"Retry-After": "11"})
        except _ProviderError as inner:
            raise RuntimeError("the judge failed") from inner
    except RuntimeError as outer:
        assert retry_after_seconds(outer, clock) == 11.0


# -- pacing ----------------------------------------------------------------------------
def test_requests_per_minute_space_requests_even_from_many_threads():
    clock = FakeClock()
    limiter = RateLimiter(rpm=120, clock=clock)
    starts: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            start = limiter.acquire()
            with lock:
                starts.append(start)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    starts.sort()
    assert len(starts) == 20
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) == pytest.approx(0.5)       # 60 s / 120
    assert starts[-1] == pytest.approx(19 * 0.5)
    assert clock.now >= starts[-1]


def test_tokens_per_minute_count_each_requests_tokens():
    clock = FakeClock()
    limiter = RateLimiter(tpm=6000, clock=clock)    # 100 tokens a second
    starts = [limiter.acquire(tokens) for tokens in (1000, 200, 500, 100)]
    assert starts == pytest.approx([0.0, 10.0, 12.0, 17.0])
    assert clock.now == pytest.approx(17.0)


def test_both_limits_the_stricter_wins_and_a_pause_holds_everyone():
    clock = FakeClock()
    limiter = RateLimiter(rpm=60, tpm=60_000, clock=clock)
    assert limiter.acquire(100) == 0.0
    assert limiter.acquire(100) == pytest.approx(1.0)        # rpm: 1 s apart
    assert limiter.acquire(5000) == pytest.approx(2.0)
    assert limiter.acquire(100) == pytest.approx(7.0)        # tpm: 5000 tokens take 5 s
    limiter.pause(30)                                         # a Retry-After of 30 s
    assert limiter.acquire(100) == pytest.approx(37.0)


def test_no_limits_never_wait():
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    assert [limiter.acquire(10**6) for _ in range(50)] == [0.0] * 50
    assert clock.sleeps == []


# -- adaptive concurrency -------------------------------------------------------------------
def test_repeated_429s_halve_concurrency_and_successes_restore_it():
    messages: list[str] = []
    slots = AdaptiveConcurrency(8, on_change=messages.append)
    slots.rate_limited()
    assert slots.current == 8                 # one 429 is not "repeated"
    slots.succeeded()
    slots.rate_limited()
    assert slots.current == 8                 # a success in between resets the streak
    slots.rate_limited()
    assert slots.current == 4
    slots.rate_limited()
    slots.rate_limited()
    assert slots.current == 2
    for _ in range(3):
        slots.succeeded()
    assert slots.current == 2                 # restored gradually: 4 successes per step
    slots.succeeded()
    assert slots.current == 3
    for _ in range(100):
        slots.succeeded()
    assert slots.current == 8
    assert slots.history == [8, 4, 2, 3, 4, 5, 6, 7, 8]
    assert messages[0] == "rate limited (HTTP 429, 2 in a row): concurrency lowered to 4 of 8"
    assert messages[-1] == "concurrency restored to 8"


def test_a_lowered_limit_holds_back_new_requests():
    slots = AdaptiveConcurrency(2)
    slots.rate_limited()
    slots.rate_limited()
    assert slots.current == 1
    entered = threading.Event()
    with slots.slot():

        def second() -> None:
            with slots.slot():
                entered.set()

        thread = threading.Thread(target=second)
        thread.start()
        assert not entered.wait(0.2)          # blocked while the one slot is taken
    assert entered.wait(5)
    thread.join()


# -- the budget -----------------------------------------------------------------------------
def test_max_requests_refuses_the_request_past_the_cap():
    budget = Budget(max_requests=3)
    assert [budget.reserve(10, 10) is not None for _ in range(4)] == [True, True, True, False]
    assert budget.stopped == "requests" and budget.sent == 3
    assert budget.reserve(1, 1) is None       # stopped for good
    message = budget.message(not_sent=5, cache_dir="/cache")
    assert "llm.max_requests=3 reached" in message and "5 requests not sent" in message
    assert "-S llm.max_requests=6" in message and "/cache" in message


def test_max_cost_counts_money_spent_and_the_worst_case_in_flight():
    budget = Budget(max_cost=0.01, price=(1e-6, 4e-6), model="openai:/m")
    first = budget.reserve(1000, 500)          # worst case 0.001 + 0.002
    assert first == pytest.approx(0.003)
    second = budget.reserve(1000, 500)
    third = budget.reserve(1000, 500)
    assert budget.reserve(1000, 500) is None   # 4 x 0.003 > 0.01 while 3 are in flight
    budget.settle(first, budget.cost(1000, 100))
    assert budget.spent == pytest.approx(0.0014)
    assert budget.stopped == "cost"
    budget.settle(second, 0.0)
    budget.settle(third, 0.0)
    assert budget.spent <= budget.max_cost
    message = budget.message(not_sent=2, cache_dir="/cache")
    assert "llm.max_cost=0.01 reached" in message and "openai:/m" in message
    assert "-S llm.max_cost=0.02" in message


def test_a_cost_cap_without_a_known_price_is_refused_not_taken_as_free():
    with pytest.raises(BackendConfigError, match="cannot be enforced"):
        Budget(max_cost=5.0, price=None, model="hosted_vllm:/mine")


def test_a_stage_stopped_by_a_cap_exits_1_with_the_message(capsys):
    from nbjudge.config import run_stage

    def main(argv):
        budget = Budget(max_requests=1)
        budget.reserve(1, 1)
        budget.reserve(1, 1)
        raise BudgetExceededError(budget.message(not_sent=3, cache_dir="/cache"))

    main.__module__ = "stages.judge"
    assert run_stage(main, []) == 1
    err = capsys.readouterr().err
    assert err.startswith("judge: error: llm.max_requests=1 reached")
    assert "Traceback" not in err


def llm_config(**overrides) -> LLMConfig:
    return LLMConfig.from_mapping({
        "backend": "openai", "model": "gpt-4o-mini", "context_size": 128000,
        "notebook_tokens": None, "concurrency": 8, "timeout": 60, "max_retries": 2,
        "temperature": 0.0, "max_output_tokens": 600, "rationale_max_chars": 200,
        **overrides})


def test_limits_from_the_llm_settings():
    limits = Limits.from_config(llm_config(rpm=500, tpm=200_000, max_requests=100,
                                           max_cost=2.5))
    assert (limits.limiter.rpm, limits.limiter.tpm) == (500, 200_000)
    assert limits.budget.max_requests == 100 and limits.budget.max_cost == 2.5
    assert limits.budget.price == price_per_token("gpt-4o-mini")
    assert limits.reply_tokens == 600
    with pytest.raises(BackendConfigError, match="no price for hosted_vllm:/mine"):
        Limits.from_config(llm_config(backend="openai_compatible", model="mine",
                                      base_url="http://gpu:8000/v1", max_cost=1.0))


@pytest.mark.parametrize("field", ["rpm", "tpm", "max_requests", "max_cost"])
def test_limits_must_be_positive(field):
    with pytest.raises(BackendConfigError, match=f"llm.{field}"):
        llm_config(**{field: 0})


def test_prices_come_from_litellms_bundled_list():
    prompt, reply = price_per_token("openai:/gpt-4o-mini")
    assert 0 < prompt < reply
    assert price_per_token("gpt-4o-mini") == price_per_token("openai/gpt-4o-mini")
    assert price_per_token("hosted_vllm:/no-such-model") is None
    assert price_per_token("anthropic:/gpt-4o-mini") is None     # not Anthropic's model
    assert backend_price(llm_config()) == (prompt, reply)
    assert backend_price(llm_config(backend="local", model="smol")) == (0.0, 0.0)
    assert backend_price(llm_config(backend="openai_compatible", model="gpt-4o-mini",
                                    base_url="http://gpu:8000/v1")) is None


# -- against the scripted server (fixtures offline and cache: conftest.py) ------------------
def judged(server, n, **kwargs):
    from tests.llm.test_calls import make_requests

    return make_requests(server, n, **kwargs)


def send(requests, cache, limits, *, concurrency=1, retry=FAST, summary=None, log=None):
    from tests.llm.test_calls import call

    def timed(request):
        if log is not None:
            log.append(limits.clock.monotonic())
        return call(request)

    runner = CallRunner(timed, cache, concurrency=concurrency, retry=retry, progress=False,
                        limits=limits)
    return runner.run(requests, summary)


@pytest.mark.slow
@pytest.mark.usefixtures("offline")
def test_retry_after_in_seconds_is_waited_on_the_clock_not_slept(cache):
    clock = FakeClock()
    with FaultServer([rate_limited(retry_after=120), score(2)]) as server:
        requests = judged(server, 1)
        started = time.monotonic()
        [outcome] = send(requests, cache, Limits(clock=clock))
        assert server.count == 2
    assert outcome.status == "ok"
    assert clock.sleeps == [120.0]
    assert clock.now == pytest.approx(120.0)
    assert time.monotonic() - started < 60.0      # timed, not slept


@pytest.mark.slow
@pytest.mark.usefixtures("offline")
def test_retry_after_as_an_http_date_on_a_503(cache):
    clock = FakeClock(wall=1_800_000_000)
    unavailable = status(503, headers={"Retry-After": http_date(clock.time() + 30)})
    with FaultServer([unavailable, unavailable, score(3)]) as server:
        [outcome] = send(judged(server, 1), cache, Limits(clock=clock))
        assert server.count == 3
    assert outcome.status == "ok"
    # The second 503 names the same moment, which is by then 0 s away.
    assert clock.sleeps == [30.0, 0.0]


@pytest.mark.slow
@pytest.mark.usefixtures("offline")
def test_without_retry_after_the_backoff_is_exponential_with_jitter(cache):
    clock = FakeClock()
    retry = RetryPolicy(max_retries=4, base_delay=1.0, max_delay=30.0)
    with FaultServer([rate_limited()] * 4 + [score(2)]) as server:
        [outcome] = send(judged(server, 1), cache, Limits(clock=clock), retry=retry)
        assert server.count == 5
    assert outcome.status == "ok"
    assert len(clock.sleeps) == 4
    # Full jitter: after attempt k a uniform wait in [0, 2**(k-1)] seconds.
    assert all(0 <= s <= 2 ** (k - 1) for k, s in enumerate(clock.sleeps, start=1))
    assert len(set(clock.sleeps)) == 4     # drawn, not fixed


@pytest.mark.slow
@pytest.mark.usefixtures("offline")
def test_an_excessive_retry_after_is_capped(cache):
    clock = FakeClock()
    retry = RetryPolicy(max_retries=2, base_delay=0.1, max_delay=1.0, max_retry_after=60)
    with FaultServer([rate_limited(retry_after=86_400), score(2)]) as server:
        send(judged(server, 1), cache, Limits(clock=clock), retry=retry)
        assert server.count == 2
    assert clock.sleeps == [60.0]


@pytest.mark.slow
@pytest.mark.usefixtures("offline")
def test_rpm_paces_requests_sent_to_the_server(cache):
    clock, sent = FakeClock(), []
    with FaultServer() as server:
        outcomes = send(judged(server, 5), cache, Limits(rpm=30, clock=clock), log=sent)
        assert server.count == 5
    assert all(o.status == "ok" for o in outcomes)
    assert sent == pytest.approx([0.0, 2.0, 4.0, 6.0, 8.0])


@pytest.mark.slow
@pytest.mark.usefixtures("offline")
def test_tpm_paces_by_prompt_estimate_plus_reply_cap(cache):
    clock, sent = FakeClock(), []
    with FaultServer() as server:
        # 500 prompt tokens (the requests' estimate) + a 100-token reply cap = 600 tokens,
        # at 6000 tokens a minute: one request every 6 s.
        limits = Limits(tpm=6000, reply_tokens=100, clock=clock)
        send(judged(server, 4, prompt_tokens=500), cache, limits, log=sent)
        assert server.count == 4
    assert sent == pytest.approx([0.0, 6.0, 12.0, 18.0])


@pytest.mark.slow
@pytest.mark.usefixtures("offline")
def test_repeated_429s_lower_concurrency_and_successes_restore_it(cache):
    clock = FakeClock()
    summary = RunSummary()
    # The first six requests are refused (each one a little later, so they overlap).
    with FaultServer(lambda i, body: (status(429, delay=0.05) if i < 6
                                      else score(2, delay=0.02))) as server:
        outcomes = send(judged(server, 24), cache, Limits(clock=clock), concurrency=4,
                        summary=summary)
        assert server.count == 30
        assert server.max_in_flight >= 2            # it did run concurrently
    assert all(o.status == "ok" for o in outcomes)
    lowered = [n for n in summary.notes if "lowered" in n]
    assert lowered[0].endswith("concurrency lowered to 2 of 4")
    assert lowered[-1].endswith("concurrency lowered to 1 of 4")
    assert summary.notes[-1] == "concurrency restored to 4"
    raised = summary.notes[summary.notes.index(lowered[-1]) + 1:]
    assert raised == ["concurrency raised to 2 of 4", "concurrency raised to 3 of 4",
                      "concurrency restored to 4"]


@pytest.mark.slow
@pytest.mark.usefixtures("offline")
def test_a_request_cap_stops_mid_stage_and_the_rerun_resends_nothing_answered(cache):
    clock = FakeClock()
    with FaultServer(lambda i, body: score(1 + i % 3, f"answer {i}", delay=0.05)) as server:
        requests = judged(server, 12)
        summary = RunSummary()
        with pytest.raises(BudgetExceededError) as caught:
            send(requests, cache, Limits(max_requests=5, clock=clock), concurrency=3,
                 summary=summary)
        assert server.count == 5                     # the cap, never more
        assert server.answered == 5                  # in-flight requests finished
        answered = {r.key for r in requests if r.key in cache}
        assert len(answered) == 5 and summary.ok == 5
        message = str(caught.value)
        assert "llm.max_requests=5 reached" in message and "7 requests not sent" in message
        assert str(cache.directory) in message and "rerun to resume" in message

        bodies_before = len(server.bodies)
        outcomes = send(requests, cache, Limits(clock=clock), concurrency=3)
        resent = [b["messages"][-1]["content"] for b in server.bodies[bodies_before:]]
    assert len(resent) == 7                          # 0 answered requests re-sent
    assert all(o.status == "ok" for o in outcomes)
    for request in requests:
        was_answered = request.key in answered
        carried = any(request.payload[1][:40].replace("\n", "\\n") in text for text in resent)
        assert carried != was_answered, request.notebook_id


@pytest.mark.slow
@pytest.mark.usefixtures("offline")
def test_a_cost_cap_stops_before_passing_the_cap(cache):
    clock = FakeClock()
    # A prompt estimate of 2000 tokens (the server counts about 1600) + a 60-token reply
    # cap, at 1e-5 and 2e-5 a token: a worst case of 0.0212 a request.
    worst = 2000 * 1e-5 + 60 * 2e-5
    limits = Limits(max_cost=0.1, price=(1e-5, 2e-5), reply_tokens=60, model="fault",
                    clock=clock)
    with FaultServer(lambda i, body: score(2, delay=0.02)) as server:
        requests = judged(server, 10, prompt_tokens=2000)
        with pytest.raises(BudgetExceededError, match=r"llm\.max_cost=0\.1 reached"):
            send(requests, cache, limits, concurrency=2)
        sent = server.count
    assert 4 <= sent < 10
    spent = limits.budget.spent
    # Priced with the reply's usage, below the worst case; never past the cap, and
    # stopped only when the next request's worst case (with one in flight) did not fit.
    assert sent * 0.01 < spent < sent * worst
    assert 0.1 - 2 * worst < spent <= 0.1
    assert limits.budget.reserved == pytest.approx(0.0)
    assert sum(r.key in cache for r in requests) == sent


@pytest.mark.slow
@pytest.mark.usefixtures("offline")
def test_an_open_backend_holds_the_caps_of_its_requests(cache, tmp_path):
    from nbjudge.judges.requests import run_requests
    from nbjudge.llm.backends import open_backend
    from tests.llm.test_calls import MODEL, call

    with FaultServer() as server:
        config = LLMConfig.from_mapping({
            "backend": "openai_compatible", "model": MODEL, "base_url": server.base_url,
            "context_size": 8192, "notebook_tokens": 300, "concurrency": 2, "timeout": 5,
            "max_retries": 2, "temperature": 0.0, "max_output_tokens": 60,
            "rationale_max_chars": 80, "max_requests": 3})
        requests = judged(server, 4)
        with open_backend(config, cache_dir=tmp_path) as first, \
                pytest.raises(BudgetExceededError):
            run_requests(requests, call, model=f"hosted_vllm:/{MODEL}", cache=cache,
                         concurrency=2, progress=False, retry=FAST, limits=first.limits)
        assert server.count == 3
        # A backend opened with the same limits shares the spent budget: nothing is sent.
        with open_backend(config, cache_dir=tmp_path, limits=first.limits) as second, \
                pytest.raises(BudgetExceededError):
            run_requests(requests, call, model=f"hosted_vllm:/{MODEL}", cache=cache,
                         concurrency=2, progress=False, retry=FAST, limits=second.limits)
        assert server.count == 3
        # A backend of its own starts with the whole budget again.
        with open_backend(config, cache_dir=tmp_path) as third:
            assert third.limits is not first.limits and third.limits.budget.sent == 0
