"""Tokens and calls counted as litellm reports them, and what tokens cost.

MemAlign's distillation goes through DSPy, which calls litellm itself; a
litellm callback is the one place that sees those calls. Each open backend
holds a :class:`UsageLog` whose callback litellm calls while the backend is
open; a :class:`TokenCounter` of that log counts what arrives while it is
active.

:func:`price_per_token` reads litellm's bundled price list (the JSON file
shipped inside the litellm package: offline, and untouched by models this
process registers with litellm); a model it does not list has no price
(None), never a price of 0.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nbjudge.llm.config import LLMConfig, judge_model_uri

__all__ = ["TokenCounter", "UsageLog", "backend_price", "bundled_models", "listing_keys",
           "price_per_token"]

_PRICE_FILE = "model_prices_and_context_window_backup.json"


@functools.cache
def bundled_models() -> dict[str, Any]:
    """litellm's bundled model list (prices, context and reply sizes), read offline from
    the JSON file inside the litellm package; empty when it cannot be read."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or spec.origin is None:
        return {}
    path = Path(spec.origin).parent / _PRICE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def listing_keys(model: str) -> tuple[str, str, list[str]]:
    """(provider, name, the keys to look ``model`` up by in :func:`bundled_models`, most
    specific first) for a litellm name or an MLflow model URI."""
    provider, _, name = model.replace(":/", "/", 1).rpartition("/")
    return provider, name, [f"{provider}/{name}", name] if provider else [name]


def price_per_token(model: str) -> tuple[float, float] | None:
    """(currency per prompt token, per reply token) of ``model`` in litellm's bundled
    price list, or None when it has no price for it.

    ``model`` is a litellm name (``gpt-4o-mini``, ``openai/gpt-4o-mini``) or an
    MLflow model URI (``openai:/gpt-4o-mini``, what ``judge_model_uri`` gives).
    """
    provider, name, candidates = listing_keys(model)
    prices = bundled_models()
    for key in candidates:
        entry = prices.get(key)
        if not isinstance(entry, dict):
            continue
        listed = entry.get("litellm_provider")
        if provider and key == name and listed not in (None, provider):
            continue   # the same name from another provider
        prompt, reply = entry.get("input_cost_per_token"), entry.get("output_cost_per_token")
        if isinstance(prompt, (int, float)) and isinstance(reply, (int, float)):
            return float(prompt), float(reply)
    return None


def backend_price(config: LLMConfig) -> tuple[float, float] | None:
    """The price per token of ``config``'s model: litellm's list for a provider;
    (0, 0) for ``local`` (the server nbjudge starts on this machine bills nothing);
    None when unknown (``openai_compatible``: a self-hosted server has no list price)."""
    if config.backend == "local":
        return (0.0, 0.0)
    if config.backend == "openai_compatible":
        return None
    return price_per_token(judge_model_uri(config))


class UsageLog:
    """What litellm reports about the requests of one open backend, fed to the
    :class:`TokenCounter` objects active on it.

    MemAlign's distillation goes through DSPy, which calls litellm itself, so a
    litellm callback is the one place that sees those calls. While
    :meth:`installed` (the backend's ``with`` block, :func:`nbjudge.llm.backends.open_backend`)
    the log's callback is in litellm's lists; on exit it is taken out of every
    list litellm copies callbacks into, so nothing of it outlives the backend.
    """

    def __init__(self) -> None:
        self._counters: list[TokenCounter] = []
        self._changed = threading.Condition()   # guards the counters and their pending calls

    def started(self, kwargs: Any) -> None:
        """litellm is about to send a request (called in the sending thread)."""
        call = _call_id(kwargs)
        with self._changed:
            for counter in self._counters:
                if not counter._closing and call is not None:
                    counter._pending.add(call)

    def finished(self, kwargs: Any, prompt: int = 0, completion: int = 0, *, ok: bool) -> None:
        """litellm logged a request's end (in its logging thread, possibly after the caller
        went on): counted by the counters it started under."""
        call = _call_id(kwargs)
        with self._changed:
            for counter in self._counters:
                if call is None:      # no id to match: counted where it lands, as litellm logs it
                    if ok and not counter._closing:
                        counter.add(prompt, completion)
                elif call in counter._pending:
                    counter._pending.discard(call)
                    if ok:
                        counter.add(prompt, completion)
            self._changed.notify_all()

    def counter(self, settle_seconds: float = 10.0) -> TokenCounter:
        """A counter of the requests that start while it is active (a ``with`` block)."""
        return TokenCounter(self, settle_seconds)

    def _activate(self, counter: TokenCounter) -> None:
        with self._changed:
            counter._closing = False
            self._counters.append(counter)

    def _deactivate(self, counter: TokenCounter) -> None:
        with self._changed:
            counter._closing = True          # no new request joins
            self._changed.wait_for(lambda: not counter._pending, timeout=counter.settle_seconds)
            counter._pending.clear()
            if counter in self._counters:
                self._counters.remove(counter)

    @contextlib.contextmanager
    def installed(self) -> Iterator[UsageLog]:
        """litellm reports to this log for the ``with`` block."""
        import litellm

        logger = _litellm_logger(self)
        litellm.callbacks = [*litellm.callbacks, logger]
        try:
            yield self
        finally:
            # litellm promotes callbacks into lists of its own on first use.
            litellm.logging_callback_manager.remove_callback_from_all_lists(
                logger, require_self=False)


def _call_id(kwargs: Any) -> str | None:
    call = (kwargs or {}).get("litellm_call_id")
    return str(call) if call else None


def _litellm_logger(log: UsageLog) -> Any:
    """A litellm ``CustomLogger`` that reports to ``log``."""
    from litellm.integrations.custom_logger import CustomLogger

    class _TokenLogger(CustomLogger):
        def __init__(self) -> None:
            super().__init__()
            # litellm skips a logger whose class and public fields equal one it holds.
            self.log_id = f"nbjudge-usage-{id(log)}"

        def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
            log.started(kwargs)

        def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                              end_time: Any) -> None:
            usage = getattr(response_obj, "usage", None)
            log.finished(kwargs, int(getattr(usage, "prompt_tokens", 0) or 0),
                         int(getattr(usage, "completion_tokens", 0) or 0), ok=True)

        def log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                              end_time: Any) -> None:
            log.finished(kwargs, ok=False)

    return _TokenLogger()


class TokenCounter:
    """Counts the calls and tokens litellm reports for the requests that *start* while
    it is active (answers from DSPy's cache cost nothing and are not counted).

    litellm logs a request's usage in a thread of its own, after the caller has
    moved on: a judge request sent just before the counter started can be logged
    inside it, and a request sent inside it can be logged after it ends. So a
    request belongs to the counters active when it started, and leaving the
    ``with`` block waits (at most ``settle_seconds``) for the ones still unlogged.
    """

    def __init__(self, log: UsageLog, settle_seconds: float = 10.0) -> None:
        self.log = log
        self.prompt = 0
        self.completion = 0
        self.calls = 0
        self.settle_seconds = settle_seconds
        self._pending: set[str] = set()
        self._closing = False

    def add(self, prompt: int, completion: int) -> None:
        self.calls += 1
        self.prompt += prompt
        self.completion += completion

    def __enter__(self) -> TokenCounter:
        self.log._activate(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.log._deactivate(self)

    def as_dict(self) -> dict[str, int]:
        return {"calls": self.calls, "prompt": self.prompt, "completion": self.completion}
