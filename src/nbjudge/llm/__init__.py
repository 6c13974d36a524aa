"""Talking to models: every request nbjudge sends to an LLM goes through here.

- :mod:`~nbjudge.llm.config`: the Hydra group ``llm`` as settings, and what follows
  from them alone (the model's name, request parameters, keys needed);
- :mod:`~nbjudge.llm.backends`: those settings (the local server or a provider)
  turned into a reachable model, keys from the environment only;
- :mod:`~nbjudge.llm.server`: the offline llama-server's lifecycle;
- :mod:`~nbjudge.llm.embeddings`: the in-process embedder for MemAlign;
- :mod:`~nbjudge.llm.cache`: the content-addressed answer cache;
- :mod:`~nbjudge.llm.calls`: many calls, concurrent, retried and resumable;
- :mod:`~nbjudge.llm.native`: MLflow's own client (openai, anthropic,
  databricks) sending each request once, so that ``calls`` alone retries;
- :mod:`~nbjudge.llm.limits`: rate limits, adaptive concurrency, spending caps;
- :mod:`~nbjudge.llm.usage`: tokens counted, and their price (litellm's list).

Judges (:mod:`nbjudge.judges`), MemAlign (:mod:`nbjudge.alignment`) and the
notebook writer (:mod:`nbjudge.writer`) build their requests and use
these; nothing else in nbjudge opens a connection to a model.

The names below are imported from their modules when first used, so that
importing :mod:`nbjudge.llm.config` alone (the typed parameters and the
statistics do) does not run the rest of the layer.
"""

import importlib
from typing import Any

# Public name -> the module that defines it.
_EXPORTS = {
    "Answer": "nbjudge.llm.calls",
    "AnswerCache": "nbjudge.llm.cache",
    "Backend": "nbjudge.llm.backends",
    "BackendConfigError": "nbjudge.llm.config",
    "BackendFatalError": "nbjudge.llm.calls",
    "BackendUnavailableError": "nbjudge.llm.calls",
    "BudgetExceededError": "nbjudge.llm.limits",
    "CallRunner": "nbjudge.llm.calls",
    "LLMConfig": "nbjudge.llm.config",
    "Limits": "nbjudge.llm.limits",
    "LocalServer": "nbjudge.llm.server",
    "LocalServerError": "nbjudge.llm.server",
    "Outcome": "nbjudge.llm.calls",
    "RetryPolicy": "nbjudge.llm.calls",
    "RunSummary": "nbjudge.llm.calls",
    "check_credentials": "nbjudge.llm.config",
    "open_backend": "nbjudge.llm.backends",
    "price_per_token": "nbjudge.llm.usage",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'nbjudge.llm' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
