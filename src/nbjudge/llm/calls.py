"""Many LLM calls, concurrently, resumably, honestly.

Every request has a content key (:func:`nbjudge.llm.cache.content_key`). An
answer already in the :class:`~nbjudge.llm.cache.AnswerCache` is used without
sending anything; every new answer is stored the moment it arrives, so a run
that is killed resumes where it stopped. Transient failures (HTTP 429, 5xx,
timeouts, lost connections) are retried with exponential backoff and full
jitter (``tenacity``); a request that exhausts its budget becomes a failed
outcome that is *not* cached, so the next run tries it again. A reply that is
no usable answer is the model's answer: it is cached as a failure that keeps the
raw reply and names what was missing, and asked once more only when the user
says so (``llm.retry_failed: true``: each cached failure once, counted on the
stage's last line). A 429 or 503
that carries ``Retry-After`` (seconds, or an HTTP date; also ``retry-after-ms``)
waits what the provider asked instead of the backoff, and holds back every
other worker of the stage for as long. When the backend keeps failing, the run
stops with :class:`BackendUnavailableError` instead of writing a file full of
failures; a bad key or an unknown model stops it at once
(:class:`BackendFatalError`).

Requests are paced, their concurrency adapted to rate limits, and the run
capped by the open backend's :class:`~nbjudge.llm.limits.Limits` (``llm.rpm``,
``llm.tpm``, ``llm.max_requests``, ``llm.max_cost``): a cap that is reached
stops the run cleanly with :class:`~nbjudge.llm.limits.BudgetExceededError`
after the requests in flight have finished, every answer cached.

The LLM call itself is a function ``call(request) -> Answer``: judging passes
one that runs an MLflow judge (:mod:`nbjudge.judges.requests`), the notebook
writer one that asks for a notebook; tests pass scripted ones.
:class:`CallRunner` holds the settings of a run and :meth:`CallRunner.run`
returns one :class:`Outcome` per request. Which failure is fatal, worth a
retry, or the model's own (cached) answer is decided by one pure function,
:func:`classify_failure`.
"""

from __future__ import annotations

import email.utils
import enum
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import tenacity
from tqdm.auto import tqdm

from nbjudge.errors import BackendError
from nbjudge.llm.cache import AnswerCache
from nbjudge.llm.limits import AdaptiveConcurrency, BudgetExceededError, Clock, Limits

__all__ = [
    "Answer",
    "BackendFatalError",
    "BackendUnavailableError",
    "BudgetExceededError",
    "CallRunner",
    "Failure",
    "Outcome",
    "PromptTooLongError",
    "Request",
    "RetryPolicy",
    "RunSummary",
    "classify_failure",
    "invalid_answer_message",
    "is_fatal",
    "is_rate_limited",
    "is_transient",
    "retry_after_seconds",
]

TRANSIENT_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
FATAL_STATUS = frozenset({401, 403, 404})


class Request(Protocol):
    """What :class:`CallRunner` needs of a request."""

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


class PromptTooLongError(BackendError):
    """The prompt does not fit the model's context window."""


class BackendFatalError(BackendError):
    """The backend refused in a way no retry fixes (bad key, unknown model)."""


class BackendUnavailableError(BackendError):
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


# The names MLflow's judge adapters give the model's reply while they parse it: the text
# with its code fences stripped, and the JSON object read from it.
_REPLY_NAMES = ("cleaned_response", "response_text", "response")
_PARSED_NAMES = ("response_dict", "response_data")
_REPLY_CHARS = 4000


def _frames(error: BaseException) -> Iterator[Any]:
    """The frames ``error`` and its causes were raised through, innermost first."""
    for item in _chain(error):
        frames = []
        trace = item.__traceback__
        while trace is not None:
            frames.append(trace.tb_frame)
            trace = trace.tb_next
        yield from reversed(frames)


def reply_of(error: BaseException) -> tuple[str | None, Mapping[str, Any] | None]:
    """The model's reply that ``error`` was raised about, as text, and as the JSON object
    read from it (each None where the parser had not got that far), from the frames of
    the parser that raised it."""
    for frame in _frames(error):
        names = frame.f_locals
        text = next((names[n] for n in _REPLY_NAMES if isinstance(names.get(n), str)), None)
        parsed = next((names[n] for n in _PARSED_NAMES if isinstance(names.get(n), dict)), None)
        if text is not None or parsed is not None:
            return text, parsed
    return None, None


def _cut_reply(text: str) -> str:
    if len(text) <= _REPLY_CHARS:
        return text
    return f"{text[:_REPLY_CHARS]} [... {len(text) - _REPLY_CHARS:,} more characters]"


def invalid_answer_message(error: BaseException) -> str:
    """A failed answer's error: what was wrong with the reply, and the reply as it came.

    A reply without a field the judge needs (``{"rationale": ...}`` and no ``result``)
    raises a bare ``KeyError('result')`` inside MLflow; the message names the field
    and the fields the reply had."""
    text, parsed = reply_of(error)
    key_error = next((e for e in _chain(error) if isinstance(e, KeyError)), None)
    if key_error is not None and key_error.args:
        found = ", ".join(map(str, parsed)) if parsed else "none"
        what = (f"the reply has no {str(key_error.args[0])!r} field (its fields: {found})")
    else:
        what = _one_line(error, 2000)
    if text is not None and text.strip() and text.strip() not in str(error):
        return f"invalid answer: {what}; the reply: {_cut_reply(text)}"
    if text is None and parsed is not None:
        return f"invalid answer: {what}; the reply: {_cut_reply(json.dumps(parsed))}"
    return f"invalid answer: {what}"


class Failure(enum.Enum):
    """What a failed request means, and so what the runner does with it."""

    FATAL = "fatal"                  # every request would fail (bad key, no such model): stop
    TRANSIENT = "transient"          # rate limit, 5xx, timeout, lost connection: retry
    MLFLOW_GAVE_UP = "mlflow_gave_up"  # MLflow re-sent a prompt until its limit: not cached
    TOO_LONG = "too_long"            # the prompt does not fit the context: not cached
    REJECTED = "rejected"            # another HTTP 4xx: nothing came back, not cached
    INVALID_ANSWER = "invalid_answer"  # the model answered unusably: its answer, cached

    @property
    def cached(self) -> bool:
        """Whether the failure is the model's answer to the prompt, kept like any other."""
        return self is Failure.INVALID_ANSWER


def classify_failure(error: BaseException) -> Failure:
    """What ``error`` (raised by a request's ``call``, causes included) means.

    The order decides overlaps: a refused key is fatal even when its status
    would be retried, and an HTTP 400 that names the context is too long, not
    rejected.
    """
    if is_fatal(error):
        return Failure.FATAL
    if is_transient(error):
        return Failure.TRANSIENT
    if "iteration limit" in str(error).lower():
        return Failure.MLFLOW_GAVE_UP
    if _is_context_error(error):
        return Failure.TOO_LONG
    status = _first_status(error)
    if status is not None and status >= 400:
        return Failure.REJECTED
    return Failure.INVALID_ANSWER


@dataclass(frozen=True)
class Outcome:
    """What one request came to: an answer the caller's ``interpret`` made sense of, or a
    failure that says why."""

    status: Literal["ok", "failed"]
    error: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_s: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)   # what ``interpret`` added

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Outcome:
        """The outcome of a stored record (the cache's format: one flat mapping)."""
        fields = dict(record)
        return cls(status=fields.pop("status"), error=fields.pop("error", None),
                   tokens_in=fields.pop("tokens_in", None),
                   tokens_out=fields.pop("tokens_out", None),
                   latency_s=fields.pop("latency_s", None), details=fields)


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
    asked_again: int = 0   # cached failures asked once more (llm.retry_failed)
    cached_failed: int = 0  # failures taken from the cache as they were

    def line(self) -> str:
        again = (f", {self.asked_again} cached failure(s) asked again (llm.retry_failed)"
                 if self.asked_again else "")
        kept = (f"; {self.cached_failed} failure(s) from cache kept (llm.retry_failed: true "
                "asks each once more)" if self.cached_failed else "")
        return (f"{self.total} {self.noun}: {self.ok} ok, {self.failed} failed; "
                f"{self.cached} from cache, {self.sent} requests sent{again}, "
                f"{self.seconds:.1f} s{kept}")


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


@dataclass
class CallRunner:
    """Answers requests through ``call``: cached, concurrent, paced, retried.

    ``interpret(answer)`` turns an answer into the fields of its outcome (it
    may set ``status`` to failed itself; by default it keeps the raw ``value``
    and ``meta``). Answers are cached under ``request.key`` as they arrive;
    transient failures past the retry budget are not. ``limits`` (those of the
    open backend, :attr:`nbjudge.llm.backends.Backend.limits`; none by default)
    pace and cap the requests; ``concurrency`` is the most in flight, lowered
    for a while after repeated HTTP 429s. A request longer than
    ``context_tokens`` is not sent.
    """

    call: Callable[[Any], Answer]
    cache: AnswerCache
    interpret: Callable[[Answer], dict[str, Any]] = _raw_outcome
    concurrency: int = 1
    context_tokens: int | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    limits: Limits = field(default_factory=Limits)
    context_hint: str = "shorten the prompt or raise llm.context_size"
    progress: bool = True
    description: str = "requests"
    unit: str = "request"

    def run(self, requests: Sequence[Request], summary: RunSummary | None = None
            ) -> list[Outcome]:
        """One outcome per request, in ``requests`` order; ``summary`` (if given) adds this
        run's counts to its own.

        Raises :class:`BackendFatalError` or :class:`BackendUnavailableError`
        (every answer received before is cached), and :class:`BudgetExceededError`
        when a cap is reached.
        """
        return _Run(self, requests, summary if summary is not None else RunSummary()).run()


class _Run:
    """The state of one :meth:`CallRunner.run`, shared by its worker threads."""

    def __init__(self, runner: CallRunner, requests: Sequence[Request],
                 summary: RunSummary) -> None:
        self.runner = runner
        self.requests = requests
        self.summary = summary
        self.gate = _Gate(runner.retry.abort_after)
        self.bar: Any = None
        self.slots = AdaptiveConcurrency(runner.concurrency, on_change=self._note)
        self._count_lock = threading.Lock()
        backoff = tenacity.wait_random_exponential(multiplier=runner.retry.base_delay,
                                                   max=runner.retry.max_delay)

        def wait(state: tenacity.RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome is not None else None
            waited = (retry_after_seconds(error, runner.limits.clock)
                      if error is not None else None)
            if waited is not None:
                return min(waited, runner.retry.max_retry_after)
            return float(backoff(state))

        self.retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(runner.retry.max_retries + 1),
            wait=wait,
            sleep=runner.limits.clock.sleep,
            retry=tenacity.retry_if_exception(is_transient),
            reraise=True,
        )

    def _note(self, message: str) -> None:
        self.summary.notes.append(message)
        tqdm.write(f"{self.runner.description}: {message}", file=sys.stderr)
        if self.bar is not None:
            self.bar.set_postfix(concurrency=f"{self.slots.current}/{self.slots.configured}",
                                 refresh=False)

    def _attempt(self, request: Request) -> Answer:
        """One request sent once, within the limits; the budget settled with its cost."""
        limits = self.runner.limits
        replies = int(getattr(request, "reply_tokens", None) or limits.reply_tokens)
        reserved = limits.budget.reserve(request.prompt_tokens, replies)
        if reserved is None:
            raise _NotSent
        cost = reserved   # an attempt whose outcome is unknown counts as its worst case
        try:
            with self.slots.slot():
                limits.limiter.acquire(request.prompt_tokens + replies)
                with self._count_lock:
                    self.summary.sent += 1
                try:
                    answer = self.runner.call(request)
                except Exception as error:
                    status = _first_status(error)
                    if is_rate_limited(error):
                        self.slots.rate_limited()
                    if status is not None and status >= 400:
                        cost = 0.0        # refused by the server: nothing generated
                    waited = retry_after_seconds(error, limits.clock)
                    if waited is not None:
                        limits.limiter.pause(min(waited, self.runner.retry.max_retry_after))
                    raise
            self.slots.succeeded()
            cost = limits.budget.cost(
                answer.tokens_in or request.prompt_tokens,
                answer.tokens_out if answer.tokens_out is not None else replies)
            return answer
        finally:
            limits.budget.settle(reserved, cost)

    def _answer(self, request: Request) -> Outcome | None:
        """The outcome of one request (None when a cap kept it from being sent)."""
        started = time.monotonic()
        try:
            answer = self.retrying(self._attempt, request)
        except _NotSent:
            return None
        except Exception as error:  # classified; nothing escapes silently
            return self._failed(request, error, round(time.monotonic() - started, 3))
        self.gate.record(False)
        record = {"tokens_in": answer.tokens_in, "tokens_out": answer.tokens_out,
                  "latency_s": round(time.monotonic() - started, 3)}
        record |= self.runner.interpret(answer)
        self.runner.cache.put(request.key, record)
        return Outcome.from_record(record)

    def _failed(self, request: Request, error: Exception, latency: float) -> Outcome:
        runner = self.runner
        kind = classify_failure(error)
        if kind is Failure.FATAL:
            raise BackendFatalError(
                f"the LLM backend refused {request.label}: {_one_line(error)}. Check the "
                "API key variable and the model name (llm.api_key_env, llm.model)."
            ) from error
        if kind is Failure.TRANSIENT:
            message = (f"gave up after {runner.retry.max_retries + 1} attempts: "
                       f"{_one_line(error)}")
            if self.gate.record(True, message):
                raise BackendUnavailableError(
                    f"the LLM backend failed {self.gate.streak} requests in a row after "
                    f"retries (last: {self.gate.last_error}). Answers received so far are "
                    f"cached in {runner.cache.directory}; fix the backend and rerun to resume."
                ) from error
            return Outcome("failed", message, latency_s=latency)
        self.gate.record(False)
        if kind is Failure.MLFLOW_GAVE_UP:
            message = (f"MLflow gave up on this prompt after re-sending it (shrunk, or "
                       f"without response_format); most often the prompt (about "
                       f"{request.prompt_tokens} tokens) does not fit the model's context: "
                       f"{runner.context_hint}")
        elif kind is Failure.TOO_LONG:
            message = (f"the prompt (about {request.prompt_tokens} tokens) does not fit the "
                       f"model's context: {runner.context_hint}. Server said: "
                       f"{_one_line(error, 300)}")
        elif kind is Failure.REJECTED:
            # No answer came back, so nothing is cached and the next run asks again.
            message = (f"the backend rejected the request (HTTP {_first_status(error)}): "
                       f"{_one_line(error)}")
        else:
            # The model answered, but not with a usable judgment (unparsable JSON, a
            # field missing): that is its answer to this prompt, so it is kept like any
            # other, with the reply as it came.
            record = {"status": "failed", "error": invalid_answer_message(error),
                      "latency_s": latency}
            runner.cache.put(request.key, record)
            return Outcome.from_record(record)
        return Outcome("failed", message, latency_s=latency)

    def _not_sent(self, request: Request) -> Outcome | None:
        """The outcome known without sending: a cached answer, or a prompt too long."""
        stored = self.runner.cache.get(request.key)
        if stored is not None:
            self.summary.cached += 1
            self.summary.cached_failed += stored.get("status") == "failed"
            return Outcome.from_record(stored)
        limit = self.runner.context_tokens
        if limit is not None and request.prompt_tokens > limit:
            return Outcome("failed", (
                f"the prompt (about {request.prompt_tokens} tokens) does not fit the model's "
                f"context of {limit} tokens: {self.runner.context_hint}; not sent"))
        return None

    def run(self) -> list[Outcome]:
        runner, requests, summary = self.runner, self.requests, self.summary
        summary.total += len(requests)
        started = time.monotonic()
        again = sum(runner.cache.asks_again(r.key) for r in requests)
        if again:
            summary.asked_again += again
            message = (f"{runner.description}: asking {again} cached failed answer(s) once "
                       "more (llm.retry_failed: true)")
            summary.notes.append(message)
            tqdm.write(message, file=sys.stderr)
        results: list[Outcome | None] = [self._not_sent(r) for r in requests]
        pending = [i for i, outcome in enumerate(results) if outcome is None]
        failed = sum(1 for r in results if r is not None and r.status == "failed")
        self.bar = tqdm(total=len(requests), desc=runner.description, unit=runner.unit,
                        disable=not runner.progress, initial=len(requests) - len(pending),
                        dynamic_ncols=True)
        executor = ThreadPoolExecutor(max_workers=max(1, runner.concurrency),
                                      thread_name_prefix="nbjudge-llm")
        futures: dict[Future[Outcome | None], int] = {}
        queue = iter(pending)
        try:
            for i in queue:
                futures[executor.submit(self._answer, requests[i])] = i
                if len(futures) >= runner.concurrency:
                    break
            while futures:
                done, _ = wait_for(futures, return_when=FIRST_COMPLETED)
                for future in done:
                    i = futures.pop(future)
                    outcome = future.result()
                    if outcome is not None:
                        results[i] = outcome
                        failed += outcome.status == "failed"
                        self._advance(failed)
                    if runner.limits.budget.stopped is None:
                        nxt = next(queue, None)
                        if nxt is not None:
                            futures[executor.submit(self._answer, requests[nxt])] = nxt
        finally:
            for future in futures:
                future.cancel()
            executor.shutdown(wait=True, cancel_futures=True)
            self.bar.close()

        final = [r for r in results if r is not None]
        summary.ok += sum(r.status == "ok" for r in final)
        summary.failed += sum(r.status == "failed" for r in final)
        summary.seconds += time.monotonic() - started
        if len(final) < len(requests):
            budget = runner.limits.budget
            assert budget.stopped is not None
            raise BudgetExceededError(budget.message(not_sent=len(requests) - len(final),
                                                     cache_dir=runner.cache.directory))
        return final

    def _advance(self, failed: int) -> None:
        self.bar.update(1)
        postfix: dict[str, Any] = {"failed": failed, "cached": self.summary.cached}
        if self.slots.current < self.slots.configured:
            postfix["concurrency"] = f"{self.slots.current}/{self.slots.configured}"
        self.bar.set_postfix(postfix, refresh=False)
