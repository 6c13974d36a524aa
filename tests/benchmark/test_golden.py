"""The procedural generator writes, byte for byte, the notebooks pinned in
golden_notebooks.json (see tests/benchmark/golden.py to regenerate it)."""

import json

import pytest

from . import golden


@pytest.fixture(scope="module")
def pinned():
    return json.loads(golden.GOLDEN.read_text(encoding="utf-8"))


@pytest.mark.slow
@pytest.mark.parametrize("suite", golden.SUITES)
def test_suite_notebooks_match_golden(suite, pinned, tmp_path):
    assert pinned["seed"] == golden.SEED
    assert golden.suite_digests(suite, golden.SEED, tmp_path) == pinned["suites"][suite]


@pytest.mark.slow
def test_seed_sweep_matches_golden(pinned, tmp_path):
    assert golden.sweep_digests(tmp_path) == pinned["sweep"]["digests"]
