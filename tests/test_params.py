"""params.yaml is composed from conf/, never edited by hand, and validated as a whole by
one typed model whichever stage reads it."""

import copy
import importlib
import re
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest
import yaml

from nbjudge import params as typed
from nbjudge.config import ConfigError, compose_params
from nbjudge.llm.config import BackendConfigError
from nbjudge.params import load_params, validate_params


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


# The typed model of params.yaml (nbjudge.params): every section, whichever stage reads it.

COMMITTED = yaml.safe_load(Path("params.yaml").read_text(encoding="utf-8"))


def _refused(mapping) -> str:
    with pytest.raises(ConfigError) as caught:
        validate_params(mapping)
    return str(caught.value)


def test_the_committed_params_validate_with_typed_values():
    params = validate_params(COMMITTED)
    assert params.seed == 42 and isinstance(params.seed, int)
    assert params.stats.bootstrap.n_resamples == 10_000
    assert params.stats.contrasts[0] == ("baseline", "majority")
    assert params.memalign.retrieval_k == 1
    assert params.llm.backend == "local"
    assert params.labels.source == "panel" and params.labels.panel.raters == 4
    assert params.generate.backend == "procedural"
    assert params.generate.levels.default == (0.3, 0.3, 0.4)


@pytest.mark.parametrize("section", sorted(k for k, v in COMMITTED.items() if isinstance(v, dict)))
def test_an_unknown_key_is_refused_in_every_section(section):
    mapping = copy.deepcopy(COMMITTED)
    mapping[section]["zz_unknown"] = 1
    assert f"unknown key `{section}.zz_unknown`" in _refused(mapping)


@pytest.mark.parametrize(("path", "typo", "meant"), [
    (("stats", "bootstrap"), "n_resample", "n_resamples"),
    (("execute", "limits"), "memroy_mb", "memory_mb"),
    (("labels", "panel"), "rater", "raters"),
    (("llm",), "modle", "model"),
    ((), "sede", "seed"),
    (("generate", "levels"), "defautl", "default"),
])
def test_a_misspelt_key_names_its_path_and_what_it_meant(path, typo, meant):
    mapping = copy.deepcopy(COMMITTED)
    section = mapping
    for part in path:
        section = section[part]
    section[typo] = section.pop(meant)
    dotted = ".".join((*path, typo))
    assert f"unknown key `{dotted}`: did you mean `{meant}`?" in _refused(mapping)


@pytest.mark.parametrize(("path", "value", "message"), [
    (("seed",), "forty-two", "`seed`: Input should be a valid integer"),
    (("stats", "bootstrap", "n_resamples"), "many", "`stats.bootstrap.n_resamples`: Input should"),
    (("stats", "significance"), "tset", "`stats.significance`: Input should be 'test'"),
    (("cv", "k"), 1, "`cv.k`: Input should be greater than or equal to 2"),
    (("curve", "fractions"), [0.5, 1.5], "`curve.fractions.1`: Input should be less than"),
    (("execute", "sandbox"), "docker", "`execute.sandbox`: Input should be 'bwrap' or 'none'"),
    (("generate", "levels", "default"), [0.5, 0.5, 0.5], "summing to 1"),
    (("labels", "panel", "noise", "data_exploraton"), {"down": 0.1, "up": 0.1},
     "unknown dimension `data_exploraton`: did you mean `data_exploration`?"),
    (("memalign", "retrieval_k"), 0, "`memalign.retrieval_k`: Input should be greater"),
])
def test_a_wrong_value_is_refused_with_its_dotted_path(path, value, message):
    mapping = copy.deepcopy(COMMITTED)
    section = mapping
    for part in path[:-1]:
        section = section[part]
    section[path[-1]] = value
    assert message in _refused(mapping)


def test_a_section_of_another_option_is_checked_against_that_option():
    mapping = copy.deepcopy(COMMITTED)
    mapping["labels"] = {"source": "file", "path": "x.csv", "input": "x.csv", "panel": {}}
    assert "unknown key `labels.panel` (known here: input, path, source)" in _refused(mapping)
    mapping["labels"] = {"source": "spreadsheet", "path": "x.csv"}
    assert "`labels`: Input tag 'spreadsheet'" in _refused(mapping)


def test_every_stage_checks_every_section(tmp_path):
    """A typo in a section the stage does not read still stops it."""
    mapping = copy.deepcopy(COMMITTED)
    mapping["execute"]["wokers"] = 4
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(mapping))
    with pytest.raises(ConfigError, match=r"`execute.wokers`: did you mean `workers`\?"):
        load_params(tmp_path / "params.yaml", "stats", "seed")


def test_a_missing_section_is_named(tmp_path):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"seed": 1}))
    assert load_params(tmp_path / "params.yaml", "seed").seed == 1
    with pytest.raises(ConfigError, match="has no stats, cv section: recompose it"):
        load_params(tmp_path / "params.yaml", "seed", "stats", "cv")


OPTIONS = [f"{group.name}={option.stem}" for group in sorted(Path("conf").iterdir())
           if group.is_dir() for option in sorted(group.glob("*.yaml"))]


@pytest.mark.parametrize("override", OPTIONS)
def test_every_option_of_conf_composes_into_valid_params(tmp_path, override):
    out = tmp_path / "params.yaml"
    compose_params(out, [override, *(["llm.base_url=http://gpu:8000/v1", "llm.model=m"]
                                     if override == "llm=openai_compatible" else [])], "conf")
    load_params(out)


def test_a_mandatory_llm_value_left_unset_is_refused(tmp_path):
    out = tmp_path / "params.yaml"
    compose_params(out, ["llm=openai_compatible"], "conf")
    with pytest.raises(BackendConfigError, match=r"llm.model and llm.base_url must be set"):
        load_params(out)


@pytest.mark.parametrize(("choice", "constant"), [
    (typed.NaPolicy, "nbjudge.stats._checks:NA_POLICIES"),
    (typed.NaRule, "nbjudge.stats._checks:NA_RULES"),
    (typed.FailurePolicy, "nbjudge.stats._checks:FAILURE_POLICIES"),
    (typed.Significance, "nbjudge.stats.experiment:SIGNIFICANCE_RULES"),
    (typed.BootstrapMethod, "nbjudge.stats.bootstrap:METHODS"),
    (typed.Alternative, "nbjudge.stats.permutation:ALTERNATIVES"),
    (typed.Correction, "nbjudge.stats.permutation:CORRECTIONS"),
    (typed.ExecuteMode, "nbjudge.notebooks.batch:MODES"),
    (typed.EnvironmentFailure, "nbjudge.notebooks.batch:ENVIRONMENT_FAILURE_POLICIES"),
    (typed.ExecutionEngine, "nbjudge.notebooks.batch:ENGINES"),
    (typed.SandboxMode, "nbjudge.notebooks.execute:_MODES"),
    (typed.ControlVariant, "nbjudge.controls:CONTROL_VARIANTS"),
    (typed.CurveVariant, "nbjudge.alignment.curve:CURVE_VARIANTS"),
    (typed.MemoryVariant, "nbjudge.alignment.memalign:MEMORY_VARIANTS"),
])
def test_the_choices_are_the_libraries_own(choice, constant):
    module, name = constant.split(":")
    assert set(get_args(choice)) == set(getattr(importlib.import_module(module), name))


def test_loading_the_parameters_loads_no_model_client():
    code = ("import sys, nbjudge.params; "
            "print(sorted(m for m in ('litellm', 'mlflow', 'dspy', 'openai', 'pandas') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_the_defaults_of_a_section_are_the_libraries_own():
    """A small params file leaves keys out; the section's default must then be what the
    library would have used."""
    from nbjudge.benchmark.panel import panel_config
    from nbjudge.notebooks.execute import SandboxLimits
    from nbjudge.stats import StatsConfig
    from nbjudge.writer import WriterSettings

    assert StatsConfig.from_mapping(typed.StatsParams().model_dump(exclude_none=True)) == (
        StatsConfig())
    assert SandboxLimits(**typed.LimitParams().model_dump()) == SandboxLimits()
    assert WriterSettings.from_params(typed.LlmGenerateParams(backend="llm", input="x"),
                                      seed=0) == WriterSettings(seed=0)
    assert panel_config(**typed.PanelParams().model_dump(exclude_none=True)) == panel_config()
