"""From label and judgment records to every figure of the ``stats`` stage.

:func:`analyze_experiment` runs the whole analysis with one seed: agreement,
the paired cluster bootstrap, sign-flip tests with Holm and BH adjustment,
the human ceiling, power, and the spread over cross-validation repeats. It
returns tidy tables and the ``metrics_detail.json`` content (:mod:`.headline` takes
``metrics.json`` from it); it writes nothing.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from nbjudge.schemas import Judgment, Label, PriorDistribution, atomic_write_text

from ._checks import FAILURE_POLICIES, NA_POLICIES, NA_RULES, check_choice
from .agreement import agreement
from .bootstrap import METHODS, bootstrap_agreement
from .ceiling import CeilingResult, gap_closed, human_ceiling
from .controls import prior_expected_mae
from .permutation import CORRECTIONS, SignFlipResult, adjust_pvalues, sign_flip_test
from .power import power_analysis
from .tables import (
    ScoreTable,
    build_table,
    comparison_differences,
    consensus,
    impute_failures,
    judgment_counts,
    label_counts,
    paired_errors,
)

__all__ = [
    "BootstrapSettings",
    "CeilingSettings",
    "ExperimentStats",
    "PermutationSettings",
    "PowerSettings",
    "StatsConfig",
    "analyze_experiment",
]

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

SIGNIFICANCE_RULES = ("test", "simultaneous", "ci", "both")
# The original study drew 100 notebooks per resample out of its 50.
# Random sign patterns drawn at most, when a Holm decision sits near the level.
MAX_SIGN_PATTERNS = 999_999
ORIGINAL_STUDY_SAMPLE_SIZE = 100
_Settings = TypeVar("_Settings", bound="DataclassInstance")


@dataclass(frozen=True)
class BootstrapSettings:
    """``sample_size``: units per resample, None for all of them, or ``"original_study"``
    (100 draws with percentile intervals, as the original study did: not 95% intervals).
    A statistic resting on fewer than ``min_notebooks`` notebooks (independent notebooks)
    or ``min_cases`` cases (when cases are resampled), counted after N/A exclusion and
    failures, gets no interval: its standard error and the permutation p-value (exact or
    Monte Carlo, as labelled) are shown instead, and no interval decides significance.
    The defaults are the smallest sizes simulated in bench/validate_intervals.py."""

    n_resamples: int = 10_000
    level: float = 0.95
    method: str = "auto"
    sample_size: int | str | None = None
    batch: int | None = None
    min_notebooks: int = 20
    min_cases: int = 5

    def __post_init__(self) -> None:
        check_choice(self.method, "bootstrap.method", METHODS)
        if isinstance(self.sample_size, str) and self.sample_size != "original_study":
            raise ValueError("bootstrap.sample_size must be null, an integer or "
                             f"'original_study'; got {self.sample_size!r}")


@dataclass(frozen=True)
class PermutationSettings:
    n_resamples: int = 9999
    alternative: str = "two-sided"
    correction: str = "holm"


@dataclass(frozen=True)
class CeilingSettings:
    min_alpha: float = 0.667


@dataclass(frozen=True)
class PowerSettings:
    target_power: float = 0.8
    target_improvement: float = 0.1
    n_simulations: int = 2000
    max_notebooks: int = 2000


@dataclass(frozen=True)
class StatsConfig:
    """The ``stats`` section of ``params.yaml`` (``conf/stats/default.yaml``).

    ``contrasts`` are ``(candidate, other)`` pairs: the contrast is
    MAE(other) - MAE(candidate), positive when the candidate is better
    ("full minus semantic_only" in improvement terms). ``significance`` is
    ``"test"`` (the sign-flip p-value, adjusted by ``permutation.correction``
    over every dimension of every comparison, is below 1 - level),
    ``"simultaneous"`` (the Bonferroni band of CR2 intervals over the same
    family excludes 0), ``"ci"`` (the per-dimension interval excludes 0, as in the
    original study: unadjusted) or ``"both"`` (``"ci"`` and ``"test"``).
    ``failure_policy`` is ``"worst"`` (a failed judgment scores the largest
    possible error) or ``"exclude"`` (dropped); ``failure_margin`` flags a
    variant whose failure rate differs from the reference's by more.
    ``na_policy`` is ``"worst"`` (N/A on one side only costs the largest error
    against the other side's score, as a failure does), ``"zero"`` (N/A scored
    as 0, the original study) or ``"exclude"`` (pairs with N/A dropped).
    ``consensus_na`` is ``"majority"`` (N/A when most raters said N/A,
    else the mean of the numeric scores) or ``"zero"`` (N/A averaged as 0).
    ``repeat_share`` flags an improvement whose spread over CV repeats is
    more than this share of its interval's width. ``controls`` are variants that
    get an MAE but no improvement over the reference (the no-skill and
    calibrated controls): they enter the family only through ``contrasts``.

    A dataclass with its own defaults, not :class:`nbjudge.params.StatsParams`:
    ``nbjudge.stats`` imports nothing of nbjudge but ``schemas`` (a library a notebook
    or another project can call without the pipeline's parameter model;
    ``tests/stats/test_package.py``). In a stage ``StatsParams`` has validated
    ``params.yaml`` first; ``tests/test_params.py`` checks that both keep the same
    defaults.
    """

    reference: str = "baseline"
    contrasts: tuple[tuple[str, str], ...] = (
        ("baseline", "majority"), ("full", "calibrated"), ("semantic_only", "calibrated"),
        ("full", "semantic_only"))
    controls: tuple[str, ...] = ("majority", "prior", "calibrated", "calibrated_full")
    na_policy: str = "worst"
    failure_policy: str = "worst"
    failure_margin: float = 0.05
    consensus: str = "mean"
    consensus_na: str = "majority"
    significance: str = "test"
    repeat_share: float = 0.25
    bootstrap: BootstrapSettings = field(default_factory=BootstrapSettings)
    permutation: PermutationSettings = field(default_factory=PermutationSettings)
    ceiling: CeilingSettings = field(default_factory=CeilingSettings)
    power: PowerSettings = field(default_factory=PowerSettings)

    def __post_init__(self) -> None:
        check_choice(self.na_policy, "na_policy", NA_POLICIES)
        check_choice(self.failure_policy, "failure_policy", FAILURE_POLICIES)
        check_choice(self.consensus_na, "consensus_na", NA_RULES)
        check_choice(self.significance, "significance", SIGNIFICANCE_RULES)
        check_choice(self.permutation.correction, "permutation.correction", CORRECTIONS)
        for pair in self.contrasts:
            if len(pair) != 2:
                raise ValueError(f"a contrast is a [candidate, other] pair; got {list(pair)}")

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> StatsConfig:
        """Build from the plain mapping of ``params.yaml``'s ``stats`` section.

        Unknown keys raise ``ValueError`` naming them, so a typo in the
        configuration never silently falls back to a default.
        """
        return _from_mapping(cls, mapping, "")


_SECTIONS = {
    "bootstrap": BootstrapSettings,
    "permutation": PermutationSettings,
    "ceiling": CeilingSettings,
    "power": PowerSettings,
}


def _from_mapping(cls: type[_Settings], mapping: object, prefix: str) -> _Settings:
    if not isinstance(mapping, Mapping):
        raise TypeError(f"stats setting '{prefix.rstrip('.') or 'stats'}' must be a mapping")
    known = [f.name for f in fields(cls)]
    unknown = [f"{prefix}{key}" for key in mapping if key not in known]
    if unknown:
        raise ValueError(f"unknown stats setting(s) {unknown}; known at this level: {known}")
    values: dict[str, Any] = {}
    for key, value in mapping.items():
        if cls is StatsConfig and key in _SECTIONS:
            values[key] = _from_mapping(_SECTIONS[key], value, f"{key}.")
        elif key == "contrasts":  # YAML lists; an empty `contrasts:` is None
            values[key] = tuple(tuple(pair) for pair in value or ())
        elif key == "controls":
            values[key] = tuple(value or ())
        else:
            values[key] = value
    return cls(**values)


@dataclass(frozen=True)
class ExperimentStats:
    """Everything the stage writes.

    Attributes
    ----------
    frames : dict of str to DataFrame
        Tidy tables, one CSV each: ``labels``, ``judgments``, ``ceiling``
        always; with judgments also ``agreement``, ``confusion``, ``mae``,
        ``improvement``, ``power`` and ``repeats``, and two plot views, one
        row per dimension and one column per series (DVC plot templates
        cannot group the rows of a tidy table): ``plot_mae`` (a column per
        variant) and ``plot_improvement`` (a column per comparison, named
        like the keys of ``metrics.json``).
    metrics : dict
        JSON-ready content of ``metrics_detail.json`` (NaN written as null).
    """

    frames: dict[str, pd.DataFrame]
    metrics: dict[str, Any]

    def write(self, metrics_path: str | os.PathLike[str], tables_dir: str | os.PathLike[str],
              *, warning: str | None = None) -> None:
        """The detail file (``warning`` first when given: what the numbers are worth)
        and one CSV per table; a table not produced this time does not linger."""
        metrics = self.metrics if warning is None else {"warning": warning, **self.metrics}
        atomic_write_text(metrics_path, json.dumps(metrics, indent=2) + "\n")
        tables = Path(tables_dir)
        tables.mkdir(parents=True, exist_ok=True)
        for stale in tables.glob("*.csv"):
            stale.unlink()
        for name, frame in self.frames.items():
            frame.to_csv(tables / f"{name}.csv", index=False)


def _comparisons(config: StatsConfig, variants: tuple[str, ...],
                 ) -> tuple[list[tuple[str, str]], list[str]]:
    """Improvements over the reference (controls have none), then the configured contrasts
    that can be computed."""
    comparisons = [(config.reference, v) for v in variants
                   if v != config.reference and v not in config.controls]
    skipped = []
    for candidate, other in config.contrasts:
        missing = [v for v in (candidate, other) if v not in variants]
        if missing:
            skipped.append(f"contrast {candidate} vs {other}: no judgments of {missing}")
        elif (other, candidate) not in comparisons:
            comparisons.append((other, candidate))
    return comparisons, skipped


def _repeat_spread(human: np.ndarray, judge: np.ndarray, table: ScoreTable,
                   variants: Sequence[str], order: Sequence[int],
                   na_policy: str) -> pd.DataFrame:
    """MAE of every cross-validation repeat on its own, to show the fold-assignment spread."""
    rows = []
    for v, variant in enumerate(variants):
        for r in np.flatnonzero(table.repeats[order[v]]):
            absolute, _ = paired_errors(human, judge[v:v + 1, r:r + 1], na_policy=na_policy)
            for d, dimension in enumerate(table.dimensions):
                usable = ~np.isnan(absolute[0, :, d])
                rows.append({
                    "variant": variant, "repeat": int(r), "dimension": dimension,
                    "mae": absolute[0, usable, d].mean() if usable.any() else np.nan,
                    "n_notebooks": int(usable.sum()),
                })
    return pd.DataFrame(rows)


def _improvement_spread(repeats: pd.DataFrame, reference: str, candidate: str,
                        dimension: str) -> float:
    """Standard deviation over CV repeats of the improvement: the reference's MAE (its own
    repeat of the same index, else its mean) minus each of the candidate's repeats."""
    mine = repeats[(repeats.variant == candidate) & (repeats.dimension == dimension)]
    if len(mine) < 2:
        return np.nan
    theirs = repeats[(repeats.variant == reference) & (repeats.dimension == dimension)]
    by_repeat = theirs.set_index("repeat").mae
    base = [by_repeat.get(r, theirs.mae.mean()) for r in mine.repeat]
    return float(np.std(np.asarray(base) - mine.mae.to_numpy(), ddof=1))


_INTERVAL = ["ci_method", "ci_level", "n_resamples", "sample_size", "resampling_unit",
             "n_units", "ci_note"]


def _interval_columns(boot: pd.DataFrame) -> pd.DataFrame:
    return boot.rename(columns={"level": "ci_level", "note": "ci_note", "method": "ci_method"})


def _mae_frame(boot: pd.DataFrame, agreed: pd.DataFrame, repeats: pd.DataFrame,
               reference: str, margin: float) -> pd.DataFrame:
    keys = ["variant", "dimension"]
    boot = _interval_columns(boot)
    mae = boot[boot.kind == "mae"][[*keys, "estimate", "ci_low", "ci_high", "n_notebooks",
                                    "n_cases", *_INTERVAL]].rename(columns={
        "estimate": "mae", "ci_low": "mae_ci_low", "ci_high": "mae_ci_high",
        "ci_method": "mae_ci_method"})
    bias = boot[boot.kind == "bias"][[*keys, "estimate", "ci_low", "ci_high", "ci_method"]].rename(
        columns={"estimate": "bias", "ci_low": "bias_ci_low", "ci_high": "bias_ci_high",
                 "ci_method": "bias_ci_method"})
    spread = repeats.groupby(keys, sort=False)["mae"].agg(n_repeats="count", repeat_sd="std")
    frame = (mae.merge(bias, on=keys)
             .merge(agreed[[*keys, "n_failed", "n_judgments", "failure_rate", "na_precision",
                            "na_recall"]], on=keys)
             .merge(spread.reset_index(), on=keys))
    base = frame[frame.variant == reference].set_index("dimension").failure_rate
    frame["failure_rate_vs_reference"] = frame.failure_rate - base.loc[frame.dimension].to_numpy()
    # Per dimension, for the table; the first page flags whole variants (see _flags).
    frame["failure_flag"] = frame.failure_rate_vs_reference.abs() > margin
    return frame


def _significant(frame: pd.DataFrame, rule: str, alpha: float, correction: str) -> pd.Series:
    by_ci = (frame.ci_low > 0) | (frame.ci_high < 0)
    by_band = (frame.simultaneous_low > 0) | (frame.simultaneous_high < 0)
    by_test = frame[f"p_{correction}"] < alpha
    return {"ci": by_ci, "simultaneous": by_band, "test": by_test, "both": by_ci & by_test}[rule]


def _common_maes(absolute: np.ndarray, variants: Sequence[str],
                 comparisons: Sequence[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    """MAE of the reference and of the candidate on the notebooks both can be scored on,
    shape (comparison, dimension) each: every number of a comparison uses one notebook set."""
    at = {name: i for i, name in enumerate(variants)}
    reference = absolute[[at[r] for r, _ in comparisons]]
    candidate = absolute[[at[c] for _, c in comparisons]]
    common = ~np.isnan(reference) & ~np.isnan(candidate)
    count = common.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.where(common, reference, 0).sum(axis=1) / count,
                np.where(common, candidate, 0).sum(axis=1) / count)


def _enough(n_units: Any, clustered: bool, config: StatsConfig) -> Any:
    """Enough resampled units (cases, or notebooks when each case holds one) under one
    statistic, after N/A exclusion and failures, for its interval to mean its level."""
    return n_units >= (config.bootstrap.min_cases if clustered
                       else config.bootstrap.min_notebooks)


def _improvement_frame(boot: pd.DataFrame, tests: SignFlipResult, holm: np.ndarray,
                       bh: np.ndarray, comparisons: Sequence[tuple[str, str]],
                       dimensions: Sequence[str], config: StatsConfig, mae: pd.DataFrame,
                       ceiling: CeilingResult, table: ScoreTable,
                       common: tuple[np.ndarray, np.ndarray],
                       repeats: pd.DataFrame) -> pd.DataFrame:
    keys = ["reference", "variant", "dimension"]
    boot = _interval_columns(boot)
    improvement = boot[boot.kind == "improvement"][
        [*keys, "estimate", "ci_low", "ci_high", "simultaneous_low", "simultaneous_high",
         "n_notebooks", "n_cases", "standard_error", *_INTERVAL]
    ].rename(columns={"estimate": "improvement"})
    relative = boot[boot.kind == "relative_reduction"][
        [*keys, "estimate", "ci_low", "ci_high", "ci_method"]
    ].rename(columns={"estimate": "relative_reduction", "ci_low": "relative_ci_low",
                      "ci_high": "relative_ci_high", "ci_method": "relative_ci_method"})
    pairs = [(r, c, d) for r, c in comparisons for d in dimensions]
    tested = pd.DataFrame(pairs, columns=keys).assign(
        p_value=tests.pvalue.ravel(), p_holm=holm.ravel(), p_fdr_bh=bh.ravel(),
        exact_test=tests.exact.ravel(), test_method=tests.describe().ravel(),
        n_sign_patterns=tests.n_patterns.ravel(), reference_mae=common[0].ravel(),
        variant_mae=common[1].ravel())
    frame = improvement.merge(relative, on=keys).merge(tested, on=keys)
    frame.insert(0, "kind", np.where(frame.reference == config.reference, "improvement",
                                     "contrast"))
    # Too few units for an interval: the standard error and the p-value stand in its place.
    too_few = ~_enough(frame.n_cases, _clustered(table), config)
    frame["interval_shown"] = ~too_few
    for column in ("ci_low", "ci_high", "simultaneous_low", "simultaneous_high",
                   "relative_ci_low", "relative_ci_high"):
        frame.loc[too_few, column] = np.nan
    frame.loc[too_few, "ci_method"] = "none (too few units for an interval)"
    frame["significant"] = _significant(frame, config.significance,
                                        1 - config.bootstrap.level,
                                        config.permutation.correction).fillna(False).astype(bool)
    frame["significant_unadjusted_ci"] = ((frame.ci_low > 0) | (frame.ci_high < 0)).fillna(False)
    # Every number of a comparison uses its common notebooks: say when a variant's own
    # MAE rests on others (failures dropped, or N/A excluded, on one side only).
    own = mae.set_index(["variant", "dimension"]).n_notebooks
    frame["same_notebooks_as_mae"] = [
        own.loc[(r, d)] == n == own.loc[(c, d)]
        for r, c, d, n in zip(frame.reference, frame.variant, frame.dimension,
                              frame.n_notebooks, strict=True)]
    human = pd.Series(ceiling.human_mae, index=ceiling.dimensions)
    closed = gap_closed(frame.reference_mae.to_numpy(), frame.variant_mae.to_numpy(),
                        human.loc[frame.dimension].to_numpy())
    frame["gap_closed"] = np.where(frame.kind == "improvement", closed, np.nan)
    frame["repeat_sd"] = [_improvement_spread(repeats, r, c, d) for r, c, d in zip(
        frame.reference, frame.variant, frame.dimension, strict=True)]
    width = frame.ci_high - frame.ci_low
    frame["repeat_spread_flag"] = (frame.repeat_sd > config.repeat_share * width).fillna(False)
    return frame.reset_index(drop=True)


def _comparison_names(frame: pd.DataFrame) -> list[str]:
    """``full`` for an improvement over the reference, ``full_vs_semantic_only`` for a contrast."""
    return [variant if kind == "improvement" else f"{variant}_vs_{reference}"
            for kind, variant, reference in zip(frame.kind, frame.variant, frame.reference,
                                                strict=True)]


def _plot_view(frame: pd.DataFrame, series: str, value: str,
               dimensions: Iterable[str]) -> pd.DataFrame:
    """One row per dimension (rubric order), one column per series."""
    wide = frame.pivot(index="dimension", columns=series, values=value)
    wide = wide.reindex(index=list(dimensions), columns=list(dict.fromkeys(frame[series])))
    return wide.rename_axis(columns=None).reset_index()


def _number(value: Any) -> bool | int | float | None:
    """A JSON-ready number: NaN becomes None, numpy scalars plain Python."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    value = float(value)
    return None if math.isnan(value) else value


def _label_metrics(table: ScoreTable) -> dict[str, Any]:
    rated = ~np.isnan(table.ratings)
    return {
        "n_notebooks": int(rated.any(axis=(0, 2)).sum()),
        "n_labels": int(rated.sum()),
        "n_raters": len(table.raters),
        "n_multi_rated_notebooks": int((rated.sum(axis=0) >= 2).any(axis=1).sum()),
        "source": "+".join(table.label_sources),
    }


def _ceiling_metrics(frame: pd.DataFrame) -> dict[str, Any]:
    return {
        row.dimension: {
            "human_mae": _number(row.human_mae), "human_alpha": _number(row.human_alpha),
            "n_notebooks": _number(row.n_notebooks),
            "low_agreement": row.status == "low_agreement",
        }
        for row in frame.itertuples()
    }


def _comparison_metrics(row: Any, correction: str) -> dict[str, Any]:
    return {
        "value": _number(row.improvement), "ci_low": _number(row.ci_low),
        "ci_high": _number(row.ci_high), "ci_method": row.ci_method,
        "simultaneous_low": _number(row.simultaneous_low),
        "simultaneous_high": _number(row.simultaneous_high),
        "standard_error": _number(row.standard_error), "test_method": row.test_method,
        "relative": _number(row.relative_reduction), "p": _number(row.p_value),
        "p_adjusted": _number(getattr(row, f"p_{correction}")),
        "significant": bool(row.significant),
        "significant_unadjusted_ci": bool(row.significant_unadjusted_ci),
        "n_notebooks": _number(row.n_notebooks),
        "reference_mae": _number(row.reference_mae), "variant_mae": _number(row.variant_mae),
        "repeat_sd": _number(row.repeat_sd),
    }


def _clustered(table: ScoreTable) -> bool:
    """Whether cases, not notebooks, are the units (some case holds several notebooks)."""
    return len(set(table.cases)) < len(table.notebooks)


def _intervals_metrics(boot: pd.DataFrame, config: StatsConfig, table: ScoreTable,
                       n_repeats: int, improvement: pd.DataFrame) -> dict[str, Any]:
    """What every interval is: method, level, resamples, sample size, unit, and what it
    conditions on."""
    first = boot.iloc[0]
    n_units = int(first.n_units)
    unit = str(first.resampling_unit)
    conditions = ("the notebooks' labels, the fold assignment and each fold's aligned "
                  "memory: it resamples " + unit + "s given those, so variation from "
                  "re-running alignment or drawing other folds is not in it")
    if n_repeats > 1:
        conditions += ("; the spread over the CV repeats (repeat_sd) shows part of that "
                       "variation")
    n_cases = len(set(table.cases))
    method = config.bootstrap.method
    if first.sample_size != n_units:
        method = str(first.method)
    elif method == "auto":
        method = "cr2 (MAE, bias, improvements) and studentized (relative reductions)"
    return {
        "method": method,
        "level": float(first.level),
        "n_resamples": int(first.n_resamples),
        "sample_size": int(first.sample_size),
        "resampling_unit": unit,
        "n_units": n_units,
        "n_notebooks": len(table.notebooks),
        "n_cases": n_cases,
        "note": str(first.note),
        "shown": bool(improvement.interval_shown.all()),
        "n_without_interval": int((~improvement.interval_shown).sum()),
        "smallest_units": int(improvement.n_cases.min()) if len(improvement) else None,
        "min_notebooks": config.bootstrap.min_notebooks,
        "min_cases": config.bootstrap.min_cases,
        "conditions_on": conditions,
        "significance": config.significance,
        "correction": config.permutation.correction,
        "family_size": int((boot.kind == "improvement").sum()),
        "failure_policy": config.failure_policy,
        "na_policy": config.na_policy,
        "consensus_na": config.consensus_na,
    }


def _flags(mae: pd.DataFrame, improvement: pd.DataFrame, config: StatsConfig,
           intervals: Mapping[str, Any]) -> list[str]:
    """What the first page must say before any number."""
    flags = []
    totals = mae.groupby("variant", sort=False)[["n_failed", "n_judgments"]].sum()
    rates = totals.n_failed / totals.n_judgments.clip(lower=1)
    for variant, rate in rates.items():
        if variant in config.controls:  # a control fails only where its judge did
            continue
        base = rates[config.reference]
        if abs(rate - base) > config.failure_margin:
            flags.append(
                f"{variant} failed {100 * rate:.0f}% of its judgments against "
                f"{100 * base:.0f}% for {config.reference} (margin "
                f"{100 * config.failure_margin:.0f} points): "
                + ("each failure is scored as the largest possible error"
                   if config.failure_policy == "worst"
                   else "failures are dropped, which flatters the variant that fails more"))
    if config.na_policy == "exclude":
        flags.append("na_policy=exclude drops every pair where the judge or the humans said "
                     "N/A, so a judge that answers N/A when unsure loses no MAE; read the N/A "
                     "precision and recall next to each MAE")
    if not intervals["shown"]:
        clustered = intervals["n_cases"] < intervals["n_notebooks"]
        unit = "cases" if clustered else "notebooks"
        needed = intervals["min_cases"] if clustered else intervals["min_notebooks"]
        flags.append(f"{intervals['n_without_interval']} comparison(s) rest on fewer than "
                     f"{needed} {unit} after N/A exclusion and failures (the smallest on "
                     f"{intervals['smallest_units']}), below the sizes at which the intervals "
                     "were validated: they get no interval, only a standard error and the "
                     "permutation p-value (exact or Monte Carlo, as labelled)")
    if intervals["note"]:
        flags.append(f"intervals: {intervals['note']}")
    spread = improvement[improvement.repeat_spread_flag]
    if len(spread):
        flags.append(f"the spread over CV repeats exceeds {100 * config.repeat_share:.0f}% of "
                     f"the interval width on {len(spread)} comparison(s): the interval, which "
                     "conditions on the folds, understates the uncertainty there")
    return flags


def _family_tests(differences: np.ndarray, clusters: Sequence[str] | None,
                  config: StatsConfig, rng: np.random.Generator,
                  ) -> tuple[SignFlipResult, tuple[np.ndarray, np.ndarray]]:
    """Sign-flip tests of every dimension of every comparison (one family, improvements and
    contrasts), with Holm- and BH-adjusted p-values, drawing ten times more random sign
    patterns until no Monte Carlo p-value within its 99.9% band of error could change
    the configured rule's decision (or :data:`MAX_SIGN_PATTERNS` is reached)."""
    alpha = 1 - config.bootstrap.level
    n_resamples = config.permutation.n_resamples
    while True:
        tests = sign_flip_test(differences, clusters=clusters, n_resamples=n_resamples,
                               alternative=config.permutation.alternative, rng=rng)
        family = tests.pvalue.ravel()
        adjusted = (adjust_pvalues(family, "holm"), adjust_pvalues(family, "fdr_bh"))
        if n_resamples >= MAX_SIGN_PATTERNS or _settled(tests, config.permutation.correction,
                                                         alpha):
            return tests, adjusted
        n_resamples = min(10 * n_resamples + 9, MAX_SIGN_PATTERNS)


def _settled(tests: SignFlipResult, correction: str, alpha: float) -> bool:
    """The adjusted decision is the same at both ends of every Monte Carlo p-value's
    99.9% band (the adjustments are monotone in each p-value)."""
    p = tests.pvalue.ravel()
    sampled = ~tests.exact.ravel() & ~np.isnan(p)
    error = np.where(sampled, 3.3 * np.sqrt(p * (1 - p) / tests.n_patterns.ravel()), 0.0)
    low = adjust_pvalues(np.clip(p - error, 0, 1), correction) < alpha
    high = adjust_pvalues(np.clip(p + error, 0, 1), correction) < alpha
    return bool(np.array_equal(low, high))


def analyze_experiment(
    labels: Iterable[Label],
    judgments: Iterable[Judgment],
    config: StatsConfig | None = None,
    *,
    seed: int = 0,
    cases: Mapping[str, str] | None = None,
    priors: Sequence[PriorDistribution] = (),
) -> ExperimentStats:
    """Every statistic of the experiment, from records, with one seed.

    ``cases`` maps notebook ids to case ids (the notebook index): when a case
    holds several notebooks the bootstrap resamples cases. With no judgments
    it reports what labels alone allow (label counts and the human ceiling)
    and says so in ``metrics["status"]``. Configured contrasts naming a
    variant without judgments are listed under ``metrics["skipped"]``; a
    missing reference variant is an error. ``priors`` are the distributions the
    ``prior`` control drew from (``ControlsRun.priors``): with them its rows get
    the exact expected MAE (``expected_mae``) beside the drawn one.
    """
    config = config or StatsConfig()
    table = build_table(labels, judgments, cases)
    ceiling = human_ceiling(table.ratings, dimensions=table.dimensions,
                            na_policy=config.na_policy, min_alpha=config.ceiling.min_alpha)
    frames = {"labels": label_counts(table), "judgments": judgment_counts(table),
              "ceiling": ceiling.to_frame()}
    metrics: dict[str, Any] = {"status": "ok", "labels": _label_metrics(table)}
    if not table.variants:
        metrics["status"] = "no_judgments"
        metrics["message"] = ("no judgments exist yet: only label counts and the human "
                              "ceiling are reported")
        metrics["ceiling"] = _ceiling_metrics(frames["ceiling"])
        return ExperimentStats(frames, metrics)
    if config.reference not in table.variants:
        raise ValueError(f"reference variant {config.reference!r} has no judgments; "
                         f"variants judged: {list(table.variants)}")

    variants = (config.reference, *(v for v in table.variants if v != config.reference))
    order = [table.variants.index(v) for v in variants]
    judge, failed = table.judge[order], table.failed[order]
    human = consensus(table.ratings, config.consensus, raters=table.raters,
                      na_policy=config.na_policy, na_rule=config.consensus_na)
    # Intention to treat: from here on a failed judgment is its worst possible score.
    scored = (impute_failures(human, judge, failed, na_policy=config.na_policy)
              if config.failure_policy == "worst" else judge)
    comparisons, skipped = _comparisons(config, variants)
    # Separate streams: test and power settings never change the bootstrap worlds.
    boot_rng, test_rng, power_rng = np.random.default_rng(seed).spawn(3)

    agreed = agreement(human, judge, variants=variants, dimensions=table.dimensions,
                       na_policy=config.na_policy, failed=failed,
                       failure_policy=config.failure_policy)
    original = config.bootstrap.sample_size == "original_study"
    sample_size = (ORIGINAL_STUDY_SAMPLE_SIZE if original
                   else None if config.bootstrap.sample_size is None
                   else int(config.bootstrap.sample_size))
    boot = bootstrap_agreement(
        human, scored, variants=variants, comparisons=comparisons, dimensions=table.dimensions,
        na_policy=config.na_policy,
        # One case cannot be resampled: notebooks then, and no interval is shown (min_cases).
        clusters=table.cases if len(set(table.cases)) > 1 else None,
        n_resamples=config.bootstrap.n_resamples, level=config.bootstrap.level,
        method="percentile" if original else config.bootstrap.method,
        sample_size=sample_size, batch=config.bootstrap.batch, rng=boot_rng,
    ).to_frame()
    if original:
        boot["note"] = "original study's 100 draws per resample: " + boot.note
    if len(set(table.cases)) == 1:  # resampled as notebooks, but one case is one unit
        boot["n_cases"] = 1
    absolute, _ = paired_errors(human, scored, na_policy=config.na_policy)
    differences = comparison_differences(absolute, variants, comparisons)
    clusters = table.cases if _clustered(table) else None
    tests, adjusted = _family_tests(differences, clusters, config, test_rng)
    power = power_analysis(
        differences, clusters=clusters, family_size=max(1, int(np.isfinite(adjusted[0]).sum())),
        level=config.bootstrap.level, target_power=config.power.target_power,
        target_improvement=config.power.target_improvement,
        n_simulations=config.power.n_simulations, max_notebooks=config.power.max_notebooks,
        rng=power_rng)

    repeats = _repeat_spread(human, scored, table, variants, order, config.na_policy)
    agreed_frame = agreed.to_frame().merge(frames["judgments"][["variant", "dimension", "n_ok"]],
                                           on=["variant", "dimension"])
    agreed_frame["n_judgments"] = agreed_frame.n_ok + agreed_frame.n_failed
    with np.errstate(invalid="ignore", divide="ignore"):
        agreed_frame["failure_rate"] = agreed_frame.n_failed / agreed_frame.n_judgments
    mae = _mae_frame(boot, agreed_frame, repeats, config.reference, config.failure_margin)
    expected = (prior_expected_mae(human, table.notebooks, table.dimensions, priors,
                                   na_policy=config.na_policy) if priors else {})
    mae["expected_mae"] = [expected.get(d, np.nan) if v == "prior" else np.nan
                           for v, d in zip(mae.variant, mae.dimension, strict=True)]
    # Too few units: no interval for a variant's MAE and bias either (as for improvements).
    too_few = ~_enough(mae.n_cases, _clustered(table), config)
    for column in ("mae_ci_low", "mae_ci_high", "bias_ci_low", "bias_ci_high"):
        mae.loc[too_few, column] = np.nan
    for column in ("mae_ci_method", "bias_ci_method"):
        mae.loc[too_few, column] = "none (too few units for an interval)"
    improvement = _improvement_frame(
        boot, tests, adjusted[0].reshape(tests.pvalue.shape),
        adjusted[1].reshape(tests.pvalue.shape),
        comparisons, table.dimensions, config, mae, ceiling, table,
        _common_maes(absolute, variants, comparisons), repeats)
    pairs = [(r, c, d) for r, c in comparisons for d in table.dimensions]
    power_frame = pd.concat(
        [pd.DataFrame(pairs, columns=["reference", "variant", "dimension"]), power.to_frame()],
        axis=1)
    frames.update(agreement=agreed_frame.drop(columns=["n_ok"]),
                  confusion=agreed.confusion_frame(), mae=mae,
                  improvement=improvement, power=power_frame, repeats=repeats,
                  plot_mae=_plot_view(mae, "variant", "mae", table.dimensions),
                  plot_improvement=_plot_view(
                      improvement.assign(series=_comparison_names(improvement)), "series",
                      "improvement", table.dimensions))

    metrics["judgments"] = {
        variant: {key: int(group[key].sum()) for key in ("n_ok", "n_failed", "n_missing")}
        | {"n_repeats": int(group.n_repeats.max())}
        for variant, group in frames["judgments"].groupby("variant", sort=False)
    }
    intervals = _intervals_metrics(boot, config, table, int(table.repeats.sum(axis=1).max()),
                                   improvement)
    metrics["intervals"] = intervals
    metrics["mae"] = {
        variant: {
            row.dimension: {"value": _number(row.mae), "ci_low": _number(row.mae_ci_low),
                            "ci_high": _number(row.mae_ci_high), "bias": _number(row.bias),
                            "n_notebooks": _number(row.n_notebooks),
                            "n_failed": _number(row.n_failed),
                            "failure_rate": _number(row.failure_rate),
                            "na_precision": _number(row.na_precision),
                            "na_recall": _number(row.na_recall)}
            | ({"expected": _number(row.expected_mae)} if variant == "prior" and priors
               else {})
            for row in group.itertuples()
        }
        for variant, group in mae.groupby("variant", sort=False)
    }
    correction = config.permutation.correction
    named = improvement.assign(series=_comparison_names(improvement))
    for kind in ("improvement", "contrast"):
        metrics[kind] = {
            name: {row.dimension: _comparison_metrics(row, correction)
                   for row in group.itertuples()}
            for name, group in named[named.kind == kind].groupby("series", sort=False)
        }
    metrics["ceiling"] = _ceiling_metrics(frames["ceiling"])
    metrics["skipped"] = skipped
    metrics["flags"] = _flags(mae, improvement, config, intervals)
    metrics = {"status": metrics.pop("status"), "summary": _summary(mae, named), **metrics}
    return ExperimentStats(frames, metrics)


def _summary(mae: pd.DataFrame, comparisons: pd.DataFrame) -> dict[str, Any]:
    """One line per variant for ``dvc exp show``: mean MAE over the dimensions and,
    against the reference, how many dimensions got significantly better or worse under
    the configured (family-wise or FDR) rule, and the mean MAEs on the notebooks both
    variants share, whether or not they are the ones each MAE uses."""
    summary: dict[str, Any] = {
        variant: {"mae_mean": _number(group.mae.mean()),
                  "failure_rate": _number(group.n_failed.sum()
                                          / max(int(group.n_judgments.sum()), 1))}
        for variant, group in mae.groupby("variant", sort=False)
    }
    improvements = comparisons[comparisons.kind == "improvement"]
    for variant, group in improvements.groupby("series", sort=False):
        significant = group[group.significant.astype(bool)]
        summary[variant]["better"] = int((significant.improvement > 0).sum())
        summary[variant]["worse"] = int((significant.improvement < 0).sum())
        summary[variant]["same_notebooks"] = bool(group.same_notebooks_as_mae.all())
    return summary
