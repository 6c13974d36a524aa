"""TokenCounter: the calls and tokens of the requests that start while it is active,
as an open backend's UsageLog hears of them from litellm.

litellm logs a request's usage in a thread of its own after the caller has moved on,
so a judge request sent just before an alignment could be logged during it (the
report's "actual" distillation once counted 40 calls for 36 requests).
"""

from __future__ import annotations

import threading
import time

import pytest

from nbjudge.llm.usage import UsageLog
from testing.fault_server import FaultServer, score

LOG = UsageLog()


# The log's two entry points, driven by hand: litellm calls them with these kwargs.
def started(call):
    LOG.started({"litellm_call_id": call})


def finished(call, prompt=100, completion=10, ok=True):
    LOG.finished({"litellm_call_id": call}, prompt, completion, ok=ok)


def test_a_request_that_started_before_the_counter_is_not_counted():
    started("judge-1")                      # a judge request, before the alignment
    with LOG.counter() as counter:
        finished("judge-1")                 # ... logged during it
        started("distill-1")
        finished("distill-1", 1800, 300)
    assert counter.as_dict() == {"calls": 1, "prompt": 1800, "completion": 300}


def test_leaving_waits_for_a_request_logged_late():
    with LOG.counter() as counter:
        started("distill-1")
        threading.Timer(0.3, finished, args=("distill-1", 500, 50)).start()
        entered = time.monotonic()
    assert time.monotonic() - entered >= 0.25
    assert counter.as_dict() == {"calls": 1, "prompt": 500, "completion": 50}


def test_a_failed_request_is_not_counted_and_not_waited_for():
    with LOG.counter(settle_seconds=5) as counter:
        started("distill-1")
        finished("distill-1", ok=False)
        entered = time.monotonic()
    assert time.monotonic() - entered < 1
    assert counter.calls == 0


def test_a_request_never_logged_holds_the_exit_only_as_long_as_the_settle_time():
    with LOG.counter(settle_seconds=0.2) as counter:
        started("lost")
        entered = time.monotonic()
    assert 0.15 <= time.monotonic() - entered < 2
    assert counter.calls == 0
    finished("lost")                        # too late: the counter is closed
    assert counter.calls == 0


def test_nested_counters_both_count_what_started_inside_both():
    with LOG.counter() as outer:
        started("a")
        finished("a")
        with LOG.counter() as inner:
            started("b")
            finished("b")
    assert (outer.calls, inner.calls) == (2, 1)


@pytest.mark.usefixtures("offline")
def test_a_real_litellm_request_is_counted_once_with_its_reported_usage():
    import litellm

    log = UsageLog()
    before = litellm.logging_callback_manager.get_all_callbacks()
    with FaultServer([score(2)]) as server, log.installed(), log.counter() as counter:
        reply = litellm.completion(model="hosted_vllm/fault-model", api_base=server.base_url,
                                   api_key="k", messages=[{"role": "user", "content": "x" * 400}])
    assert counter.calls == 1
    assert counter.prompt == reply.usage.prompt_tokens > 0
    assert counter.completion == reply.usage.completion_tokens > 0
    # Nothing of the log stays with litellm (it copies callbacks into lists of its own).
    assert litellm.logging_callback_manager.get_all_callbacks() == before


@pytest.mark.usefixtures("offline")
def test_two_logs_count_only_their_own_requests():
    import litellm

    first, second = UsageLog(), UsageLog()
    with FaultServer(default=score(2)) as server:
        def ask():
            litellm.completion(model="hosted_vllm/fault-model", api_base=server.base_url,
                               api_key="k", messages=[{"role": "user", "content": "x"}])

        with first.installed(), first.counter() as counted:
            ask()
        with second.installed(), second.counter() as other:
            ask()
            ask()
    assert (counted.calls, other.calls) == (1, 2)
