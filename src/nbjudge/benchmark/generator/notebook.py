"""Write one notebook: draw levels, run variants, lay out cells, build the blueprint."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from nbjudge.benchmark.generator import forecasting, setup, tabular
from nbjudge.benchmark.generator.core import SLOT_SECTION, SLOTS, Cell, Context, VariantRegistry
from nbjudge.schemas import DIMENSIONS, BlueprintEntry, Case, Notebook

__all__ = [
    "REGISTRY",
    "LevelDistribution",
    "WrittenNotebook",
    "generate_notebooks",
    "write_notebook",
]

REGISTRY = VariantRegistry()
setup.register(REGISTRY)
tabular.register(REGISTRY)
forecasting.register(REGISTRY)

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
        variant = _draw_variant(ctx, dimension, levels)
        variant.write(ctx)
        entries.append(BlueprintEntry(
            notebook_id=notebook_id, case_id=case.case_id, dimension=dimension,
            level=variant.level, variant=variant.name, defects=list(variant.defects),
            description=variant.description, crash=variant.crash))
    order = {d: i for i, d in enumerate(DIMENSIONS)}
    entries.sort(key=lambda e: order[e.dimension])
    cells = _with_load_and_imports(ctx)
    notebook = _layout(ctx, cells)
    nbformat.validate(notebook)
    return WrittenNotebook(notebook, entries)


def _draw_variant(ctx: Context, dimension: str, levels: LevelDistribution):
    not_applicable = REGISTRY.candidates(dimension, "N/A", ctx)
    if not_applicable:
        return ctx.choose(not_applicable)
    probs = levels.probabilities(dimension)
    level = int(ctx.rng.choice([1, 2, 3], p=probs))
    candidates = REGISTRY.candidates(dimension, level, ctx)
    if not candidates:
        raise RuntimeError(f"no {dimension} variant at level {level} fits case "
                           f"{ctx.case.case_id!r} ({ctx.case.task_type})")
    return ctx.choose(candidates)


def _with_load_and_imports(ctx: Context) -> list[Cell]:
    case = ctx.case
    load = [f'{ctx.names["train"]} = pd.read_csv("{case.tables["train"]}.csv")']
    other = "future" if ctx.family == "forecasting" else "test"
    load.append(f'{ctx.names["test"]} = pd.read_csv("{case.tables[other]}.csv")')
    if ctx.facts.get("parse_dates"):
        load = [line.replace('.csv")', f'.csv", parse_dates=["{case.properties.time_index}"])')
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


# ---------------------------------------------------------------- cell layout
_HEADINGS = {
    "Setup": ["Setup", "Environment", "Libraries"],
    "Load the data": ["Load the data", "Data", "Read the tables"],
    "Explore the data": ["Explore the data", "Exploratory analysis", "A first look"],
    "Prepare the data": ["Prepare the data", "Cleaning", "Data preparation"],
    "Split": ["Train/validation split", "Hold out data", "Split"],
    "Features": ["Features", "Feature engineering", "Preprocessing"],
    "Train": ["Train", "Modelling", "Model training"],
    "Evaluate": ["Evaluate", "How good is it?", "Evaluation"],
    "Track with MLflow": ["Track with MLflow", "Experiment tracking", "Log the run"],
    "Predict on new data": ["Predict on new data", "Scoring", "Inference"],
}


def _ordered(cells: list[Cell]) -> list[Cell]:
    rank = {slot: i for i, slot in enumerate(SLOTS)}
    return sorted(cells, key=lambda c: rank[c.slot])  # stable: keeps write order within a slot


def register_layouts(registry: VariantRegistry) -> None:
    add = registry.add
    dim = "cell_organization"

    @add(dim, 3, "markdown headers per section in workflow order, a title that restates the "
         "task, short cells that each do one thing")
    def layout_sections(ctx: Context) -> None:
        ctx.facts["layout"] = "sections"

    @add(dim, 3, "numbered markdown sections with a short intro per section and focused cells")
    def layout_numbered(ctx: Context) -> None:
        ctx.facts["layout"] = "numbered"

    @add(dim, 2, "headers for only some sections, two sections merged into one long cell",
         ("some sections have no header", "a few long cells mixing several steps"))
    def layout_partial(ctx: Context) -> None:
        ctx.facts["layout"] = "partial"

    @add(dim, 2, "headers present but leftover debugging prints between steps",
         ("leftover debugging prints",))
    def layout_debug_prints(ctx: Context) -> None:
        ctx.facts["layout"] = "debug"

    @add(dim, 1, "everything in one giant code cell without markdown",
         ("one giant cell", "no markdown"))
    def layout_one_cell(ctx: Context) -> None:
        ctx.facts["layout"] = "one_cell"

    @add(dim, 1, "no markdown at all, with commented-out code blocks and a duplicated cell",
         ("no markdown", "commented-out code blocks", "duplicated code"))
    def layout_commented_out(ctx: Context) -> None:
        ctx.facts["layout"] = "commented"


register_layouts(REGISTRY)


def _shuffle_independent(ctx: Context, cells: list[Cell]) -> list[Cell]:
    """Tabular exploration cells only read the training table: their order is free."""
    if ctx.family != "tabular":
        return cells
    explore = [i for i, c in enumerate(cells) if c.slot == "explore" and c.kind == "code"]
    order = [explore[i] for i in ctx.rng.permutation(len(explore))]
    shuffled = list(cells)
    for position, source in zip(explore, order, strict=True):
        shuffled[position] = cells[source]
    return shuffled


def _layout(ctx: Context, cells: list[Cell]) -> nbformat.NotebookNode:
    cells = _shuffle_independent(ctx, _ordered(cells))
    layout = ctx.facts["layout"]
    title = f"# {ctx.case.case_id.replace('_', ' ').capitalize()}\n\n> {ctx.case.prompt}"
    out: list[tuple[str, str]] = []  # (kind, source)
    if layout in ("sections", "numbered"):
        out.append(("markdown", title))
        section, number = None, 0
        for cell in cells:
            name = SLOT_SECTION[cell.slot]
            if name != section:
                section, number = name, number + 1
                heading = ctx.choose(_HEADINGS[name])
                prefix = f"{number}. " if layout == "numbered" else ""
                out.append(("markdown", f"## {prefix}{heading}"))
            out.append((cell.kind, cell.source))
    elif layout in ("partial", "debug"):
        if ctx.coin():
            out.append(("markdown", title.split("\n")[0]))
        section = None
        merged: list[str] = []
        merge_slots = {"split", "post_split", "features", "train"} if layout == "partial" else set()
        for cell in cells:
            name = SLOT_SECTION[cell.slot]
            if cell.slot in merge_slots and cell.kind == "code":
                merged.append(cell.source)
                continue
            if merged:
                out.append(("code", "\n\n".join(merged)))
                merged = []
            if name != section:
                section = name
                if ctx.coin(0.5 if layout == "partial" else 0.9):
                    out.append(("markdown", f"### {ctx.choose(_HEADINGS[name])}"))
            out.append((cell.kind, cell.source))
            if layout == "debug" and cell.kind == "code" and cell.slot in ("split", "train") \
                    and ctx.coin(0.8):
                shown = ctx.names["train"] if cell.slot == "split" else ctx.names["X_tr"]
                out.append(("code", f"print('DEBUG', {shown}.shape)  # check"))
        if merged:
            out.append(("code", "\n\n".join(merged)))
    elif layout == "one_cell":
        parts = [c.source if c.kind == "code" else _as_comment(c.source) for c in cells]
        out.append(("code", "\n\n".join(parts)))
    else:  # commented
        for cell in cells:
            if cell.kind == "markdown":
                out.append(("code", _as_comment(cell.source)))
                continue
            out.append(("code", cell.source))
            if cell.slot == "train":
                out.append(("code", "\n".join("# " + line for line in cell.source.splitlines())))
            if cell.slot == "imports":
                out.append(("code", cell.source))
    notebook = new_notebook(metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    })
    for index, (kind, source) in enumerate(out):
        make = new_code_cell if kind == "code" else new_markdown_cell
        notebook.cells.append(make(source, id=f"cell-{index:03d}"))
    return notebook


def _as_comment(text: str) -> str:
    return "\n".join("# " + line.lstrip("#> ").rstrip() for line in text.splitlines() if line)


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
