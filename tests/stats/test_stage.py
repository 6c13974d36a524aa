"""The `stats` stage on synthetic records in a temporary folder."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from nbjudge.errors import ConfigError
from nbjudge.schemas import JudgeRun, Notebook, write_json_record, write_records
from stages import stats as stage

from ._simulate import records

ROOT = Path(__file__).resolve().parents[2]

LIGHT_PARAMS = {
    "seed": 7,
    "cv": {"k": 4, "repeats": 1},  # another stage's section
    "stats": {"bootstrap": {"n_resamples": 300}, "permutation": {"n_resamples": 99},
              "power": {"n_simulations": 100, "max_notebooks": 200}},
}


@pytest.fixture
def workspace(tmp_path):
    labels, judgments = records(np.random.default_rng(0), n=12, repeats=2)
    write_records(tmp_path / "data/labels/labels.jsonl", labels)
    for variant in ("baseline", "full", "semantic_only"):
        write_records(tmp_path / f"data/judgments/{variant}.jsonl",
                      [j for j in judgments if j.variant == variant])
    # Twelve notebooks in six cases of two: the bootstrap resamples cases.
    write_records(tmp_path / "data/notebooks/index.jsonl", [
        Notebook(notebook_id=f"nb-{i:03d}", case_id=f"case-{i // 2}", path=f"nb-{i:03d}.ipynb",
                 sha256="0" * 64, origin="procedural") for i in range(12)])
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(LIGHT_PARAMS))
    return tmp_path


def run(folder):
    stage.main([
        "--params", str(folder / "params.yaml"),
        "--labels", str(folder / "data/labels/labels.jsonl"),
        "--judgments", str(folder / "data/judgments"),
        "--index", str(folder / "data/notebooks/index.jsonl"),
        "--metrics", str(folder / "reports/metrics.json"),
        "--detail", str(folder / "reports/metrics_detail.json"),
        "--out", str(folder / "reports/stats"),
    ])
    return json.loads((folder / "reports/metrics_detail.json").read_text())


def test_writes_metrics_and_tidy_tables(workspace):
    metrics = run(workspace)
    assert metrics["status"] == "ok"
    assert metrics["mae"]["baseline"]["model_use"]["n_notebooks"] <= 12
    written = sorted(p.stem for p in (workspace / "reports/stats").glob("*.csv"))
    assert written == ["agreement", "ceiling", "confusion", "improvement", "judgments",
                       "labels", "mae", "plot_improvement", "plot_mae", "power", "repeats"]
    improvement = pd.read_csv(workspace / "reports/stats/improvement.csv")
    assert {"ci_low", "ci_high", "p_holm", "p_fdr_bh", "n_notebooks", "ci_method", "ci_level",
            "sample_size", "resampling_unit", "n_units"} <= set(improvement)
    assert metrics["intervals"]["resampling_unit"] == "case"
    assert metrics["intervals"]["n_units"] == 6


def test_same_params_same_bytes(workspace):
    run(workspace)
    first = [(workspace / f"reports/{name}").read_bytes()
             for name in ("metrics.json", "metrics_detail.json")]
    tables = {p.name: p.read_bytes() for p in (workspace / "reports/stats").glob("*.csv")}
    run(workspace)
    assert [(workspace / f"reports/{name}").read_bytes()
            for name in ("metrics.json", "metrics_detail.json")] == first
    assert {p.name: p.read_bytes() for p in (workspace / "reports/stats").glob("*.csv")} == tables


def test_without_judgments_reports_labels_and_ceiling(workspace):
    run(workspace)  # a full run first: its judge tables must not linger
    for path in (workspace / "data/judgments").glob("*.jsonl"):
        path.unlink()
    metrics = run(workspace)
    assert metrics["status"] == "no_judgments"
    assert "no judgments exist yet" in metrics["message"]
    assert sorted(p.stem for p in (workspace / "reports/stats").glob("*.csv")) == [
        "ceiling", "judgments", "labels"]


def test_a_typo_in_params_is_an_error(workspace):
    params = dict(LIGHT_PARAMS, stats={"bootstrap": {"n_resampels": 10}})
    (workspace / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(ConfigError, match=r"`stats.bootstrap.n_resampels`: did you mean "
                                          r"`n_resamples`\?"):
        run(workspace)


def test_the_judge_stages_run_record_says_what_the_numbers_are_worth(workspace):
    """The warning comes from the judge's record (data/judgments/run.json), not from the
    llm settings (the stats stage reads only llm.backend and llm.model, to name the
    experiment; this params file has no llm section)."""
    assert "warning" not in run(workspace)
    warning = "SMOKE TEST: judgments from a tiny offline model (smollm2); they mean nothing"
    write_json_record(workspace / "data/judgments/run.json", JudgeRun(
        model="hosted_vllm:/smollm2", backend="local", smoke=True, metrics_warning=warning,
        notebooks=12, judgments=0, ok=0, failed=0))
    detail = run(workspace)
    headline = json.loads((workspace / "reports/metrics.json").read_text())
    assert next(iter(detail)) == "warning" and detail["warning"] == warning
    # the headline's column in dvc exp show holds the label only, after what the experiment
    # is (here only its seed: this params file has no suite, llm or memory section)
    assert list(headline)[:2] == ["rng_seed", "warning"]
    assert headline["warning"] == "SMOKE TEST: meaningless"


def test_the_headline_says_what_the_experiment_is(workspace):
    """The identity columns come from params.yaml (the Hydra group choices the repository's
    params.yaml was composed with, as `dvc exp run -S llm=openai -S llm.model=gpt-4o
    -S memory=semantic_only` would write them), before every number."""
    repository = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params = {**LIGHT_PARAMS, **{k: repository[k] for k in ("suite", "generate", "labels")},
              "llm": {**repository["llm"], "backend": "openai", "model": "gpt-4o"},
              "ablation": {"memory_variants": ["semantic_only"]}}
    (workspace / "params.yaml").write_text(yaml.safe_dump(params))
    run(workspace)
    headline = json.loads((workspace / "reports/metrics.json").read_text())
    assert list(headline.items())[:7] == [
        ("suite", repository["suite"]["name"]), ("generate", repository["generate"]["backend"]),
        ("labels", repository["labels"]["source"]), ("llm", "openai"), ("model", "gpt-4o"),
        ("memory", "semantic_only"), ("rng_seed", 7)]
    assert list(headline)[7:9] == ["warning", "mae_mean"] and headline["warning"] == ""
