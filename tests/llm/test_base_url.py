"""``llm.base_url`` is honoured by the backends that can use it and refused by the others:
a key is never sent to a public endpoint the user pointed elsewhere."""

from __future__ import annotations

import os

import pytest

from nbjudge.judges.dimension import make_dimension_judge
from nbjudge.judges.requests import JudgeRequest
from nbjudge.llm.backends import BackendConfigError, open_backend
from nbjudge.llm.cache import request_key
from nbjudge.llm.limits import Limits
from nbjudge.rubrics import load_rubric
from testing.fault_server import FaultServer, score
from tests.llm.test_calls import DIMENSION, notebook_text
from tests.llm.test_native import native_config, send

pytestmark = pytest.mark.usefixtures("offline")


def test_llm_openai_sends_its_requests_to_base_url(cache, monkeypatch, tmp_path):
    """Nothing in the environment names the server: only llm.base_url does."""
    for name in ("OPENAI_BASE_URL", "OPENAI_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    with FaultServer(default=score(3, "pipeline fit on train")) as server:
        config = native_config("openai", base_url=server.base_url + "/")
        with open_backend(config, cache_dir=tmp_path / "cache") as backend:
            assert backend.api_base == server.base_url
            params = backend.inference_params()
            judge = make_dimension_judge(load_rubric(DIMENSION), inference_params=params,
                                         **backend.judge_kwargs())
            requests = [JudgeRequest(
                notebook_id=f"nb{i}", dimension=DIMENSION, variant="baseline",
                key=request_key(model=backend.judge_model, instructions=judge.instructions,
                                outputs=notebook_text(i), inference_params=params),
                prompt_tokens=500, payload=(judge, notebook_text(i))) for i in range(2)]
            outcomes = send(requests, cache, Limits())
        assert server.count == 2
    assert [outcome.details["value"] for outcome in outcomes] == [3, 3]
    assert "OPENAI_BASE_URL" not in os.environ, "the setting outlived its backend"


@pytest.mark.parametrize(("backend", "where"), [
    ("anthropic", "sends its requests to Anthropic's API"),
    ("databricks", "sends its requests to the workspace in DATABRICKS_HOST"),
    ("local", "starts its own server on a free port"),
])
def test_a_backend_that_cannot_use_base_url_refuses_it(backend, where):
    with pytest.raises(BackendConfigError) as info:
        native_config(backend, base_url="http://gateway.internal/v1")
    assert str(info.value) == (
        f"llm.base_url is set (http://gateway.internal/v1) but llm={backend} {where}: for a "
        "gateway or proxy that speaks OpenAI's API use llm=openai (its base_url is honoured) "
        "or llm=openai_compatible; otherwise -S llm.base_url=null")
