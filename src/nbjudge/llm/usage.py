"""Tokens and calls counted as litellm reports them, whoever sends the request.

MemAlign's distillation goes through DSPy, which calls litellm itself; a
process-wide litellm callback is the one place that sees those calls. A
:class:`TokenCounter` counts what arrives while it is active.
"""

from __future__ import annotations

import threading

__all__ = ["TokenCounter"]

_ACTIVE: list[TokenCounter] = []
_ACTIVE_LOCK = threading.Lock()
_LOGGER_INSTALLED = False


def _install_logger() -> None:
    """One litellm callback for the whole process; it feeds the active counters.

    litellm keeps callbacks it has seen, so counters cannot come and go as
    callbacks of their own.
    """
    global _LOGGER_INSTALLED
    with _ACTIVE_LOCK:
        if _LOGGER_INSTALLED:
            return
        import litellm
        from litellm.integrations.custom_logger import CustomLogger

        class _TokenLogger(CustomLogger):
            def log_success_event(self, kwargs, response_obj, start_time, end_time):
                usage = getattr(response_obj, "usage", None)
                prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
                completion = int(getattr(usage, "completion_tokens", 0) or 0)
                with _ACTIVE_LOCK:
                    for counter in _ACTIVE:
                        counter.add(prompt, completion)

        litellm.callbacks = [*litellm.callbacks, _TokenLogger()]
        _LOGGER_INSTALLED = True


class TokenCounter:
    """Counts the calls and tokens litellm reports while active (answers from DSPy's
    cache cost nothing and are not counted)."""

    def __init__(self) -> None:
        self.prompt = 0
        self.completion = 0
        self.calls = 0

    def add(self, prompt: int, completion: int) -> None:
        self.calls += 1
        self.prompt += prompt
        self.completion += completion

    def __enter__(self) -> TokenCounter:
        _install_logger()
        with _ACTIVE_LOCK:
            _ACTIVE.append(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        with _ACTIVE_LOCK:
            if self in _ACTIVE:
                _ACTIVE.remove(self)

    def as_dict(self) -> dict[str, int]:
        return {"calls": self.calls, "prompt": self.prompt, "completion": self.completion}
