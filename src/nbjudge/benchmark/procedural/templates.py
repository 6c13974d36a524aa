"""Code templates: the ways of writing one dimension at one quality level.

Each dimension module collects its templates in a :class:`DimensionTemplates`;
the :data:`~nbjudge.benchmark.procedural.registry.REGISTRY` puts them in one
order. That order is part of the seed -> notebook mapping (a draw picks the
k-th fitting template), so reordering templates changes the notebooks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from nbjudge.benchmark.procedural.context import Context

__all__ = ["CodeTemplate", "DimensionTemplates", "TemplateRegistry", "Write"]

Write = Callable[[Context], None]


def _always(ctx: Context) -> bool:
    return True


@dataclass(frozen=True)
class CodeTemplate:
    """One way of writing a dimension at one level; ``name`` goes into the blueprint."""

    dimension: str
    level: int | str
    name: str
    description: str
    defects: tuple[str, ...]
    write: Write
    applies: Callable[[Context], bool] = _always
    crash: bool = False


class DimensionTemplates:
    """The templates of one dimension, in the order they are defined."""

    def __init__(self, dimension: str) -> None:
        self.dimension = dimension
        self._templates: list[CodeTemplate] = []

    def add(
        self,
        level: int | str,
        description: str,
        defects: tuple[str, ...] = (),
        *,
        applies: Callable[[Context], bool] | None = None,
        crash: bool = False,
    ) -> Callable[[Write], Write]:
        """Decorator: the function writes the cells; its name names the template."""

        def register(write: Write) -> Write:
            self._templates.append(CodeTemplate(
                self.dimension, level, write.__name__, description, tuple(defects), write,
                applies or _always, crash))
            return write

        return register

    def __iter__(self) -> Iterator[CodeTemplate]:
        return iter(self._templates)


class TemplateRegistry:
    """All templates, looked up by dimension and level."""

    def __init__(self, templates: Iterable[CodeTemplate]) -> None:
        self._templates: list[CodeTemplate] = []
        for template in templates:
            if any(t.name == template.name for t in self._templates):
                raise ValueError(f"duplicate template name {template.name!r}")
            self._templates.append(template)

    def candidates(self, dimension: str, level: int | str, ctx: Context) -> list[CodeTemplate]:
        return [
            t for t in self._templates
            if t.dimension == dimension and t.level == level and t.applies(ctx)
        ]

    def all(self) -> list[CodeTemplate]:
        return list(self._templates)
