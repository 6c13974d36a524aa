"""Argument checks shared by the statistics modules, and exact integer units.

Each public function validates its arguments once, through these helpers,
and then assumes valid input (the shape of ``scipy.stats._resampling``).
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np

__all__ = [
    "FAILURE_POLICIES",
    "NA_POLICIES",
    "NA_RULES",
    "UNITS_PER_POINT",
    "check_choice",
    "check_comparisons",
    "check_count",
    "check_human",
    "check_judge",
    "check_level",
    "check_names",
    "check_rng",
    "to_units",
]

# worst: N/A on one side only costs the largest error against the other side's score, as a
# failure does; zero: N/A scored as 0 (the original study); exclude: pairs with N/A dropped.
NA_POLICIES = ("worst", "zero", "exclude")
NA_RULES = ("majority", "zero")  # how a consensus treats raters who said N/A
FAILURE_POLICIES = ("worst", "exclude")  # a failed judgment: largest error, or dropped

# Per-notebook errors are rationals whose denominator divides the number of
# raters times the number of repeats. Scaled by lcm(1..16) they are integers,
# and sums of integers below 2**53 are exact in float64 whatever order BLAS
# adds them in: results then do not depend on batch size or thread count.
UNITS_PER_POINT = 720_720


def to_units(values: np.ndarray) -> np.ndarray:
    """Errors as integer-valued floats in units of 1/720720 (NaN becomes 0)."""
    units: np.ndarray = np.rint(np.nan_to_num(values, nan=0.0) * UNITS_PER_POINT)
    return units


def check_level(level: float) -> float:
    if isinstance(level, bool) or not isinstance(level, Real) or not 0 < level < 1:
        raise ValueError(f"level must be a number strictly between 0 and 1; got {level!r}")
    return float(level)


def check_count(value: int, name: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def check_rng(rng: np.random.Generator | None) -> np.random.Generator:
    if rng is None:
        return np.random.default_rng()
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator or None; got {type(rng).__name__}")
    return rng


def check_choice(value: str, name: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_names(names: Sequence[str] | None, size: int, what: str) -> tuple[str, ...]:
    """Labels of one axis: given, or ``"0"``, ``"1"``, ... when omitted."""
    if names is None:
        return tuple(str(i) for i in range(size))
    names = tuple(names)
    if len(names) != size:
        raise ValueError(f"{len(names)} {what} names given for an axis of length {size}")
    if len(set(names)) != len(names):
        raise ValueError(f"{what} names must be unique; got {list(names)}")
    return names


def check_human(human: np.ndarray) -> np.ndarray:
    """Human consensus scores (notebook, dimension): 0 (N/A) to 3, NaN if unrated."""
    human = np.asarray(human, dtype=float)
    if human.ndim != 2:
        raise ValueError(f"human must be 2-D (notebook, dimension); got shape {human.shape}")
    if human.size == 0:
        raise ValueError(f"human is empty (shape {human.shape}): no notebooks or no dimensions")
    finite = human[~np.isnan(human)]
    if np.any((finite < 0) | (finite > 3)):
        bad = finite[(finite < 0) | (finite > 3)][0]
        raise ValueError(f"human scores must lie in 0-3 (N/A encoded as 0); got {bad:g}")
    return human


def check_judge(judge: np.ndarray, human: np.ndarray) -> np.ndarray:
    """Judge scores as (variant, repeat, notebook, dimension): 0 (N/A), 1, 2, 3 or NaN."""
    judge = np.asarray(judge, dtype=float)
    if judge.ndim == 3:
        judge = judge[:, np.newaxis]
    if judge.ndim != 4:
        raise ValueError(
            "judge must be (variant, notebook, dimension) or "
            f"(variant, repeat, notebook, dimension); got shape {judge.shape}"
        )
    if judge.shape[0] == 0 or judge.shape[1] == 0:
        raise ValueError(f"judge is empty (shape {judge.shape}): no variants or no repeats")
    if judge.shape[2:] != human.shape:
        raise ValueError(
            f"judge covers {judge.shape[2]} notebooks x {judge.shape[3]} dimensions but human "
            f"covers {human.shape[0]} x {human.shape[1]}: every variant must score the same "
            "notebooks as the humans"
        )
    finite = judge[~np.isnan(judge)]
    bad = finite[~np.isin(finite, (0.0, 1.0, 2.0, 3.0))]
    if bad.size:
        raise ValueError(f"judge scores must be 0 (N/A), 1, 2 or 3; got {bad[0]:g}")
    return judge


def check_comparisons(
    comparisons: Sequence[tuple[str, str]] | None, variants: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    """Pairs ``(reference, candidate)``; default: the first variant against each other one."""
    if comparisons is None:
        return tuple((variants[0], v) for v in variants[1:])
    checked = []
    for pair in comparisons:
        if len(pair) != 2:
            raise ValueError(f"a comparison is a (reference, candidate) pair; got {pair!r}")
        reference, candidate = pair
        for name in pair:
            if name not in variants:
                raise ValueError(
                    f"comparison {pair!r} names variant {name!r}, "
                    f"which is not among {list(variants)}"
                )
        if reference == candidate:
            raise ValueError(f"comparison {pair!r} compares a variant with itself")
        checked.append((reference, candidate))
    return tuple(checked)
