"""Notebooks as judges see them: sandboxed execution and rendering to text."""

from nbjudge.notebooks.batch import NotebookJob, execute_index, plan_jobs
from nbjudge.notebooks.execute import ExecutionResult, execute_notebook, sandbox_env
from nbjudge.notebooks.render import RenderOptions, estimate_tokens, render_notebook

__all__ = [
    "ExecutionResult",
    "NotebookJob",
    "RenderOptions",
    "estimate_tokens",
    "execute_index",
    "execute_notebook",
    "plan_jobs",
    "render_notebook",
    "sandbox_env",
]
