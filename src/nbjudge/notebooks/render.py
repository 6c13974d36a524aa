"""Render a notebook as the text a judge reads.

Cells in order, markdown as is, code in fenced blocks followed by its
outputs; images, HTML and widgets become a one-line marker, terminal colour
codes are removed, and long outputs are cut in the middle with an explicit
marker. The same notebook always renders to the same text.

A notebook longer than the token budget shrinks in this order, each step
only as far as needed: (1) outputs are cut shorter, (2) outputs become a
one-line marker each, (3) markdown keeps its headings only, (4) code cells
are dropped from the middle, first and last kept, each run of dropped cells
replaced by a line saying which cells and how many tokens went, (5) a single
cell too long for the budget is cut in its middle. Nothing is ever dropped
silently, and the end of a notebook (where models are trained, evaluated and
logged) is kept. :class:`RenderedNotebook` says how many tokens the judge
reads and what was cut.

Tokens are estimated as characters / 4: the local model's tokenizer is not
available offline, and the budget only has to keep prompts well inside the
context window, not hit it exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import nbformat

__all__ = ["RenderOptions", "RenderedNotebook", "estimate_tokens", "render", "render_notebook"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
CHARS_PER_TOKEN = 4
_RICH_MARKERS = (("image/", "[image]"), ("text/html", "[html output]"),
                 ("application/vnd.jupyter.widget", "[widget]"))


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


@dataclass(frozen=True)
class RenderedNotebook:
    """The judge's text of one notebook, and what it cost to fit the budget."""

    text: str
    tokens: int                 # estimated tokens of ``text``
    full_tokens: int            # estimated tokens of the notebook rendered without a budget
    cuts: tuple[str, ...] = field(default_factory=tuple)   # what was shortened, in order

    @property
    def cut(self) -> bool:
        """Whether the budget shortened anything (long outputs are always cut at
        ``max_output_chars``: that is rendering, not the budget)."""
        return bool(self.cuts)


def estimate_tokens(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)


def _cut(text: str, limit: int, what: str = "output") -> str:
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    removed = len(text) - head - tail
    return f"{text[:head]}\n[... {removed} characters of {what} cut ...]\n{text[-tail:]}"


def _source(cell: nbformat.NotebookNode) -> str:
    source = cell.get("source", "")
    return ("".join(source) if isinstance(source, list) else str(source)).rstrip()


def _output_text(output: nbformat.NotebookNode) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        text = output.get("text", "")
        return text if isinstance(text, str) else "".join(text)
    if kind == "error":
        return _ANSI.sub("", "\n".join(output.get("traceback", [])))
    data = output.get("data", {})
    if "text/plain" in data and not any(k.startswith("image/") for k in data):
        text = data["text/plain"]
        return text if isinstance(text, str) else "".join(text)
    for prefix, marker in _RICH_MARKERS:
        if any(key.startswith(prefix) for key in data):
            return marker
    return ""


def _output_marker(texts: list[str]) -> str:
    lines = sum(t.count("\n") + 1 for t in texts)
    return f"output: [{len(texts)} output(s), {lines} line(s) omitted]"


def _headings(markdown: str) -> str:
    kept = [line for line in markdown.splitlines() if line.lstrip().startswith("#")]
    dropped = len(markdown.splitlines()) - len(kept)
    note = [f"[{dropped} line(s) of markdown prose omitted]"] if dropped else []
    return "\n".join(kept + note)


@dataclass(frozen=True)
class _Block:
    """One cell's rendered text, at the current step."""

    number: int
    kind: str      # markdown, code
    text: str


def _blocks(notebook: nbformat.NotebookNode, output_limit: int | None,
            headings_only: bool) -> list[_Block]:
    """``output_limit`` None: outputs as one-line markers."""
    blocks = []
    executed = any(c.get("execution_count") for c in notebook.cells if c.cell_type == "code")
    for number, cell in enumerate(notebook.cells, start=1):
        source = _source(cell)
        if cell.cell_type == "markdown":
            body = _headings(source) if headings_only else source
            blocks.append(_Block(number, "markdown", f"[cell {number}: markdown]\n{body}"))
            continue
        if cell.cell_type != "code":
            continue
        parts = [f"[cell {number}: code]\n```python\n{source}\n```"]
        outputs = [_ANSI.sub("", _output_text(o)).rstrip() for o in cell.get("outputs", [])]
        outputs = [o for o in outputs if o]
        if outputs:
            parts.append(_output_marker(outputs) if output_limit is None
                         else "output:\n" + _cut("\n".join(outputs), output_limit))
        elif source and (cell.get("metadata", {}).get("nbjudge", {}).get("not_run")
                         or (executed and cell.get("execution_count") is None)):
            parts.append("(not run: the notebook stopped before this cell)")
        blocks.append(_Block(number, "code", "\n\n".join(parts)))
    return blocks


def _join(blocks: list[_Block]) -> str:
    return "\n\n".join(b.text for b in blocks) + "\n"


def _drop_middle(blocks: list[_Block], budget: int) -> tuple[list[_Block], str | None]:
    """Drop the fewest cells around the middle (never the first or last code cell) so the
    text fits ``budget`` tokens; the dropped run becomes one marker line.

    The joined text's length is kept from running sums, never re-joined while the run
    grows: re-joining at every step made 40,000 cells take minutes (quadratic).
    """
    code = [i for i, b in enumerate(blocks) if b.kind == "code"]
    if len(code) < 3:
        return blocks, None
    chars, tokens, codes = [0], [0], [0]   # sums over blocks[:i]
    for block in blocks:
        chars.append(chars[-1] + len(block.text))
        tokens.append(tokens[-1] + estimate_tokens(block.text))
        codes.append(codes[-1] + (block.kind == "code"))
    n = len(blocks)
    first, last = code[0], code[-1]
    middle = (first + last) // 2
    low, high = middle, middle   # blocks[low:high] are dropped
    marker: _Block | None = None
    while low > first + 1 or high < last:
        # Grow the dropped run alternately towards both ends.
        if high < last and (high - middle <= middle - low or low <= first + 1):
            high += 1
        else:
            low -= 1
        marker = _marker(blocks, low, high, codes[high] - codes[low], tokens[high] - tokens[low])
        kept_blocks = low + 1 + n - high
        # The length of _join(kept): texts, a blank line between blocks, a final newline.
        length = chars[low] + chars[n] - chars[high] + len(marker.text) + 2 * kept_blocks - 1
        if -(-length // CHARS_PER_TOKEN) <= budget:
            break
    if marker is None:
        return blocks, blocks[low].text
    return [*blocks[:low], marker, *blocks[high:]], marker.text


def _marker(blocks: list[_Block], low: int, high: int, code: int, tokens: int) -> _Block:
    """The line that stands for ``blocks[low:high]`` (``code`` code cells, ``tokens``)."""
    first, last = blocks[low].number, blocks[high - 1].number
    text = (f"[... cells {first}-{last} omitted: {code} code cell(s), "
            f"{high - low - code} markdown cell(s), {tokens:,} tokens ...]")
    return _Block(first, "marker", text)


def render(notebook: nbformat.NotebookNode, options: RenderOptions | None = None
           ) -> RenderedNotebook:
    """The judge's view of ``notebook`` within ``options.max_tokens``, and what was cut."""
    options = options or RenderOptions()
    budget = options.max_tokens
    limit = options.max_output_chars
    blocks = _blocks(notebook, limit, headings_only=False)
    full_tokens = estimate_tokens(_join(blocks))
    cuts: list[str] = []
    while estimate_tokens(_join(blocks)) > budget and limit > options.min_output_chars:
        limit = max(options.min_output_chars, limit // 2)
        blocks = _blocks(notebook, limit, headings_only=False)
    if limit < options.max_output_chars:
        cuts.append(f"outputs cut to {limit:,} characters each")
    if estimate_tokens(_join(blocks)) > budget:
        blocks = _blocks(notebook, None, headings_only=False)
        cuts.append("outputs")
    if estimate_tokens(_join(blocks)) > budget:
        blocks = _blocks(notebook, None, headings_only=True)
        cuts.append("markdown prose")
    if estimate_tokens(_join(blocks)) > budget:
        blocks, marker = _drop_middle(blocks, budget)
        if marker is not None:
            cuts.append(marker.strip("[] .").replace("... ", ""))
    text = _join(blocks)
    if estimate_tokens(text) > budget:
        # A cell too long on its own: cut the middle of the text, keeping both ends.
        text = _cut(text, budget * CHARS_PER_TOKEN - 80, "notebook text") + "\n"
        cuts.append("the middle of the text")
    return RenderedNotebook(text, estimate_tokens(text), full_tokens, tuple(cuts))


def render_notebook(notebook: nbformat.NotebookNode, options: RenderOptions | None = None) -> str:
    """The judge's view of ``notebook``, within ``options.max_tokens``."""
    return render(notebook, options).text
