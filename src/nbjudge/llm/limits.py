"""What a stage may send, and how fast: rate limits, adaptive concurrency, spending caps.

One :class:`Limits` per open backend (:func:`~nbjudge.llm.backends.open_backend`
creates it from the ``llm`` configuration, or takes the caller's), shared by
every :class:`~nbjudge.llm.calls.CallRunner` given it and by all of their
concurrent workers:

- :class:`RateLimiter` paces requests to ``llm.rpm`` requests and ``llm.tpm``
  tokens per minute. A request counts its prompt-token estimate plus the reply
  cap (``llm.max_output_tokens``), which is how providers count a request
  against a token limit before it runs. Requests start no faster than the
  limits refill (no burst): after a request of ``n`` tokens the next starts
  ``n / (tpm / 60)`` seconds later at the earliest, and requests are at least
  ``60 / rpm`` seconds apart. A ``Retry-After`` from the provider pauses every
  worker of the stage until it has passed.
- :class:`AdaptiveConcurrency` halves the requests in flight after two HTTP
  429 answers in a row (never below 1) and adds one back after each run of
  ``max(4, current)`` successes, up to ``llm.concurrency``.
- :class:`Budget` enforces ``llm.max_requests`` (requests sent by this run,
  retries included) and ``llm.max_cost`` (money, priced with litellm's bundled
  price list, :func:`nbjudge.llm.usage.backend_price`). A request is sent only
  if the money spent plus the worst case of the requests in flight and of this
  one (prompt estimate plus the reply cap) stays within the cap, so the cap is
  not overshot. When a cap refuses a request, the run sends nothing more, lets
  the requests in flight finish (their answers are cached like any other) and
  stops with :class:`BudgetExceededError`; the next run answers from the cache
  what was answered and sends only the rest.

Time comes from a :class:`Clock`, so tests run all of this against a fake one.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from nbjudge.errors import BudgetError
from nbjudge.llm.config import BackendConfigError, LLMConfig, judge_model_uri
from nbjudge.llm.usage import backend_price

__all__ = [
    "AdaptiveConcurrency",
    "Budget",
    "BudgetExceededError",
    "Clock",
    "Limits",
    "RateLimiter",
    "SystemClock",
]


class Clock(Protocol):
    """Where waiting happens: the system's clock, or a fake one in tests."""

    def monotonic(self) -> float: ...   # seconds, for intervals

    def time(self) -> float: ...        # seconds since the epoch, for HTTP dates

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class BudgetExceededError(BudgetError):
    """A spending cap (``llm.max_requests`` or ``llm.max_cost``) stopped the run; every
    answer received is cached, and the next run resumes from there."""


class RateLimiter:
    """Requests per minute and tokens per minute, shared by all workers of a stage."""

    def __init__(self, rpm: int | None = None, tpm: int | None = None,
                 clock: Clock | None = None) -> None:
        self.rpm = rpm
        self.tpm = tpm
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._next_request = float("-inf")   # earliest start of the next request (rpm)
        self._next_tokens = float("-inf")    # earliest start of the next request (tpm)
        self._paused_until = float("-inf")   # a provider's Retry-After
        self.waited = 0.0                    # seconds spent waiting for the limits

    @property
    def active(self) -> bool:
        return self.rpm is not None or self.tpm is not None

    def pause(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (a provider's Retry-After): applies to every worker."""
        with self._lock:
            self._paused_until = max(self._paused_until, self.clock.monotonic() + seconds)

    def acquire(self, tokens: int = 0) -> float:
        """Wait until a request of ``tokens`` may start; returns when it may (the clock's
        ``monotonic`` time it was given)."""
        with self._lock:
            now = self.clock.monotonic()
            start = max(now, self._paused_until)
            if self.rpm is not None:
                start = max(start, self._next_request)
                self._next_request = start + 60.0 / self.rpm
            if self.tpm is not None:
                start = max(start, self._next_tokens)
                self._next_tokens = start + 60.0 * max(0, tokens) / self.tpm
            wait = start - now
            self.waited += wait
        if wait > 0:
            self.clock.sleep(wait)
        return start


class AdaptiveConcurrency:
    """Slots for requests in flight; fewer after repeated HTTP 429s, more after successes."""

    def __init__(self, limit: int, *, lower_after: int = 2,
                 on_change: Callable[[str], None] | None = None) -> None:
        self.configured = max(1, limit)
        self.current = self.configured
        self.lower_after = lower_after
        self.on_change = on_change        # called with a message when the limit changes
        self._in_use = 0
        self._streak = 0                  # 429s in a row
        self._successes = 0               # successes since the last change or 429
        self._cond = threading.Condition()
        self.history: list[int] = [self.current]

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        with self._cond:
            while self._in_use >= self.current:
                self._cond.wait()
            self._in_use += 1
        try:
            yield
        finally:
            with self._cond:
                self._in_use -= 1
                self._cond.notify_all()

    def _changed(self, message: str) -> None:
        # Called with the lock held, so that messages come in the order of the changes.
        self.history.append(self.current)
        if self.on_change is not None:
            self.on_change(message)

    def rate_limited(self) -> None:
        """An attempt was answered with HTTP 429."""
        with self._cond:
            self._successes = 0
            self._streak += 1
            if self._streak >= self.lower_after and self.current > 1:
                self._streak = 0
                self.current = max(1, self.current // 2)
                self._changed(f"rate limited (HTTP 429, {self.lower_after} in a row): "
                              f"concurrency lowered to {self.current} of {self.configured}")

    def succeeded(self) -> None:
        """An attempt was answered."""
        with self._cond:
            self._streak = 0
            if self.current >= self.configured:
                return
            self._successes += 1
            if self._successes >= max(4, self.current):
                self._successes = 0
                self.current += 1
                self._cond.notify_all()
                self._changed(f"concurrency restored to {self.current}"
                              if self.current == self.configured else
                              f"concurrency raised to {self.current} of {self.configured}")


@dataclass
class Budget:
    """``llm.max_requests`` and ``llm.max_cost`` over one stage run."""

    max_requests: int | None = None
    max_cost: float | None = None
    price: tuple[float, float] | None = None   # currency per prompt token, per reply token
    model: str = ""
    sent: int = 0
    spent: float = 0.0
    reserved: float = 0.0
    stopped: str | None = None       # why the budget refused a request
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.max_cost is not None and self.price is None:
            raise BackendConfigError(
                f"llm.max_cost={self.max_cost:g} is set, but litellm's price list has no price "
                f"for {self.model or 'this model'}, so the cost cap cannot be enforced (an "
                "unknown price is not taken as free). Cap the run with -S llm.max_requests=N "
                "instead, or set -S llm.max_cost=null.")

    def worst_case(self, prompt_tokens: int, reply_tokens: int) -> float:
        if self.price is None:
            return 0.0
        return prompt_tokens * self.price[0] + reply_tokens * self.price[1]

    def reserve(self, prompt_tokens: int, reply_tokens: int) -> float | None:
        """Room for one more request: its worst-case cost, held until :meth:`settle`;
        None (and the budget stops for good) when a cap would be passed."""
        upper = self.worst_case(prompt_tokens, reply_tokens)
        with self._lock:
            if self.stopped is not None:
                return None
            if self.max_requests is not None and self.sent >= self.max_requests:
                self.stopped = "requests"
                return None
            if (self.max_cost is not None
                    and self.spent + self.reserved + upper > self.max_cost + 1e-12):
                self.stopped = "cost"
                return None
            self.sent += 1
            self.reserved += upper
            return upper

    def settle(self, reserved: float, cost: float) -> None:
        with self._lock:
            self.reserved -= reserved
            self.spent += cost

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return self.worst_case(tokens_in, tokens_out)

    def message(self, *, not_sent: int, cache_dir: object) -> str:
        """Why the run stopped and how to go on."""
        kept = (f"Every answer received is cached in {cache_dir}; rerun to resume (cached "
                "answers are not sent again)")
        if self.stopped == "requests":
            return (f"llm.max_requests={self.max_requests} reached: {self.sent} requests sent "
                    f"in this run, {not_sent} requests not sent. {kept} with a higher cap, "
                    f"e.g. -S llm.max_requests={2 * (self.max_requests or 1)}, or "
                    "-S llm.max_requests=null for none.")
        assert self.price is not None
        return (f"llm.max_cost={self.max_cost:g} reached: about {self.spent:.4f} spent in this "
                f"run on {self.sent} requests (priced with litellm's price list for "
                f"{self.model}: {self.price[0] * 1e6:.4g} per million prompt tokens, "
                f"{self.price[1] * 1e6:.4g} per million reply tokens); the next request could "
                f"have passed the cap; {not_sent} requests not sent. {kept} with a higher cap, "
                f"e.g. -S llm.max_cost={2 * (self.max_cost or 1):g}, or -S llm.max_cost=null "
                "for none.")


@dataclass
class Limits:
    """Everything that paces and caps one stage's requests."""

    rpm: int | None = None
    tpm: int | None = None
    max_requests: int | None = None
    max_cost: float | None = None
    price: tuple[float, float] | None = None
    reply_tokens: int = 0           # the reply cap, counted against tpm and the cost cap
    model: str = ""
    clock: Clock = field(default_factory=SystemClock)
    limiter: RateLimiter = field(init=False)
    budget: Budget = field(init=False)

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.rpm, self.tpm, self.clock)
        self.budget = Budget(self.max_requests, self.max_cost, self.price, self.model)

    @classmethod
    def from_config(cls, config: LLMConfig, clock: Clock | None = None) -> Limits:
        """The limits of ``config``; a cost cap without a known price is a
        :class:`~nbjudge.llm.config.BackendConfigError`."""
        return cls(rpm=config.rpm, tpm=config.tpm,
                   max_requests=config.max_requests, max_cost=config.max_cost,
                   price=backend_price(config) if config.max_cost is not None else None,
                   reply_tokens=config.max_output_tokens, model=judge_model_uri(config),
                   clock=clock or SystemClock())
