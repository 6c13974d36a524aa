"""generate=llm against a scripted OpenAI-compatible server: notebooks, provenance, cache, retries.

Every test points the writer at :class:`FaultServer` and counts the requests it saw.
"""

import json
from pathlib import Path

import nbformat
import pytest

from nbjudge.benchmark.suites import build_cases
from nbjudge.config import compose_params
from nbjudge.errors import ConfigError
from nbjudge.llm.backends import BackendConfigError, LLMConfig
from nbjudge.llm.calls import RetryPolicy
from nbjudge.schemas import GenerationAttempt, Notebook, read_records
from nbjudge.writer import WriterSettings, write_notebooks, writer_config
from testing.fault_server import FaultServer, rate_limited, reply, server_error
from testing.stage_runs import run_stage_command

ROOT = Path(__file__).resolve().parents[2]


SUITE = """
suite: tiny
cases:
  - case_id: titanic_survival
    prompt: I have passenger data in the tables titanic_train and titanic_test. Who survived?
    task_type: binary
    dataset: {name: titanic, rows: 120, missing_rate: 0.1, missing_mechanism: MAR}
    notebooks: 1
  - case_id: wine_cultivar
    prompt: Classify the wines in wine_test by cultivar, using wine_train.
    task_type: multiclass
    dataset: {name: wine}
    notebooks: 1
"""
CELLS = {"cells": [
    {"cell_type": "markdown", "source": "# Load the data"},
    {"cell_type": "code", "source": "import pandas as pd\ntrain = pd.read_csv('wine_train.csv')"},
    {"cell_type": "code", "source": "print(train.shape)"},
]}
GOOD = json.dumps(CELLS)
FAST = RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.05)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cases")
    (folder / "tiny.yaml").write_text(SUITE)
    return build_cases(folder / "tiny.yaml", 0, folder / "datasets"), folder / "datasets"


def config_for(server, structured_output="json_schema", **extra) -> LLMConfig:
    return writer_config({
        "backend": "openai_compatible", "model": "fault-model", "base_url": server.base_url,
        "context_size": 8192, "notebook_tokens": 300, "concurrency": 2, "timeout": 10,
        "max_retries": 2, "temperature": 0.0, "max_output_tokens": 60,
        "rationale_max_chars": 80, "structured_output": structured_output, **extra,
    }, None, 1024)


def settings_for(tmp_path, **extra) -> WriterSettings:
    values = {"notebooks_per_case": 2, "temperature": 0.7, "seed": 42,
              "template": str(ROOT / "prompts/notebook_writer.yaml"),
              "cache_dir": str(tmp_path / "cache")}
    return WriterSettings(**{**values, **extra})


def run(cases, tmp_path, server, *, settings=None, config=None):
    case_list, datasets = cases
    return write_notebooks(case_list, settings or settings_for(tmp_path),
                           config or config_for(server), out_dir=tmp_path / "generated",
                           datasets_dir=datasets, root=tmp_path, retry=FAST, progress=False)


@pytest.mark.slow
def test_a_run_writes_notebooks_and_index_with_provenance(cases, tmp_path):
    with FaultServer(default=reply(GOOD)) as server:
        result = run(cases, tmp_path, server)
        assert server.count == 4
        bodies = server.bodies
    assert [n.notebook_id for n in result.notebooks] == [
        "titanic_survival__01", "titanic_survival__02", "wine_cultivar__01", "wine_cultivar__02"]
    for entry in result.notebooks:
        assert entry.origin == "llm"
        Notebook.model_validate(entry.model_dump())
        path = tmp_path / entry.path
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        assert [c.cell_type for c in notebook.cells] == ["markdown", "code", "code"]
        assert notebook.metadata["nbjudge"]["prompt"].startswith(("I have", "Classify"))
        g = entry.generation
        assert g.model == "hosted_vllm/fault-model" and g.backend == "openai_compatible"
        assert len(g.prompt_sha256) == 64 and g.template.endswith("notebook_writer.yaml")
        assert g.temperature == 0.7 and g.seed == 42 + g.sample - 1
        assert g.tokens_in > 0 and g.tokens_out > 0 and g.latency_s >= 0
        assert g.answer_format == "json" and not g.truncated and g.max_output_tokens == 1024
    assert all(a.status == "ok" and a.raw == GOOD and a.cells == 3 for a in result.attempts)
    # What was asked: the JSON schema, the seed, the cap, the task and the tables' schema.
    body = bodies[0]
    assert body["response_format"]["json_schema"]["name"] == "notebook"
    assert body["max_tokens"] == 1024 and body["temperature"] == 0.7
    assert sorted(b["seed"] for b in bodies) == [42, 42, 43, 43]
    system, user = (m["content"] for m in body["messages"])
    assert "MLflow" in system and "%pip install" in system and '{"cells"' in system
    assert "Who survived?" in user or "cultivar" in user
    titanic = next(b for b in bodies if "titanic" in b["messages"][1]["content"])
    user = titanic["messages"][1]["content"]
    assert "titanic_train.csv" in user and "titanic_test.csv" in user
    assert "(int64)" in user or "(float64)" in user
    assert "First 3 rows" in user


@pytest.mark.slow
def test_a_rerun_sends_nothing_and_writes_the_same_bytes(cases, tmp_path):
    with FaultServer(default=reply(GOOD)) as server:
        first = run(cases, tmp_path, server)
        sent = server.count
        texts = {n.notebook_id: (tmp_path / n.path).read_bytes() for n in first.notebooks}
        second = run(cases, tmp_path, server)
        assert server.count == sent == 4
    assert second.summary.cached == 4 and second.summary.sent == 0
    assert [n.model_dump() for n in second.notebooks] == [n.model_dump() for n in first.notebooks]
    assert {n.notebook_id: (tmp_path / n.path).read_bytes() for n in second.notebooks} == texts


@pytest.mark.slow
def test_a_rerun_with_nothing_missing_opens_no_backend(cases, tmp_path, monkeypatch):
    with FaultServer(default=reply(GOOD)) as server:
        run(cases, tmp_path, server)
    # The server is gone; a rerun answers from the cache alone.
    import nbjudge.llm.backends as backends

    # the backend is opened in one place, for judging and writing alike
    monkeypatch.setattr(backends, "open_backend", lambda *a, **k: pytest.fail("opened"))
    result = run(cases, tmp_path, server)
    assert len(result.notebooks) == 4


@pytest.mark.slow
def test_a_rate_limit_is_retried_then_answered(cases, tmp_path):
    settings = settings_for(tmp_path, notebooks_per_case=1)
    with FaultServer([rate_limited(retry_after=0)], default=reply(GOOD)) as server:
        result = run(cases, tmp_path, server, settings=settings,
                     config=config_for(server, concurrency=1))
        assert server.count == 3
    assert result.summary.sent == 3
    assert [a.status for a in result.attempts] == ["ok", "ok"]


@pytest.mark.slow
def test_an_unusable_answer_is_a_failed_generation_with_the_raw_text(cases, tmp_path):
    garbage = "I am a small model and I like turtles."
    settings = settings_for(tmp_path, notebooks_per_case=1)
    with FaultServer(lambda i, body: reply(garbage if "titanic" in json.dumps(body) else GOOD)
                     ) as server:
        result = run(cases, tmp_path, server, settings=settings)
        again = run(cases, tmp_path, server, settings=settings)
        assert server.count == 2   # the garbage is the model's answer: cached like any other
    [failed] = [a for a in result.attempts if a.status == "failed"]
    assert failed.notebook_id == "titanic_survival__01" and failed.raw == garbage
    assert failed.error.startswith("unusable answer") and failed.cells == 0
    assert failed.generation.answer_format is None and failed.generation.tokens_out > 0
    assert [n.notebook_id for n in result.notebooks] == ["wine_cultivar__01"]
    assert not (tmp_path / "generated/titanic_survival__01.ipynb").exists()
    assert [a.model_dump() for a in again.attempts] == [a.model_dump() for a in result.attempts]
    GenerationAttempt.model_validate(failed.model_dump())


@pytest.mark.slow
def test_a_truncated_answer_keeps_its_complete_cells_and_is_flagged(cases, tmp_path):
    cut = GOOD[: GOOD.index("print(train")]
    settings = settings_for(tmp_path, notebooks_per_case=1)
    with FaultServer(default=reply(cut)) as server:
        result = run(cases, tmp_path, server, settings=settings)
    for attempt, entry in zip(result.attempts, result.notebooks, strict=True):
        assert attempt.status == "ok" and attempt.cells == 2 and attempt.raw == cut
        assert "ends inside cell 3" in attempt.error
        assert entry.generation.truncated
        assert len(nbformat.read(tmp_path / entry.path, as_version=4).cells) == 2


@pytest.mark.slow
def test_a_backend_error_past_the_retries_is_a_failed_generation_not_cached(cases, tmp_path):
    settings = settings_for(tmp_path, notebooks_per_case=1)
    with FaultServer(lambda i, body: server_error()) as server:
        result = run(cases, tmp_path, server, settings=settings,
                     config=config_for(server, concurrency=1))
        assert server.count == 2 * (FAST.max_retries + 1)
    assert result.notebooks == []
    for attempt in result.attempts:
        assert attempt.status == "failed" and attempt.raw is None
        assert attempt.error.startswith("gave up after 3 attempts")
    with FaultServer(default=reply(GOOD)) as server:   # the next run asks again
        result = run(cases, tmp_path, server, settings=settings)
        assert server.count == 2
    assert len(result.notebooks) == 2


@pytest.mark.slow
def test_without_json_schema_the_writer_is_asked_for_fenced_blocks(cases, tmp_path):
    answer = "Load:\n```python\nimport pandas as pd\n```\nDone."
    settings = settings_for(tmp_path, notebooks_per_case=1)
    with FaultServer(default=reply(answer)) as server:
        result = run(cases, tmp_path, server, settings=settings,
                     config=config_for(server, structured_output="none"))
        body = server.bodies[0]
    assert "response_format" not in body
    assert "```python" in body["messages"][0]["content"]
    assert all(n.generation.answer_format == "fenced" for n in result.notebooks)
    notebook = nbformat.read(tmp_path / result.notebooks[0].path, as_version=4)
    assert [c.cell_type for c in notebook.cells] == ["markdown", "code", "markdown"]


@pytest.mark.slow
def test_temperatures_and_seeds_per_sample(cases, tmp_path):
    settings = settings_for(tmp_path, notebooks_per_case=3, temperatures=(0.2, 1.0),
                            seeds=(7, 8, 9))
    with FaultServer(default=reply(GOOD)) as server:
        result = run(cases, tmp_path, server, settings=settings)
        sent = sorted((b["temperature"], b["seed"]) for b in server.bodies)
    assert sent == sorted([(0.2, 7), (1.0, 8), (0.2, 9)] * 2)
    assert [(n.generation.temperature, n.generation.seed) for n in result.notebooks[:3]] == [
        (0.2, 7), (1.0, 8), (0.2, 9)]
    with pytest.raises(ConfigError, match="one seed per notebook"):
        settings_for(tmp_path, notebooks_per_case=4, seeds=(1, 2)).sample_settings(3)


def test_the_writer_is_the_llm_group_unless_generate_writer_says_otherwise():
    llm = {"backend": "local", "model": "smollm2-135m-instruct", "smoke": True,
           "base_url": None, "api_key_env": None, "context_size": 8192,
           "notebook_tokens": 200, "concurrency": 1, "timeout": 180, "max_retries": 4,
           "temperature": 0.0, "max_output_tokens": 60, "rationale_max_chars": 80,
           "structured_output": "json_schema"}
    same = writer_config(llm, None, 1536)
    assert same.backend == "local" and same.max_output_tokens == 1536
    other = writer_config(llm, {"backend": "openai", "model": "gpt-4o-mini"}, 1536)
    assert other.backend == "openai" and other.model == "gpt-4o-mini"
    assert not other.smoke and other.structured_output == "json_schema"
    with pytest.raises(BackendConfigError, match="no model"):
        writer_config(llm, {"backend": "anthropic"}, 1536)
    with pytest.raises(BackendConfigError, match="base_url"):
        writer_config(llm, {"backend": "openai_compatible", "model": "m"}, 1536)


# -- the stages ------------------------------------------------------------------------------
@pytest.mark.slow
def test_stage_generate_llm_writes_index_log_and_an_empty_blueprint(tmp_path, monkeypatch):
    (tmp_path / "data/suites").mkdir(parents=True)
    (tmp_path / "data/suites/tiny.yaml").write_text(SUITE)
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts/notebook_writer.yaml").write_text(
        (ROOT / "prompts/notebook_writer.yaml").read_text())
    garbage = "no notebook here"
    with FaultServer(lambda i, body: reply(garbage if "titanic" in json.dumps(body) else GOOD)
                     ) as server:
        compose_params(tmp_path / "params.yaml", [
            "suite.name=tiny", "suite.path=data/suites/tiny.yaml", "generate=llm",
            "llm=openai_compatible", "llm.model=fault-model", f"llm.base_url={server.base_url}",
            "generate.notebooks_per_case=1"], ROOT / "conf")
        assert run_stage_command(tmp_path, "cases").returncode == 0
        result = run_stage_command(tmp_path, "generate")
        assert result.returncode == 0, result.stderr
        assert server.count == 2
        assert "1 of 2 notebooks written (1 failed" in result.stdout
        assert "titanic_survival__01: failed: unusable answer" in result.stdout
        assert run_stage_command(tmp_path, "generate").returncode == 0
        assert server.count == 2   # the rerun asked nothing
    index = read_records(tmp_path / "data/notebooks/index.jsonl", Notebook)
    assert [(n.notebook_id, n.origin) for n in index] == [("wine_cultivar__01", "llm")]
    log = read_records(tmp_path / "data/notebooks/generation.jsonl", GenerationAttempt)
    assert [(a.notebook_id, a.status) for a in log] == [
        ("titanic_survival__01", "failed"), ("wine_cultivar__01", "ok")]
    assert log[0].raw == garbage
    assert (tmp_path / "data/blueprint/blueprint.jsonl").read_text() == ""
    labels = run_stage_command(tmp_path, "label")
    assert labels.returncode != 0
    assert "generate=llm has no blueprint: use labels=file with expert labels" in labels.stderr
