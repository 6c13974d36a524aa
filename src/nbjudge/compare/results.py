"""The comparison's results from the judgments of the arms' notebooks and expert grades.

:func:`compared_grades` gathers the grades of compared notebooks (``compare.grades``):
a label file, an MLflow grading experiment, or for procedural arms the simulated panel on a
seeded, stratified share of them. :func:`comparison` runs :func:`nbjudge.stats.arm_table`
and :func:`nbjudge.stats.compare_arms` with the experiment's statistics settings (level,
N/A and failure policies, sign-flip resamples, seed). :func:`metrics` is the small file
``dvc exp show`` and ``dvc metrics diff`` read: per arm and dimension the mean score, per
comparison and dimension the difference (and PPI's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nbjudge.errors import InputError
from nbjudge.params import Params, need
from nbjudge.schemas import BlueprintEntry, Judgment, Label, Notebook
from nbjudge.stats.compare import ComparisonStats, arm_table, compare_arms, grading_sample

__all__ = ["compared_grades", "comparison", "graded_sample", "metrics"]


def graded_sample(index: Sequence[Notebook], arm_of: Mapping[str, str], *, fraction: float,
                  seed: int, arms: Sequence[str] | None = None) -> tuple[str, ...]:
    """The notebooks experts grade: :func:`~nbjudge.stats.compare.grading_sample` over the
    compared notebooks (of ``arms`` only, when given), stratified by arm and case."""
    chosen = [n for n in index if arms is None or arm_of[n.notebook_id] in arms]
    if not chosen:
        return ()
    return grading_sample([n.notebook_id for n in chosen], [arm_of[n.notebook_id] for n in chosen],
                          [n.case_id for n in chosen], fraction=fraction, seed=seed)


def compared_grades(params: Params, index: Sequence[Notebook], arm_of: Mapping[str, str],
                    backends: Mapping[str, str], blueprint: Sequence[BlueprintEntry]
                    ) -> list[Label]:
    """Expert grades of compared notebooks by ``compare.grades.source``; [] for none."""
    grades = need(params.compare, "compare").grades
    ids = [n.notebook_id for n in index]
    if grades.source == "none" or not ids:
        return []
    if grades.source == "file":
        from nbjudge.benchmark.labels import read_label_file

        assert grades.path is not None  # CompareGradesParams checks it
        return read_label_file(grades.path, ids, index_path="the compared notebooks "
                               "(data/compare/notebooks/index.jsonl)")
    if grades.source == "mlflow":
        from nbjudge.grading import read_grades, resolve_tracking_uri

        uri = resolve_tracking_uri(grades.tracking_uri)
        found = read_grades(uri, grades.experiment, ids)
        if found.problems:
            raise InputError(f"grading experiment {grades.experiment!r}: "
                             f"{len(found.problems)} grade(s) cannot be read, e.g. "
                             f"{found.problems[0]}; fix them in MLflow's UI")
        return list(found.labels)
    from nbjudge.benchmark.panel import panel_config, simulate_panel

    procedural = [arm for arm, backend in backends.items() if backend == "procedural"]
    if not procedural:
        raise InputError("compare.grades.source is panel, but no arm is procedural: the "
                         "simulated panel grades from the true levels only procedural "
                         "notebooks have; use grades.source file or mlflow")
    seed = need(params.seed, "seed")
    sample = set(graded_sample(index, arm_of, fraction=grades.fraction, seed=seed,
                               arms=procedural))
    entries = [entry for entry in blueprint if entry.notebook_id in sample]
    labels = params.labels
    panel = (labels.panel.model_dump(exclude_unset=True)
             if labels is not None and labels.source == "panel" else {})
    return simulate_panel(entries, panel_config(**panel), np.random.default_rng(seed + 1))


def comparison(params: Params, judgments: Sequence[Judgment], index: Sequence[Notebook],
               arm_of: Mapping[str, str], arms: Sequence[str], reference: str,
               grades: Sequence[Label]) -> ComparisonStats:
    """Each arm against ``reference`` per dimension with the experiment's stats settings."""
    stats = need(params.stats, "stats")
    case_of = {n.notebook_id: n.case_id for n in index}
    try:
        table = arm_table(judgments, arm_of, case_of, grades, arms=list(arms),
                          na_rule=stats.consensus_na)
        return compare_arms(
            table.judge, failed=table.failed, human=table.human, arms=table.arms,
            dimensions=table.dimensions, reference=reference, na_policy=stats.na_policy,
            failure_policy=stats.failure_policy, level=stats.bootstrap.level,
            n_resamples=stats.permutation.n_resamples,
            rng=np.random.default_rng(need(params.seed, "seed")))
    except ValueError as error:
        raise InputError(f"the comparison cannot be computed: {error}") from None


def _number(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 4)


def metrics(result: ComparisonStats | None) -> dict[str, Any]:
    """``reports/compare.json``: ``arms.<arm>.<dimension>`` the mean judge score,
    ``comparisons.<candidate>_vs_<reference>.<dimension>`` the difference, and its PPI
    estimate under ``ppi_difference`` where experts graded some notebooks. Empty when the
    comparison is off."""
    if result is None:
        return {}
    arms = result.arms
    out: dict[str, Any] = {"arms": {
        arm: {d: _number(arms.mean[a, k]) for k, d in enumerate(arms.dimensions)}
        for a, arm in enumerate(arms.arms)}, "comparisons": {}}
    for c, (reference, candidate) in enumerate(result.comparisons):
        entry: dict[str, Any] = {"difference": {
            d: _number(result.difference[c, k]) for k, d in enumerate(result.dimensions)}}
        if np.isfinite(result.ppi_difference[c]).any():
            entry["ppi_difference"] = {d: _number(result.ppi_difference[c, k])
                                       for k, d in enumerate(result.dimensions)}
        out["comparisons"][f"{candidate}_vs_{reference}"] = entry
    return out
