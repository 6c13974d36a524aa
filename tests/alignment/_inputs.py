"""Realistic fold inputs shared by the alignment tests."""

from __future__ import annotations

import numpy as np

TYPES = ("binary", "multiclass", "regression", "forecasting")


def notebooks(seed: int, n_cases: int = 12, most: int = 6) -> list[tuple[str, str, str]]:
    """``n_cases`` cases of 1..``most`` notebooks, task types in turn."""
    rng = np.random.default_rng(seed)
    return [
        (f"nb-{case:02d}-{j}", f"case-{case:02d}", TYPES[case % len(TYPES)])
        for case in range(n_cases)
        for j in range(int(rng.integers(1, most + 1)))
    ]
