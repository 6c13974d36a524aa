"""Cell organisation. A template only picks the layout; :func:`lay_out` applies
it once every other dimension has placed its cells. Good: markdown sections in
workflow order and focused cells; bad: one giant cell, commented-out and
duplicated code, no markdown.
"""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from nbjudge.benchmark.procedural.context import SLOT_SECTION, SLOTS, Cell, Context
from nbjudge.benchmark.procedural.templates import DimensionTemplates

__all__ = ["TEMPLATES", "lay_out"]

TEMPLATES = DimensionTemplates("cell_organization")


@TEMPLATES.add(3, "markdown headers per section in workflow order, a title that restates the "
               "task, short cells that each do one thing")
def layout_sections(ctx: Context) -> None:
    ctx.facts["layout"] = "sections"


@TEMPLATES.add(3, "numbered markdown sections with a short intro per section and focused cells")
def layout_numbered(ctx: Context) -> None:
    ctx.facts["layout"] = "numbered"


@TEMPLATES.add(2, "headers for only some sections, two sections merged into one long cell",
               ("some sections have no header", "a few long cells mixing several steps"))
def layout_partial(ctx: Context) -> None:
    ctx.facts["layout"] = "partial"


@TEMPLATES.add(2, "headers present but leftover debugging prints between steps",
               ("leftover debugging prints",))
def layout_debug_prints(ctx: Context) -> None:
    ctx.facts["layout"] = "debug"


@TEMPLATES.add(1, "everything in one giant code cell without markdown",
               ("one giant cell", "no markdown"))
def layout_one_cell(ctx: Context) -> None:
    ctx.facts["layout"] = "one_cell"


@TEMPLATES.add(1, "no markdown at all, with commented-out code blocks and a duplicated cell",
               ("no markdown", "commented-out code blocks", "duplicated code"))
def layout_commented_out(ctx: Context) -> None:
    ctx.facts["layout"] = "commented"


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


def _in_slot_order(cells: list[Cell]) -> list[Cell]:
    rank = {slot: i for i, slot in enumerate(SLOTS)}
    return sorted(cells, key=lambda c: rank[c.slot])  # stable: keeps write order within a slot


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


def lay_out(ctx: Context, cells: list[Cell]) -> nbformat.NotebookNode:
    """The notebook: ``cells`` in workflow order, organised as the drawn template says."""
    cells = _shuffle_independent(ctx, _in_slot_order(cells))
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
    notebook: nbformat.NotebookNode = new_notebook(metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    })
    for index, (kind, source) in enumerate(out):
        cell_id = f"cell-{index:03d}"
        notebook.cells.append(new_code_cell(source, id=cell_id) if kind == "code"
                              else new_markdown_cell(source, id=cell_id))
    return notebook


def _as_comment(text: str) -> str:
    return "\n".join("# " + line.lstrip("#> ").rstrip() for line in text.splitlines() if line)
