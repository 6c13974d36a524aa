"""A simulated expert panel: human-like labels drawn from the blueprint.

Each rater's score is the blueprint level passed through a per-dimension
confusion model: with probability ``down`` the rater scores one level lower,
with probability ``up`` one level higher, otherwise the true level. A move
past the ends of the scale is impossible, so a level-1 dimension is only
ever scored up and a level-3 one only down. Where the level is N/A a rater
says N/A, except for a small slip rate at which they score it 3 (nothing to
fault); a rater gives N/A to an applicable dimension only at a configured
rate (zero by default).

A rater reads a whole notebook, so one rater grades all its dimensions. A
configured share of notebooks is graded by several raters (the human
ceiling of the statistics needs them), the rest by one. Each label carries a
one-sentence rationale in the vocabulary of ``notes/defects.md``, built from
the blueprint's description and defects and consistent with the score given.
Everything is drawn from one ``numpy.random.Generator`` in a fixed order, so
the same seed gives the same labels.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nbjudge.errors import ConfigError
from nbjudge.schemas import DIMENSIONS, BlueprintEntry, Label, Notebook, read_records

__all__ = [
    "DEFAULT_NOISE",
    "DimensionNoise",
    "PanelConfig",
    "empty_blueprint_message",
    "panel_config",
    "panel_labels",
    "simulate_panel",
]


@dataclass(frozen=True)
class DimensionNoise:
    """Probabilities that a rater scores one level below or above the truth."""

    down: float
    up: float

    @property
    def change(self) -> float:
        """The probability of any disagreement with a level-2 truth."""
        return self.down + self.up


# Real panels agree far less on exploration ("is this enough EDA?") than on
# leakage or logging, which are visible facts in the code.
DEFAULT_NOISE: Mapping[str, DimensionNoise] = {
    dimension: DimensionNoise(down=0.20, up=0.20)
    if dimension == "data_exploration"
    else DimensionNoise(down=0.08, up=0.06)
    for dimension in DIMENSIONS
}


@dataclass(frozen=True)
class PanelConfig:
    """A validated panel; build it with :func:`panel_config`."""

    raters: int
    multi_rated_share: float
    raters_per_multi_rated: int
    noise: Mapping[str, DimensionNoise]
    na_slip: float
    na_on_applicable: float

    @property
    def rater_ids(self) -> list[str]:
        return [f"expert_{number}" for number in range(1, self.raters + 1)]


def _probability(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"panel: {name} must be a probability in [0, 1], got {value!r}")
    return float(value)


def _noise(name: str, value: Any) -> DimensionNoise:
    if not isinstance(value, Mapping) or set(value) != {"down", "up"}:
        raise ValueError(
            f"panel: noise.{name} must be a mapping with exactly the keys 'down' and 'up', "
            f"got {value!r}"
        )
    noise = DimensionNoise(
        down=_probability(f"noise.{name}.down", value["down"]),
        up=_probability(f"noise.{name}.up", value["up"]),
    )
    if noise.change > 1:
        raise ValueError(f"panel: noise.{name}: down + up must be at most 1, got {noise.change}")
    return noise


def panel_config(
    *,
    raters: int = 4,
    multi_rated_share: float = 0.3,
    raters_per_multi_rated: int = 2,
    noise: Mapping[str, Mapping[str, float]] | None = None,
    na_slip: float = 0.02,
    na_on_applicable: float = 0.0,
) -> PanelConfig:
    """Validate panel settings (the ``labels.panel`` section of the params).

    ``raters`` is the size of the pool ``expert_1..expert_<raters>``;
    ``multi_rated_share`` the share of notebooks graded by
    ``raters_per_multi_rated`` distinct raters (the others get one);
    ``noise`` maps ``default`` and/or dimension names to ``{down, up}``,
    overriding :data:`DEFAULT_NOISE`; ``na_slip`` is the rate at which a rater
    scores a dimension whose level is N/A; ``na_on_applicable`` the rate at
    which a rater says N/A to an applicable one.
    """
    if isinstance(raters, bool) or not isinstance(raters, int) or raters < 1:
        raise ValueError(f"panel: raters must be a positive integer, got {raters!r}")
    share = _probability("multi_rated_share", multi_rated_share)
    per = raters_per_multi_rated
    if isinstance(per, bool) or not isinstance(per, int) or per < 2:
        raise ValueError(f"panel: raters_per_multi_rated must be an integer >= 2, got {per!r}")
    if share > 0 and per > raters:
        raise ValueError(
            f"panel: raters_per_multi_rated ({per}) exceeds the pool of raters ({raters}); "
            "raise raters or lower raters_per_multi_rated"
        )
    overrides = dict(noise or {})
    unknown = sorted(set(overrides) - {"default", *DIMENSIONS})
    if unknown:
        raise ValueError(
            f"panel: unknown noise key(s) {unknown}; use 'default' or one of {list(DIMENSIONS)}"
        )
    default = _noise("default", overrides["default"]) if "default" in overrides else None
    table = {
        dimension: _noise(dimension, overrides[dimension])
        if dimension in overrides
        else default or DEFAULT_NOISE[dimension]
        for dimension in DIMENSIONS
    }
    return PanelConfig(
        raters=raters,
        multi_rated_share=share,
        raters_per_multi_rated=per,
        noise=table,
        na_slip=_probability("na_slip", na_slip),
        na_on_applicable=_probability("na_on_applicable", na_on_applicable),
    )


# A reservation an expert might voice about good (level 3) code when grading
# it 2: matters of degree from notes/defects.md, never a claim of a defect
# the code does not have.
_RESERVATIONS: Mapping[str, tuple[str, ...]] = {
    "library_installation": (
        "I would pin the versions even more explicitly",
        "the kernel restart after installing is easy to miss",
    ),
    "data_exploration": (
        "it draws little consequence for the modelling from what it shows",
        "the feature-target relations get only a glance",
    ),
    "data_imputation": (
        "the choice of strategy per column type is not explained",
        "a missingness indicator might have carried signal",
    ),
    "feature_engineering": (
        "not every feature is justified by the exploration",
        "the encoding choices are not explained",
    ),
    "model_training": (
        "the hyperparameter search is narrow",
        "the comparison with the baseline is brief",
    ),
    "model_use": (
        "the written predictions are not checked",
        "the inference output is not described",
    ),
    "metrics_evaluation": (
        "the numbers get little interpretation",
        "no spread is given for the cross-validated scores",
    ),
    "mlflow_logging": (
        "fewer parameters are logged than I would like",
        "the run has no descriptive name",
    ),
    "cell_organization": (
        "a few cells do more than one thing",
        "some section headers are terse",
    ),
}

# The opening word tells the reader the verdict, so a rationale cannot read
# as praise under a score of 1.
_OPENINGS: Mapping[int | str, tuple[str, ...]] = {
    3: ("Good", "Solid", "Well done"),
    2: ("Average", "Adequate", "Acceptable"),
    1: ("Poor", "Weak", "Bad"),
    "N/A": ("N/A", "Not applicable"),
}


def _clause(text: str) -> str:
    """A description as a clause: no final period, a capitalised first word lowered."""
    text = " ".join(text.split()).rstrip(".")
    first, _, rest = text.partition(" ")
    if first[:1].isupper() and first[1:].islower():
        first = first.lower()
    return f"{first} {rest}".strip()


def _join(phrases: Sequence[str]) -> str:
    phrases = [_clause(p) for p in phrases]
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


def _issues(entry: BlueprintEntry) -> list[str]:
    issues = list(entry.defects)
    if entry.crash and not any("error" in i.lower() or "crash" in i.lower() for i in issues):
        issues.append("the code fails with an error when run")
    return issues


def _body(entry: BlueprintEntry, score: int | str, reservation: str) -> str:
    """What the rater saw, phrased to fit the score they gave."""
    seen = _clause(entry.description)
    issues = _issues(entry)
    level = entry.level
    if level == "N/A":
        return seen if score == "N/A" else f"{seen}; nothing to fault here"
    if isinstance(score, str):  # "N/A"
        return f"as I read it this does not apply: {seen}"
    if level == 3 and not issues:
        # Good code has no defect to name; a harsher rater voices a reservation.
        return seen if score == 3 else f"{seen}, though {reservation}"
    named = _join(issues) if issues else "this"
    one = len(issues) <= 1
    if score == level == 2:
        return f"{seen}; {named} {'is a weakness' if one else 'are weaknesses'}"
    if score == level == 1:
        return f"{seen}; {named} {'is a serious flaw' if one else 'are serious flaws'}"
    if score < level:
        return f"{seen}; I count {named} as serious"
    if score == 3:
        return f"{seen}; {named} {'is' if one else 'are'} minor"
    return f"{seen}; {named} {'is a flaw' if one else 'are flaws'}, but the rest holds up"


def _rationale(entry: BlueprintEntry, score: int | str, rng: np.random.Generator) -> str:
    openings = _OPENINGS[score]
    reservations = _RESERVATIONS[entry.dimension]
    opening = openings[int(rng.integers(len(openings)))]
    reservation = reservations[int(rng.integers(len(reservations)))]
    return f"{opening}: {_body(entry, score, reservation)}."


def _score(entry: BlueprintEntry, config: PanelConfig, rng: np.random.Generator) -> int | str:
    # Both draws are always made so that one label's outcome never shifts
    # the random stream of the labels after it.
    applicability, move = rng.random(2)
    if entry.level == "N/A":
        return 3 if applicability < config.na_slip else "N/A"
    if applicability < config.na_on_applicable:
        return "N/A"
    noise = config.noise[entry.dimension]
    if move < noise.down:
        return max(1, entry.level - 1)
    if move < noise.change:
        return min(3, entry.level + 1)
    return entry.level


def _by_notebook(blueprint: Iterable[BlueprintEntry]) -> dict[str, list[BlueprintEntry]]:
    notebooks: dict[str, dict[str, BlueprintEntry]] = {}
    for entry in blueprint:
        entries = notebooks.setdefault(entry.notebook_id, {})
        if entry.dimension in entries:
            raise ValueError(
                f"panel: the blueprint has two entries for notebook {entry.notebook_id!r}, "
                f"dimension {entry.dimension!r}; regenerate the blueprint"
            )
        entries[entry.dimension] = entry
    order = {dimension: index for index, dimension in enumerate(DIMENSIONS)}
    return {
        notebook_id: sorted(entries.values(), key=lambda e: order[e.dimension])
        for notebook_id, entries in sorted(notebooks.items())
    }


def empty_blueprint_message(origins: Iterable[str] = ()) -> str:
    """Why ``labels=panel`` cannot grade notebooks without a blueprint, and what to use."""
    origins = set(origins)
    if "llm" in origins:
        return ("panel: generate=llm has no blueprint: use labels=file with expert labels "
                "(-S labels=file -S labels.path=path/to/labels.csv); a model's notebooks have "
                "no known true levels to simulate raters from")
    return ("panel: the blueprint is empty, so there are no true levels to simulate raters from "
            "(imported notebooks and notebooks written by a model have none); grade them "
            "yourself and use labels=file")


def panel_labels(blueprint_path: str | os.PathLike[str], index_path: str | os.PathLike[str],
                 panel: Mapping[str, Any], seed: int) -> list[Label]:
    """The simulated panel's labels for the blueprint at ``blueprint_path``.

    An empty blueprint (notebooks imported or written by a model) is a
    :class:`~nbjudge.errors.ConfigError` (labels=panel cannot grade them) that says why,
    from the origins in the notebook index.
    """
    blueprint = read_records(blueprint_path, BlueprintEntry)
    if not blueprint:
        origins = ({n.origin for n in read_records(index_path, Notebook)}
                   if Path(index_path).exists() else set())
        raise ConfigError(empty_blueprint_message(origins))
    return simulate_panel(blueprint, panel_config(**panel), np.random.default_rng(seed))


def simulate_panel(
    blueprint: Iterable[BlueprintEntry], config: PanelConfig, rng: np.random.Generator
) -> list[Label]:
    """Grade every blueprint entry by the simulated panel.

    Returns labels ordered by notebook, dimension (in ``DIMENSIONS`` order)
    and rater. Raises ``ValueError`` on an empty blueprint: notebooks
    brought in with ``generate=import`` carry no true levels to simulate
    from, and need ``labels=file``.
    """
    notebooks = _by_notebook(blueprint)
    if not notebooks:
        raise ValueError(empty_blueprint_message())
    ids = list(notebooks)
    multi_count = int(np.floor(config.multi_rated_share * len(ids) + 0.5))
    multi = {ids[i] for i in rng.choice(len(ids), size=multi_count, replace=False)}
    pool = config.rater_ids
    labels = []
    for notebook_id, entries in notebooks.items():
        size = config.raters_per_multi_rated if notebook_id in multi else 1
        chosen = sorted(rng.choice(len(pool), size=size, replace=False))
        for entry in entries:
            for rater in chosen:
                score = _score(entry, config, rng)
                labels.append(
                    Label(
                        notebook_id=notebook_id,
                        dimension=entry.dimension,
                        score=score,
                        rationale=_rationale(entry, score, rng),
                        rater_id=pool[rater],
                        source="simulated",
                    )
                )
    return labels
