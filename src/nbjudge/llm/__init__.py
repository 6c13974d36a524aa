"""Talking to models: every request nbjudge sends to an LLM goes through here.

- :mod:`~nbjudge.llm.backends`: the Hydra group ``llm`` (the local server or a
  provider) turned into a reachable model, keys from the environment only;
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
"""

from nbjudge.llm.backends import (
    Backend,
    BackendConfigError,
    LLMConfig,
    check_credentials,
    open_backend,
)
from nbjudge.llm.cache import AnswerCache
from nbjudge.llm.calls import (
    Answer,
    BackendFatalError,
    BackendUnavailableError,
    RetryPolicy,
    RunSummary,
    run_calls,
)
from nbjudge.llm.limits import BudgetExceededError, Limits
from nbjudge.llm.server import LocalServer, LocalServerError
from nbjudge.llm.usage import price_per_token

__all__ = [
    "Answer",
    "AnswerCache",
    "Backend",
    "BackendConfigError",
    "BackendFatalError",
    "BackendUnavailableError",
    "BudgetExceededError",
    "LLMConfig",
    "Limits",
    "LocalServer",
    "LocalServerError",
    "RetryPolicy",
    "RunSummary",
    "check_credentials",
    "open_backend",
    "price_per_token",
    "run_calls",
]
