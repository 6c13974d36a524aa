"""What templates share while one notebook is written: the case, its names, cells.

A notebook is assembled from *cells placed in slots* (the workflow order:
install, imports, load, explore, prepare, split, post_split, features, train,
evaluate, log, use), so each dimension can put its code where it belongs
without knowing what the others wrote.

Cells are written as code text for :class:`string.Template` (``$train``,
``$model``): Python code has no ``$``, so the text stays readable and needs no
escaping. ``$name`` is a bare name (a variable, a column in a message);
``$name_column`` is a column name as a quoted Python literal.
"""

from __future__ import annotations

import string
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from nbjudge.schemas import Case, DatasetProperties

_T = TypeVar("_T")

__all__ = ["SLOTS", "SLOT_SECTION", "Cell", "Context", "join_code", "properties"]

SLOTS: tuple[str, ...] = (
    "install",
    "imports",
    "setup",
    "load",
    "explore",
    "prepare",
    "split",
    "post_split",
    "features",
    "train",
    "evaluate",
    "log",
    "use",
)

# The section heading a slot belongs to, for cell organisation.
SLOT_SECTION: dict[str, str] = {
    "install": "Setup",
    "imports": "Setup",
    "setup": "Setup",
    "load": "Load the data",
    "explore": "Explore the data",
    "prepare": "Prepare the data",
    "split": "Split",
    "post_split": "Prepare the data",
    "features": "Features",
    "train": "Train",
    "evaluate": "Evaluate",
    "log": "Track with MLflow",
    "use": "Predict on new data",
}


@dataclass
class Cell:
    """One notebook cell placed in a slot, tagged with the dimension it realises."""

    slot: str
    source: str
    dimension: str
    kind: str = "code"  # code | markdown


def properties(case: Case) -> DatasetProperties:
    """The case's dataset properties, which every procedural case has (imports may not)."""
    if case.properties is None:
        raise ValueError(f"case {case.case_id!r} has no dataset properties: the procedural "
                         "generator writes code for a known dataset (use a suite's cases)")
    return case.properties


@dataclass
class Context:
    """The notebook being written: the case, the variable names this notebook
    uses, and facts earlier dimensions established (is there a baseline model?
    was the model logged?) for later ones to read."""

    case: Case
    rng: np.random.Generator
    names: dict[str, str]
    facts: dict[str, Any] = field(default_factory=dict)
    imports: set[str] = field(default_factory=set)
    cells: list[Cell] = field(default_factory=list)
    dimension: str = ""

    # -- facts about the case -------------------------------------------------
    @property
    def family(self) -> str:
        return "forecasting" if self.case.task_type == "forecasting" else "tabular"

    @property
    def is_classification(self) -> bool:
        return self.case.task_type in ("binary", "binary_imbalanced", "multiclass")

    @property
    def has_missing(self) -> bool:
        return bool(properties(self.case).missing_columns)

    # -- randomness: every draw goes through ``rng``, in writing order ---------
    def choose(self, options: Sequence[_T]) -> _T:
        """Pick one option; used for names, phrasings and orders."""
        return options[int(self.rng.integers(len(options)))]

    def coin(self, p: float = 0.5) -> bool:
        return bool(self.rng.random() < p)

    # -- writing cells --------------------------------------------------------
    def render(self, text: str, **values: Any) -> str:
        """Code text with the notebook's names and ``values`` substituted."""
        mapping = {**self.names, **{k: str(v) for k, v in values.items()}}
        return string.Template(textwrap.dedent(text).strip("\n")).substitute(mapping)

    def code(self, slot: str, text: str, *imports: str, **values: Any) -> None:
        """Add a code cell to ``slot``; ``imports`` are the import lines it needs."""
        self.imports.update(imports)
        self.cells.append(Cell(slot, self.render(text, **values), self.dimension))

    def markdown(self, slot: str, text: str, **values: Any) -> None:
        self.cells.append(Cell(slot, self.render(text, **values), self.dimension, "markdown"))


def join_code(*parts: str) -> str:
    """One cell's code text from snippets written at different indentations."""
    return "\n".join(textwrap.dedent(p).strip("\n") for p in parts if p.strip())
