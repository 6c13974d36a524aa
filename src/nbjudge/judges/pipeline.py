"""From executed notebooks to judge requests: what each judge reads and how it is asked.

:func:`load_views` renders every executed notebook once (the same text for
all nine judges, for the MLflow trace and for MemAlign's memory);
:func:`build_requests` turns views and a set of judges into runner requests
whose keys cover everything that decides the prompt, ordered dimension by
dimension so that consecutive prompts share the rubric as a prefix (servers
with a prompt cache, like llama-server, then evaluate only the notebook).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from nbjudge.judges.cache import request_key
from nbjudge.judges.dimension import call_judge, notebook_outputs
from nbjudge.judges.runner import Answer, JudgeRequest
from nbjudge.notebooks.render import RenderOptions, estimate_tokens, render_notebook
from nbjudge.schemas import DIMENSIONS, Case, Notebook

__all__ = ["DimensionJudge", "NotebookView", "build_requests", "call_request", "load_views"]

# MLflow adds the answer format (fields and types) to the system prompt.
_FORMAT_OVERHEAD_TOKENS = 150


@dataclass(frozen=True)
class NotebookView:
    """One notebook as every judge sees it."""

    notebook_id: str
    case_id: str
    task_prompt: str
    outputs: str            # task prompt + rendered notebook: the judge's ``{{ outputs }}``


@dataclass
class DimensionJudge:
    """A judge of one dimension and what determines its prompts besides the notebook."""

    dimension: str
    instructions: str                       # the instructions the judge is built with
    judge: Any = None                       # the MLflow judge; may be attached later
    memory: Mapping[str, Any] | None = None  # episodic memory that retrieval draws from
    examples_per_prompt: int = 0            # retrieved examples pasted into each prompt


def _notebook_path(entry: Notebook, root: Path) -> Path:
    if entry.execution is not None and entry.execution.path:
        return root / entry.execution.path
    return root / entry.path


def load_views(index: Sequence[Notebook], cases: Iterable[Case], options: RenderOptions,
               root: str | Path = ".") -> list[NotebookView]:
    """Render every notebook of ``index`` (the executed copy when there is one)."""
    prompts = {case.case_id: case.prompt for case in cases}
    root = Path(root)
    views = []
    for entry in index:
        if entry.case_id not in prompts:
            raise ValueError(f"notebook {entry.notebook_id} belongs to case {entry.case_id!r}, "
                             "which is not in the cases file: rerun the cases stage")
        path = _notebook_path(entry, root)
        try:
            notebook = nbformat.read(path, as_version=4)
        except FileNotFoundError:
            raise ValueError(f"{path}: notebook not found; rerun the execute stage") from None
        except Exception as error:  # nbformat raises several types for malformed files
            raise ValueError(f"{path}: not a readable notebook ({error}); "
                             "regenerate or re-import it") from None
        text = render_notebook(notebook, options)
        views.append(NotebookView(entry.notebook_id, entry.case_id, prompts[entry.case_id],
                                  notebook_outputs(prompts[entry.case_id], text)))
    return views


def build_requests(
    views: Sequence[NotebookView],
    judges: Mapping[str, DimensionJudge],
    *,
    variant: str,
    model: str,
    inference_params: Mapping[str, Any] | None,
    fold: int | None = None,
    repeat: int = 0,
    notebook_ids: Iterable[str] | None = None,
) -> list[JudgeRequest]:
    """One request per (dimension, notebook), dimension-major, in ``DIMENSIONS`` order."""
    wanted = None if notebook_ids is None else set(notebook_ids)
    chosen = [v for v in views if wanted is None or v.notebook_id in wanted]
    mean_outputs = (sum(estimate_tokens(v.outputs) for v in chosen) // len(chosen)
                    if chosen else 0)
    requests = []
    for dimension in DIMENSIONS:
        if dimension not in judges:
            continue
        judge = judges[dimension]
        fixed = estimate_tokens(judge.instructions) + _FORMAT_OVERHEAD_TOKENS
        for view in chosen:
            key = request_key(model=model, instructions=judge.instructions, outputs=view.outputs,
                              inference_params=inference_params, memory=judge.memory)
            tokens = (fixed + estimate_tokens(view.outputs)
                      + judge.examples_per_prompt * (mean_outputs + 50))
            requests.append(JudgeRequest(
                notebook_id=view.notebook_id, dimension=dimension, variant=variant, key=key,
                prompt_tokens=tokens, fold=fold, repeat=repeat, payload=(judge, view.outputs)))
    return requests


def call_request(request: JudgeRequest) -> Answer:
    """The runner's ``call`` for requests made by :func:`build_requests`."""
    judge, outputs = request.payload
    if judge.judge is None:
        raise RuntimeError(f"no MLflow judge attached for {judge.dimension}")
    return call_judge(judge.judge, outputs)
