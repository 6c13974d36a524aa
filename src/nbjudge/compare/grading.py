"""Which compared notebooks experts grade: ``python -m nbjudge compare grading-list``.

A seeded random sample stratified by arm and case
(:func:`~nbjudge.stats.compare.grading_sample`: each arm the same share, spread over the
cases all arms share, so that grades pair by case), written as a label template (the
``labels=file`` format, one row per notebook and dimension) and, unless asked not to, as
MLflow grading traces in a grading experiment (:func:`nbjudge.grading.start.start_grading`).
The grades come back with ``compare.grades.source=file`` (the filled template) or
``compare.grades.source=mlflow`` (the grading experiment), and PPI uses them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbjudge.compare.build import read_manifest
from nbjudge.compare.results import graded_sample
from nbjudge.errors import InputError
from nbjudge.schemas import Case, Notebook, read_records

__all__ = ["COMPARE_GRADING_EXPERIMENT", "GradingList", "grading_list"]

COMPARE_GRADING_EXPERIMENT = "nbjudge-compare-grading"


@dataclass(frozen=True)
class GradingList:
    """The notebooks drawn, per arm, and the grading traces made (None: not asked)."""

    notebooks: tuple[str, ...]
    per_arm: dict[str, int]
    template_rows: int
    traces: Any = None


def grading_list(notebooks_dir: Path, *, fraction: float, seed: int, out: Path,
                 rater: str = "expert_1", raters: Sequence[str] = (),
                 tracking_uri: str | None = None,
                 experiment: str = COMPARE_GRADING_EXPERIMENT) -> GradingList:
    """Draw the notebooks to grade from the compared notebooks under ``notebooks_dir`` (the
    compare_notebooks stage's output), write the label template ``out`` for ``rater`` and,
    with ``raters``, log their grading traces at ``tracking_uri``."""
    from nbjudge.benchmark.labels import write_label_template

    manifest = read_manifest(notebooks_dir / "arms.json")
    if manifest.off:
        raise InputError("no arms were compared (compare.arms is empty): set arms in "
                         "conf/compare/ and run `dvc exp run -S compare=<yours>` first")
    if not 0 < fraction <= 1:
        raise InputError(f"--fraction must lie in (0, 1]; got {fraction}")
    index = read_records(notebooks_dir / "index.jsonl", Notebook)
    chosen = graded_sample(index, manifest.arm_of, fraction=fraction, seed=seed)
    rows = write_label_template(chosen, out, rater_id=rater)
    per_arm: dict[str, int] = dict.fromkeys(manifest.arms, 0)
    for notebook_id in chosen:
        per_arm[manifest.arm_of[notebook_id]] += 1
    traces = None
    if raters:
        from nbjudge.grading.start import notebook_for_grading, start_grading
        from nbjudge.grading.traces import resolve_tracking_uri

        prompts = {c.case_id: c.prompt
                   for c in read_records(notebooks_dir / "cases.jsonl", Case)}
        wanted = set(chosen)
        graded = [notebook_for_grading(n, prompts.get(n.case_id, "(no task prompt)"))
                  for n in index if n.notebook_id in wanted]
        traces = start_grading(graded, list(raters),
                               tracking_uri=resolve_tracking_uri(tracking_uri),
                               experiment=experiment)
    return GradingList(chosen, per_arm, rows, traces)
