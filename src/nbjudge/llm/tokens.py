"""Prompt tokens counted before sending, offline, with the model's own tokenizer where known.

OpenAI's tokenizers (tiktoken) ship inside the litellm package, so counting
needs no network: a model tiktoken knows (``gpt-4o-mini`` is ``o200k_base``)
is counted with its encoding, any other with ``cl100k_base``, which is then an
approximation and :func:`tokenizer_for` says so. A chat request counts as
OpenAI bills it: 3 tokens per message plus its role and content, and 3 that
prime the reply.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbjudge.llm.usage import bundled_models, listing_keys
from nbjudge.offline import environment

__all__ = ["Tokenizer", "model_output_cap", "tokenizer_for"]

_FALLBACK = "cl100k_base"
_PER_MESSAGE = 3
_REPLY_PRIMING = 3


def _bundled_cache() -> str | None:
    spec = importlib.util.find_spec("litellm")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "litellm_core_utils" / "tokenizers"
    return str(folder) if folder.is_dir() else None


@functools.cache
def _encoding(name: str) -> Any:
    import tiktoken

    cache = _bundled_cache()
    # tiktoken downloads encodings it does not find in this folder; litellm ships them.
    folder = ({"TIKTOKEN_CACHE_DIR": cache}
              if cache is not None and "TIKTOKEN_CACHE_DIR" not in os.environ else {})
    with environment(folder):
        return tiktoken.get_encoding(name)


@dataclass(frozen=True)
class Tokenizer:
    """Counts tokens of texts and chat requests with one tiktoken encoding."""

    encoding: str
    exact: bool          # the model's own tokenizer (False: an approximation)

    @property
    def description(self) -> str:
        return self.encoding if self.exact else f"{self.encoding} (approximation)"

    def text(self, text: str) -> int:
        return len(_encoding(self.encoding).encode(text, disallowed_special=()))

    def messages(self, messages: Iterable[Mapping[str, Any]]) -> int:
        total = _REPLY_PRIMING
        for message in messages:
            total += (_PER_MESSAGE + self.text(str(message.get("role", "")))
                      + self.text(str(message.get("content") or "")))
        return total


def tokenizer_for(model: str) -> Tokenizer:
    """The tokenizer of ``model`` (``gpt-4o-mini``, ``openai/gpt-4o-mini`` or MLflow's
    ``openai:/gpt-4o-mini``); ``cl100k_base`` as an approximation for models tiktoken
    does not know (Anthropic, Databricks, self-hosted models)."""
    name = model.replace(":/", "/", 1).rpartition("/")[2]
    try:
        import tiktoken

        return Tokenizer(tiktoken.encoding_name_for_model(name), exact=True)
    except (KeyError, ValueError):
        return Tokenizer(_FALLBACK, exact=False)


def model_output_cap(model: str) -> int | None:
    """The longest reply ``model`` gives, from litellm's bundled model list; None when
    the list does not have it."""
    for key in listing_keys(model)[2]:
        entry = bundled_models().get(key)
        if isinstance(entry, dict):
            cap = entry.get("max_output_tokens") or entry.get("max_tokens")
            if isinstance(cap, int) and cap > 0:
                return cap
    return None
