"""Print where the pipeline's outputs are, after `make repro`."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["OUTPUTS", "summary"]

OUTPUTS = [
    ("data/cases/cases.jsonl", "test cases (prompts, task types, dataset properties)"),
    ("data/cases/datasets", "the cases' tables (CSV)"),
    ("data/notebooks/generated", "notebooks as written"),
    ("data/notebooks/executed", "notebooks with outputs, and index.jsonl with each run's status"),
    ("data/blueprint/blueprint.jsonl", "true quality levels and defects (never shown to judges)"),
    ("data/labels/labels.jsonl", "human (or simulated panel) grades with rationales"),
    ("data/judgments", "judge grades per variant (baseline, full, semantic_only)"),
    ("data/folds.json", "cross-validation folds (grouped by case)"),
    ("data/alignment", "what each aligned judge remembered, per variant, fold, dimension"),
    ("data/registered/judges.json", "the aligned judges registered in MLflow"),
    ("reports/metrics.json", "headline: mean MAE, improvements, significance (dvc exp show)"),
    ("reports/metrics_detail.json", "every agreement figure with its interval and test"),
    ("reports/stats", "tidy statistics tables (dvc plots show)"),
    ("reports/report.html", "the report"),
    ("reports/report.pdf", "the report as PDF"),
    ("reports/mlflow_run.json", "the experiment's MLflow run (mlflow ui)"),
]


def _count(path: Path) -> str:
    if path.is_dir():
        files = [p for p in path.rglob("*") if p.is_file()]
        return f"{len(files)} files"
    if path.suffix == ".jsonl":
        with path.open(encoding="utf-8") as handle:
            return f"{sum(1 for line in handle if line.strip())} records"
    return f"{path.stat().st_size:,} bytes"


def summary(root: Path = Path(".")) -> str:
    lines = ["Outputs:"]
    for relative, what in OUTPUTS:
        path = root / relative
        if path.exists():
            lines.append(f"  {relative:<34} {_count(path):>13}  {what}")
    metrics = root / "reports/metrics.json"
    if metrics.exists():
        try:
            data = json.loads(metrics.read_text())
        except json.JSONDecodeError:
            data = {}
        for key in ("warning", "note"):
            if data.get(key):
                lines.append(f"\n{key.capitalize()}: {data[key]}")
    lines.append("\nRead the report: reports/report.html (or reports/report.pdf)")
    lines.append("Compare experiments: dvc exp show; dvc metrics diff; dvc plots diff")
    lines.append("Browse runs, traces and registered judges: "
                 ".venv/bin/mlflow ui --backend-store-uri sqlite:///mlflow.db")
    return "\n".join(lines)


if __name__ == "__main__":
    print(summary())
