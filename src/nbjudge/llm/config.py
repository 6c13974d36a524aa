"""The ``llm`` settings and what follows from them alone, known before anything is started.

A leaf of :mod:`nbjudge.llm`: it imports no other module of the layer, no
model client and no MLflow, so the stages that only need to *name* a model
(plans, records, the judge stage's run facts) and the modules that start
servers, pace requests and count tokens all build on it without a cycle.

Keys are read from the environment variable that the configuration *names*;
no key is ever part of the configuration, so none can reach ``params.yaml``,
``dvc.lock``, MLflow params or a report. A missing key, an unset
``base_url`` or an unknown backend is a :class:`BackendConfigError` raised
before any work starts.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nbjudge.errors import ConfigError
from nbjudge.offline import OFFLINE_SWITCHES
from nbjudge.schemas import describe

__all__ = [
    "BACKENDS",
    "LITELLM_ROUTED",
    "MLFLOW_ATTEMPTS",
    "NO_KEY",
    "BackendConfigError",
    "LLMConfig",
    "check_credentials",
    "inference_params",
    "judge_model_uri",
    "offline_settings",
    "result_schema",
]

BACKENDS = ("local", "openai", "anthropic", "databricks", "openai_compatible")
# Placeholder for servers that check no key; OpenAI clients insist on one.
NO_KEY = "local-no-key"
_SMOKE_BANNER = ("SMOKE TEST: scores from a tiny offline model (SmolLM2-135M); "
                 "they mean nothing about judge quality")


# Backends that cannot use llm.base_url, and where their requests go instead.
_NO_BASE_URL = {
    "local": "starts its own server on a free port",
    "anthropic": "sends its requests to Anthropic's API",
    "databricks": "sends its requests to the workspace in DATABRICKS_HOST",
}


class BackendConfigError(ConfigError):
    """The ``llm`` settings or the environment they need are wrong; the message says the fix."""


class LLMConfig(BaseModel):
    """The ``llm`` section of ``params.yaml`` (one file of ``conf/llm/``).

    Its checks across fields (a mandatory ``???`` left unset, ``base_url`` and the
    backend) are validators of the model, so they run wherever it is validated: once per
    stage inside :func:`nbjudge.params.load_params`, or alone in :meth:`from_mapping`.
    They raise :class:`BackendConfigError`, not ``ValueError``: pydantic lets such an
    error through as it is, so its message (the fix) reaches the user unwrapped.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["local", "openai", "anthropic", "databricks", "openai_compatible"]
    model: str = Field(min_length=1)
    smoke: bool = False
    base_url: str | None = None
    api_key_env: str | None = None
    context_size: int = Field(ge=256)
    notebook_tokens: int | None = Field(ge=100)  # None: what the context leaves
    concurrency: int = Field(ge=1, le=256)
    timeout: float = Field(gt=0)
    max_retries: int = Field(ge=0, le=50)
    temperature: float = Field(ge=0, le=2)
    max_output_tokens: int = Field(ge=16)
    reflection_max_tokens: int = Field(default=1024, ge=64)
    rationale_max_chars: int = Field(ge=20)
    structured_output: Literal["json_schema", "none"] = "json_schema"
    rubric_detail: Literal["full", "summary"] = "full"
    embedding_model: str = "hashing"   # hashing, or a "provider:/model" string
    # Pacing and caps of one stage run (nbjudge.llm.limits); None: no limit.
    rpm: int | None = Field(default=None, ge=1)          # requests per minute
    tpm: int | None = Field(default=None, ge=1)          # tokens per minute (prompt + reply cap)
    max_requests: int | None = Field(default=None, ge=1)  # requests sent per stage run
    max_cost: float | None = Field(default=None, gt=0)    # money per stage run (price list)
    # Ask each cached failed answer (a reply that was no usable answer) once more; never
    # sent silently: the stage says how many. It changes what is sent, not a request key.
    retry_failed: bool = False

    @model_validator(mode="before")
    @classmethod
    def _mandatory_values_set(cls, data: Any) -> Any:
        """OmegaConf's mandatory marker survives composition into params.yaml as text."""
        if isinstance(data, Mapping):
            unset = [f"llm.{name}" for name, value in data.items() if value == "???"]
            if unset:
                raise BackendConfigError(
                    f"{' and '.join(unset)} must be set (??? in conf/llm/"
                    f"{data.get('backend')}.yaml): pass "
                    + " ".join(f"-S {name}=..." for name in unset)
                )
        return data

    @model_validator(mode="after")
    def _base_url_fits_the_backend(self) -> LLMConfig:
        """What the field types alone cannot say: openai_compatible needs its address, and
        the backends that cannot use one refuse it."""
        if self.backend == "openai_compatible" and not self.base_url:
            raise BackendConfigError(
                "llm=openai_compatible needs the server's address: "
                "-S llm.base_url=http://HOST:PORT/v1 (and -S llm.model=NAME)"
            )
        if self.base_url and self.backend in _NO_BASE_URL:
            # Ignoring it would send the key and the notebooks to the public endpoint.
            raise BackendConfigError(
                f"llm.base_url is set ({self.base_url}) but llm={self.backend} "
                f"{_NO_BASE_URL[self.backend]}: for a gateway or proxy that speaks OpenAI's "
                "API use llm=openai (its base_url is honoured) or llm=openai_compatible; "
                "otherwise -S llm.base_url=null"
            )
        return self

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> LLMConfig:
        """The ``llm`` section alone as settings; any problem is a :class:`BackendConfigError`.

        The checks are the model's own, so :class:`nbjudge.params.Params` makes them too
        when it validates the whole ``params.yaml``; here a field's error is named by its
        dotted path under ``llm``.
        """
        try:
            return cls.model_validate(dict(mapping))
        except ValidationError as error:
            raise BackendConfigError(
                f"invalid llm settings: {describe(error, prefix='llm.', whole='llm')}. "
                "Fix conf/llm/*.yaml or the -S override."
            ) from None

    @property
    def banner(self) -> str | None:
        """The first line of every report made with this model, or None."""
        return _SMOKE_BANNER if self.smoke else None

    @property
    def metrics_warning(self) -> str | None:
        """The first entry of ``metrics.json`` made with this model, or None."""
        if not self.smoke:
            return None
        return (f"SMOKE TEST: judgments from a tiny offline model ({self.model}); "
                "these numbers mean nothing about judge quality")


def result_schema(rationale_max_chars: int) -> dict[str, Any]:
    """The JSON a judge must answer with: the score first, then a bounded rationale.

    The score comes first so that a reply cut at ``max_tokens`` still carries
    it; the ``maxLength`` keeps small models from rambling until the cap.
    """
    return {
        "type": "object",
        "properties": {
            "result": {"enum": [1, 2, 3, "N/A"]},
            "rationale": {"type": "string", "maxLength": rationale_max_chars},
        },
        "required": ["result", "rationale"],
        "additionalProperties": False,
    }


# MLflow sends judges of the providers it knows natively (openai, anthropic,
# databricks, ...) through its own HTTP client, which merges inference params
# into the request body and waits MLFLOW_GATEWAY_ROUTE_TIMEOUT_SECONDS; while a
# backend is open it sends each request once (nbjudge.llm.native), so that the
# judging runner alone retries, honours Retry-After and counts every attempt.
# Any other provider goes through litellm, which takes `timeout` and retry
# settings as arguments. OpenAI-compatible servers (ours included) are reached
# as litellm's `hosted_vllm`.
_PROVIDERS = {"local": "hosted_vllm", "openai": "openai", "anthropic": "anthropic",
              "databricks": "databricks", "openai_compatible": "hosted_vllm"}
LITELLM_ROUTED = frozenset({"local", "openai_compatible"})
# MLflow re-sends a judge prompt after shrinking it or dropping response_format;
# on a prompt that never fits it would do so 30 times. Three attempts suffice.
MLFLOW_ATTEMPTS = 3
_RETRY_POLICY_FIELDS = (
    "BadRequestErrorRetries", "AuthenticationErrorRetries", "TimeoutErrorRetries",
    "RateLimitErrorRetries", "ContentPolicyViolationErrorRetries",
    "InternalServerErrorRetries", "ServiceUnavailableErrorRetries",
)


def judge_model_uri(config: LLMConfig) -> str:
    """The ``make_judge`` model string for ``config``, known before anything is started."""
    return f"{_PROVIDERS[config.backend]}:/{config.model}"


def inference_params(config: LLMConfig) -> dict[str, Any]:
    """Per-request settings for the judges.

    For litellm-routed backends this also sets the request timeout and turns
    litellm's own retries off (the judging runner retries, counting every
    attempt). MLflow's native adapter would send such keys to the provider as
    unknown fields, so native backends get only what the model reads; their
    timeout is ``MLFLOW_GATEWAY_ROUTE_TIMEOUT_SECONDS`` (set by
    :func:`~nbjudge.llm.backends.open_backend`, which also makes MLflow's client
    send each request once: :mod:`nbjudge.llm.native`).
    """
    params: dict[str, Any] = {
        "temperature": config.temperature,
        "max_tokens": config.max_output_tokens,
    }
    if config.backend in LITELLM_ROUTED:
        params |= {"timeout": config.timeout, "num_retries": 0,
                   "retry_policy": {name: 0 for name in _RETRY_POLICY_FIELDS}}
    if config.structured_output == "json_schema":
        params["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "judgment", "strict": True,
                            "schema": result_schema(config.rationale_max_chars)},
        }
    return params


def _required_env(config: LLMConfig) -> list[str]:
    if config.backend == "databricks":
        return ["DATABRICKS_HOST", config.api_key_env or "DATABRICKS_TOKEN"]
    if config.backend in ("openai", "anthropic"):
        return [config.api_key_env or f"{config.backend.upper()}_API_KEY"]
    return []


def check_credentials(config: LLMConfig, environ: Mapping[str, str] | None = None) -> None:
    """Fail before any work when a key the backend needs is not in the environment."""
    environ = os.environ if environ is None else environ
    missing = [name for name in _required_env(config) if not environ.get(name)]
    if missing:
        names = " and ".join(missing)
        raise BackendConfigError(
            f"llm={config.backend} needs {names} in the environment, and it is not set. "
            f"Fix: export {missing[0]}=... before running (keys are read from the environment "
            "only and never written to params.yaml, dvc.lock, MLflow or reports), or run "
            "offline with -S llm=local."
        )


_LIMIT_FIELDS = {"rpm", "tpm", "max_requests", "max_cost", "retry_failed"}


def offline_settings(cache_dir: str | os.PathLike[str],
                     config: LLMConfig | None = None,
                     environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment that keeps MLflow, litellm and DSPy from reaching the internet.

    DSPy caches MemAlign's distillation and embedding answers on disk; the
    folder is keyed by the whole ``llm`` configuration, because settings that
    never appear in a request (the local server's reply cap) change answers.
    """
    environ = os.environ if environ is None else environ
    key = "default"
    if config is not None:
        # Pacing, caps and retry_failed change when requests are sent, never what is answered.
        text = json.dumps(config.model_dump(exclude=_LIMIT_FIELDS), sort_keys=True)
        key = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return {
        **OFFLINE_SWITCHES,
        "DSPY_CACHEDIR": str(Path(cache_dir, "dspy", key).resolve()),
        "LITELLM_LOG": environ.get("LITELLM_LOG", "ERROR"),
    }
