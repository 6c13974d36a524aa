"""Render a notebook as the text a judge reads.

Cells in order, markdown as is, code in fenced blocks followed by its
outputs; images become a placeholder, terminal colour codes are removed, and
long outputs are cut in the middle with an explicit marker. The whole text
is kept within a token budget by shrinking the outputs first (code and
markdown are what is graded), then cutting the end with a marker. The same
notebook always renders to the same text.

Tokens are estimated as characters / 4: the local model's tokenizer is not
available offline, and the budget only has to keep prompts well inside the
context window, not hit it exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import nbformat

__all__ = ["RenderOptions", "estimate_tokens", "render_notebook"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class RenderOptions:
    """How much of a notebook a judge sees."""

    max_tokens: int = 6000
    max_output_chars: int = 1500
    min_output_chars: int = 200

    def __post_init__(self) -> None:
        if self.max_tokens < 100:
            raise ValueError(f"render max_tokens must be at least 100, got {self.max_tokens}")
        if not 0 < self.min_output_chars <= self.max_output_chars:
            raise ValueError("render needs 0 < min_output_chars <= max_output_chars, got "
                             f"{self.min_output_chars} and {self.max_output_chars}")


def estimate_tokens(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    removed = len(text) - head - tail
    return f"{text[:head]}\n[... {removed} characters of output cut ...]\n{text[-tail:]}"


def _output_text(output: nbformat.NotebookNode) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        return output.get("text", "")
    if kind == "error":
        return _ANSI.sub("", "\n".join(output.get("traceback", [])))
    data = output.get("data", {})
    if "text/plain" in data:
        text = data["text/plain"]
        return text if isinstance(text, str) else "".join(text)
    if any(key.startswith("image/") for key in data):
        return "[image]"
    return ""


def _render(notebook: nbformat.NotebookNode, output_limit: int) -> str:
    parts = []
    executed = any(c.get("execution_count") for c in notebook.cells if c.cell_type == "code")
    for number, cell in enumerate(notebook.cells, start=1):
        source = cell.source.rstrip()
        if cell.cell_type == "markdown":
            parts.append(f"[cell {number}: markdown]\n{source}")
            continue
        if cell.cell_type != "code":
            continue
        parts.append(f"[cell {number}: code]\n```python\n{source}\n```")
        outputs = [_ANSI.sub("", _output_text(o)).rstrip() for o in cell.get("outputs", [])]
        outputs = [o for o in outputs if o]
        if outputs:
            parts.append("output:\n" + _cut("\n".join(outputs), output_limit))
        elif executed and cell.get("execution_count") is None and source:
            parts.append("(not run: the notebook stopped before this cell)")
    return "\n\n".join(parts) + "\n"


def render_notebook(notebook: nbformat.NotebookNode, options: RenderOptions | None = None) -> str:
    """The judge's view of ``notebook``, within ``options.max_tokens``."""
    options = options or RenderOptions()
    limit = options.max_output_chars
    text = _render(notebook, limit)
    while estimate_tokens(text) > options.max_tokens and limit > options.min_output_chars:
        limit = max(options.min_output_chars, limit // 2)
        text = _render(notebook, limit)
    budget = options.max_tokens * CHARS_PER_TOKEN
    if len(text) > budget:
        marker = "\n[... notebook cut here: it exceeds the judge's token budget ...]\n"
        text = text[: budget - len(marker)] + marker
    return text
