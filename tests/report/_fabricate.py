"""A fabricated experiment on disk: notebooks, labels, judgments, alignment audits, stats.

The judgments of three variants (baseline noisier than the aligned ones),
some failed, N/A on both sides, two raters on a share of notebooks; then
:func:`nbjudge.stats.analyze_experiment` runs on them (with a small
bootstrap, for speed) and its result is written as ``stages/stats.py``
writes it: ``reports/metrics.json`` and one CSV per table.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import numpy as np
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from nbjudge.schemas import (
    DIMENSIONS,
    AlignmentAudit,
    Execution,
    Guideline,
    JudgeRun,
    Judgment,
    Label,
    Notebook,
    write_json_record,
    write_records,
)
from nbjudge.stats import StatsConfig, analyze_experiment

CONF = Path(__file__).resolve().parents[2] / "conf"
VARIANTS = ("baseline", "full", "semantic_only")
FLIPS = {"baseline": 0.55, "full": 0.25, "semantic_only": 0.35}
RATIONALES = {1: "Weak: the imputer is fit on the full data before the split.",
              2: "Average: fills values on the training split outside the pipeline.",
              3: "Well done: the imputer sits inside the cross-validated pipeline.",
              "N/A": "Not applicable: there is nothing to grade here."}
GUIDELINES = [
    "Score 1 when fillna or an imputer is fit on the full data before the train test split",
    "Give N/A only when the dataset has no missing values at all",
    "Prefer 3 when every preprocessing step sits inside the cross-validated pipeline",
]
# One guideline per fold that no other fold shares (token Jaccard well below 0.5).
REMARKS = ["Penalise plots without axis labels",
           "Reward pinned package versions",
           "Seeds must be fixed before splitting",
           "Markdown headings should precede each section"]
LIGHT_STATS = {"bootstrap": {"n_resamples": 500, "min_notebooks": 10},
               "permutation": {"n_resamples": 199},
               "power": {"n_simulations": 100, "max_notebooks": 200}}


def _score(value: int):
    return "N/A" if value == 0 else int(value)


def _notebook(i: int) -> nbformat.NotebookNode:
    error = new_output("error", ename="KeyError", evalue="'price'", traceback=[])
    return new_notebook(cells=[
        new_markdown_cell("### Libraries"),
        new_code_cell("%pip install -q scikit-learn==1.9.1 mlflow==3.17.2\nimport pandas as pd"),
        new_code_cell("df = pd.read_csv('train.csv')\ndf.info()\ndf.describe()"),
        new_code_cell("df = df.fillna(df.mean(numeric_only=True))\n" * (1 + i % 3)
                      + "X_train, X_test = train_test_split(df, random_state=0)"),
        new_code_cell("model.fit(X_train, y_train)\npreds = model.predict(X_test)",
                      outputs=[error] if i % 5 == 0 else []),
        new_code_cell("import mlflow\nwith mlflow.start_run():\n    mlflow.log_metric('f1', f1)"),
    ])


def _alignment(root: Path, rng: np.random.Generator, dimensions) -> None:
    """Audits of 4 folds: 2 of the 3 shared guidelines per fold, and one of its own."""
    for variant in VARIANTS[1:]:
        for fold in range(4):
            for dimension in dimensions:
                picked = [g for k, g in enumerate(GUIDELINES) if (fold + k) % 3 != 2]
                # Reworded in some folds: still similar by token Jaccard.
                picked = [g.replace("at all", "") if fold % 2 else g for g in picked]
                picked.append(REMARKS[fold])
                audit = AlignmentAudit(
                    variant=variant, fold=fold, dimension=dimension,
                    guidelines=[Guideline(text=g, source_ids=[f"nb-{fold:03d}", "nb-010"])
                                for g in picked],
                    episodic_ids=[] if variant == "semantic_only" else [f"nb-{fold:03d}"],
                    retrievals={f"nb-{fold + 4:03d}": [f"nb-{fold:03d}"]},
                    seconds=float(np.round(rng.uniform(5, 60), 2)),
                    tokens={"calls": 1, "prompt": int(rng.integers(2000, 9000)),
                            "completion": int(rng.integers(100, 900))},
                    reflection_model="smollm2-135m-instruct", retrieval_k=1)
                write_json_record(root / f"data/alignment/{variant}/fold{fold}/{dimension}.json",
                                  audit)


def fabricate(root: Path, *, n: int = 14, variants=VARIANTS, smoke: bool = True,
              alignment: bool = True, run_facts: bool = True, source: str = "simulated",
              seed: int = 0, stats: dict | None = None) -> Path:
    """Write a whole experiment under ``root`` and run the stats stage on it
    (with ``stats`` as its settings instead of the light ones when given)."""
    stats = LIGHT_STATS if stats is None else stats
    rng = np.random.default_rng(seed)
    dimensions = DIMENSIONS
    truth = rng.integers(0, 4, (n, len(dimensions)))
    notebooks, labels, judgments = [], [], []
    for i in range(n):
        notebook_id = f"nb-{i:03d}"
        written = root / f"data/notebooks/generated/{notebook_id}.ipynb"
        executed = root / f"data/notebooks/executed/{notebook_id}.ipynb"
        for path in (written, executed):
            path.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(_notebook(i), path)
        notebooks.append(Notebook(
            notebook_id=notebook_id, case_id=f"case-{i % 3}", path=str(written.relative_to(root)),
            sha256="0" * 64, origin="procedural" if i % 7 else "import",
            execution=Execution(status="error" if i % 5 == 0 else "ok", seconds=3.0,
                                path=str(executed.relative_to(root)))))
        for d, dimension in enumerate(dimensions):
            for rater in ("expert_1", "expert_2") if i < n // 3 else ("expert_1",):
                step = rng.choice([-1, 0, 0, 0, 1])
                value = _score(int(np.clip(truth[i, d] + step, 0, 3)))
                labels.append(Label(notebook_id=notebook_id, dimension=dimension, score=value,
                                    rationale=RATIONALES[value], rater_id=rater, source=source))
    for variant in variants:
        failed = set(rng.choice(n * len(dimensions), 3, replace=False))
        for i in range(n):
            for d, dimension in enumerate(dimensions):
                common = dict(notebook_id=f"nb-{i:03d}", dimension=dimension, variant=variant,
                              fold=None if variant == "baseline" else i % 4,
                              model="smollm2-135m-instruct", tokens_in=900, tokens_out=40,
                              latency_s=1.5)
                if i * len(dimensions) + d in failed:
                    judgments.append(Judgment(status="failed", error="timeout", **common))
                    continue
                flip = rng.random() < FLIPS.get(variant, 0.45)
                value = int(np.clip(truth[i, d] + (rng.choice([-1, 1]) if flip else 0), 0, 3))
                # A lenient judge: baseline pushes some scores up.
                if variant == "baseline" and rng.random() < 0.15:
                    value = min(value + 1, 3)
                judgments.append(Judgment(status="ok", score=_score(value),
                                          rationale=f"{variant} says {_score(value)}", **common))
    write_records(root / "data/notebooks/index.jsonl",
                  [n.model_copy(update={"execution": None}) for n in notebooks])
    write_records(root / "data/notebooks/executed/index.jsonl", notebooks)
    write_records(root / "data/labels/labels.jsonl", labels)
    (root / "data/judgments").mkdir(parents=True, exist_ok=True)
    for variant in variants:
        write_records(root / f"data/judgments/{variant}.jsonl",
                      [j for j in judgments if j.variant == variant])
    if run_facts and variants:
        write_json_record(root / "data/judgments/run.json", JudgeRun(
            model="smollm2-135m-instruct", backend="local" if smoke else "openai", smoke=smoke,
            notebooks=n, judgments=len(judgments), ok=len(judgments), failed=0))
    if alignment:
        _alignment(root, rng, dimensions)
    # Whole sections of conf/, as params.yaml holds them: every stage validates all of it.
    llm = yaml.safe_load((CONF / "llm" / ("local.yaml" if smoke else "openai.yaml")).read_text())
    if smoke:
        llm["model"] = "smollm2-135m-instruct"
    label_params = ({"source": "panel", "input": "data/blueprint/blueprint.jsonl"}
                    if source == "simulated" else
                    {"source": "file", "path": "labels.jsonl", "input": "labels.jsonl"})
    params = {"seed": 7, "stats": stats, "llm": llm, "labels": label_params}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = analyze_experiment(labels, judgments, StatsConfig.from_mapping(stats),
                                seed=params["seed"])
    (root / "reports/stats").mkdir(parents=True, exist_ok=True)
    (root / "reports/metrics.json").write_text(json.dumps(result.metrics, indent=2) + "\n")
    for name, frame in result.frames.items():
        frame.to_csv(root / f"reports/stats/{name}.csv", index=False)
    return root
