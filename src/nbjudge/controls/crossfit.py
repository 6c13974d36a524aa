"""Control variants out of fold, with the folds and repeats of the aligned judges.

For every CV repeat, fold and dimension, each control learns from the
training folds' human consensus only and scores the held-out fold:

- ``majority``: the most common training score (:func:`~.noskill.majority_score`);
- ``prior``: a draw from the training scores' distribution, seeded by
  ``(seed, repeat, fold, dimension)``; the distribution is recorded so the
  stats stage gives the exact expected MAE beside the drawn one;
- ``calibrated``: the baseline judge's score through a monotone map fit on
  the training folds (:func:`~.calibration.fit_calibration`);
- ``calibrated_full``: the same on top of the ``full`` variant, where it
  ran. Its training pairs use the ``full`` scores of the training notebooks,
  each judged out of its own fold; those judges' memories held other folds'
  labels (the held-out fold's among them), but no held-out label enters the
  map itself.

A control writes ordinary judgment records (its own ``variant``, the fold
and repeat, no request, ``model: control:<variant>``), so the statistics
treat it like any judge. Where the judge to calibrate failed (or has no
record) the calibrated judgment fails too, with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from nbjudge.alignment.folds import FoldAssignment
from nbjudge.schemas import (
    DIMENSIONS,
    CalibrationMap,
    ControlsRun,
    Judgment,
    Label,
    PriorDistribution,
    Score,
)
from nbjudge.stats.tables import build_table, consensus

from .calibration import CALIBRATION_METHOD, fit_calibration
from .noskill import SCORE_KEYS, draw_prior, encode, majority_score, prior_distribution

__all__ = ["CALIBRATED_FROM", "CONTROL_VARIANTS", "ControlSettings", "human_consensus",
           "run_controls"]

CONTROL_VARIANTS = ("majority", "prior", "calibrated", "calibrated_full")
CALIBRATED_FROM = {"calibrated": "baseline", "calibrated_full": "full"}


@dataclass(frozen=True)
class ControlSettings:
    """Which controls run, and the human consensus they learn from (the stats stage's)."""

    variants: tuple[str, ...] = CONTROL_VARIANTS
    seed: int = 0
    consensus: str = "mean"
    consensus_na: str = "majority"
    na_policy: str = "zero"

    def __post_init__(self) -> None:
        unknown = [v for v in self.variants if v not in CONTROL_VARIANTS]
        if unknown:
            raise ValueError(f"unknown control variant(s) {unknown}; known: "
                             f"{list(CONTROL_VARIANTS)}")


def human_consensus(labels: Iterable[Label], settings: ControlSettings,
                    ) -> dict[tuple[str, str], float]:
    """``(notebook, dimension) -> consensus`` (0 for N/A), as the stats stage computes it."""
    table = build_table(labels, [])
    values = consensus(table.ratings, settings.consensus, raters=table.raters,
                       na_policy=settings.na_policy, na_rule=settings.consensus_na)
    return {(n, d): float(values[i, j])
            for i, n in enumerate(table.notebooks) for j, d in enumerate(table.dimensions)
            if not np.isnan(values[i, j])}


def _judge_scores(judgments: Iterable[Judgment], variant: str,
                  ) -> dict[tuple[int | None, str, str], Judgment]:
    """``(repeat, notebook, dimension) -> judgment``; repeat None for a judge that is not
    cross-validated (the baseline: one judgment serves every repeat)."""
    found: dict[tuple[int | None, str, str], Judgment] = {}
    for j in judgments:
        if j.variant == variant:
            found[(None if j.fold is None else j.repeat, j.notebook_id, j.dimension)] = j
    return found


def _lookup(scores: Mapping[tuple[int | None, str, str], Judgment], repeat: int, notebook: str,
            dimension: str) -> Judgment | None:
    return scores.get((repeat, notebook, dimension)) or scores.get((None, notebook, dimension))


def _record(variant: str, notebook: str, dimension: str, fold: int, repeat: int,
            score: Score | None, rationale: str, error: str | None = None) -> Judgment:
    return Judgment(notebook_id=notebook, dimension=dimension, variant=variant, fold=fold,
                    repeat=repeat, status="failed" if score is None else "ok", score=score,
                    rationale=None if score is None else rationale, error=error,
                    model=f"control:{variant}")


def run_controls(
    labels: Iterable[Label],
    judgments: Iterable[Judgment],
    assignments: Sequence[FoldAssignment],
    settings: ControlSettings | None = None,
    *,
    dimensions: Sequence[str] | None = None,
) -> tuple[list[Judgment], ControlsRun]:
    """Every control's out-of-fold judgments, and what each learned (priors, calibration maps).

    ``judgments`` holds the judges to calibrate (``baseline``, ``full``); a
    calibrated control whose judge has no records is skipped and listed in
    ``ControlsRun.skipped``. ``dimensions`` defaults to the labelled ones.
    """
    start = time.perf_counter()
    settings = settings or ControlSettings()
    labels = list(labels)
    judgments = list(judgments)
    human = human_consensus(labels, settings)
    if dimensions is None:
        present = {d for _, d in human}
        dimensions = [d for d in DIMENSIONS if d in present]
    variants, skipped = [], []
    sources = {}
    for variant in settings.variants:
        source = CALIBRATED_FROM.get(variant)
        if source is not None:
            sources[variant] = _judge_scores(judgments, source)
            if not sources[variant]:
                skipped.append(f"{variant}: no judgments of {source} to calibrate")
                continue
        variants.append(variant)

    records: list[Judgment] = []
    priors: list[PriorDistribution] = []
    maps: list[CalibrationMap] = []
    for assignment in assignments:
        r = assignment.repeat
        for fold in range(assignment.k):
            held_out = sorted(assignment.test_ids(fold))
            training = assignment.train_ids(fold)
            for d_index, dimension in enumerate(dimensions):
                taught = [human[(n, dimension)] for n in training if (n, dimension) in human]
                majority = majority_score(taught)
                if majority is None:
                    why = f"no labelled training notebook for {dimension} in fold {fold}"
                    records += [_record(v, n, dimension, fold, r, None, "", why)
                                for v in variants for n in held_out]
                    continue
                for variant in variants:
                    if variant == "majority":
                        records += [_record(variant, n, dimension, fold, r, majority,
                                            f"majority of {len(taught)} training notebooks")
                                    for n in held_out]
                    elif variant == "prior":
                        probabilities = prior_distribution(taught)
                        rng = np.random.default_rng([settings.seed, r, fold, d_index])
                        drawn = draw_prior(probabilities, len(held_out), rng)
                        records += [_record(variant, n, dimension, fold, r, s,
                                            f"drawn from {len(taught)} training notebooks")
                                    for n, s in zip(held_out, drawn, strict=True)]
                        priors.append(PriorDistribution(
                            repeat=r, fold=fold, dimension=dimension,
                            probabilities=probabilities, notebook_ids=held_out))
                    else:
                        found = sources[variant]
                        pairs = []
                        for n in training:
                            j = _lookup(found, r, n, dimension)
                            if (n, dimension) in human and j is not None and j.status == "ok":
                                assert j.score is not None
                                pairs.append((encode(j.score), human[(n, dimension)]))
                        mapping = fit_calibration([p[0] for p in pairs], [p[1] for p in pairs],
                                                  fallback=majority)
                        maps.append(CalibrationMap(
                            variant=variant, source=CALIBRATED_FROM[variant], repeat=r,
                            fold=fold, dimension=dimension, mapping=mapping,
                            n_training=len(pairs)))
                        source = CALIBRATED_FROM[variant]
                        for n in held_out:
                            j = _lookup(found, r, n, dimension)
                            if j is None or j.status != "ok" or j.score is None:
                                records.append(_record(
                                    variant, n, dimension, fold, r, None, "",
                                    f"the {source} judgment "
                                    f"{'is missing' if j is None else 'failed'}: "
                                    "no score to calibrate"))
                                continue
                            key = SCORE_KEYS[int(encode(j.score))]
                            records.append(_record(
                                variant, n, dimension, fold, r, mapping[key],
                                f"{source} said {j.score}; isotonic map fit on "
                                f"{len(pairs)} training notebooks"))
    run = ControlsRun(variants=variants, skipped=skipped,
                      seconds=round(time.perf_counter() - start, 3), seed=settings.seed,
                      consensus=settings.consensus, consensus_na=settings.consensus_na,
                      calibration=CALIBRATION_METHOD, priors=priors, calibrations=maps)
    return records, run
