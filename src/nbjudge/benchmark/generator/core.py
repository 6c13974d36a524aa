"""The machinery of the procedural generator: contexts, variants, slots.

A notebook is assembled from *cells placed in slots* (the workflow order:
install, imports, load, explore, prepare, split, post_split, features, train,
evaluate, log, use). Each of the nine dimensions contributes cells through one
*variant*: real code that realises a quality level (3 good, 2 average, 1 bad,
or N/A). Variants read and write a shared :class:`Context`, which carries the
case, the names this notebook uses for its variables, and facts earlier
sections established (is there a baseline model? was the model logged?).

Code is written as :class:`string.Template` text (``$train``, ``$model``):
Python code has no ``$``, so templates stay readable and need no escaping.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from string import Template
from typing import Any

import numpy as np

from nbjudge.schemas import Case

__all__ = [
    "SLOTS",
    "Cell",
    "Context",
    "Variant",
    "VariantRegistry",
]

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

# Which section heading a slot belongs to, for cell organisation.
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


@dataclass
class Context:
    """What variants share while one notebook is being written."""

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
        return bool(self.case.properties.missing_columns)

    # -- randomness -----------------------------------------------------------
    def choose(self, options: list[Any] | tuple[Any, ...]) -> Any:
        """Pick one option; used for names, phrasings and orders."""
        return options[int(self.rng.integers(len(options)))]

    def coin(self, p: float = 0.5) -> bool:
        return bool(self.rng.random() < p)

    # -- writing cells --------------------------------------------------------
    def render(self, template: str, **extra: Any) -> str:
        values = {**self.names, **{k: str(v) for k, v in extra.items()}}
        return Template(textwrap.dedent(template).strip("\n")).substitute(values)

    def code(self, slot: str, template: str, *imports: str, **extra: Any) -> None:
        self.imports.update(imports)
        self.cells.append(Cell(slot, self.render(template, **extra), self.dimension))

    def markdown(self, slot: str, template: str, **extra: Any) -> None:
        self.cells.append(Cell(slot, self.render(template, **extra), self.dimension, "markdown"))


@dataclass(frozen=True)
class Variant:
    """One way of writing a dimension at one level."""

    dimension: str
    level: int | str
    name: str
    description: str
    defects: tuple[str, ...]
    write: Callable[[Context], None]
    applies: Callable[[Context], bool] = lambda ctx: True
    crash: bool = False


class VariantRegistry:
    """All variants, looked up by dimension and level."""

    def __init__(self) -> None:
        self._variants: list[Variant] = []

    def add(
        self,
        dimension: str,
        level: int | str,
        description: str,
        defects: tuple[str, ...] = (),
        *,
        applies: Callable[[Context], bool] | None = None,
        crash: bool = False,
    ) -> Callable[[Callable[[Context], None]], Callable[[Context], None]]:
        """Decorator registering ``write`` as a variant."""

        def register(write: Callable[[Context], None]) -> Callable[[Context], None]:
            name = write.__name__
            if any(v.name == name for v in self._variants):
                raise ValueError(f"duplicate variant name {name!r}")
            self._variants.append(
                Variant(dimension, level, name, description, tuple(defects), write,
                        applies or (lambda ctx: True), crash)
            )
            return write

        return register

    def candidates(self, dimension: str, level: int | str, ctx: Context) -> list[Variant]:
        return [
            v for v in self._variants
            if v.dimension == dimension and v.level == level and v.applies(ctx)
        ]

    def all(self) -> list[Variant]:
        return list(self._variants)
