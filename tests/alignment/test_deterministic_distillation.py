"""MemAlign distils the same guidelines from the same traces, run after run.

MLflow builds MemAlign's distillation LM with DSPy's defaults: no temperature (the
provider's own, which samples) and batches sent by several threads, their guidelines
kept in the order the replies arrive. :func:`deterministic_distillation` sends every
batch greedy with a fixed seed, one after the other. The scripted server shows the
requests and the order; the smoke model (llama-server, built by
``scripts/build-llama-server.sh``) distils twice in two fresh processes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nbjudge.alignment.memalign import (
    DISTILLATION_SEED,
    DISTILLATION_TEMPERATURE,
    deterministic_distillation,
)
from nbjudge.llm.backends import LLMConfig
from testing.fault_server import FaultServer, reply, score
from testing.scripted_alignment import aligned_judge, is_judge_request, scripted_experiment

ROOT = Path(__file__).resolve().parents[2]
DIMENSION = "data_imputation"
pytestmark = pytest.mark.slow  # real MLflow judges and MemAlign


def _scripted_config(base_url: str) -> LLMConfig:
    # A context this small makes MemAlign put every example in a batch of its own.
    return LLMConfig.from_mapping({
        "backend": "openai_compatible", "model": "scripted", "base_url": base_url,
        "context_size": 5300, "notebook_tokens": 1000, "concurrency": 2, "timeout": 30,
        "max_retries": 0, "temperature": 0.0, "max_output_tokens": 100,
        "rationale_max_chars": 100, "embedding_model": "hashing"})


def _notebook_in(body) -> str:
    """The notebook a one-example distillation batch is about (``Task N`` and its code)."""
    text = body["messages"][-1]["content"]
    task = re.search(r"Task (\d)", text.split("Feedback", 1)[-1])
    code = "fillna" if "fillna" in text else "pipeline"
    return f"task {task.group(1) if task else '?'} {code}"


def _slow_first_batches(index, body):
    """A guideline naming the batch's notebook; the earlier the request, the slower the
    reply, so that batches sent together would come back in reverse."""
    if is_judge_request(body):
        return score(2)
    return reply(json.dumps({"guidelines": [
        {"guideline_text": f"guideline from {_notebook_in(body)}", "source_trace_ids": [0]}]}),
        delay=max(0.0, 0.4 - 0.05 * index))


def test_batches_are_sent_greedy_with_a_seed_one_after_another(tmp_path, monkeypatch):
    from mlflow.genai.judges.optimizers.memalign import utils

    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("MLFLOW_MODEL_CATALOG_URI", "")
    monkeypatch.delenv("MLFLOW_GENAI_OPTIMIZE_MAX_WORKERS", raising=False)
    built = utils.construct_dspy_lm
    experiment = scripted_experiment(tmp_path, "distillation-order", [DIMENSION])
    traces = [experiment.traces[v.notebook_id] for v in experiment.views]
    with FaultServer(_slow_first_batches) as server:
        llm = _scripted_config(server.base_url)
        with aligned_judge(llm, DIMENSION, traces, tmp_path / "cache") as result:
            pass
        distilled = [b for b in server.bodies if not is_judge_request(b)]
    assert len(distilled) > 1, "the small context should give several batches"
    assert all(b.get("temperature") == DISTILLATION_TEMPERATURE for b in distilled)
    assert all(b.get("seed") == DISTILLATION_SEED for b in distilled)
    # Guidelines in the order the batches were sent, not the order the replies came.
    sent = [f"guideline from {_notebook_in(b)}" for b in distilled]
    kept = [g["text"] for g in result.snapshot.guidelines]
    assert kept == list(dict.fromkeys(sent))
    assert utils.construct_dspy_lm is built  # restored
    assert "MLFLOW_GENAI_OPTIMIZE_MAX_WORKERS" not in os.environ


def test_a_provider_without_seed_or_with_fixed_temperature_is_left_as_it_is():
    from mlflow.genai.judges.optimizers.memalign import utils

    with deterministic_distillation():
        anthropic = utils.construct_dspy_lm("anthropic:/claude-3-5-sonnet-20240620")
        reasoning = utils.construct_dspy_lm("openai:/gpt-5")
        chat = utils.construct_dspy_lm("hosted_vllm:/some-model")
    assert anthropic.kwargs["temperature"] == 0.0 and "seed" not in anthropic.kwargs
    assert reasoning.kwargs["temperature"] is None  # OpenAI's reasoning models refuse 0
    assert chat.kwargs["temperature"] == 0.0 and chat.kwargs["seed"] == DISTILLATION_SEED


_DISTIL_ONCE = """
import json, sys
from pathlib import Path
import yaml
from dspy.clients.base_lm import GLOBAL_HISTORY
from nbjudge.alignment.memalign import MemAlignSettings, align_dimension
from nbjudge.judges.batch import attach_judges, baseline_judges
from nbjudge.llm.backends import LLMConfig, open_backend
from nbjudge.offline import offline
from testing.scripted_alignment import scripted_experiment

tmp = Path(sys.argv[1])
with offline():
    experiment = scripted_experiment(tmp, "distil", ["data_imputation"])
    # Two notebooks and a short reply keep one distillation under a minute on 2 cores.
    traces = [experiment.traces[v.notebook_id] for v in experiment.views[:2]]
    settings = yaml.safe_load(Path("conf/llm/local.yaml").read_text())
    llm = LLMConfig.from_mapping(settings | {"reflection_max_tokens": 64})
    with open_backend(llm, embeddings=True, cache_dir=tmp / "cache") as backend:
        judges = baseline_judges(llm, ["data_imputation"])
        attach_judges(judges, backend)
        result = align_dimension(judges["data_imputation"].judge, traces,
                                 settings=MemAlignSettings(retrieval_k=2),
                                 reflection_model=backend.judge_model,
                                 embedding_model=str(backend.embedding_model),
                                 usage=backend.usage)
print(json.dumps({"replies": [entry["outputs"] for entry in GLOBAL_HISTORY],
                  "guidelines": [g["text"] for g in result.snapshot.guidelines]}))
"""


def test_the_smoke_model_distils_the_same_reply_in_two_fresh_processes(tmp_path):
    """Needs the binary from scripts/build-llama-server.sh: fails (not skips) without it.
    Each process starts its own server and has its own MLflow store and DSPy cache, so
    nothing is reused. The raw replies are compared, as the smoke model's rarely parse
    into guidelines (sampled, two replies of 64 tokens would almost never agree)."""
    runs = []
    for name in ("first", "second"):
        folder = tmp_path / name
        folder.mkdir()
        done = subprocess.run([sys.executable, "-c", _DISTIL_ONCE, str(folder)], cwd=ROOT,
                              capture_output=True, text=True, timeout=900,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode == 0, done.stderr[-3000:]
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"\nsmoke model (its content means nothing): {runs[0]}")
    assert runs[0]["replies"] and all(reply for reply in runs[0]["replies"])
    assert runs[0] == runs[1]
