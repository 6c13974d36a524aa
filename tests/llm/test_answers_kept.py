"""A reply that is no usable answer is kept as it came, and asked again only when the user
says so (``llm.retry_failed: true``), once, and never silently; with a real MLflow judge
against a scripted chat server."""

from __future__ import annotations

import json

import pytest

from nbjudge.judges.batch import baseline_judges, judge_views
from nbjudge.judges.requests import NotebookView
from nbjudge.llm.cache import AnswerCache
from nbjudge.llm.calls import RunSummary
from nbjudge.llm.config import LLMConfig
from testing.fault_server import FaultServer, not_json, reply, score
from tests.llm.test_calls import DIMENSION, judge_all, make_requests, notebook_text

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("offline")]

NO_RESULT = json.dumps({"rationale": "The imputer is fit on the training split only."})


def test_a_reply_without_result_keeps_the_reply_and_names_the_field(cache):
    with FaultServer([reply(NO_RESULT)]) as server:
        [record] = judge_all(make_requests(server), cache)
        assert server.count == 1
    assert record.status == "failed" and record.score is None
    assert record.error.startswith("invalid answer: the reply has no 'result' field")
    assert "(its fields: rationale)" in record.error
    assert record.error.endswith(f"the reply: {NO_RESULT}")


def test_an_unparsable_reply_is_kept_once(cache):
    with FaultServer([not_json("Score: 3 because the imputer")]) as server:
        [record] = judge_all(make_requests(server), cache)
    assert record.error.count("Score: 3 because the imputer") == 1


def llm_for(server: FaultServer, retry_failed: bool) -> LLMConfig:
    return LLMConfig.from_mapping({
        "backend": "openai_compatible", "model": "fault-model", "base_url": server.base_url,
        "context_size": 8192, "notebook_tokens": 300, "concurrency": 1, "timeout": 10,
        "max_retries": 0, "temperature": 0.0, "max_output_tokens": 60,
        "rationale_max_chars": 80, "retry_failed": retry_failed})


def test_retry_failed_asks_each_cached_failure_once_and_says_so(tmp_path, capsys):
    views = [NotebookView(f"nb{i}", "churn", "Predict churn.", notebook_text(i))
             for i in range(3)]
    judge = {"cache_dir": str(tmp_path / "answers")}
    # nb1's reply is cut off by a gateway; the others answer.
    script = [score(2), reply('{"result": '), score(3),   # the first run
              score(1)]                                   # nb1 asked once more
    with FaultServer(script) as server:
        def run(retry_failed: bool):
            summary = RunSummary()
            records, _ = judge_views(views, llm_for(server, retry_failed), judge,
                                     variant="baseline", summary=summary,
                                     judges=baseline_judges(llm_for(server, retry_failed),
                                                            [DIMENSION]), progress=False)
            return records, summary

        first, _ = run(False)
        assert [r.status for r in first] == ["ok", "failed", "ok"]
        assert server.count == 3

        kept, summary = run(False)               # the failure is the model's answer: reused
        assert server.count == 3 and kept == first
        assert summary.cached_failed == 1
        assert "1 failure(s) from cache kept (llm.retry_failed: true" in summary.line()

        capsys.readouterr()
        again, summary = run(True)               # asked once more, and said so
        assert server.count == 4
        assert [r.score for r in again] == [2, 1, 3]
        assert summary.asked_again == 1 and summary.sent == 1
        assert "asking 1 cached failed answer(s) once more" in capsys.readouterr().err
        assert "1 cached failure(s) asked again (llm.retry_failed)" in summary.line()

        later, summary = run(True)               # nothing left to ask
        assert server.count == 4 and later == again and summary.asked_again == 0


def test_a_failure_asked_again_is_not_asked_a_third_time(tmp_path):
    with AnswerCache(tmp_path / "answers") as cache:
        cache.put("k", {"status": "failed", "error": "invalid answer: x"})
        assert "k" in cache
        cache.retry_failed = True
        assert "k" not in cache and cache.get("k") is None and cache.asks_again("k")
        cache.put("k", {"status": "failed", "error": "invalid answer: y"})   # failed again
        assert "k" in cache and not cache.asks_again("k")
        assert cache.get("k") == {"status": "failed", "error": "invalid answer: y"}
        cache.put("ok", {"status": "ok", "score": 2})
        assert not cache.asks_again("ok") and cache.get("ok") == {"status": "ok", "score": 2}


def test_the_plan_counts_a_failure_to_ask_again_as_not_cached(tmp_path):
    from nbjudge.plan.core import cached_keys

    with AnswerCache(tmp_path / "answers") as cache:
        cache.put("failed", {"status": "failed", "error": "invalid answer: x"})
        cache.put("ok", {"status": "ok", "score": 2})
    assert cached_keys(tmp_path / "answers", ["failed", "ok", "new"]) == [True, True, False]
    assert cached_keys(tmp_path / "answers", ["failed", "ok", "new"],
                       retry_failed=True) == [False, True, False]
