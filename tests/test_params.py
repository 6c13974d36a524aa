"""params.yaml is composed from conf/, never edited by hand."""

from pathlib import Path

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
    assert "api_key" not in text and "sk-" not in text
