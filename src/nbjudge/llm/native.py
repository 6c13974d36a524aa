"""One attempt per request on MLflow's own client for the providers it knows natively.

MLflow sends judges of the providers its gateway knows (``openai``,
``anthropic``, ``databricks``) through its own HTTP client,
``mlflow.genai.judges.adapters.gateway_adapter``, whose
``send_chat_request`` retries a 429 or 5xx up to ten times (judges never
pass another ``num_retries``) with its own backoff, ignores ``Retry-After``
and drops the response's headers. A provider that asks for a minute would
get ten requests in about two, and the stage's caps would count one.

While a native backend is open (:func:`nbjudge.llm.backends.open_backend`)
:func:`single_attempts` puts :func:`send_once` in its place: one HTTP
request per call, and an error that keeps its status and headers. The
judging runner (:mod:`nbjudge.llm.calls`) then retries every failure itself,
waits what ``Retry-After`` asks, and counts every request against
``llm.max_requests`` and ``llm.max_cost``, as it does for litellm-routed
backends.

Written by hand because MLflow has no hook for it: its retry count is fixed
by the judge's call, and its rate-limit registry
(``rate_limit_retry_adapters``) covers litellm and the Databricks SDK only.
The replacement is guarded: if an MLflow upgrade changes the client's shape,
:func:`single_attempts` leaves MLflow's retries in place and warns once
(``tests/llm/test_native.py`` fails first).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from nbjudge.errors import BackendError

__all__ = ["ProviderHTTPError", "compatible", "send_once", "single_attempts"]

_logger = logging.getLogger(__name__)

_CLIENT = "mlflow.genai.judges.adapters.gateway_adapter"
_ERRORS = "mlflow.genai.judges.adapters.utils"
_SIGNATURE = ("endpoint", "headers", "payload", "num_retries")
_warned = False


class ProviderHTTPError(BackendError):
    """A provider's HTTP error: status, message and the response's headers.

    Built as a subclass of MLflow's ``ChatCompletionError`` (see
    :func:`_error_class`), so that MLflow's adapter handles it as its own
    (context-window and response-format fallbacks on 400) and raises it as
    the cause of its ``MlflowException``, where the runner reads the status
    and ``Retry-After``.
    """

    status_code: int
    headers: Mapping[str, str]


@functools.cache
def _error_class() -> Any:
    base = importlib.import_module(_ERRORS).ChatCompletionError
    return type("ProviderHTTPError", (ProviderHTTPError, base),
                {"__module__": __name__, "__doc__": ProviderHTTPError.__doc__})


def _http_error(status_code: int, message: str, headers: Mapping[str, str],
                *, context_window: bool) -> ProviderHTTPError:
    error: ProviderHTTPError = _error_class()(status_code=status_code, message=message,
                                              is_context_window_error=context_window)
    error.headers = dict(headers)
    return error


def send_once(endpoint: str, headers: dict[str, str], payload: dict[str, Any],
              num_retries: int = 0) -> dict[str, Any]:
    """POST ``payload`` to ``endpoint`` once; the JSON answer, or an error to retry on.

    ``num_retries`` is accepted and ignored: the runner retries. A timeout
    or a lost connection is a :class:`TimeoutError` or :class:`ConnectionError`
    naming the endpoint (never the headers, which carry the key).
    """
    import requests
    from mlflow.environment_variables import MLFLOW_GATEWAY_ROUTE_TIMEOUT_SECONDS

    errors: Any = importlib.import_module(_ERRORS)
    setting: Any = MLFLOW_GATEWAY_ROUTE_TIMEOUT_SECONDS   # MLflow's settings are untyped
    timeout = setting.get()
    try:
        response = requests.post(url=endpoint,
                                 headers={"Content-Type": "application/json", **headers},
                                 json=payload, timeout=timeout)
    except requests.exceptions.Timeout as error:
        raise TimeoutError(f"no answer from {endpoint} within {timeout} s") from error
    except requests.exceptions.ConnectionError as error:
        raise ConnectionError(f"could not reach {endpoint}: {type(error).__name__}") from error
    if response.status_code >= 400:
        message = errors._safe_parse_error(response)
        raise _http_error(
            response.status_code, message, response.headers,
            context_window=response.status_code == 400 and errors.is_context_window_error(message))
    answer: dict[str, Any] = response.json()
    return answer


def compatible() -> str | None:
    """Why MLflow's judge client cannot take :func:`send_once`, or None when it can."""
    client: Any
    errors: Any
    try:
        client = importlib.import_module(_CLIENT)
        errors = importlib.import_module(_ERRORS)
    except ImportError as error:
        return f"its judge client did not import ({error})"
    original: Callable[..., Any] | None = getattr(client, "send_chat_request", None)
    shared = getattr(errors, "send_chat_request", None)
    if original is send_once:      # already in place (an open backend inside another)
        original = shared
    if original is None or id(original) != id(shared):
        return f"{_CLIENT} no longer sends through send_chat_request"
    parameters = tuple(inspect.signature(original).parameters)
    if parameters != _SIGNATURE:
        return f"send_chat_request now takes {parameters}"
    for name in ("ChatCompletionError", "_safe_parse_error", "is_context_window_error"):
        if not hasattr(errors, name):
            return f"{_ERRORS} has no {name}"
    try:
        inspect.signature(errors.ChatCompletionError).bind(
            status_code=429, message="", is_context_window_error=False)
    except TypeError:
        return "ChatCompletionError takes other arguments"
    return None


@contextlib.contextmanager
def single_attempts() -> Iterator[bool]:
    """For the ``with`` block, MLflow's judge client sends each request once.

    Yields whether it could: on an MLflow whose client has changed shape it
    warns once and leaves MLflow's own retries (which ignore ``Retry-After``).
    """
    global _warned
    reason = compatible()
    if reason is not None:
        if not _warned:
            import mlflow

            _logger.warning(
                "MLflow %s changed its judge client (%s): judges of openai, anthropic and "
                "databricks keep MLflow's own retries, which ignore Retry-After and are not "
                "counted against llm.max_requests. Pin the MLflow version in pyproject.toml "
                "to restore them.", mlflow.__version__, reason)
            _warned = True
        yield False
        return
    client: Any = importlib.import_module(_CLIENT)
    original = client.send_chat_request
    client.send_chat_request = send_once
    try:
        yield True
    finally:
        client.send_chat_request = original
