"""The ``llm`` settings: validation, credentials, the conf/llm files and the request params."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from nbjudge.config import compose_params, read_params_mapping
from nbjudge.llm.backends import (
    Backend,
    BackendConfigError,
    LLMConfig,
    check_credentials,
    open_backend,
    result_schema,
)

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf" / "llm"
SECRET = "sk-test-0123456789-do-not-leak"


def conf(name: str) -> dict:
    return OmegaConf.to_container(OmegaConf.load(CONF / f"{name}.yaml"))


def compatible(**changes) -> dict:
    return {**conf("openai_compatible"), "model": "qwen", "base_url": "http://gpu:8000/v1",
            **changes}


# -- validation ------------------------------------------------------------------------
@pytest.mark.parametrize(("changes", "field"), [
    ({"context_size": 10}, "llm.context_size"),
    ({"concurrency": 0}, "llm.concurrency"),
    ({"timeout": -1}, "llm.timeout"),
    ({"backend": "gpt"}, "llm.backend"),
    ({"structured_output": "xml"}, "llm.structured_output"),
    ({"colour": "blue"}, "llm.colour"),
])
def test_invalid_settings_name_the_field(changes, field):
    with pytest.raises(BackendConfigError) as caught:
        LLMConfig.from_mapping({**conf("local"), **changes})
    message = str(caught.value)
    assert field in message
    assert "conf/llm" in message


def test_a_missing_setting_is_named():
    mapping = conf("local")
    del mapping["timeout"]
    with pytest.raises(BackendConfigError, match=r"llm\.timeout"):
        LLMConfig.from_mapping(mapping)


def test_openai_compatible_without_a_base_url_says_how_to_give_one():
    with pytest.raises(BackendConfigError) as caught:
        LLMConfig.from_mapping(compatible(base_url=None))
    message = str(caught.value)
    assert "llm=openai_compatible" in message
    assert "-S llm.base_url=http://HOST:PORT/v1" in message


# -- the files of conf/llm -------------------------------------------------------------
@pytest.mark.parametrize("name", ["local", "openai", "anthropic", "databricks"])
def test_every_llm_file_loads(name):
    from nbjudge.judges.batch import notebook_budget

    config = LLMConfig.from_mapping(conf(name))
    assert config.backend == name
    # Room for the notebook, the rubric and five retrieved examples of the same size.
    assert 100 <= 6 * notebook_budget(config, retrieval_k=5) < config.context_size


def test_every_llm_file_is_covered():
    assert {p.stem for p in CONF.glob("*.yaml")} == {
        "local", "openai", "anthropic", "databricks", "openai_compatible"}


def test_openai_compatible_loads_with_its_address_and_model():
    config = LLMConfig.from_mapping(compatible())
    assert (config.model, config.base_url) == ("qwen", "http://gpu:8000/v1")


def test_openai_compatible_file_left_unfilled_is_a_clear_error():
    with pytest.raises(BackendConfigError) as caught:
        LLMConfig.from_mapping(conf("openai_compatible"))
    message = str(caught.value)
    assert "llm.model and llm.base_url must be set" in message
    assert "-S llm.model=... -S llm.base_url=..." in message


def test_composed_without_overrides_the_mandatory_values_are_a_clear_error(tmp_path):
    compose_params(tmp_path / "params.yaml", ["llm=openai_compatible"], ROOT / "conf")
    llm = read_params_mapping(tmp_path / "params.yaml")["llm"]
    with pytest.raises(BackendConfigError, match=r"llm\.model and llm\.base_url must be set"):
        LLMConfig.from_mapping(llm)

    compose_params(tmp_path / "params.yaml", ["llm=openai_compatible", "llm.model=qwen",
                                              "llm.base_url=http://gpu:8000/v1"], ROOT / "conf")
    llm = read_params_mapping(tmp_path / "params.yaml")["llm"]
    assert LLMConfig.from_mapping(llm).base_url == "http://gpu:8000/v1"


@pytest.mark.parametrize(("overrides", "expected"), [
    (["llm=openai_compatible"], "llm.model and llm.base_url must be set (??? in "
     "conf/llm/openai_compatible.yaml): pass -S llm.model=... -S llm.base_url=..."),
    (["llm=openai_compatible", "llm.model=qwen", "llm.base_url=null"],
     "llm=openai_compatible needs the server's address: -S llm.base_url=http://HOST:PORT/v1 "
     "(and -S llm.model=NAME)"),
    (["llm.base_url=http://gateway.internal/v1"],
     "llm.base_url is set (http://gateway.internal/v1) but llm=local starts its own server on "
     "a free port: for a gateway or proxy that speaks OpenAI's API use llm=openai (its "
     "base_url is honoured) or llm=openai_compatible; otherwise -S llm.base_url=null"),
])
def test_the_whole_params_model_makes_the_llm_checks_across_fields(tmp_path, overrides,
                                                                    expected):
    """Validating params.yaml as a whole runs LLMConfig's own checks, with the same message
    as the section alone (no second pass over the llm section)."""
    from nbjudge.params import Params, load_params

    compose_params(tmp_path / "params.yaml", overrides, ROOT / "conf")
    mapping = read_params_mapping(tmp_path / "params.yaml")
    for validate in (lambda: Params.model_validate(mapping),
                     lambda: load_params(tmp_path / "params.yaml"),
                     lambda: LLMConfig.from_mapping(mapping["llm"])):
        with pytest.raises(BackendConfigError) as caught:
            validate()
        assert str(caught.value) == expected


# -- credentials ------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "variables"), [
    ("openai", ["OPENAI_API_KEY"]),
    ("anthropic", ["ANTHROPIC_API_KEY"]),
    ("databricks", ["DATABRICKS_HOST", "DATABRICKS_TOKEN"]),
])
def test_a_missing_key_names_the_variable(name, variables):
    config = LLMConfig.from_mapping(conf(name))
    with pytest.raises(BackendConfigError) as caught:
        check_credentials(config, environ={})
    message = str(caught.value)
    for variable in variables:
        assert variable in message
    assert f"export {variables[0]}=..." in message
    assert "never written to params.yaml" in message
    check_credentials(config, environ=dict.fromkeys(variables, SECRET))  # set: no error


def test_only_the_missing_variable_is_named():
    config = LLMConfig.from_mapping(conf("databricks"))
    with pytest.raises(BackendConfigError) as caught:
        check_credentials(config, environ={"DATABRICKS_HOST": "https://example"})
    assert "needs DATABRICKS_TOKEN in the environment" in str(caught.value)


def test_local_and_openai_compatible_need_no_key():
    check_credentials(LLMConfig.from_mapping(conf("local")), environ={})
    check_credentials(LLMConfig.from_mapping(compatible()), environ={})


def test_no_secret_is_part_of_the_settings(monkeypatch):
    for variable in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "DATABRICKS_TOKEN",
                     "OPENAI_COMPATIBLE_API_KEY"):
        monkeypatch.setenv(variable, SECRET)
    for name in ("openai", "anthropic", "databricks"):
        config = LLMConfig.from_mapping(conf(name))
        dumped = json.dumps(config.model_dump())
        assert SECRET not in dumped
        assert config.api_key_env in dumped  # the variable's name, not its value
        backend = Backend(config, f"{name}:/{config.model}", None, f"{name}/{config.model}",
                          None)
        assert SECRET not in json.dumps([backend.inference_params(), backend.judge_kwargs()])


@pytest.mark.slow
def test_an_opened_backend_keeps_the_key_in_the_environment_only(tmp_path, monkeypatch):
    monkeypatch.setenv("HOSTED_VLLM_API_KEY", "the caller's own")
    config = LLMConfig.from_mapping(compatible(api_key_env="MY_SERVER_KEY"))
    with open_backend(config, cache_dir=tmp_path, environ={"MY_SERVER_KEY": SECRET}) as backend:
        assert os.environ["HOSTED_VLLM_API_KEY"] == SECRET  # where litellm reads it
        assert backend.judge_kwargs() == {"model": "hosted_vllm:/qwen",
                                          "base_url": "http://gpu:8000/v1"}
        visible = json.dumps([config.model_dump(), backend.inference_params(),
                              backend.judge_kwargs(), backend.litellm_model, backend.api_base])
        assert SECRET not in visible
    assert os.environ["HOSTED_VLLM_API_KEY"] == "the caller's own"  # restored on exit


@pytest.mark.slow
def test_a_closed_backend_leaves_the_process_as_it_found_it(tmp_path):
    """Environment and litellm's callbacks are the backend's only while it is open; its
    limits and token counts are its own, not the process's."""
    import litellm

    callbacks = litellm.logging_callback_manager.get_all_callbacks
    environment, registered, listed = dict(os.environ), callbacks(), len(litellm.callbacks)
    config = LLMConfig.from_mapping(compatible(max_requests=5))
    with open_backend(config, cache_dir=tmp_path) as first:
        assert os.environ["HOSTED_VLLM_API_BASE"] == "http://gpu:8000/v1"
        assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
        assert len(litellm.callbacks) == listed + 1    # its usage log
        with open_backend(config, cache_dir=tmp_path) as second:
            assert second.limits is not first.limits and second.usage is not first.usage
            assert second.limits.budget.max_requests == 5
    assert dict(os.environ) == environment
    assert callbacks() == registered


# -- what every request carries -------------------------------------------------------
def backend(**changes) -> Backend:
    config = LLMConfig.from_mapping({**conf("local"), **changes})
    return Backend(config, "hosted_vllm:/m", "http://127.0.0.1:1/v1", "hosted_vllm/m",
                   "http://127.0.0.1:1/v1")


def test_inference_params_switch_off_client_retries_and_ask_for_the_schema():
    params = backend(rationale_max_chars=120, timeout=42).inference_params()
    assert params["num_retries"] == 0
    assert params["retry_policy"] and set(params["retry_policy"].values()) == {0}
    assert params["timeout"] == 42
    assert params["temperature"] == 0.0
    assert params["max_tokens"] == 60
    assert params["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "judgment", "strict": True, "schema": result_schema(120)},
    }


def test_without_structured_output_no_schema_is_sent():
    assert "response_format" not in backend(structured_output="none").inference_params()


def test_the_schema_puts_the_score_before_a_bounded_rationale():
    schema = result_schema(80)
    assert list(schema["properties"]) == ["result", "rationale"]
    assert schema["required"] == ["result", "rationale"]
    assert schema["properties"]["result"] == {"enum": [1, 2, 3, "N/A"]}
    assert schema["properties"]["rationale"]["maxLength"] == 80
    assert schema["additionalProperties"] is False
