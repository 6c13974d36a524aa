"""Notebooks as judges see them: sandboxed execution and rendering to text."""

from .batch import Engine, OutputPolicy, execute_index
from .execute import ExecutionResult, execute_notebook
from .render import RenderOptions, render_notebook

__all__ = [
    "Engine",
    "ExecutionResult",
    "OutputPolicy",
    "RenderOptions",
    "execute_index",
    "execute_notebook",
    "render_notebook",
]
