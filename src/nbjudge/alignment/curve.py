"""The label-efficiency curve: how the aligned judges improve with more labelled notebooks.

For each fraction ``q`` of ``curve.fractions`` and each CV repeat, a seeded
permutation of every fold's notebooks is cut at ``ceil(q * size)`` (at least
one notebook): those are the labelled notebooks of that fold at ``q``, and
a larger ``q`` keeps every notebook of a smaller one (nested subsets). Fold
``f``'s judges then learn from the labelled notebooks of the other folds
only, which is a share ``q`` of each of its training folds, and judge all of
fold ``f``: ``full`` and ``semantic_only`` through MemAlign
(:func:`~nbjudge.alignment.crossval.cross_validate`), ``calibrated`` through
the isotonic control (:func:`~nbjudge.controls.run_controls`). Judgments are
named ``<variant>@<q>``; the held-out labels score them as for every other
variant.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nbjudge.params import Params, need
from nbjudge.schemas import Judgment, Label

from .folds import FoldAssignment

__all__ = ["CURVE_VARIANTS", "curve_judgments", "curve_splits", "curve_subsets",
           "label_efficiency", "labelled_per_fold"]

CURVE_VARIANTS = ("full", "semantic_only", "calibrated")


def _check_fractions(fractions: Iterable[float]) -> list[float]:
    checked = sorted({float(q) for q in fractions})
    bad = [q for q in checked if not 0 < q <= 1]
    if bad:
        raise ValueError(f"curve.fractions must lie in (0, 1]; got {bad}")
    return checked


def curve_subsets(assignment: FoldAssignment, fractions: Iterable[float], *,
                  seed: int) -> dict[float, set[str]]:
    """For each fraction, the labelled notebooks of every fold (nested, seeded per repeat)."""
    fractions = _check_fractions(fractions)
    rng = np.random.default_rng([seed, assignment.repeat, 7])  # 7: the curve's own stream
    order = {fold: [str(n) for n in rng.permutation(sorted(assignment.test_ids(fold)))]
             for fold in range(assignment.k)}
    return {q: {n for ids in order.values()
                for n in ids[:max(1, math.ceil(q * len(ids)))]} for q in fractions}


def curve_splits(assignments: Sequence[FoldAssignment], fractions: Iterable[float], *,
                 seed: int) -> dict[float, list[tuple[list[str], list[str]]]]:
    """For each fraction, every repeat's and fold's (labelled training notebooks, held-out
    notebooks): what :func:`label_efficiency` aligns on and judges (for the plan)."""
    fractions = _check_fractions(fractions)
    splits: dict[float, list[tuple[list[str], list[str]]]] = {q: [] for q in fractions}
    for assignment in assignments:
        subsets = curve_subsets(assignment, fractions, seed=seed)
        for q in fractions:
            splits[q] += [([n for n in assignment.train_ids(f) if n in subsets[q]],
                           list(assignment.test_ids(f))) for f in range(assignment.k)]
    return splits


def labelled_per_fold(assignment: FoldAssignment, subset: set[str]) -> float:
    """Mean number of labelled training notebooks per fold."""
    return float(np.mean([len(set(assignment.train_ids(f)) & subset)
                          for f in range(assignment.k)]))


def label_efficiency(
    inputs: Any,
    assignments: Sequence[FoldAssignment],
    fractions: Iterable[float],
    *,
    variants: Sequence[str] = CURVE_VARIANTS,
    baseline: Sequence[Judgment] = (),
    settings: Any,
    controls: Any,
    backend: Any,
    audit_root: str | Path,
    seed: int,
    consensus_rule: Any = None,
    progress: bool = True,
) -> tuple[list[Judgment], dict[float, float]]:
    """The curve's judgments (``<variant>@<q>``) and, per fraction, the mean number of
    labelled training notebooks per fold (over repeats).

    ``inputs`` is the stage's :class:`~nbjudge.judges.batch.JudgingInputs`,
    ``baseline`` the baseline judgments (for ``calibrated``), ``controls`` the
    :class:`~nbjudge.controls.ControlSettings` (human consensus, seed),
    ``consensus_rule`` how MemAlign combines several raters (as ``align`` does).
    """
    from dataclasses import replace

    from nbjudge.controls import run_controls

    from .crossval import cross_validate

    unknown = [v for v in variants if v not in CURVE_VARIANTS]
    if unknown:
        raise ValueError(f"unknown curve variant(s) {unknown}; known: {list(CURVE_VARIANTS)}")
    fractions = _check_fractions(fractions)
    labels: list[Label] = list(inputs.labels)
    labelled: Mapping[str, set[str]] = inputs.labelled()
    traces = inputs.traces() if any(v != "calibrated" for v in variants) else {}
    judgments: list[Judgment] = []
    sizes: dict[float, list[float]] = {q: [] for q in fractions}
    for assignment in assignments:
        subsets = curve_subsets(assignment, fractions, seed=seed)
        for q in fractions:
            subset = subsets[q]
            sizes[q].append(labelled_per_fold(assignment, subset))
            name = f"{q:g}"
            taught = [x for x in labels if x.notebook_id in subset]
            for variant in variants:
                if variant == "calibrated":
                    records, _ = run_controls(
                        taught, baseline, [assignment],
                        replace(controls, variants=("calibrated",)),
                        dimensions=sorted({x.dimension for x in labels}))
                else:
                    records, _, _ = cross_validate(
                        inputs.views, traces,
                        {d: ids & subset for d, ids in labelled.items()}, [assignment],
                        variant=variant, llm=inputs.llm, judge=inputs.judge, settings=settings,
                        backend=backend, audit_root=Path(audit_root) / f"{variant}@{name}",
                        progress=progress, labels=taught, consensus_rule=consensus_rule)
                judgments += [j.model_copy(update={"variant": f"{variant}@{name}"})
                              for j in records]
    return judgments, {q: float(np.mean(v)) for q, v in sizes.items()}


def curve_judgments(params: Params, *, folds: Path, index: Path, cases: Path, labels: Path,
                    judgments: Path, out: Path) -> tuple[list[Judgment], dict[float, float]]:
    """What the curve stage computes before its statistics: the judgments of every
    fraction and variant of ``curve`` and the labelled notebooks per fold (nothing, and
    no model started, when it is off).

    A variant that needs a model prints and checks its plan first, as ``align`` does
    (written to ``out``/plan.json); ``calibrated`` calibrates the baseline judgments in
    ``judgments``/baseline.jsonl; the alignment audits go under ``out``/alignment.
    """
    import contextlib

    from nbjudge.controls import ControlSettings
    from nbjudge.judges.batch import load_judging_inputs
    from nbjudge.llm.backends import open_backend
    from nbjudge.llm.cache import CACHE_ROOT
    from nbjudge.plan import announce
    from nbjudge.plan.judging import curve_plan
    from nbjudge.schemas import read_records

    from .folds import read_folds
    from .memalign import ConsensusRule

    curve, stats, seed = need(params.curve, "curve"), need(params.stats, "stats"), need(
        params.seed, "seed")
    fractions, variants = list(curve.fractions or []), curve.variants
    if not fractions or not variants:
        return [], {}
    settings = need(params.memalign, "memalign")
    inputs = load_judging_inputs(params, index=index, cases=cases, labels=labels)
    baseline = (read_records(judgments / "baseline.jsonl", Judgment)
                if "calibrated" in variants else [])
    controls = ControlSettings(seed=seed, consensus=stats.consensus,
                               consensus_na=stats.consensus_na, na_policy=stats.na_policy)
    needs_model = any(v != "calibrated" for v in variants)
    assignments = read_folds(folds)
    if needs_model:
        announce(curve_plan(inputs.views, inputs.labels,
                            curve_splits(assignments, fractions, seed=seed),
                            variants, inputs.llm, settings), inputs.llm, out / "plan.json")
    backend_context = (open_backend(inputs.llm, embeddings=True, cache_dir=CACHE_ROOT,
                                    log_dir=CACHE_ROOT / "logs") if needs_model
                       else contextlib.nullcontext(None))  # calibration needs no model
    with backend_context as backend:
        return label_efficiency(
            inputs, assignments, fractions, variants=variants, baseline=baseline,
            settings=settings, controls=controls, backend=backend,
            audit_root=out / "alignment", seed=seed,
            consensus_rule=ConsensusRule(stats.consensus, stats.consensus_na, stats.na_policy))
