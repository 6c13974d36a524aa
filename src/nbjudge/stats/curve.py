"""The label-efficiency curve's table: MAE per labelled share, variant and dimension.

The curve stage judges the held-out folds again with judges aligned (or
calibrated) on a share of each training fold's notebooks; its judgments are
named ``<variant>@<fraction>`` (``full@0.25``). :func:`curve_table` gives
each one's MAE with the paired cluster bootstrap interval of the stats
stage (same consensus, N/A and failure policies, interval method and
minimum sample size: below it the band is left out, as everywhere else).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from nbjudge.schemas import Judgment, Label

from .bootstrap import bootstrap_agreement
from .experiment import StatsConfig
from .tables import build_table, consensus, impute_failures

__all__ = ["CURVE_COLUMNS", "curve_table", "split_curve_variant"]

CURVE_COLUMNS = ["variant", "fraction", "n_labelled", "dimension", "mae", "mae_ci_low",
                 "mae_ci_high", "n_notebooks"]


def split_curve_variant(name: str) -> tuple[str, float]:
    """``"full@0.25"`` -> ``("full", 0.25)``."""
    variant, _, fraction = name.rpartition("@")
    if not variant:
        raise ValueError(f"a curve variant is named <variant>@<fraction>; got {name!r}")
    return variant, float(fraction)


def curve_table(labels: Iterable[Label], judgments: Iterable[Judgment],
                n_labelled: Mapping[float, float], config: StatsConfig | None = None, *,
                seed: int = 0, cases: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per (variant, fraction, dimension); ``n_labelled`` maps each fraction to
    the mean number of labelled training notebooks per fold (the curve's x axis)."""
    config = config or StatsConfig()
    judgments = list(judgments)
    if not judgments:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    table = build_table(labels, judgments, cases)
    human = consensus(table.ratings, config.consensus, raters=table.raters,
                      na_policy=config.na_policy, na_rule=config.consensus_na)
    scored = (impute_failures(human, table.judge, table.failed, na_policy=config.na_policy)
              if config.failure_policy == "worst" else table.judge)
    # Comparisons are not what the curve is about: each variant against the first, unused.
    boot = bootstrap_agreement(
        human, scored, variants=table.variants, dimensions=table.dimensions,
        na_policy=config.na_policy,
        clusters=table.cases if len(set(table.cases)) > 1 else None,
        n_resamples=config.bootstrap.n_resamples, level=config.bootstrap.level,
        method=config.bootstrap.method, rng=np.random.default_rng(seed)).to_frame()
    mae = boot[boot.kind == "mae"]
    n_cases = len(set(table.cases))
    clustered = n_cases < len(table.notebooks)
    rows = []
    for row in mae.itertuples():
        variant, fraction = split_curve_variant(str(row.variant))
        enough = (row.n_notebooks >= config.bootstrap.min_notebooks
                  and (not clustered or n_cases >= config.bootstrap.min_cases))
        rows.append({
            "variant": variant, "fraction": fraction,
            "n_labelled": float(n_labelled.get(fraction, np.nan)),
            "dimension": row.dimension, "mae": row.estimate,
            "mae_ci_low": row.ci_low if enough else np.nan,
            "mae_ci_high": row.ci_high if enough else np.nan,
            "n_notebooks": row.n_notebooks,
        })
    frame = pd.DataFrame(rows, columns=CURVE_COLUMNS)
    return frame.sort_values(["variant", "fraction", "dimension"], kind="stable",
                             ignore_index=True)
