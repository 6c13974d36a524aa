"""Import of expert labels from a JSONL or CSV file (``labels=file``).

A label file has one label per line (JSONL) or row (CSV/TSV, with a header)
and the columns ``notebook_id, dimension, score, rationale, rater_id`` plus
an optional ``source`` (``human`` unless given). Scores are ``1``, ``2``,
``3`` or ``N/A`` (``n/a``, ``NA`` and ``2.0`` are read as such); dimension
names are read case-insensitively, with spaces or hyphens for underscores.
Other columns are ignored, so a spreadsheet may keep its notes.

The whole file is checked before anything is returned: every problem is
collected with its line number (the physical line in the file, so a CSV
row whose quoted rationale spans lines is named by its first line), and a
single :class:`LabelFileError` reports them all. A label file is imported
whole or not at all.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbjudge.schemas import DIMENSIONS, Label, RecordError, normalize_score, write_records

__all__ = [
    "LABEL_COLUMNS",
    "LabelFileError",
    "LabelSummary",
    "import_labels",
    "read_label_file",
    "summarize_labels",
    "write_label_template",
]

LABEL_COLUMNS: tuple[str, ...] = ("notebook_id", "dimension", "score", "rationale", "rater_id")
_SOURCES = ("human", "simulated")
_SCORES = (1, 2, 3, "N/A")
_DELIMITERS = {".csv": ",", ".tsv": "\t"}
_JSONL = (".jsonl", ".ndjson")
_REPORTED = 20  # enough to fix a file in one pass, short enough to read


class LabelFileError(RecordError):
    """A label file cannot be imported; ``problems`` holds one message per line at fault."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        shown = problems[:_REPORTED]
        more = len(problems) - len(shown)
        lines = [f"{path}: {len(problems)} problem(s); no label was imported. Fix them and rerun:"]
        lines += [f"  {problem}" for problem in shown]
        if more:
            lines.append(f"  ... and {more} more")
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class _Row:
    line: int
    values: dict[str, Any]


def _decode(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise LabelFileError(
            path, [f"{path}: file not found; set labels.path to your label file"]
        ) from None
    try:
        return data.decode("utf-8-sig")  # spreadsheets often save a byte-order mark
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise LabelFileError(
            path, [f"{path}:{line}: not UTF-8 text ({exc.reason}); save the file as UTF-8"]
        ) from None


def _jsonl_rows(path: Path, text: str, problems: list[str]) -> Iterator[_Row]:
    # split("\n"), not splitlines(): U+2028 and friends may sit inside a JSON string.
    for line, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            values = json.loads(raw)
        except json.JSONDecodeError as exc:
            problems.append(
                f"{path}:{line}: not valid JSON ({exc.msg} at column {exc.colno}); "
                "write one JSON object per line"
            )
            continue
        if not isinstance(values, dict):
            problems.append(
                f"{path}:{line}: expected a JSON object with the keys {', '.join(LABEL_COLUMNS)}, "
                f"got {type(values).__name__}"
            )
            continue
        missing = [column for column in LABEL_COLUMNS if column not in values]
        if missing:
            problems.append(
                f"{path}:{line}: missing column(s) {', '.join(missing)}; every line needs "
                f"{', '.join(LABEL_COLUMNS)}"
            )
            continue
        yield _Row(line, values)


def _csv_rows(path: Path, text: str, delimiter: str, problems: list[str]) -> Iterator[_Row]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    end = 0  # the last physical line read; the next row starts after it
    while True:
        start = end + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(
                f"{path}:{start}: cannot parse the CSV ({exc}); check the quotes around this line"
            )
            return
        end = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = [cell.strip().lower() for cell in row]
            missing = [column for column in LABEL_COLUMNS if column not in header]
            doubled = sorted({column for column in header if header.count(column) > 1})
            if missing:
                problems.append(
                    f"{path}:{start}: missing column(s) {', '.join(missing)}; the header must "
                    f"name {', '.join(LABEL_COLUMNS)} (and optionally source)"
                )
            if doubled:
                problems.append(f"{path}:{start}: column(s) {', '.join(doubled)} appear twice")
            if missing or doubled:
                return
            continue
        if len(row) != len(header):
            problems.append(
                f"{path}:{start}: expected {len(header)} fields as in the header, "
                f"found {len(row)}; quote a rationale that contains the delimiter"
            )
            continue
        yield _Row(start, dict(zip(header, row, strict=True)))
    if header is None:
        problems.append(f"{path}: the file is empty; it needs a header and one row per label")


def _text(value: Any) -> str | None:
    """A cell as stripped text; ``None`` for a value that is no text (a list, a mapping)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _check_row(
    path: Path, row: _Row, notebooks: Collection[str], index_path: str, problems: list[str]
) -> dict[str, Any] | None:
    """Normalise one row, or append its problems and return ``None``."""
    where = f"{path}:{row.line}"
    found = len(problems)
    text = {
        column: _text(row.values.get(column))
        for column in ("notebook_id", "dimension", "rationale", "rater_id", "source")
    }
    for column, value in text.items():
        if value is None:
            problems.append(f"{where}: {column} must be text, got {row.values[column]!r}")
    notebook_id, rater_id, rationale = text["notebook_id"], text["rater_id"], text["rationale"]
    if notebook_id == "":
        problems.append(f"{where}: empty notebook_id; name the notebook that was graded")
    elif notebook_id is not None and notebook_id not in notebooks:
        close = difflib.get_close_matches(notebook_id, sorted(notebooks), n=1)
        hint = f"did you mean {close[0]!r}?" if close else "use the ids listed there"
        problems.append(
            f"{where}: unknown notebook {notebook_id!r}: it is not in {index_path}; {hint}"
        )
    dimension = text["dimension"]
    if dimension is not None:
        dimension = dimension.lower().replace(" ", "_").replace("-", "_")
        if dimension not in DIMENSIONS:
            problems.append(
                f"{where}: unknown dimension {text['dimension']!r}; "
                f"valid dimensions: {', '.join(DIMENSIONS)}"
            )
    raw_score = row.values.get("score")
    score = normalize_score(raw_score)
    if raw_score is None or (isinstance(raw_score, str) and not raw_score.strip()):
        problems.append(f"{where}: empty score; use 1, 2, 3 or N/A")
    elif isinstance(score, bool) or score not in _SCORES:
        problems.append(f"{where}: score {raw_score!r} is out of range; use 1, 2, 3 or N/A")
    if rationale == "":
        problems.append(
            f"{where}: empty rationale; write the rater's reason for the score in a sentence"
        )
    if rater_id == "":
        problems.append(f"{where}: empty rater_id; name who graded it (e.g. expert_1)")
    source = text["source"]
    if source is not None:
        source = source.lower() or "human"
    if source is not None and source not in _SOURCES:
        problems.append(
            f"{where}: source {text['source']!r} is not one of {', '.join(_SOURCES)}; "
            "leave it empty for human labels"
        )
    if len(problems) > found:
        return None
    return {
        "notebook_id": notebook_id,
        "dimension": dimension,
        "score": score,
        "rationale": rationale,
        "rater_id": rater_id,
        "source": source,
    }


def read_label_file(
    path: str | Path, notebook_ids: Iterable[str], *, index_path: str = "the notebook index"
) -> list[Label]:
    """Read and check a label file; return its labels in file order.

    ``notebook_ids`` are the notebooks that may be graded (the notebook
    index); ``index_path`` names that index in messages. Raises
    :class:`LabelFileError` listing every problem found.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (*_JSONL, *_DELIMITERS):
        raise LabelFileError(
            path,
            [f"{path}: unsupported file type {suffix or '(none)'!r}; use .jsonl, .csv or .tsv"],
        )
    text = _decode(path)
    problems: list[str] = []
    if suffix in _JSONL:
        rows = list(_jsonl_rows(path, text, problems))
        if not rows and not problems:
            problems.append(f"{path}: the file is empty; it needs one JSON object per label")
    else:
        rows = list(_csv_rows(path, text, _DELIMITERS[suffix], problems))
        if not rows and not problems:
            problems.append(f"{path}: the file has a header but no labels")
    notebooks = frozenset(notebook_ids)
    checked = []
    first_line: dict[tuple[str, str, str], int] = {}
    for row in rows:
        values = _check_row(path, row, notebooks, index_path, problems)
        if values is None:
            continue
        key = (values["notebook_id"], values["dimension"], values["rater_id"])
        if key in first_line:
            problems.append(
                f"{path}:{row.line}: duplicate label for notebook {key[0]!r}, dimension "
                f"{key[1]!r}, rater {key[2]!r}: line {first_line[key]} grades the same; "
                "keep one of the two lines"
            )
            continue
        first_line[key] = row.line
        checked.append(values)
    if problems:
        raise LabelFileError(path, problems)
    return [Label(**values) for values in checked]


def import_labels(
    path: str | Path,
    notebook_ids: Iterable[str],
    out: str | Path,
    *,
    index_path: str = "the notebook index",
) -> list[Label]:
    """Check a label file whole, then write its labels to ``out``.

    On any problem :class:`LabelFileError` is raised and ``out`` is left as
    it was (not created, not truncated).
    """
    labels = read_label_file(path, notebook_ids, index_path=index_path)
    write_records(out, labels)
    return labels


@dataclass(frozen=True)
class LabelSummary:
    """Counts that say what a label file rests on."""

    labels: int
    notebooks: int
    raters: int
    multi_rated: int  # notebooks graded by two or more raters
    sources: tuple[str, ...]

    @property
    def multi_rated_share(self) -> float:
        return self.multi_rated / self.notebooks if self.notebooks else 0.0

    def __str__(self) -> str:
        def count(n: int, noun: str) -> str:
            return f"{n} {noun}" + ("" if n == 1 else "s")

        return (
            f"{count(self.labels, 'label')} ({'+'.join(self.sources) or 'none'}) on "
            f"{count(self.notebooks, 'notebook')} by {count(self.raters, 'rater')}; "
            f"{count(self.multi_rated, 'notebook')} ({self.multi_rated_share:.0%}) graded by "
            f"two or more raters"
        )


def summarize_labels(labels: Iterable[Label]) -> LabelSummary:
    """Count labels, notebooks, raters and multi-rated notebooks."""
    labels = list(labels)
    raters_of: dict[str, set[str]] = {}
    for label in labels:
        raters_of.setdefault(label.notebook_id, set()).add(label.rater_id)
    return LabelSummary(
        labels=len(labels),
        notebooks=len(raters_of),
        raters=len({label.rater_id for label in labels}),
        multi_rated=sum(len(raters) >= 2 for raters in raters_of.values()),
        sources=tuple(sorted({label.source for label in labels})),
    )


def write_label_template(
    notebook_ids: Iterable[str], out: str | Path, *, rater_id: str = "expert_1"
) -> int:
    """Write a CSV for experts to fill: one row per notebook and dimension, with
    ``score`` and ``rationale`` empty. It is not importable until they are filled
    (an empty score or rationale is reported with its line). Returns the rows."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(LABEL_COLUMNS)
        for notebook_id in notebook_ids:
            for dimension in DIMENSIONS:
                writer.writerow([notebook_id, dimension, "", "", rater_id])
                rows += 1
    return rows
