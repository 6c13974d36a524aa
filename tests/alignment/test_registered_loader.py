"""The one loader of registered judges (compare-judge, the robustness suite, `nbjudge score`):
checked against the record, bound with a cache key, and their memory quoted as data.

A judge loaded from the store is MLflow's own MemoryAugmentedJudge, which pastes its
guidelines and retrieved examples into its prompt unmarked; the loader marks it as the
aligned judge was (``mark_memory``), and the answer cache key says so.
"""

from __future__ import annotations

import pytest

from nbjudge.alignment.final import registered_dimension_judges
from nbjudge.alignment.memalign import memory_marking
from nbjudge.errors import InputError
from nbjudge.llm.backends import LLMConfig
from nbjudge.llm.cache import request_key
from testing.fault_server import FaultServer
from tests.alignment.test_registered import (
    DIMENSION,
    EXPERIMENT,
    NOTEBOOKS,
    _llm,
    _register,
    _script,
    store,  # noqa: F401  (the fixture)
)

pytestmark = pytest.mark.slow   # a scripted alignment and registration


def test_loaded_judges_are_checked_keyed_and_marked(store):  # noqa: F811
    with FaultServer(_script) as server:
        registration = _register(store, server)
        llm = LLMConfig.from_mapping(_llm(server.base_url))
    settings = {"tracking_uri": store["uri"], "experiment": EXPERIMENT}
    path = store["tmp"] / "judges.json"
    loaded = registered_dimension_judges(llm, settings, path)
    (entry,) = registration.judges
    assert loaded.examples == {DIMENSION: NOTEBOOKS} and loaded.embeddings
    judge = loaded.judges[DIMENSION]
    assert memory_marking(judge.judge) == "marked"
    assert judge.memory is not None and judge.memory["marking"] == "marked"
    assert judge.memory["registered"] == f"{entry.name}@{entry.digest or entry.version}"
    assert sorted(judge.memory["episodic_ids"]) == sorted(store["traces"])   # by notebook
    assert judge.examples_per_prompt == NOTEBOOKS

    plain = registered_dimension_judges(llm, settings, path, marked=False).judges[DIMENSION]
    assert memory_marking(plain.judge) == "plain" and plain.memory["marking"] == "plain"

    def key(j):
        return request_key(model="m", instructions=j.instructions, outputs="x",
                           memory=j.memory)

    assert key(judge) != key(plain)   # the two are asked (and cached) apart
    # a dimension the record does not name is left out
    assert registered_dimension_judges(llm, settings, path, ["model_use"]).judges == {}
    with pytest.raises(InputError, match="no registration record; do this"):
        registered_dimension_judges(llm, settings, store["tmp"] / "none.json",
                                    missing="do this")
