"""Render a notebook as the text a judge reads.

Cells in order, numbered from 1 as Jupyter shows them, markdown as is, code in
fenced blocks followed by its outputs; images, HTML and widgets become a
one-line marker, and long outputs are cut in the middle with an explicit
marker. The same notebook always renders to the same text.

Outputs are shown as a terminal would show them, then made stable
(:func:`clean_output`): escape sequences removed (colours, cursor and
private modes such as ``ESC[?25h``, window titles), carriage returns and
backspaces resolved to the line a terminal ends with, a progress bar kept
at its final state, and text that differs on every run replaced by a
placeholder: clock times in log lines and ISO date-times (``<time>``), run,
trace and experiment ids (``<id>``), MLflow's generated run names, temporary
folders (``/tmp/<tmp>``), durations (``took <duration>``), transfer rates and
memory addresses (``0x<addr>``). Re-executing an unchanged notebook
therefore gives the judge the same text, and its requests the same cache
keys. Data values are left alone: a date, or a date and time without a
fraction of a second, outside a log line's head is data.

A cell says "not run" only when the run that made its outputs stopped before
it (``metadata.nbjudge.not_run``, written by :mod:`nbjudge.notebooks.execute`
from where the run stopped); a cell without an execution count in a
notebook judged as it came is just a cell whose outputs were not saved.

A notebook longer than the token budget shrinks in this order, each step
only as far as needed: (1) outputs are cut shorter, (2) outputs become a
one-line marker each, (3) markdown keeps its headings only, (4) cells are
dropped from between the first and the last code cell, each run of dropped
cells replaced by a line saying which cells and how many tokens went, (5)
every cell left is cut in its middle to a fair share of the budget, so the
first and last code cells stay at every budget (their number, the start and
the end of their code). Nothing is ever dropped silently, and the end of a
notebook (where models are trained, evaluated and logged) is kept.
:class:`RenderedNotebook` says how many tokens the judge reads and what was
cut.

Tokens are estimated as characters / 4: the local model's tokenizer is not
available offline, and the budget only has to keep prompts well inside the
context window, not hit it exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import nbformat

__all__ = ["RenderOptions", "RenderedNotebook", "clean_output", "estimate_tokens", "render",
           "render_notebook"]

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


# --- outputs as a terminal shows them, without what changes on every run ----------------

# ESC sequences: CSI (colours, cursor moves, private modes such as ESC[?25h), OSC (window
# titles, hyperlinks; ended by BEL or ESC \), other string commands (DCS, PM, APC, SOS),
# and two- or three-character escapes (ESC 7, ESC ( B); then the 8-bit CSI and OSC.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[ -/]*[0-~]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|\x9d[^\x07\x1b]*(?:\x07|\x1b\\)?")
# Control characters left after the escapes and carriage returns: a lone ESC, bells, form
# feeds, C1 codes (tab and newline are text).
_CONTROLS = re.compile("[\x00-\x07\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _terminal_line(line: str) -> str:
    """What a terminal shows of one line: each carriage return goes back to the start and
    what follows overwrites, a backspace steps back one character."""
    if "\b" in line:
        screen: list[str] = []
        column = 0
        for char in line:
            if char == "\r":
                column = 0
            elif char == "\b":
                column = max(0, column - 1)
            else:
                screen[column:column + 1] = [char]
                column += 1
        return "".join(screen).rstrip()
    if "\r" not in line:
        return line
    shown = ""
    for part in line.split("\r"):
        shown = part + shown[len(part):]
    return shown.rstrip()


# Lines of one output kept before its text is cleaned (the first and the last half each):
# more never reaches the judge, and lines, unlike characters, are the same on every run.
_MAX_LINES = 4000


# A progress bar's line: tqdm ("45%|####5     | 45/100"), Keras ("12/50 [=====>....]",
# "12/50 ━━━━━━━━"), pip ("━━━━━━━━ 1.2/3.4 MB", "|████████| 1.2 MB") and the like.
_BAR_CHARS = "█▉▊▋▌▍▎▏━╸╺─■□▓▒░#="
# Every pattern starts at a boundary and its repeats are possessive, so that a long run of
# digits or bar characters is scanned once (linear), never from each of its characters.
_PROGRESS = re.compile(
    r"\d{1,3}%\|"
    rf"|(?<!\d)\d++/\d++ *+(?:\[[=>.\-]*+\]|[{_BAR_CHARS}]{{3}})"
    rf"|(?<![{_BAR_CHARS}])[{_BAR_CHARS}]{{8,}}+[ ╸╺━─.]*+ *+[\d.]++ ?(?:/ ?[\d.]++ ?)?[kKMG]?i?B"
    r"|\|[█▉▊▋▌▍▎▏ ]{8,}+\|")
_PROGRESS_TIMES = [
    # tqdm's "[00:01<00:02, 30.12it/s]" and "[01:02:03<?, ?it/s]"
    (re.compile(r"\[\d+:\d\d(?::\d\d)?<[^\]]*\]"), "[<time>]"),
    (re.compile(r"\b(eta|ETA:?) +(?:\d+:)?\d+:\d\d\b"), r"\1 <time>"),
    (re.compile(r"\b(ETA:?) +\d+(?:\.\d+)?(?:ms|s|m|h)\b"), r"\1 <duration>"),
    (re.compile(r"\b\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m)\b"), "<duration>"),
    (re.compile(r"(?<![\d:])\d{1,2}:\d\d(?::\d\d)?(?![\d:])"), "<time>"),
]


def _collapse_progress(lines: list[str]) -> list[str]:
    """Consecutive lines of the same progress bar (the same text before the bar) as its
    last line, the bar's final state, with its clock times and rates made placeholders."""
    kept: list[str] = []
    previous: str | None = None   # the key of the bar the last kept line belongs to
    for line in lines:
        if _PROGRESS.search(line) is None:
            kept.append(line)
            previous = None
            continue
        for pattern, replacement in _PROGRESS_TIMES:
            line = pattern.sub(replacement, line)
        match = _PROGRESS.search(line)
        key = line[:match.start()].strip() if match else line
        if previous is not None and key == previous:
            kept[-1] = line
        else:
            kept.append(line)
        previous = key
    return kept


_LEVELS = r"(?:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|CRITICAL|FATAL)"
_MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
_UNITS = r"(?:ns|us|µs|ms|s|sec|secs|seconds?|min|mins|minutes?|h|hours?)"
# What differs on every run, in the order applied: the substrings without which a pattern
# cannot match (None: no such test; they spare most outputs most patterns), the pattern,
# and its placeholder.
_VOLATILE: list[tuple[tuple[str, ...] | None, re.Pattern[str], str]] = [
    # Clock times: MLflow's log lines ("2024/05/01 12:00:00"), ISO date-times with a "T",
    # any date-time with a fraction of a second (datetime.now(), the logging module's
    # ",123") or followed by a log level, and time.ctime()'s form.
    ((":",), re.compile(r"\b\d{4}/\d{2}/\d{2}[ T]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\b"), "<time>"),
    ((":",), re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
                r"(?:Z|[+-]\d{2}:?\d{2}\b)?"), "<time>"),
    ((":",), re.compile(r"\b\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}[.,]\d{3,9}"
                        r"(?:[+-]\d{2}:?\d{2}\b)?"), "<time>"),
    ((":",), re.compile(rf"\b\d{{4}}-\d{{2}}-\d{{2}} \d{{2}}:\d{{2}}:\d{{2}}"
                        rf"(?=\W{{1,5}}{_LEVELS}\b)"), "<time>"),
    ((":",), re.compile(rf"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:{_MONTHS}) [ \d]\d "
                r"\d{2}:\d{2}:\d{2} \d{4}\b"), "<time>"),
    # Epoch times under a name that says so: creation_time=1714560000000
    (("time", "Time", "TIME"),
     re.compile(r"\b(\w{0,30}?time\w{0,30}['\"]?\s*[=:]\s*['\"]?)\d{10,13}(?:\.\d+)?\b",
                re.IGNORECASE), r"\1<time>"),
    # Ids: UUIDs; 32 to 64 hex digits (MLflow run ids, trace ids tr-..., hashes); numeric
    # experiment ids where named; MLflow's generated run names (adjective-noun-number).
    (("-",), re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}"
                r"-[0-9a-fA-F]{12}\b"), "<id>"),
    (None, re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{32,64}\b"), "<id>"),
    (("xperiment", "XPERIMENT"),
     re.compile(r"(experiment[ _]?id['\"]?\s*[=:]?\s*['\"]?)\d+\b", re.IGNORECASE), r"\1<id>"),
    (("/experiments/",), re.compile(r"(/experiments/)\d+\b"), r"\1<id>"),
    (("-",), re.compile(r"\b(View run |run_?name['\"]?\s*[=:]\s*['\"]?)[a-z]+-[a-z]+-\d{1,4}\b",
                re.IGNORECASE), r"\1<run name>"),
    # Temporary folders and files: /tmp/tmpk3j_x9a1, macOS's /var/folders/../T/...,
    # Windows' ...\AppData\Local\Temp\..., and tempfile's names anywhere.
    (("/var/folders/",),
     re.compile(r"(?:/private)?/var/folders/[^\s'\"]{1,200}?/T/[^\s'\"/]+"), "/tmp/<tmp>"),
    (("tmp/",), re.compile(r"(?:/private)?/(?:var/)?tmp/[^\s'\"/:,)\]]+"), "/tmp/<tmp>"),
    (("\\Temp\\",), re.compile(r"[A-Za-z]:\\Users\\[^\\\s]+\\AppData\\Local\\Temp\\[^\\\s'\"]+"),
     "/tmp/<tmp>"),
    (("tmp",), re.compile(r"\btmp[a-z0-9_]{8}\b"), "tmp<tmp>"),
    # Durations: "took 1.23s", "in 0.5 seconds", "elapsed: 3.2s", %%time's "CPU times:
    # user 1.2 s, sys: 3 ms, total: 1.2 s" and "Wall time: 1.5 s", %timeit's
    # "5.2 ms ± 123 µs per loop", "2ms/step"; transfer and iteration rates.
    (None, re.compile(rf"\b(took|in|after|elapsed|duration|time|times|total|user|sys|wall)"
                rf"(\s*[:=]?\s*)\d+(?:\.\d+)?\s?{_UNITS}(?![\w/])", re.IGNORECASE),
     r"\1\2<duration>"),
    (("±",), re.compile(rf"\b\d++(?:\.\d+)?\s?{_UNITS} ± \d++(?:\.\d+)?\s?{_UNITS}"),
     "<duration> ± <duration>"),
    (("/",), re.compile(r"\b\d+(?:\.\d+)?\s?(?:ns|us|µs|ms|s)/(step|it|epoch|sample|batch)\b"),
     r"<duration>/\1"),
    (("/s",), re.compile(r"\b\d+(?:\.\d+)?\s?(?:[kKMG]i?B|B|it|items?|samples?|rows?)/s\b"),
     "<rate>"),
    # Memory addresses: <object at 0x7f3a2c1d5e50>
    (("0x",), re.compile(r"\b0x[0-9a-fA-F]{6,16}\b"), "0x<addr>"),
]


def clean_output(text: str) -> str:
    """``text`` (an output) as the judge reads it: escape sequences removed, each line as
    a terminal ends showing it, progress bars at their final state, and what differs
    from run to run (clock times, ids, temporary paths, durations, addresses) replaced
    by a placeholder."""
    text = _ESCAPES.sub("", text.replace("\r\n", "\n"))
    lines = _collapse_progress([_CONTROLS.sub("", _terminal_line(line))
                                for line in text.split("\n")])
    if len(lines) > _MAX_LINES:
        half = _MAX_LINES // 2
        lines = [*lines[:half], f"[... {len(lines) - _MAX_LINES:,} lines of output cut ...]",
                 *lines[-half:]]
    text = "\n".join(lines)
    for needles, pattern, replacement in _VOLATILE:
        if needles is None or any(needle in text for needle in needles):
            text = pattern.sub(replacement, text)
    return text


def _source(cell: nbformat.NotebookNode) -> str:
    source = cell.get("source", "")
    return ("".join(source) if isinstance(source, list) else str(source)).rstrip()


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "".join(str(part) for part in value or [])


def _streams_joined(outputs: list[nbformat.NotebookNode]) -> list[nbformat.NotebookNode]:
    """Consecutive chunks of one stream as one output, so that a carriage return in one
    chunk overwrites what the chunk before it wrote, as on the screen."""
    joined: list[nbformat.NotebookNode] = []
    for output in outputs:
        if (output.get("output_type") == "stream" and joined
                and joined[-1].get("output_type") == "stream"
                and joined[-1].get("name") == output.get("name")):
            joined[-1] = nbformat.NotebookNode(
                {**joined[-1], "text": _text(joined[-1].get("text")) + _text(output.get("text"))})
        else:
            joined.append(output)
    return joined


def _output_text(output: nbformat.NotebookNode) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        return _text(output.get("text", ""))
    if kind == "error":
        return "\n".join(output.get("traceback", []))
    data = output.get("data", {})
    if "text/plain" in data and not any(k.startswith("image/") for k in data):
        return _text(data["text/plain"])
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


@dataclass(frozen=True)
class _Cell:
    """One cell as read once: its source, its outputs as the judge reads them."""

    number: int    # 1-based, as Jupyter shows it
    kind: str      # markdown, code
    source: str
    outputs: tuple[str, ...] = ()
    not_run: bool = False


def _cells(notebook: nbformat.NotebookNode) -> list[_Cell]:
    cells = []
    for number, cell in enumerate(notebook.cells, start=1):
        if cell.cell_type == "markdown":
            cells.append(_Cell(number, "markdown", _source(cell)))
        elif cell.cell_type == "code":
            texts = (clean_output(_output_text(o)).rstrip()
                     for o in _streams_joined(list(cell.get("outputs", []))))
            outputs = tuple(t for t in texts if t)
            # Only the run that made the outputs knows where it stopped: a missing
            # execution count may just be an output that was never saved.
            marked = bool((cell.get("metadata", {}).get("nbjudge") or {}).get("not_run"))
            cells.append(_Cell(number, "code", _source(cell), outputs,
                               marked and not outputs))
    return cells


def _blocks(cells: list[_Cell], output_limit: int | None, headings_only: bool) -> list[_Block]:
    """``output_limit`` None: outputs as one-line markers."""
    blocks = []
    for cell in cells:
        if cell.kind == "markdown":
            body = _headings(cell.source) if headings_only else cell.source
            blocks.append(_Block(cell.number, "markdown",
                                 f"[cell {cell.number}: markdown]\n{body}"))
            continue
        parts = [f"[cell {cell.number}: code]\n```python\n{cell.source}\n```"]
        if cell.outputs:
            parts.append(_output_marker(list(cell.outputs)) if output_limit is None
                         else "output:\n" + _cut("\n".join(cell.outputs), output_limit))
        elif cell.source and cell.not_run:
            parts.append("(not run: the notebook stopped before this cell)")
        blocks.append(_Block(cell.number, "code", "\n\n".join(parts)))
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
    if not code or code[-1] - code[0] < 2:   # nothing between the first and last code cell
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
    assert marker is not None   # the loop ran: there is a block between first and last
    return [*blocks[:low], marker, *blocks[high:]], marker.text


def _marker(blocks: list[_Block], low: int, high: int, code: int, tokens: int) -> _Block:
    """The line that stands for ``blocks[low:high]`` (``code`` code cells, ``tokens``)."""
    first, last = blocks[low].number, blocks[high - 1].number
    span = f"cells {first}-{last}" if first != last else f"cell {first}"
    text = (f"[... {span} omitted: {code} code cell(s), "
            f"{high - low - code} markdown cell(s), {tokens:,} tokens ...]")
    return _Block(first, "marker", text)


def _cut_to(text: str, limit: int, what: str) -> str:
    """``text`` in at most ``limit`` characters: its start and end around a marker."""
    if len(text) <= limit:
        return text
    removed = len(text) - limit
    for _ in range(2):   # the marker's own length decides how much is removed
        note = f"\n[... {removed:,} characters of {what} cut ...]\n"
        removed = len(text) - max(0, limit - len(note))
    keep = limit - len(note)
    if keep < 24:
        return text[:limit]
    head = keep * 2 // 3
    return f"{text[:head]}{note}{text[len(text) - (keep - head):]}"


# Below this many characters a cell's share shows too little of it: the markdown before
# the first and after the last code cell goes first.
_MIN_SHARE = 240


def _share_out(blocks: list[_Block], budget: int) -> tuple[list[_Block], int]:
    """Cut every block but the markers in its middle to a fair share of ``budget`` tokens
    (blocks shorter than their share stay whole and leave the rest to the others); the
    share, in characters."""
    room = budget * CHARS_PER_TOKEN - 2 * len(blocks) - 1
    cut = [b for b in blocks if b.kind != "marker"]
    room -= sum(len(b.text) for b in blocks if b.kind == "marker")
    share = 0
    remaining, count = room, len(cut)
    for block in sorted(cut, key=lambda b: len(b.text)):
        share = remaining // count
        if len(block.text) > share:
            break
        remaining -= len(block.text)
        count -= 1
    else:
        return blocks, share
    return [b if b.kind == "marker" or len(b.text) <= share
            else _Block(b.number, b.kind, _cut_to(b.text, share, "cell text"))
            for b in blocks], share


def _drop_outer_markdown(blocks: list[_Block]) -> list[_Block]:
    """The markdown before the first and after the last code cell, each run as a marker."""
    code = [i for i, b in enumerate(blocks) if b.kind == "code"]
    if not code:
        return blocks
    kept: list[_Block] = []
    for low, high in ((0, code[0]), (code[0], code[-1] + 1), (code[-1] + 1, len(blocks))):
        inner = low == code[0]
        if inner or high == low:
            kept += blocks[low:high]
        else:
            tokens = sum(estimate_tokens(b.text) for b in blocks[low:high] if b.kind != "marker")
            kept.append(_marker(blocks, low, high, 0, tokens))
    return kept


def render(notebook: nbformat.NotebookNode, options: RenderOptions | None = None
           ) -> RenderedNotebook:
    """The judge's view of ``notebook`` within ``options.max_tokens``, and what was cut."""
    options = options or RenderOptions()
    budget = options.max_tokens
    limit = options.max_output_chars
    cells = _cells(notebook)
    blocks = _blocks(cells, limit, headings_only=False)
    full_tokens = estimate_tokens(_join(blocks))
    cuts: list[str] = []
    while estimate_tokens(_join(blocks)) > budget and limit > options.min_output_chars:
        limit = max(options.min_output_chars, limit // 2)
        blocks = _blocks(cells, limit, headings_only=False)
    if limit < options.max_output_chars:
        cuts.append(f"outputs cut to {limit:,} characters each")
    if estimate_tokens(_join(blocks)) > budget:
        blocks = _blocks(cells, None, headings_only=False)
        cuts.append("outputs")
    if estimate_tokens(_join(blocks)) > budget:
        blocks = _blocks(cells, None, headings_only=True)
        cuts.append("markdown prose")
    if estimate_tokens(_join(blocks)) > budget:
        blocks, marker = _drop_middle(blocks, budget)
        if marker is not None:
            cuts.append(marker.strip("[] .").replace("... ", ""))
    if estimate_tokens(_join(blocks)) > budget:
        # The cells left (the first and last code cells at least) share the budget, each
        # cut in its middle, so each keeps its number and both ends of its code.
        shared, share = _share_out(blocks, budget)
        if share < _MIN_SHARE:
            outer = _drop_outer_markdown(blocks)
            if len(outer) < len(blocks):
                cuts.append("the markdown before the first and after the last code cell")
                shared, share = _share_out(outer, budget)
        blocks = shared
        cuts.append(f"cells cut in their middle to {share:,} characters each")
    text = _join(blocks)
    if estimate_tokens(text) > budget:
        # Markers alone over the budget (a budget of about 100 tokens): the middle goes.
        text = _cut_to(text, budget * CHARS_PER_TOKEN - 1, "notebook text") + "\n"
        cuts.append("the middle of the text")
    return RenderedNotebook(text, estimate_tokens(text), full_tokens, tuple(cuts))


def render_notebook(notebook: nbformat.NotebookNode, options: RenderOptions | None = None) -> str:
    """The judge's view of ``notebook``, within ``options.max_tokens``."""
    return render(notebook, options).text
