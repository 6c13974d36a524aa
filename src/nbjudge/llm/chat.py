"""One chat completion, for callers that need the model's raw text (the notebook writer).

Judges reach their model through MLflow's judge adapters instead; this is for
requests that are not judgments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nbjudge.llm.backends import Backend
from nbjudge.llm.calls import Answer

__all__ = ["chat_completion"]


def chat_completion(backend: Backend, messages: Sequence[Mapping[str, Any]],
                    params: Mapping[str, Any] | None = None) -> Answer:
    """Send ``messages`` once through litellm (no retries of its own: the caller's
    :class:`~nbjudge.llm.calls.CallRunner` retries and counts every attempt)."""
    import litellm

    kwargs: dict[str, Any] = {
        "model": backend.litellm_model, "messages": list(messages),
        "timeout": backend.config.timeout, "num_retries": 0, "drop_params": True,
        **(params or {}),
    }
    if backend.api_base is not None:
        kwargs["api_base"] = backend.api_base
    response = litellm.completion(**kwargs)
    choice = response.choices[0]
    usage = getattr(response, "usage", None)
    return Answer(value=choice.message.content or "",
                  tokens_in=getattr(usage, "prompt_tokens", None),
                  tokens_out=getattr(usage, "completion_tokens", None),
                  meta={"finish_reason": getattr(choice, "finish_reason", None)})
