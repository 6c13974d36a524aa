"""params.yaml is composed from conf/, never edited by hand."""

import re
from pathlib import Path

import pytest
import yaml

from nbjudge.config import compose_params


def test_params_yaml_equals_a_fresh_compose(tmp_path):
    fresh = tmp_path / "params.yaml"
    compose_params(fresh, [], "conf")
    committed = Path("params.yaml").read_text(encoding="utf-8")
    assert committed == fresh.read_text(encoding="utf-8"), (
        "params.yaml differs from conf/: run `make params` and commit the result"
    )


def test_overrides_compose_like_dvc_exp_run(tmp_path):
    out = tmp_path / "params.yaml"
    compose_params(out, ["suite=bench50", "seed=7", "labels=file"], "conf")
    params = yaml.safe_load(out.read_text())
    assert params["suite"]["path"] == "data/suites/bench50.yaml"
    assert params["generate"]["input"] == "data/suites/bench50.yaml"
    assert params["seed"] == 7
    assert params["labels"]["input"] == params["labels"]["path"]


def test_bad_override_is_a_clear_error(tmp_path):
    import pytest

    from nbjudge.config import ConfigError

    with pytest.raises(ConfigError, match="cannot compose conf/"):
        compose_params(tmp_path / "p.yaml", ["suite=nonexistent"], "conf")


def test_no_secret_in_params():
    text = Path("params.yaml").read_text(encoding="utf-8").lower()
    assert "sk-" not in text
    # keys are named by their environment variable, never given a value
    assert all(key.endswith("_env") for key in re.findall(r"(\w*api_key\w*):", text))


@pytest.mark.parametrize("backend", ["openai", "anthropic", "databricks"])
def test_composed_params_never_hold_a_key_from_the_environment(tmp_path, monkeypatch, backend):
    secret = "sk-test-DO-NOT-LEAK-0123456789"
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "DATABRICKS_TOKEN"):
        monkeypatch.setenv(name, secret)
    compose_params(tmp_path / "p.yaml", [f"llm={backend}"], "conf")
    assert secret not in (tmp_path / "p.yaml").read_text(encoding="utf-8")
