"""A content-addressed store of model answers, so no request is ever sent twice.

The key is the SHA-256 of everything that decides what the model is asked:
the model, the judge's instructions (rubric, and distilled guidelines or the
memory that retrieval draws from), the notebook text, the inference
parameters and the MLflow version that builds the prompt from them. The store
is ``diskcache`` (SQLite underneath): every write is a transaction, so a
process killed mid-run leaves every finished answer readable and nothing
half-written, and threads and processes may share it.

A failed answer (the model's reply was no usable judgment) is an answer like any
other and is reused, unless ``retry_failed`` is set (``llm.retry_failed: true``):
then each failure is asked once more, and the new answer, failed or not, is kept
for good (a failure is never asked a third time by itself).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nbjudge.paths import project_root

__all__ = ["CACHE_ROOT", "AnswerCache", "cache_path", "content_key", "request_key"]

# ``.nbjudge-cache`` of the repository, also from a queued experiment's copy
# (which runs in a temporary copy inside ``.dvc``), so experiments share answers.
CACHE_ROOT = project_root() / ".nbjudge-cache"


def cache_path(configured: str | None, default: str) -> Path:
    """A configured cache folder; relative ones live under the repository."""
    return project_root() / (configured or default)


# Bump when the meaning of a stored answer changes.
_CACHE_FORMAT = 1


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str)


def content_key(payload: Mapping[str, Any]) -> str:
    """SHA-256 hex of any JSON-able request description (the cache format included)."""
    return hashlib.sha256(_canonical({"format": _CACHE_FORMAT, **payload}).encode("utf-8")
                          ).hexdigest()


def request_key(*, model: str, instructions: str, outputs: str,
                inference_params: Mapping[str, Any] | None = None,
                memory: Mapping[str, Any] | None = None) -> str:
    """SHA-256 hex of one judge request.

    ``memory`` describes state that changes the prompt per request without
    being in ``instructions`` (an aligned judge's episodic memory, from which
    the examples pasted into each prompt are retrieved).
    """
    import mlflow

    # Settings that change how a request is sent but not what the model answers.
    transport = {"timeout", "num_retries", "retry_policy"}
    payload = {
        "mlflow": mlflow.__version__,
        "model": model,
        "instructions": instructions,
        "outputs": outputs,
        "params": {k: v for k, v in (inference_params or {}).items() if k not in transport},
        "memory": memory,
    }
    return content_key(payload)


# Marks an answer that replaced a failure asked once more (llm.retry_failed): never again.
_ASKED_AGAIN = "_asked_again"


class AnswerCache:
    """Answers by request key, on disk under ``directory``.

    ``retry_failed``: a stored failure that was not asked again yet counts as no answer
    (:meth:`get` None, ``in`` False), so that it is asked once more.
    """

    def __init__(self, directory: str | os.PathLike[str], *, retry_failed: bool = False) -> None:
        import diskcache

        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.retry_failed = retry_failed
        self._store = diskcache.Cache(str(self.directory), size_limit=2**34,
                                      eviction_policy="none")

    def _stored(self, key: str) -> dict[str, Any] | None:
        value = self._store.get(key)
        return dict(value) if value is not None else None

    def get(self, key: str) -> dict[str, Any] | None:
        value = self._stored(key)
        if value is None or self.asks_again(key, value):
            return None
        value.pop(_ASKED_AGAIN, None)
        return value

    def put(self, key: str, answer: Mapping[str, Any]) -> None:
        record = dict(answer)
        if self.retry_failed and self.asks_again(key):
            record[_ASKED_AGAIN] = True
        self._store.set(key, record)

    def asks_again(self, key: str, stored: Mapping[str, Any] | None = None) -> bool:
        """Whether ``key`` holds a failure that ``retry_failed`` asks once more."""
        if not self.retry_failed:
            return False
        stored = stored if stored is not None else self._stored(key)
        return (stored is not None and stored.get("status") == "failed"
                and not stored.get(_ASKED_AGAIN))

    def is_failure(self, key: str) -> bool:
        """Whether ``key`` holds a failed answer (whether or not it is asked again)."""
        stored = self._stored(key)
        return stored is not None and stored.get("status") == "failed"

    def __contains__(self, key: str) -> bool:
        return key in self._store and not self.asks_again(key)

    def __len__(self) -> int:
        return len(self._store)

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> AnswerCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
