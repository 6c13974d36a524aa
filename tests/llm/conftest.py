"""Fixtures of the tests that judge through a scripted server."""

import pytest

from nbjudge.llm.cache import AnswerCache


@pytest.fixture
def offline(monkeypatch):
    """A key the scripted server accepts, and no attempt of litellm or MLflow to go online."""
    monkeypatch.setenv("OPENAI_API_KEY", "anything")
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("MLFLOW_MODEL_CATALOG_URI", "")


@pytest.fixture
def cache(tmp_path):
    with AnswerCache(tmp_path / "answers") as store:
        yield store
