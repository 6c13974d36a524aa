"""Which failure of a request is fatal, worth a retry, or the model's own answer: one
table, checked against :func:`nbjudge.llm.calls.classify_failure`."""

from __future__ import annotations

import httpx
import pytest

from nbjudge.llm.calls import Failure, classify_failure


class HTTPStatusError(Exception):
    """An error that carries its HTTP status, as provider clients' errors do."""

    def __init__(self, status_code: int, message: str = "") -> None:
        super().__init__(message or f"HTTP {status_code}")
        self.status_code = status_code


class ResponseError(Exception):
    """An error whose status is on its response (requests, httpx)."""

    def __init__(self, status_code: int) -> None:
        super().__init__("error response")
        self.response = type("Response", (), {"status_code": status_code})()


class AuthenticationError(Exception):
    """Named as litellm's and openai's are; no status."""


class NotFoundError(Exception):
    pass


def caused_by(outer: BaseException, cause: BaseException) -> BaseException:
    outer.__cause__ = cause
    return outer


CASES = [
    # A refused key or an unknown model: every request would fail the same way.
    ("401", HTTPStatusError(401), Failure.FATAL),
    ("403 on the response", ResponseError(403), Failure.FATAL),
    ("404", HTTPStatusError(404, "model not found"), Failure.FATAL),
    ("an AuthenticationError", AuthenticationError("bad key"), Failure.FATAL),
    ("a NotFoundError", NotFoundError("no such model"), Failure.FATAL),
    ("fatal beats transient", caused_by(HTTPStatusError(503), HTTPStatusError(401)),
     Failure.FATAL),
    # Worth another attempt.
    ("429", HTTPStatusError(429), Failure.TRANSIENT),
    ("500", HTTPStatusError(500), Failure.TRANSIENT),
    ("503 on the response", ResponseError(503), Failure.TRANSIENT),
    ("529 (overloaded)", HTTPStatusError(529), Failure.TRANSIENT),
    ("408", HTTPStatusError(408), Failure.TRANSIENT),
    ("a timeout", TimeoutError("no answer within 5 s"), Failure.TRANSIENT),
    ("a lost connection", ConnectionError("reset by peer"), Failure.TRANSIENT),
    ("httpx's timeout", httpx.ReadTimeout("timed out"), Failure.TRANSIENT),
    ("a 502 wrapped by MLflow", caused_by(RuntimeError("judge failed"), HTTPStatusError(502)),
     Failure.TRANSIENT),
    # Not sent again this run, and not cached: the next run asks again.
    ("MLflow's iteration limit", RuntimeError("Judge reached the iteration limit (3)"),
     Failure.MLFLOW_GAVE_UP),
    ("llama.cpp's context message",
     ValueError("the request exceeds the available context size, try increasing it"),
     Failure.TOO_LONG),
    ("a 400 naming the context", HTTPStatusError(400, "maximum context length is 8192 tokens"),
     Failure.TOO_LONG),
    ("a 400", HTTPStatusError(400, "unsupported parameter"), Failure.REJECTED),
    ("a 422 on the response", ResponseError(422), Failure.REJECTED),
    # The model answered, unusably: that is its answer to this prompt.
    ("unparsable JSON", ValueError("Expecting value: line 1 column 1"), Failure.INVALID_ANSWER),
    ("no score", RuntimeError("judge returned an error: no result field"),
     Failure.INVALID_ANSWER),
]


@pytest.mark.parametrize(("error", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_failure_is_sorted(error, expected):
    assert classify_failure(error) is expected


def test_only_the_models_own_answer_is_cached():
    assert [f for f in Failure if f.cached] == [Failure.INVALID_ANSWER]


def test_a_cycle_of_causes_ends():
    first, second = ValueError("a"), ValueError("b")
    first.__cause__, second.__cause__ = second, first
    assert classify_failure(first) is Failure.INVALID_ANSWER
