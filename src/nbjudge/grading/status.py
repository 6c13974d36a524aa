"""``grading status``: what is graded, by whom, what is missing, which forms were sent
half-answered and what cannot be imported."""

from __future__ import annotations

from nbjudge.grading.reader import GradeSet
from nbjudge.schemas import DIMENSIONS

__all__ = ["status_lines"]

_MISSING_SHOWN = 6


def status_lines(grades: GradeSet, experiment: str) -> list[str]:
    """The status report, one line per rater and dimension, then the problems."""
    graded: dict[tuple[str, str], set[str]] = {}
    for label in grades.labels:
        graded.setdefault((label.rater_id, label.dimension), set()).add(label.notebook_id)
    for problem in grades.problems:  # a grade with a problem is given, but not importable
        graded.setdefault((problem.rater, problem.name), set())
    raters = sorted(set(grades.assigned) | {rater for rater, _ in graded})
    lines = [f"grading experiment {experiment!r}: {len(grades.labels)} importable grade(s), "
             f"{len(grades.problems)} problem(s), {len(raters)} rater(s)"]
    if not raters:
        lines.append("  no grading trace yet: run `python -m nbjudge grading start`")
    width = max(len(d) for d in DIMENSIONS)
    for rater in raters:
        assigned = set(grades.assigned.get(rater, ()))
        done_all = {n for (r, _), ids in graded.items() if r == rater for n in ids}
        total = len(assigned | done_all)
        lines.append(f"{rater}: {total} notebook(s)")
        for dimension in DIMENSIONS:
            done = graded.get((rater, dimension), set())
            missing = sorted((assigned | done_all) - done)
            text = f"  {dimension:<{width}}  {len(done):>3}/{total}"
            if missing:
                shown = ", ".join(missing[:_MISSING_SHOWN])
                more = len(missing) - _MISSING_SHOWN
                text += f"  missing: {shown}" + (f" (+{more} more)" if more > 0 else "")
            lines.append(text)
    lines += _partial_forms(grades)
    if grades.problems:
        lines.append(f"cannot be imported ({len(grades.problems)}; fix them in MLflow's UI):")
        lines += [f"  {problem}" for problem in grades.problems]
    if grades.superseded:
        lines.append(f"{grades.superseded} earlier grade(s) replaced by a later edit "
                     "(the latest counts)")
    if grades.ignored:
        lines.append(f"{grades.ignored} human feedback(s) on traces that are not grading "
                     "traces: ignored")
    return lines


def _partial_forms(grades: GradeSet) -> list[str]:
    """Notebooks a rater started but did not finish: the form's Submit takes any number
    of answers, so a form sent with two of nine answered looks done in the queue."""
    answered: dict[tuple[str, str], set[str]] = {}
    for label in grades.labels:
        answered.setdefault((label.rater_id, label.notebook_id), set()).add(label.dimension)
    for problem in grades.problems:   # answered, if wrongly; other names answer nothing
        if problem.name in DIMENSIONS:
            answered.setdefault((problem.rater, problem.notebook_id), set()).add(problem.name)
    partial = sorted((key, len(found)) for key, found in answered.items()
                     if len(found) < len(DIMENSIONS))
    if not partial:
        return []
    lines = [f"partial forms ({len(partial)}: fewer than {len(DIMENSIONS)} answers; open the "
             "notebook again in the rater's queue, answer the rest and Submit):"]
    lines += [f"  {rater}: {notebook} has {count} of {len(DIMENSIONS)}"
              for (rater, notebook), count in partial]
    return lines
