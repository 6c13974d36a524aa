"""An offline embedding model for MemAlign's episodic memory, as a litellm provider.

MemAlign embeds every training example and each notebook it judges (through
DSPy and litellm) to retrieve similar examples. Offline there is no hosted
embedding model, and the small chat model's own embeddings are slow on a
CPU. ``nbjudge-hashing:/code-512`` is scikit-learn's ``HashingVectorizer``
over identifiers and words of the notebook text (unigrams and bigrams,
L2-normalised): deterministic, instant, and it keys on exactly the code that
tells notebooks apart (``SimpleImputer``, ``fillna``, ``train_test_split``).
It is registered through litellm's public ``custom_provider_map``; MLflow is
not patched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

__all__ = ["HASHING_MODEL", "PROVIDER", "register_hashing_embeddings"]

PROVIDER = "nbjudge-hashing"
HASHING_MODEL = f"{PROVIDER}:/code-512"
_TOKEN_PATTERN = r"(?u)\b[A-Za-z_][A-Za-z0-9_]+\b"


def _vectorizer(n_features: int) -> Any:
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(n_features=n_features, token_pattern=_TOKEN_PATTERN,
                             ngram_range=(1, 2), alternate_sign=False, norm="l2",
                             lowercase=False)


def embed_texts(texts: list[str], n_features: int = 512) -> list[list[float]]:
    """One L2-normalised vector of ``n_features`` per text."""
    matrix = _vectorizer(n_features).transform([str(t) for t in texts])
    return [[float(x) for x in row] for row in matrix.toarray()]


def register_hashing_embeddings() -> None:
    """Make ``nbjudge-hashing/<name>`` an embedding model for litellm (idempotent)."""
    import litellm
    from litellm.llms.custom_llm import CustomLLM
    from litellm.types.utils import Embedding, EmbeddingResponse, Usage

    if any(p.get("provider") == PROVIDER for p in litellm.custom_provider_map):
        return

    class _Hashing(CustomLLM):
        def embedding(self, model: str, input: Any, model_response: EmbeddingResponse,
                      print_verbose: Callable[..., Any], logging_obj: Any,
                      optional_params: dict[str, Any], api_key: str | None = None,
                      api_base: str | None = None, timeout: Any = None,
                      litellm_params: Any = None) -> EmbeddingResponse:
            started = time.monotonic()
            texts = [input] if isinstance(input, str) else list(input)
            size = int(optional_params.get("dimensions") or 512)
            vectors = embed_texts(texts, size)
            model_response.data = [Embedding(embedding=v, index=i, object="embedding")
                                   for i, v in enumerate(vectors)]
            model_response.model = model
            tokens = sum(len(str(t).split()) for t in texts)
            model_response.usage = Usage(prompt_tokens=tokens, completion_tokens=0,
                                         total_tokens=tokens)
            model_response._response_ms = (time.monotonic() - started) * 1000
            return model_response

        async def aembedding(self, model: str, input: Any, model_response: EmbeddingResponse,
                             print_verbose: Callable[..., Any], logging_obj: Any,
                             optional_params: dict[str, Any], api_key: str | None = None,
                             api_base: str | None = None, timeout: Any = None,
                             litellm_params: Any = None) -> EmbeddingResponse:
            return self.embedding(model, input, model_response, print_verbose, logging_obj,
                                  optional_params, api_key, api_base, timeout, litellm_params)

    litellm.custom_provider_map = [*litellm.custom_provider_map,
                                   {"provider": PROVIDER, "custom_handler": _Hashing()}]
    # litellm warns at length that a registered model has no cache pricing.
    logging.getLogger("LiteLLM").setLevel(logging.ERROR)
    litellm.register_model({f"{PROVIDER}/code-512": {
        "max_input_tokens": 1_000_000, "input_cost_per_token": 0.0, "output_cost_per_token": 0.0,
        "litellm_provider": PROVIDER, "mode": "embedding"}})
