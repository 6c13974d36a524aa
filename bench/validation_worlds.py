"""Two data-generating processes for validating nbjudge's statistics.

Each world is a finite population of cases, each case holding notebooks
scored on the nine dimensions by raters and by two judges (``baseline`` and
``full``). An experiment draws whole cases from the population until it holds
n notebooks (the last case cut short if needed) and becomes label and
judgment records; the truth of every statistic is its value over the whole
population, computed with the same consensus, N/A and failure rules as the
``stats`` stage.

``today``: the first bench's process. A notebook's quality sets one human
score (0-3, 0 read as N/A); its difficulty, shared in part by its case's
notebooks (correlation 0.5 when cases hold several), sets how often each
judge errs by one step. One rater, no failures, no N/A logic.

``ordinal``: tie-heavy ordinal data. Per dimension a latent quality (case
effect, correlation 0.5 within a case) is cut into 1/2/3 at skewed cut points;
four dimensions are truly N/A on 5-35% of notebooks; 1-3 raters per notebook
each see the latent with noise (and call an applicable dimension N/A 2% of the
time), combined by the stage's consensus (mean, majority N/A); two lenient judges
share most of their noise (so most paired differences are exactly 0), carry a
case-level leniency and a case-by-judge interaction, answer N/A wrongly now and
then (4% where applicable, and a score on 10% of true N/A), and fail about 3%
of judgments, more on hard notebooks. Cases hold 1-5 notebooks.

``effect`` scales how much better ``full`` is (0: the two judges are
exchangeable, every improvement is 0; the null world of the family-wise
tables). ``effect_dimensions`` limits the effect to some dimensions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nbjudge.schemas import DIMENSIONS, Judgment, Label
from nbjudge.stats.tables import consensus, impute_failures, paired_errors

WORLDS = ("today", "ordinal")
RATERS = ("r1", "r2", "r3")
VARIANTS = ("baseline", "full")
# ordinal world: share of notebooks truly N/A per dimension (four dimensions have some).
NA_SHARE = (0.0, 0.05, 0.35, 0.15, 0.0, 0.0, 0.0, 0.25, 0.0)
# Skewed cut points of the latent quality per dimension (1 below the first, 3 above the second).
CUTS = tuple((-0.6 + 0.15 * d, 0.5 + 0.1 * d) if d % 2 else (-1.0 + 0.1 * d, 0.1 + 0.15 * d)
             for d in range(9))


@dataclass(frozen=True)
class Population:
    """Scores of every notebook of the population, cases contiguous.

    ``ratings`` (rater, notebook, dimension) 0-3 or NaN; ``judge`` (variant,
    notebook, dimension) 0-3 or NaN where failed; ``failed`` likewise;
    ``case_start`` indexes the first notebook of each case (plus the end).
    """

    ratings: np.ndarray
    judge: np.ndarray
    failed: np.ndarray
    case_start: np.ndarray

    def truth(self, na_policy: str) -> dict[str, np.ndarray]:
        """Population MAE of each variant and improvement, per dimension, as the stage
        computes them (consensus, failures imputed, N/A policy)."""
        human = consensus(self.ratings, "mean", raters=RATERS[:self.ratings.shape[0]],
                          na_policy=na_policy, na_rule="majority")
        scored = impute_failures(human, self.judge, self.failed, na_policy=na_policy)
        absolute, _ = paired_errors(human, scored, na_policy=na_policy)
        common = ~np.isnan(absolute).any(axis=0)
        mae = np.nanmean(absolute, axis=1)
        improvement = np.array([np.mean(absolute[0, common[:, d], d]
                                        - absolute[1, common[:, d], d])
                                for d in range(absolute.shape[2])])
        return {"mae": mae, "improvement": improvement}


def _case_layout(rng: np.random.Generator, n_notebooks: int, sizes: tuple[int, ...],
                 ) -> np.ndarray:
    """Case id of each notebook, cases contiguous, sizes drawn uniformly from ``sizes``."""
    drawn = rng.choice(sizes, size=n_notebooks)
    cases = np.repeat(np.arange(n_notebooks), drawn)[:n_notebooks]
    return cases


def _today(rng: np.random.Generator, size: int, case_sizes: tuple[int, ...], effect: float,
           effect_dimensions: np.ndarray) -> Population:
    case_of = _case_layout(rng, size, case_sizes)
    n_cases = case_of.max() + 1
    shape = (size, 9)
    quality = rng.standard_normal(shape)
    human = np.clip(np.rint(1.5 + 0.8 * quality + 0.6 * rng.standard_normal(shape)), 0, 3)
    rho = 0.5 if max(case_sizes) > 1 else 0.0
    difficulty = (np.sqrt(rho) * rng.standard_normal((n_cases, 9))[case_of]
                  + np.sqrt(1 - rho) * rng.standard_normal(shape))
    judges = []
    for v in range(2):
        shift = -0.5 - effect * v * effect_dimensions
        error_probability = 1 / (1 + np.exp(-(shift + 1.2 * difficulty)))
        step = rng.choice([-1, 1], shape) * (rng.random(shape) < error_probability)
        judges.append(np.clip(human + step, 0, 3))
    judge = np.stack(judges)
    return Population(human[np.newaxis], judge, np.zeros(judge.shape, dtype=bool),
                      _starts(case_of))


def _starts(case_of: np.ndarray) -> np.ndarray:
    return np.concatenate([np.flatnonzero(np.diff(case_of, prepend=-1)), [case_of.size]])


def _cut(latent: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """1/2/3 from a latent value and per-dimension cut points (2, dimension)."""
    return 1.0 + (latent > cuts[0]) + (latent > cuts[1])


def _ordinal(rng: np.random.Generator, size: int, case_sizes: tuple[int, ...], effect: float,
             effect_dimensions: np.ndarray) -> Population:
    case_of = _case_layout(rng, size, case_sizes)
    n_cases = case_of.max() + 1
    shape = (size, 9)
    cuts = np.array(CUTS).T
    latent = (np.sqrt(0.5) * rng.standard_normal((n_cases, 9))[case_of]
              + np.sqrt(0.5) * rng.standard_normal(shape))
    applicable = rng.random(shape) >= np.array(NA_SHARE)
    n_raters = rng.integers(1, 4, size)
    ratings = np.full((3, *shape), np.nan)
    for r in range(3):
        seen = _cut(latent + 0.45 * rng.standard_normal(shape), cuts)
        seen = np.where(applicable & (rng.random(shape) >= 0.02), seen, 0.0)
        ratings[r] = np.where((n_raters > r)[:, np.newaxis], seen, np.nan)
    # Hard notebooks: far from the middle of the scale, where judges disagree most.
    difficulty = np.abs(latent) + 0.5 * rng.standard_normal(shape)
    shared_noise = rng.standard_normal(shape)
    case_leniency = 0.3 * rng.standard_normal((n_cases, 1))[case_of]
    judge = np.empty((2, *shape))
    failed = np.empty((2, *shape), dtype=bool)
    for v in range(2):
        interaction = 0.5 * rng.standard_normal((n_cases, 9))[case_of]
        noise = (0.6 - 0.15 * effect * v * effect_dimensions) * (
            0.95 * shared_noise + np.sqrt(1 - 0.95**2) * rng.standard_normal(shape))
        leniency = 0.7 - 0.3 * effect * v * effect_dimensions
        score = _cut(latent + leniency + case_leniency + interaction + noise, cuts)
        wrong_na = np.where(applicable, rng.random(shape) < 0.04, rng.random(shape) >= 0.10)
        score = np.where(applicable != wrong_na, score, 0.0)
        failed[v] = rng.random(shape) < 1 / (1 + np.exp(-(-4.6 + 1.2 * difficulty)))
        judge[v] = np.where(failed[v], np.nan, score)
    return Population(ratings, judge, failed, _starts(case_of))


def population(world: str, rng: np.random.Generator, size: int = 100_000, *,
               case_sizes: tuple[int, ...] = (1,), effect: float = 1.0,
               effect_dimensions: tuple[int, ...] | None = None) -> Population:
    """A population of about ``size`` notebooks of ``world``."""
    mask = np.zeros(9)
    mask[list(range(9) if effect_dimensions is None else effect_dimensions)] = 1.0
    make = {"today": _today, "ordinal": _ordinal}[world]
    return make(rng, size, case_sizes, effect, mask)


def experiment(pop: Population, n: int, rng: np.random.Generator,
               ) -> tuple[list[Label], list[Judgment], dict[str, str], list[int]]:
    """Records of n notebooks drawn as whole cases (with replacement), their cases, and the
    population index of each notebook."""
    starts = pop.case_start
    picked: list[int] = []
    cases: dict[str, str] = {}
    draw = 0
    while len(picked) < n:
        c = int(rng.integers(0, starts.size - 1))
        members = list(range(starts[c], starts[c + 1]))[: n - len(picked)]
        for i in members:
            cases[f"nb-{len(picked):04d}"] = f"case-{draw:04d}"
            picked.append(i)
        draw += 1
    labels, judgments = [], []
    for k, i in enumerate(picked):
        notebook = f"nb-{k:04d}"
        for d, dimension in enumerate(DIMENSIONS):
            for r, rater in enumerate(RATERS[: pop.ratings.shape[0]]):
                value = pop.ratings[r, i, d]
                if not np.isnan(value):
                    labels.append(Label(notebook_id=notebook, dimension=dimension,
                                        score=_score(value), rationale="simulated",
                                        rater_id=rater, source="simulated"))
            for v, variant in enumerate(VARIANTS):
                common = dict(notebook_id=notebook, dimension=dimension, variant=variant,
                              model="simulated")
                if pop.failed[v, i, d]:
                    judgments.append(Judgment(status="failed", error="simulated", **common))
                else:
                    judgments.append(Judgment(status="ok", score=_score(pop.judge[v, i, d]),
                                              **common))
    return labels, judgments, cases, picked


def _score(value: float) -> int | str:
    return "N/A" if value == 0 else int(value)
