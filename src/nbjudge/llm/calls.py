"""Many LLM calls, concurrently, resumably, honestly.

Every request has a content key (:func:`nbjudge.llm.cache.content_key`). An
answer already in the :class:`~nbjudge.llm.cache.AnswerCache` is used without
sending anything; every new answer is stored the moment it arrives, so a run
that is killed resumes where it stopped. Transient failures (HTTP 429, 5xx,
timeouts, lost connections) are retried with exponential backoff and full
jitter (``tenacity``); a request that exhausts its budget becomes a failed
outcome that is *not* cached, so the next run tries it again. A 429 or 503
that carries ``Retry-After`` (seconds, or an HTTP date; also ``retry-after-ms``)
waits what the provider asked instead of the backoff, and holds back every
other worker of the stage for as long. When the backend keeps failing, the run
stops with :class:`BackendUnavailableError` instead of writing a file full of
failures; a bad key or an unknown model stops it at once
(:class:`BackendFatalError`).

Requests are paced, their concurrency adapted to rate limits, and the run
capped by the stage's :class:`~nbjudge.llm.limits.Limits` (``llm.rpm``,
``llm.tpm``, ``llm.max_requests``, ``llm.max_cost``): a cap that is reached
stops the run cleanly with :class:`~nbjudge.llm.limits.BudgetExceededError`
after the requests in flight have finished, every answer cached.

The LLM call itself is a function ``call(request) -> Answer``: judging passes
one that runs an MLflow judge (:mod:`nbjudge.judges.requests`), the notebook
writer one that asks for a notebook; tests pass scripted ones.
:func:`run_calls` returns one outcome dict per request (``status`` ok or
failed, ``error``, ``tokens_in``, ``tokens_out``, ``latency_s`` and whatever
``interpret`` adds).
"""

from __future__ import annotations

import email.utils
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field
from typing import Any, Protocol

from tqdm.auto import tqdm

from nbjudge.llm.cache import AnswerCache
from nbjudge.llm.limits import (
    AdaptiveConcurrency,
    BudgetExceededError,
    Clock,
    Limits,
    active_limits,
)

__all__ = [
    "Answer",
    "BackendFatalError",
    "BackendUnavailableError",
    "BudgetExceededError",
    "PromptTooLongError",
    "Request",
    "RetryPolicy",
    "RunSummary",
    "is_fatal",
    "is_rate_limited",
    "is_transient",
    "retry_after_seconds",
    "run_calls",
]

TRANSIENT_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
FATAL_STATUS = frozenset({401, 403, 404})


class Request(Protocol):
    """What :func:`run_calls` needs of a request."""

    @property
    def key(self) -> str: ...          # content key in the answer cache

    @property
    def prompt_tokens(self) -> int: ...  # estimated size of the whole prompt

    @property
    def label(self) -> str: ...        # names the request in error messages


@dataclass
class Answer:
    """What the model said for one request."""

    value: Any
    rationale: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    retrieved_ids: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)   # e.g. the reply's finish_reason


class PromptTooLongError(ValueError):
    """The prompt does not fit the model's context window."""


class BackendFatalError(RuntimeError):
    """The backend refused in a way no retry fixes (bad key, unknown model)."""


class BackendUnavailableError(RuntimeError):
    """The backend kept failing after retries; finished answers are cached."""


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of one request on transient errors, and when to give up on the backend."""

    max_retries: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0
    abort_after: int = 6     # consecutive requests that exhausted their retries
    max_retry_after: float = 600.0   # longest Retry-After honoured as given (seconds)

    def __post_init__(self) -> None:
        if (self.max_retries < 0 or self.base_delay < 0 or self.max_delay < 0
                or self.max_retry_after < 0):
            raise ValueError("retry settings must not be negative")
        if self.abort_after < 1:
            raise ValueError("abort_after must be at least 1")


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _status(error: BaseException) -> int | None:
    status = getattr(error, "status_code", None)
    if status is None:
        response = getattr(error, "response", None)
        status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _transient_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [TimeoutError, ConnectionError]
    # Only a client that was imported can have raised its errors; importing
    # litellm just to look takes seconds.
    litellm = sys.modules.get("litellm")
    if litellm is not None:
        types += [litellm.RateLimitError, litellm.InternalServerError,
                  litellm.ServiceUnavailableError, litellm.Timeout, litellm.APIConnectionError]
    httpx = sys.modules.get("httpx")
    if httpx is not None:
        types += [httpx.TimeoutException, httpx.TransportError]
    return tuple(types)


def is_transient(error: BaseException) -> bool:
    """A failure worth retrying: rate limit, server error, timeout, lost connection."""
    types = _transient_types()
    for item in _chain(error):
        if isinstance(item, types) or _status(item) in TRANSIENT_STATUS:
            return True
    return False


def is_fatal(error: BaseException) -> bool:
    """A failure that every other request would hit too: bad key, no such model."""
    for item in _chain(error):
        if _status(item) in FATAL_STATUS:
            return True
        name = type(item).__name__
        if name in ("AuthenticationError", "PermissionDeniedError", "NotFoundError"):
            return True
    return False


def is_rate_limited(error: BaseException) -> bool:
    """The provider said "too many requests" (HTTP 429)."""
    litellm = sys.modules.get("litellm")
    for item in _chain(error):
        if _status(item) == 429:
            return True
        if litellm is not None and isinstance(item, litellm.RateLimitError):
            return True
    return False


def _headers(item: BaseException) -> Iterator[Mapping[str, str]]:
    # litellm keeps the provider's headers on its exception; the HTTP clients keep
    # them on the response.
    for candidate in (getattr(item, "litellm_response_headers", None),
                      getattr(getattr(item, "response", None), "headers", None),
                      getattr(item, "headers", None)):
        if candidate:
            try:
                yield {str(k).lower(): str(v) for k, v in dict(candidate).items()}
            except (TypeError, ValueError):
                continue


def _parse_retry_after(value: str, now: float) -> float | None:
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)


def retry_after_seconds(error: BaseException, clock: Clock | None = None) -> float | None:
    """Seconds the provider asked to wait (``retry-after-ms``, or ``Retry-After`` in
    seconds or as an HTTP date) on the error's response, or None when it said nothing."""
    now = clock.time() if clock is not None else time.time()
    for item in _chain(error):
        for headers in _headers(item):
            if "retry-after-ms" in headers:
                try:
                    return max(0.0, float(headers["retry-after-ms"]) / 1000)
                except ValueError:
                    pass
            if "retry-after" in headers:
                seconds = _parse_retry_after(headers["retry-after"], now)
                if seconds is not None:
                    return seconds
    return None


def _is_context_error(error: BaseException) -> bool:
    text = " ".join(str(item).lower() for item in _chain(error))
    return any(marker in text for marker in (
        "context window", "context length", "context size", "exceeds the available context",
        "too many tokens", "maximum context"))


def _one_line(text: object, limit: int = 600) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class RunSummary:
    """Counts of one run, for the progress bar and the stage's last line."""

    total: int = 0
    cached: int = 0
    sent: int = 0          # requests that reached the backend, retries included
    ok: int = 0
    failed: int = 0
    seconds: float = 0.0
    noun: str = "judgments"
    notes: list[str] = field(default_factory=list)   # pacing and concurrency changes

    def line(self) -> str:
        return (f"{self.total} {self.noun}: {self.ok} ok, {self.failed} failed; "
                f"{self.cached} from cache, {self.sent} requests sent, {self.seconds:.1f} s")


class _Gate:
    """Counts consecutive exhausted requests; trips when the backend looks down."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.streak = 0
        self.last_error = ""
        self._lock = threading.Lock()

    def record(self, exhausted: bool, error: str = "") -> bool:
        with self._lock:
            self.streak = self.streak + 1 if exhausted else 0
            if exhausted:
                self.last_error = error
            return self.streak >= self.limit


def _raw_outcome(answer: Answer) -> dict[str, Any]:
    return {"status": "ok", "value": answer.value, "meta": dict(answer.meta)}


class _NotSent(Exception):
    """A spending cap refused the request; nothing was sent."""


def _first_status(error: BaseException) -> int | None:
    return next((s for s in map(_status, _chain(error)) if s is not None), None)


def run_calls(
    requests: Sequence[Request],
    call: Callable[[Any], Answer],
    *,
    cache: AnswerCache,
    interpret: Callable[[Answer], dict[str, Any]] = _raw_outcome,
    concurrency: int = 1,
    context_tokens: int | None = None,
    retry: RetryPolicy | None = None,
    progress: bool = True,
    description: str = "requests",
    unit: str = "request",
    context_hint: str = "shorten the prompt or raise llm.context_size",
    summary: RunSummary | None = None,
    limits: Limits | None = None,
) -> list[dict[str, Any]]:
    """Answer every request through ``call``: cached, concurrent, paced, retried.

    Returns one outcome dict per request, in ``requests`` order: ``status``
    (ok or failed), ``error`` when failed, ``tokens_in``, ``tokens_out``,
    ``latency_s``, and the fields ``interpret(answer)`` returns for an answer
    (it may set ``status`` to failed itself; by default it keeps the raw
    ``value``). Answers are cached under ``request.key`` as they arrive;
    transient failures past the retry budget are not. ``limits`` (by default
    those of the open backend, :func:`~nbjudge.llm.limits.active_limits`, else
    none) pace and cap the requests; ``concurrency`` is the most in flight,
    lowered for a while after repeated HTTP 429s. Raises
    :class:`BackendFatalError` or :class:`BackendUnavailableError` like
    a judging run, and :class:`BudgetExceededError` when a cap is reached.
    """
    import tenacity

    retry = retry or RetryPolicy()
    limits = limits if limits is not None else (active_limits() or Limits())
    clock = limits.clock
    budget, limiter = limits.budget, limits.limiter
    summary = summary if summary is not None else RunSummary()
    summary.total += len(requests)
    started = time.monotonic()
    counter_lock = threading.Lock()
    gate = _Gate(retry.abort_after)
    results: list[dict[str, Any] | None] = [None] * len(requests)
    bar: Any = None

    def note(message: str) -> None:
        summary.notes.append(message)
        tqdm.write(f"{description}: {message}", file=sys.stderr)
        if bar is not None:
            bar.set_postfix(concurrency=f"{slots.current}/{slots.configured}", refresh=False)

    slots = AdaptiveConcurrency(concurrency, on_change=note)

    def reply_tokens(request: Request) -> int:
        return int(getattr(request, "reply_tokens", None) or limits.reply_tokens)

    def attempt(request: Request) -> Answer:
        replies = reply_tokens(request)
        reserved = budget.reserve(request.prompt_tokens, replies)
        if reserved is None:
            raise _NotSent
        cost = reserved   # an attempt whose outcome is unknown counts as its worst case
        try:
            with slots.slot():
                limiter.acquire(request.prompt_tokens + replies)
                with counter_lock:
                    summary.sent += 1
                try:
                    answer = call(request)
                except Exception as error:
                    status = _first_status(error)
                    if is_rate_limited(error):
                        slots.rate_limited()
                    if status is not None and status >= 400:
                        cost = 0.0        # refused by the server: nothing generated
                    waited = retry_after_seconds(error, clock)
                    if waited is not None:
                        limiter.pause(min(waited, retry.max_retry_after))
                    raise
            slots.succeeded()
            cost = budget.cost(answer.tokens_in or request.prompt_tokens,
                               answer.tokens_out if answer.tokens_out is not None else replies)
            return answer
        finally:
            budget.settle(reserved, cost)

    backoff = tenacity.wait_random_exponential(multiplier=retry.base_delay, max=retry.max_delay)

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        waited = retry_after_seconds(error, clock) if error is not None else None
        if waited is not None:
            return min(waited, retry.max_retry_after)
        return float(backoff(state))

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(retry.max_retries + 1),
        wait=wait,
        sleep=clock.sleep,
        retry=tenacity.retry_if_exception(is_transient),
        reraise=True,
    )

    def answer_one(request: Request) -> dict[str, Any] | None:
        started_at = time.monotonic()
        try:
            answer = retrying(attempt, request)
        except _NotSent:
            return None
        except Exception as error:  # classified below; nothing escapes silently
            latency = round(time.monotonic() - started_at, 3)
            if is_fatal(error):
                raise BackendFatalError(
                    f"the LLM backend refused {request.label}: "
                    f"{_one_line(error)}. Check the API key variable and the model name "
                    "(llm.api_key_env, llm.model)."
                ) from error
            if is_transient(error):
                message = (f"gave up after {retry.max_retries + 1} attempts: "
                           f"{_one_line(error)}")
                if gate.record(True, message):
                    raise BackendUnavailableError(
                        f"the LLM backend failed {gate.streak} requests in a row after "
                        f"retries (last: {gate.last_error}). Answers received so far are "
                        f"cached in {cache.directory}; fix the backend and rerun to resume."
                    ) from error
                return {"status": "failed", "error": message, "latency_s": latency}
            gate.record(False)
            if "iteration limit" in str(error).lower():
                message = (f"MLflow gave up on this prompt after re-sending it (shrunk, or "
                           f"without response_format); most often the prompt (about "
                           f"{request.prompt_tokens} tokens) does not fit the model's context: "
                           f"{context_hint}")
                return {"status": "failed", "error": message, "latency_s": latency}
            if _is_context_error(error):
                message = (f"the prompt (about {request.prompt_tokens} tokens) does not fit the "
                           f"model's context: {context_hint}. Server said: {_one_line(error, 300)}")
                return {"status": "failed", "error": message, "latency_s": latency}
            status = _first_status(error)
            if status is not None and status >= 400:
                # The server refused the request (a 400 it does not explain): no answer
                # came back, so nothing is cached and the next run asks again.
                return {"status": "failed", "latency_s": latency,
                        "error": f"the backend rejected the request (HTTP {status}): "
                                 f"{_one_line(error)}"}
            # The model answered, but not with a usable judgment (unparsable JSON):
            # that is its answer to this prompt, so it is kept like any other.
            outcome: dict[str, Any] = {
                "status": "failed", "error": f"invalid answer: {_one_line(error, 2000)}",
                "latency_s": latency}
            cache.put(request.key, outcome)
            return outcome
        gate.record(False)
        latency = round(time.monotonic() - started_at, 3)
        outcome = {"tokens_in": answer.tokens_in, "tokens_out": answer.tokens_out,
                   "latency_s": latency}
        outcome |= interpret(answer)
        cache.put(request.key, outcome)
        return outcome

    pending: list[int] = []
    for i, request in enumerate(requests):
        stored = cache.get(request.key)
        if stored is not None:
            results[i] = stored
            summary.cached += 1
        elif context_tokens is not None and request.prompt_tokens > context_tokens:
            results[i] = {"status": "failed", "error": (
                f"the prompt (about {request.prompt_tokens} tokens) does not fit the model's "
                f"context of {context_tokens} tokens: {context_hint}; not sent")}
        else:
            pending.append(i)

    bar = tqdm(total=len(requests), desc=description, unit=unit, disable=not progress,
               initial=len(requests) - len(pending), dynamic_ncols=True)

    failed = sum(1 for r in results if r is not None and r["status"] == "failed")

    def finish(i: int, outcome: dict[str, Any]) -> None:
        nonlocal failed
        results[i] = outcome
        failed += outcome["status"] == "failed"
        bar.update(1)
        postfix: dict[str, Any] = {"failed": failed, "cached": summary.cached}
        if slots.current < slots.configured:
            postfix["concurrency"] = f"{slots.current}/{slots.configured}"
        bar.set_postfix(postfix, refresh=False)

    executor = ThreadPoolExecutor(max_workers=max(1, concurrency),
                                  thread_name_prefix="nbjudge-llm")
    futures: dict[Future[dict[str, Any] | None], int] = {}
    queue = iter(pending)
    try:
        for i in queue:
            futures[executor.submit(answer_one, requests[i])] = i
            if len(futures) >= concurrency:
                break
        while futures:
            done, _ = wait_for(futures, return_when=FIRST_COMPLETED)
            for future in done:
                i = futures.pop(future)
                outcome = future.result()
                if outcome is not None:
                    finish(i, outcome)
                if budget.stopped is None:
                    nxt = next(queue, None)
                    if nxt is not None:
                        futures[executor.submit(answer_one, requests[nxt])] = nxt
    finally:
        for future in futures:
            future.cancel()
        executor.shutdown(wait=True, cancel_futures=True)
        bar.close()

    final = [r for r in results if r is not None]
    summary.ok += sum(r["status"] == "ok" for r in final)
    summary.failed += sum(r["status"] == "failed" for r in final)
    summary.seconds += time.monotonic() - started
    if len(final) < len(requests):
        assert budget.stopped is not None
        raise BudgetExceededError(budget.message(not_sent=len(requests) - len(final),
                                                 cache_dir=cache.directory))
    return final
