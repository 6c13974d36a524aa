"""Write one notebook: draw levels, run the templates, lay out the cells, build the
blueprint."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np

from nbjudge.benchmark.procedural.context import Cell, Context, properties
from nbjudge.benchmark.procedural.registry import REGISTRY
from nbjudge.benchmark.procedural.shared.cell_organization import lay_out
from nbjudge.benchmark.procedural.templates import CodeTemplate
from nbjudge.schemas import DIMENSIONS, BlueprintEntry, Case, Notebook

__all__ = [
    "LevelDistribution",
    "WrittenNotebook",
    "generate_notebooks",
    "write_notebook",
]

# Order in which dimensions are written: later ones read facts of earlier ones
# (installation needs the full import list; logging needs the metrics).
_WRITE_ORDER = (
    "data_exploration",
    "data_imputation",
    "feature_engineering",
    "model_training",
    "metrics_evaluation",
    "mlflow_logging",
    "model_use",
    "library_installation",
    "cell_organization",
)

_NAMES = {
    "train": ["train_df", "df_train", "train", "raw_train"],
    "test": ["test_df", "df_test", "new_data", "scoring_df"],
    "model": ["model", "pipe", "final_model", "clf_pipeline"],
    "features": ["feature_cols", "features", "FEATURES", "predictors"],
    "preds": ["preds", "y_pred", "predictions", "valid_pred"],
    "metrics": ["metrics", "scores", "results", "eval_metrics"],
    "pre": ["preprocessor", "prep", "transformer", "preprocess"],
    "info": ["model_info", "logged", "info"],
    "search": ["search", "grid", "tuner"],
    "baseline": ["baseline", "dummy", "naive_model"],
}
# Split variables are named as a set, the way people write them.
_SPLIT_NAMES = [
    ("X_train", "X_valid", "y_train", "y_valid"),
    ("X_tr", "X_va", "y_tr", "y_va"),
    ("X_train", "X_test", "y_train", "y_test"),
    ("train_X", "val_X", "train_y", "val_y"),
]


@dataclass(frozen=True)
class LevelDistribution:
    """Probabilities of levels 1, 2, 3 per dimension (N/A is decided by the data)."""

    default: tuple[float, float, float] = (0.3, 0.3, 0.4)
    per_dimension: Mapping[str, tuple[float, float, float]] | None = None

    def __post_init__(self) -> None:
        for name, probs in [("default", self.default), *(self.per_dimension or {}).items()]:
            if name != "default" and name not in DIMENSIONS:
                raise ValueError(f"levels: unknown dimension {name!r}; "
                                 f"valid: {', '.join(DIMENSIONS)}")
            if len(probs) != 3 or any(p < 0 for p in probs) or abs(sum(probs) - 1) > 1e-6:
                raise ValueError(f"levels.{name}: expected three probabilities for levels 1, 2, 3 "
                                 f"summing to 1, got {list(probs)}")

    def probabilities(self, dimension: str) -> tuple[float, float, float]:
        return (self.per_dimension or {}).get(dimension, self.default)


@dataclass(frozen=True)
class WrittenNotebook:
    notebook: nbformat.NotebookNode
    blueprint: list[BlueprintEntry]


def _rng(seed: int, notebook_id: str) -> np.random.Generator:
    digest = hashlib.sha256(notebook_id.encode()).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


def write_notebook(case: Case, notebook_id: str, seed: int,
                   levels: LevelDistribution | None = None) -> WrittenNotebook:
    """Write notebook ``notebook_id`` for ``case``; same inputs, same notebook."""
    levels = levels or LevelDistribution()
    rng = _rng(seed, notebook_id)
    names = {key: options[int(rng.integers(len(options)))] for key, options in _NAMES.items()}
    names.update(zip(("X_tr", "X_va", "y_tr", "y_va"),
                     _SPLIT_NAMES[int(rng.integers(len(_SPLIT_NAMES)))], strict=True))
    ctx = Context(case=case, rng=rng, names=names)
    ctx.facts["estimator"] = ctx.choose(["linear", "forest", "boosting"])
    entries = []
    for dimension in _WRITE_ORDER:
        ctx.dimension = dimension
        template = _draw_template(ctx, dimension, levels)
        template.write(ctx)
        entries.append(BlueprintEntry(
            notebook_id=notebook_id, case_id=case.case_id, dimension=dimension,
            level=template.level, template=template.name, defects=list(template.defects),
            description=template.description, crash=template.crash))
    order = {d: i for i, d in enumerate(DIMENSIONS)}
    entries.sort(key=lambda e: order[e.dimension])
    notebook = lay_out(ctx, _with_load_and_imports(ctx))
    nbformat.validate(notebook)
    return WrittenNotebook(notebook, entries)


def _draw_template(ctx: Context, dimension: str, levels: LevelDistribution) -> CodeTemplate:
    """N/A if a template says the dimension does not apply, else a drawn level's template."""
    not_applicable = REGISTRY.candidates(dimension, "N/A", ctx)
    if not_applicable:
        return ctx.choose(not_applicable)
    probs = levels.probabilities(dimension)
    level = int(ctx.rng.choice([1, 2, 3], p=probs))
    candidates = REGISTRY.candidates(dimension, level, ctx)
    if not candidates:
        raise RuntimeError(f"no {dimension} template at level {level} fits case "
                           f"{ctx.case.case_id!r} ({ctx.case.task_type})")
    return ctx.choose(candidates)


def _with_load_and_imports(ctx: Context) -> list[Cell]:
    """The ungraded cells, loading the tables and importing what the templates used,
    before the templates' own cells."""
    case = ctx.case
    load = [f'{ctx.names["train"]} = pd.read_csv("{case.tables["train"]}.csv")']
    other = "future" if ctx.family == "forecasting" else "test"
    load.append(f'{ctx.names["test"]} = pd.read_csv("{case.tables[other]}.csv")')
    if ctx.facts.get("parse_dates"):
        load = [line.replace('.csv")', f'.csv", parse_dates=["{properties(case).time_index}"])')
                for line in load]
    ctx.imports.add("import pandas as pd")
    cells = [Cell("load", "\n".join(load) + f"\n{ctx.names['train']}.shape, "
                  f"{ctx.names['test']}.shape", "load")]
    cells.append(Cell("imports", _imports_source(ctx), "imports"))
    return cells + ctx.cells


def _imports_source(ctx: Context) -> str:
    plain = sorted(line for line in ctx.imports if line.startswith("import "))
    grouped: dict[str, list[str]] = {}
    for line in ctx.imports:
        if line.startswith("from "):
            module, _, names = line[5:].partition(" import ")
            grouped.setdefault(module, []).extend(n.strip() for n in names.split(","))
    froms = [f"from {m} import {', '.join(sorted(set(n)))}" for m, n in sorted(grouped.items())]
    lines = plain + froms
    if ctx.coin(0.3):
        lines = froms + plain
    return "\n".join(lines)


def generate_notebooks(
    cases: list[Case], seed: int, out_dir: Path, levels: LevelDistribution | None = None,
    root: Path = Path("."),
) -> tuple[list[Notebook], list[BlueprintEntry]]:
    """Write every case's notebooks under ``out_dir``; return the index and the blueprint.

    Paths in the index are relative to ``root`` (the repository), so the
    records do not depend on where the repository lives.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    index, blueprint = [], []
    for case in cases:
        for number in range(1, case.notebooks + 1):
            notebook_id = f"{case.case_id}__{number:02d}"
            written = write_notebook(case, notebook_id, seed, levels)
            text = nbformat.writes(written.notebook) + "\n"
            path = out_dir / f"{notebook_id}.ipynb"
            path.write_text(text, encoding="utf-8")
            index.append(Notebook(
                notebook_id=notebook_id, case_id=case.case_id,
                path=path.resolve().relative_to(root.resolve()).as_posix(),
                sha256=hashlib.sha256(text.encode()).hexdigest(), origin="procedural"))
            blueprint.extend(written.blueprint)
    return index, blueprint
