"""LLM backends: the Hydra group ``llm`` (:mod:`nbjudge.llm.config`) made reachable.

``local`` (the offline default) starts llama.cpp's ``llama-server`` on
127.0.0.1 for the duration of a run; ``openai``, ``anthropic``, ``databricks``
and ``openai_compatible`` reach a provider through MLflow's judge adapters
(litellm underneath). :func:`open_backend` is a context manager and every
change it makes to the process (environment variables, MLflow's judge
client, litellm's usage callback) is undone when it exits; the rate limits,
spending caps and token counts of the requests sent through it belong to the
:class:`Backend` it yields.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbjudge.llm.cache import CACHE_ROOT, AnswerCache
from nbjudge.llm.config import (
    BACKENDS,
    LITELLM_ROUTED,
    MLFLOW_ATTEMPTS,
    BackendConfigError,
    LLMConfig,
    check_credentials,
    inference_params,
    judge_model_uri,
    offline_settings,
    result_schema,
)
from nbjudge.llm.embeddings import HASHING_MODEL, register_hashing_embeddings
from nbjudge.llm.limits import Limits
from nbjudge.llm.native import single_attempts
from nbjudge.llm.server import LocalServer, ServerOptions
from nbjudge.llm.usage import UsageLog, price_per_token
from nbjudge.offline import environment

__all__ = [
    "BACKENDS",
    "Backend",
    "BackendConfigError",
    "LLMConfig",
    "backend_if_needed",
    "check_credentials",
    "inference_params",
    "judge_model_uri",
    "offline_settings",
    "open_backend",
    "result_schema",
]


@dataclass
class Backend:
    """A reachable LLM: what ``make_judge``, litellm and DSPy need to use it."""

    config: LLMConfig
    judge_model: str                     # make_judge's "provider:/model"
    base_url: str | None                 # make_judge's base_url (the server's /v1 base)
    litellm_model: str                   # the same model for litellm/DSPy callers
    api_base: str | None                 # litellm api_base for litellm/DSPy callers
    embedding_model: str | None = None   # MemAlign's embedding model, when started
    server_logs: list[Path] = field(default_factory=list)
    # What paces and caps the requests sent through this backend (llm.rpm, llm.max_cost, ...).
    limits: Limits = field(default_factory=Limits)
    # litellm's reports of this backend's requests, for MemAlign's token counts.
    usage: UsageLog = field(default_factory=UsageLog)

    @property
    def smoke(self) -> bool:
        return self.config.smoke

    def inference_params(self) -> dict[str, Any]:
        return inference_params(self.config)

    def judge_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": self.judge_model}
        if self.base_url is not None:
            kwargs["base_url"] = self.base_url
        return kwargs


def _register_context(model: str, config: LLMConfig) -> None:
    """Tell litellm the model's context so MemAlign sizes its batches to it."""
    import litellm

    # litellm warns at length that a registered model has no cache pricing.
    logging.getLogger("LiteLLM").setLevel(logging.ERROR)

    # A listed model keeps its list price, so litellm's own cost figures stay true;
    # nbjudge's caps and plans read the price list itself (nbjudge.llm.usage).
    prompt_price, reply_price = price_per_token(model) or (0.0, 0.0)
    litellm.register_model({model: {
        "max_input_tokens": config.context_size,
        "max_tokens": config.max_output_tokens,
        "max_output_tokens": config.max_output_tokens,
        "input_cost_per_token": prompt_price,
        "output_cost_per_token": reply_price,
        "litellm_provider": model.split("/", 1)[0],
        "mode": "chat",
    }})
    # MemAlign keeps the last model's context in an lru_cache
    # (memalign.utils._get_model_max_input_tokens): a model registered again with
    # another context (another config in the same process) must be read anew.
    utils = sys.modules.get("mlflow.genai.judges.optimizers.memalign.utils")
    cached = getattr(utils, "_get_model_max_input_tokens", None)
    if cached is not None and hasattr(cached, "cache_clear"):
        cached.cache_clear()


def _hosted(config: LLMConfig, environ: Mapping[str, str]) -> tuple[Backend, dict[str, str]]:
    env: dict[str, str] = {}
    if config.backend == "openai":
        # llm.base_url (a gateway, a proxy): MLflow's OpenAI client reads OPENAI_BASE_URL,
        # litellm (MemAlign, embeddings) OPENAI_API_BASE; both are undone on exit.
        base = config.base_url.rstrip("/") if config.base_url else None
        if base is not None:
            env = {"OPENAI_BASE_URL": base, "OPENAI_API_BASE": base}
        backend = Backend(config, f"openai:/{config.model}", None,
                          f"openai/{config.model}", base)
    elif config.backend == "anthropic":
        backend = Backend(config, f"anthropic:/{config.model}", None,
                          f"anthropic/{config.model}", None)
    elif config.backend == "databricks":
        host = environ["DATABRICKS_HOST"].rstrip("/")
        if not host.startswith("http"):
            host = f"https://{host}"
        env = {"DATABRICKS_API_BASE": f"{host}/serving-endpoints",
               "DATABRICKS_API_KEY": environ[config.api_key_env or "DATABRICKS_TOKEN"]}
        backend = Backend(config, f"databricks:/{config.model}", None,
                          f"databricks/{config.model}", None)
    else:  # openai_compatible, through litellm (see _PROVIDERS)
        base = str(config.base_url).rstrip("/")
        env = {"HOSTED_VLLM_API_BASE": base}
        if environ.get(config.api_key_env or ""):
            env["HOSTED_VLLM_API_KEY"] = environ[config.api_key_env or ""]
        backend = Backend(config, judge_model_uri(config), base,
                          f"hosted_vllm/{config.model}", base)
    return backend, env


@contextlib.contextmanager
def open_backend(
    config: LLMConfig,
    *,
    embeddings: bool = False,
    cache_dir: str | os.PathLike[str] = ".nbjudge-cache",
    log_dir: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    limits: Limits | None = None,
) -> Iterator[Backend]:
    """Make ``config``'s LLM reachable for the duration of the ``with`` block.

    For ``local`` this starts (and always stops) llama-server. With
    ``embeddings=True`` the backend also names MemAlign's embedding model:
    ``hashing`` registers the in-process one, anything else is used as given.
    Process environment changes (offline settings, the server's address) are
    undone on exit, and so are MLflow's client sending each request once for the
    providers it knows natively (:mod:`nbjudge.llm.native`) and litellm's report
    of each request to the backend's :class:`~nbjudge.llm.usage.UsageLog`.

    Requests sent through the backend are paced and capped by ``limits`` (pass
    the same object to several backends to cap them together), by default the
    limits of ``config`` (:meth:`Limits.from_config`); a cost cap without a known
    price is a :class:`BackendConfigError` here, before anything starts.
    """
    environ = os.environ if environ is None else environ
    check_credentials(config, environ)
    limits = limits if limits is not None else Limits.from_config(config)
    env = offline_settings(cache_dir, config, environ)
    env["MLFLOW_GATEWAY_ROUTE_TIMEOUT_SECONDS"] = str(int(config.timeout))
    env["MLFLOW_JUDGE_MAX_ITERATIONS"] = str(MLFLOW_ATTEMPTS)
    with contextlib.ExitStack() as stack:
        if config.backend == "local":
            # -n is the reply length of requests that set none: MemAlign's reflection
            # (DSPy) sends no max_tokens, the judges send their own.
            options = ServerOptions(context_size=config.context_size * config.concurrency,
                                    parallel=config.concurrency,
                                    max_tokens=config.reflection_max_tokens)
            server = stack.enter_context(LocalServer(model_name=config.model, options=options,
                                                     log_dir=log_dir))
            backend = Backend(config, judge_model_uri(config), server.base_url,
                              f"hosted_vllm/{config.model}", server.base_url,
                              server_logs=server.log_paths)
            env["HOSTED_VLLM_API_BASE"] = server.base_url
        else:
            backend, hosted_env = _hosted(config, environ)
            env.update(hosted_env)
        backend.limits = limits
        # First, so that litellm, imported below, reads its offline switch.
        stack.enter_context(environment(env))
        if config.backend not in LITELLM_ROUTED:
            stack.enter_context(single_attempts())
        if embeddings:
            if config.embedding_model == "hashing":
                register_hashing_embeddings()
                backend.embedding_model = HASHING_MODEL
            else:
                backend.embedding_model = config.embedding_model
        stack.enter_context(backend.usage.installed())
        _register_context(backend.litellm_model, config)
        yield backend


def backend_if_needed(config: LLMConfig, requests: Sequence[Any], cache: AnswerCache,
                      backend: Backend | None = None
                      ) -> contextlib.AbstractContextManager[Backend | None]:
    """``backend`` if given; else a newly opened one when some request has no cached
    answer; else None (nothing will be sent, so no server is started). A cached failure
    counts as no answer under ``llm.retry_failed`` (the cache is told so here)."""
    cache.retry_failed = config.retry_failed
    if backend is not None or all(r.key in cache for r in requests):
        return contextlib.nullcontext(backend)
    return open_backend(config, cache_dir=CACHE_ROOT, log_dir=CACHE_ROOT / "logs")
