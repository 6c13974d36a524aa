"""Synthetic scores and records with known structure, shared by the stats tests."""

from __future__ import annotations

import numpy as np

from nbjudge.schemas import DIMENSIONS, Judgment, Label


def judge_scores(human: np.ndarray, flip: float, rng: np.random.Generator) -> np.ndarray:
    """A judge that moves the human score one step up or down with probability ``flip``."""
    step = rng.choice([-1, 1], size=human.shape) * (rng.random(human.shape) < flip)
    return np.clip(np.rint(human) + step, 0, 3)


def scores(rng, n=50, n_dimensions=9, flips=(0.5, 0.2, 0.3)):
    """Human scores (notebook, dimension) and judge scores (variant, notebook, dimension)."""
    human = rng.integers(0, 4, (n, n_dimensions)).astype(float)
    judge = np.stack([judge_scores(human, f, rng) for f in flips])
    return human, judge


def _score(value: int):
    return "N/A" if value == 0 else int(value)


def records(rng, n=20, variants=("baseline", "full", "semantic_only"), repeats=1,
            multi_rated=6, failures=2, dimensions=DIMENSIONS):
    """Labels (two raters on the first ``multi_rated`` notebooks) and judgments.

    ``failures`` judgments of each variant are failed records.
    """
    truth = rng.integers(0, 4, (n, len(dimensions)))
    labels, judgments = [], []
    for i in range(n):
        notebook = f"nb-{i:03d}"
        for d, dimension in enumerate(dimensions):
            for rater in ("alice", "bob") if i < multi_rated else ("alice",):
                value = judge_scores(truth[i, d:d + 1], 0.2, rng)[0]
                labels.append(Label(notebook_id=notebook, dimension=dimension,
                                    score=_score(value), rationale="because", rater_id=rater,
                                    source="simulated"))
    for v, variant in enumerate(variants):
        failed = set(rng.choice(n * len(dimensions), failures, replace=False))
        for repeat in range(1 if variant == "baseline" else repeats):
            for i in range(n):
                for d, dimension in enumerate(dimensions):
                    common = dict(notebook_id=f"nb-{i:03d}", dimension=dimension,
                                  variant=variant, repeat=repeat, model="test-model")
                    if repeat == 0 and i * len(dimensions) + d in failed:
                        judgments.append(Judgment(status="failed", error="timeout", **common))
                        continue
                    value = judge_scores(truth[i, d:d + 1], 0.5 - 0.15 * v, rng)[0]
                    judgments.append(Judgment(status="ok", score=_score(value), **common))
    return labels, judgments
