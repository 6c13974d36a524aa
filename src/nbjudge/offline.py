"""Environment variables set for a ``with`` block and restored after it, never at import.

litellm fetches a model price list from the internet when it is first imported,
unless ``LITELLM_LOCAL_MODEL_COST_MAP`` tells it to read the copy it ships, and
MLflow's judges fetch a model catalog unless ``MLFLOW_MODEL_CATALOG_URI`` is
empty. :func:`offline` sets both for a stage or a command (a value the user set
wins), so that nothing is downloaded at run time; importing nbjudge changes
nothing in the environment. A leaf: it imports nothing of nbjudge.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

__all__ = ["OFFLINE_SWITCHES", "environment", "offline"]

OFFLINE_SWITCHES = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "MLFLOW_MODEL_CATALOG_URI": ""}


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` in ``os.environ`` for the block; every name restored (or removed) on exit."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def offline() -> Iterator[None]:
    """:data:`OFFLINE_SWITCHES` for the block, except those the user has set."""
    with environment({k: v for k, v in OFFLINE_SWITCHES.items() if k not in os.environ}):
        yield
