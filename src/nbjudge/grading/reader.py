"""Human grades given in MLflow's UI, read back as labels (``labels=mlflow``).

Every HUMAN feedback on a grading trace (:mod:`nbjudge.grading.traces`) is one grade:
its name is the dimension, its value the score (1, 2, 3 or N/A; the review form's
``"3"``, the trace view's Number 1.0 and the String ``"n/a"`` are read as such), its
rationale the rater's reason (the form's comment). The rater is the feedback's source id
(the signed-in user's name), except when nobody signed in: MLflow's UI then records
``User`` (trace view) or ``default`` (review queue), and the grade belongs to the rater
the trace was made for, whose queue alone holds it. So two raters grading one notebook
write on two traces and never replace each other's grade.

One label per (notebook, dimension, rater): the rater's latest edit wins (an edit in the
UI adds a feedback that overrides the old one, which MLflow marks invalid and which is
never read; of two separate feedbacks of one name, the later counts). Feedback on traces
that are not grading traces, feedback from judges or code, and expectations are never
imported. Every grade is checked before anything is
returned, as with ``labels=file``: an unknown name, a value outside 1/2/3/N/A, an empty
rationale or a notebook outside the index is listed with its trace and the fix, and
nothing is imported until all are fixed.

The digest (:attr:`GradeSet.digest`) fingerprints what would be imported; ``grading
status`` writes it to the file ``dvc.yaml`` declares as the ``label`` stage's dependency,
so a changed grade changes the dependency.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbjudge.benchmark.labels import LABEL_COLUMNS
from nbjudge.errors import InputError
from nbjudge.grading.traces import QUEUE_PREFIX, UI_ANONYMOUS, GradingTrace, grading_traces
from nbjudge.schemas import DIMENSIONS, Label, RecordError, normalize_score, write_records

__all__ = [
    "GradeError",
    "GradeProblem",
    "GradeSet",
    "check_digest",
    "export_grades",
    "grades_from_traces",
    "import_grades",
    "read_grades",
    "write_digest",
]

_SCORES = (1, 2, 3, "N/A")
# The question MLflow adds to every experiment with review queues (not one of ours).
BUILTIN_SCHEMA = "Feedback"
_REPORTED = 20
DIGEST_VERSION = 1


class GradeError(RecordError):
    """The grades cannot be imported; the message lists every problem and its fix."""


@dataclass(frozen=True)
class GradeProblem:
    """A grade that cannot be imported."""

    trace_id: str
    notebook_id: str
    rater: str
    name: str
    message: str

    def __str__(self) -> str:
        return (f"trace {self.trace_id} (notebook {self.notebook_id}, rater {self.rater}), "
                f"feedback {self.name!r}: {self.message}")


@dataclass(frozen=True)
class GradeSet:
    """What the grading experiment holds, checked."""

    labels: tuple[Label, ...]
    problems: tuple[GradeProblem, ...]
    assigned: dict[str, tuple[str, ...]] = field(default_factory=dict)  # rater -> notebooks
    superseded: int = 0          # earlier grades replaced by a later edit
    ignored: int = 0             # feedback on traces that are not grading traces

    @property
    def digest(self) -> str:
        """sha256 of the labels and problems (order-free): what the label stage would make."""
        rows = sorted(json.dumps([label.notebook_id, label.dimension, label.rater_id,
                                  str(label.score), label.rationale]) for label in self.labels)
        rows += sorted(str(problem) for problem in self.problems)
        return hashlib.sha256("\n".join(rows).encode("utf-8")).hexdigest()


def _dimension(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def _when(assessment: Any) -> tuple[int, int]:
    def millis(value: Any) -> int:
        if value is None:
            return 0
        if isinstance(value, int | float):
            return int(value)
        return int(value.timestamp() * 1000) if hasattr(value, "timestamp") else 0

    return (millis(getattr(assessment, "last_update_time_ms", None)
                   or getattr(assessment, "last_update_time", None)),
            millis(getattr(assessment, "create_time_ms", None)
                   or getattr(assessment, "create_time", None)))


def _is_human_feedback(assessment: Any) -> bool:
    source = getattr(assessment, "source", None)
    kind = str(getattr(source, "source_type", "")).upper()
    return getattr(assessment, "feedback", None) is not None and kind.endswith("HUMAN")


def _rater(assessment: Any, trace: GradingTrace) -> str:
    source_id = (getattr(assessment.source, "source_id", None) or "").strip()
    return trace.rater if source_id in UI_ANONYMOUS else source_id


def _check(assessment: Any, trace: GradingTrace, rater: str, notebooks: Collection[str]
           ) -> tuple[dict[str, Any] | None, list[GradeProblem]]:
    name = assessment.name or ""
    problems: list[str] = []
    dimension = _dimension(name)
    if name == BUILTIN_SCHEMA:
        problems.append("a grade on MLflow's built-in question 'Feedback', not on a dimension; "
                        "delete it (Assess on the trace) and answer the dimension's question "
                        "in your queue, '" + QUEUE_PREFIX + rater + "'")
    elif dimension not in DIMENSIONS:
        close = difflib.get_close_matches(dimension, DIMENSIONS, n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(f"unknown name{hint}; delete it and add the feedback again named after a "
                        f"dimension: {', '.join(DIMENSIONS)}")
    feedback = assessment.feedback
    error = getattr(feedback, "error", None)
    value = getattr(feedback, "value", None)
    score = normalize_score(value)
    if error is not None:
        problems.append("the feedback holds an error, not a grade; add the grade again")
    elif value is None or (isinstance(value, str) and not value.strip()):
        problems.append("no value; edit it to 1, 2, 3 (Number) or N/A (String)")
    elif isinstance(score, bool) or score not in _SCORES:
        problems.append(f"value {value!r} is not 1, 2, 3 or N/A; edit it (Data Type Number for "
                        "1, 2, 3; String for N/A)")
    rationale = (assessment.rationale or "").strip()
    if not rationale:
        problems.append("empty rationale; edit it and write the reason for the score in a "
                        "sentence")
    if trace.notebook_id not in notebooks:
        problems.append("the notebook is not in the notebook index; grade in an experiment "
                        "made by `grading start` for this index, or delete the trace")
    if problems:
        return None, [GradeProblem(trace.trace_id, trace.notebook_id, rater, name, message)
                      for message in problems]
    return {"notebook_id": trace.notebook_id, "dimension": dimension, "score": score,
            "rationale": rationale, "rater_id": rater, "source": "human"}, []


def grades_from_traces(grading: Iterable[GradingTrace], notebook_ids: Iterable[str], *,
                       ignored: int = 0) -> GradeSet:
    """Check the HUMAN feedback of ``grading`` traces: one label per (notebook, dimension,
    rater), the latest edit winning."""
    notebooks = frozenset(notebook_ids)
    grading = list(grading)
    candidates: dict[tuple[str, str, str], list[tuple[Any, GradingTrace, str]]] = {}
    assigned: dict[str, set[str]] = {}
    superseded = 0
    for trace in grading:
        assigned.setdefault(trace.rater, set()).add(trace.notebook_id)
        for assessment in trace.assessments:
            if not _is_human_feedback(assessment):
                continue
            if getattr(assessment, "valid", True) is False:   # replaced by an edit
                superseded += 1
                continue
            rater = _rater(assessment, trace)
            key = (trace.notebook_id, _dimension(assessment.name or ""), rater)
            candidates.setdefault(key, []).append((assessment, trace, rater))
    labels: list[Label] = []
    problems: list[GradeProblem] = []
    for key in sorted(candidates):
        found = candidates[key]
        found.sort(key=lambda item: _when(item[0]))   # two feedbacks of one name: the later
        superseded += len(found) - 1
        assessment, trace, rater = found[-1]
        values, found_problems = _check(assessment, trace, rater, notebooks)
        problems += found_problems
        if values is not None:
            labels.append(Label(**values))
    return GradeSet(tuple(labels), tuple(problems),
                    {rater: tuple(sorted(ids)) for rater, ids in sorted(assigned.items())},
                    superseded, ignored)


def read_grades(tracking_uri: str, experiment: str, notebook_ids: Iterable[str]) -> GradeSet:
    """Read and check every grade of the grading ``experiment``."""
    grading, others = grading_traces(tracking_uri, experiment)
    ignored = sum(1 for _, assessments in others for a in assessments
                  if _is_human_feedback(a))
    return grades_from_traces(grading, notebook_ids, ignored=ignored)


def _raise_problems(grades: GradeSet, experiment: str) -> None:
    if not grades.problems:
        return
    shown = [f"  {problem}" for problem in grades.problems[:_REPORTED]]
    more = len(grades.problems) - len(shown)
    lines = [f"grading experiment {experiment!r}: {len(grades.problems)} grade(s) cannot be "
             "imported; no label was imported. Fix them in MLflow's UI and rerun:", *shown]
    if more:
        lines.append(f"  ... and {more} more (`python -m nbjudge grading status` lists all)")
    raise GradeError("\n".join(lines))


def write_digest(path: str | Path, grades: GradeSet, experiment: str) -> str:
    """Write the digest file the ``label`` stage depends on; return the digest."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"schema_version": DIGEST_VERSION, "experiment": experiment,
            "labels": len(grades.labels), "problems": len(grades.problems),
            "sha256": grades.digest}
    text = json.dumps(body, indent=2) + "\n"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return grades.digest


def check_digest(path: str | Path, grades: GradeSet, experiment: str) -> None:
    """Raise unless ``path`` holds the digest of ``grades`` (so that DVC's record of the
    stage's dependency describes the labels it made)."""
    path = Path(path)
    fix = ("run `python -m nbjudge grading status` (it writes the digest) and rerun, so that "
           "DVC sees the grades change")
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GradeError(f"{path}: no grade digest; {fix}") from None
    except json.JSONDecodeError as error:
        raise GradeError(f"{path}: not a grade digest ({error}); {fix}") from None
    if not isinstance(recorded, dict) or recorded.get("experiment") != experiment:
        raise GradeError(f"{path}: the digest is of another experiment "
                         f"({recorded.get('experiment') if isinstance(recorded, dict) else '?'}"
                         f", not {experiment!r}); {fix}")
    if recorded.get("sha256") != grades.digest:
        raise GradeError(f"{path}: the grades changed since the digest was written; {fix}")


def import_grades(tracking_uri: str, experiment: str, notebook_ids: Sequence[str],
                  out: str | Path, digest_path: str | Path | None = None) -> list[Label]:
    """The ``label`` stage with ``labels=mlflow``: check every grade, check the digest
    file, then write the labels to ``out`` (left as it was on any problem)."""
    grades = read_grades(tracking_uri, experiment, notebook_ids)
    _raise_problems(grades, experiment)
    if not grades.labels:
        raise GradeError(
            f"grading experiment {experiment!r} at {tracking_uri} holds no grade yet; grade "
            "the notebooks in MLflow's UI (`python -m nbjudge grading start` says how)")
    if digest_path is not None:
        check_digest(digest_path, grades, experiment)
    write_records(out, grades.labels)
    return list(grades.labels)


def export_grades(grades: GradeSet, out: str | Path, experiment: str) -> int:
    """Write the grades as a label file (``.csv``, ``.tsv`` or ``.jsonl``) that
    ``labels=file`` imports; refuses while any grade has a problem."""
    _raise_problems(grades, experiment)
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".tsv", ".jsonl"):
        raise InputError(f"{out}: export to .csv, .tsv or .jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    columns = (*LABEL_COLUMNS, "source")
    if suffix == ".jsonl":
        return write_records(out, grades.labels)
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="," if suffix == ".csv" else "\t")
        writer.writerow(columns)
        for label in grades.labels:
            writer.writerow([getattr(label, column) for column in columns])
    return len(grades.labels)
