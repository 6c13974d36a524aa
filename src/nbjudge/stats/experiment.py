"""From label and judgment records to every figure of the ``stats`` stage.

:func:`analyze_experiment` runs the whole analysis with one seed: agreement,
the paired cluster bootstrap, sign-flip tests with Holm and BH adjustment,
the human ceiling, power, and the spread over cross-validation repeats. It
returns tidy tables and the ``metrics.json`` content; it writes nothing.
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

from nbjudge.schemas import Judgment, Label, atomic_write_text

from ._checks import NA_POLICIES, check_choice
from .agreement import agreement
from .bootstrap import bootstrap_agreement
from .ceiling import CeilingResult, gap_closed, human_ceiling
from .permutation import CORRECTIONS, SignFlipResult, adjust_pvalues, sign_flip_test
from .power import power_analysis
from .tables import (
    ScoreTable,
    build_table,
    comparison_differences,
    consensus,
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

SIGNIFICANCE_RULES = ("ci", "test", "both")
_Settings = TypeVar("_Settings", bound="DataclassInstance")


@dataclass(frozen=True)
class BootstrapSettings:
    n_resamples: int = 10_000
    level: float = 0.95
    method: str = "percentile"
    sample_size: int | None = None
    batch: int | None = None


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
    ``"ci"`` (the interval excludes 0, as in the original study), ``"test"``
    (the adjusted sign-flip p-value is below 1 - level) or ``"both"``.
    """

    reference: str = "baseline"
    contrasts: tuple[tuple[str, str], ...] = (("full", "semantic_only"),)
    na_policy: str = "zero"
    consensus: str = "mean"
    significance: str = "ci"
    bootstrap: BootstrapSettings = field(default_factory=BootstrapSettings)
    permutation: PermutationSettings = field(default_factory=PermutationSettings)
    ceiling: CeilingSettings = field(default_factory=CeilingSettings)
    power: PowerSettings = field(default_factory=PowerSettings)

    def __post_init__(self) -> None:
        check_choice(self.na_policy, "na_policy", NA_POLICIES)
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
        JSON-ready content of ``metrics.json`` (NaN written as null).
    """

    frames: dict[str, pd.DataFrame]
    metrics: dict[str, Any]

    def write(self, metrics_path: str | os.PathLike[str], tables_dir: str | os.PathLike[str],
              *, warning: str | None = None) -> None:
        """``metrics.json`` (``warning`` first when given: what the numbers are worth)
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
    """Improvements over the reference, then the configured contrasts that can be computed."""
    comparisons = [(config.reference, v) for v in variants if v != config.reference]
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


def _mae_frame(boot: pd.DataFrame, agreed: pd.DataFrame, repeats: pd.DataFrame) -> pd.DataFrame:
    keys = ["variant", "dimension"]
    interval = ["estimate", "ci_low", "ci_high", "method"]
    mae = boot[boot.kind == "mae"][[*keys, *interval, "n_notebooks"]].rename(columns={
        "estimate": "mae", "ci_low": "mae_ci_low", "ci_high": "mae_ci_high",
        "method": "mae_ci_method"})
    bias = boot[boot.kind == "bias"][keys + interval].rename(columns={
        "estimate": "bias", "ci_low": "bias_ci_low", "ci_high": "bias_ci_high",
        "method": "bias_ci_method"})
    spread = repeats.groupby(keys, sort=False)["mae"].agg(n_repeats="count", repeat_sd="std")
    return (mae.merge(bias, on=keys)
            .merge(agreed[[*keys, "n_failed"]], on=keys)
            .merge(spread.reset_index(), on=keys))


def _significant(frame: pd.DataFrame, rule: str, alpha: float, correction: str) -> pd.Series:
    by_ci = (frame.ci_low > 0) | (frame.ci_high < 0)
    by_test = frame[f"p_{correction}"] < alpha
    return {"ci": by_ci, "test": by_test, "both": by_ci & by_test}[rule]


def _improvement_frame(boot: pd.DataFrame, tests: SignFlipResult, holm: np.ndarray,
                       bh: np.ndarray, comparisons: Sequence[tuple[str, str]],
                       dimensions: Sequence[str], config: StatsConfig, mae: pd.DataFrame,
                       ceiling: CeilingResult) -> pd.DataFrame:
    keys = ["reference", "variant", "dimension"]
    improvement = boot[boot.kind == "improvement"][
        [*keys, "estimate", "ci_low", "ci_high", "method", "n_notebooks"]
    ].rename(columns={"estimate": "improvement", "method": "ci_method"})
    relative = boot[boot.kind == "relative_reduction"][
        [*keys, "estimate", "ci_low", "ci_high", "method"]
    ].rename(columns={"estimate": "relative_reduction", "ci_low": "relative_ci_low",
                      "ci_high": "relative_ci_high", "method": "relative_ci_method"})
    pairs = [(r, c, d) for r, c in comparisons for d in dimensions]
    tested = pd.DataFrame(pairs, columns=keys).assign(
        p_value=tests.pvalue.ravel(), p_holm=holm.ravel(), p_fdr_bh=bh.ravel(),
        exact_test=tests.exact.ravel())
    frame = improvement.merge(relative, on=keys).merge(tested, on=keys)
    frame.insert(0, "kind", np.where(frame.reference == config.reference, "improvement",
                                     "contrast"))
    frame["significant"] = _significant(frame, config.significance,
                                        1 - config.bootstrap.level, config.permutation.correction)
    # The share of the gap to the human ceiling, for improvements over the reference only.
    by_variant = mae.set_index(["variant", "dimension"]).mae
    human = pd.Series(ceiling.human_mae, index=ceiling.dimensions)
    closed = gap_closed(
        by_variant.loc[list(zip(frame.reference, frame.dimension, strict=True))].to_numpy(),
        by_variant.loc[list(zip(frame.variant, frame.dimension, strict=True))].to_numpy(),
        human.loc[frame.dimension].to_numpy())
    frame["gap_closed"] = np.where(frame.kind == "improvement", closed, np.nan)
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
        "relative": _number(row.relative_reduction), "p": _number(row.p_value),
        "p_adjusted": _number(getattr(row, f"p_{correction}")),
        "significant": bool(row.significant), "n_notebooks": _number(row.n_notebooks),
    }


def analyze_experiment(
    labels: Iterable[Label],
    judgments: Iterable[Judgment],
    config: StatsConfig | None = None,
    *,
    seed: int = 0,
) -> ExperimentStats:
    """Every statistic of the experiment, from records, with one seed.

    With no judgments it reports what labels alone allow (label counts and
    the human ceiling) and says so in ``metrics["status"]``. Configured
    contrasts naming a variant without judgments are listed under
    ``metrics["skipped"]``; a missing reference variant is an error.
    """
    config = config or StatsConfig()
    table = build_table(labels, judgments)
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
                      na_policy=config.na_policy)
    comparisons, skipped = _comparisons(config, variants)
    # Separate streams: test and power settings never change the bootstrap worlds.
    boot_rng, test_rng, power_rng = np.random.default_rng(seed).spawn(3)

    agreed = agreement(human, judge, variants=variants, dimensions=table.dimensions,
                       na_policy=config.na_policy, failed=failed)
    boot = bootstrap_agreement(
        human, judge, variants=variants, comparisons=comparisons, dimensions=table.dimensions,
        na_policy=config.na_policy, n_resamples=config.bootstrap.n_resamples,
        level=config.bootstrap.level, method=config.bootstrap.method,
        sample_size=config.bootstrap.sample_size, batch=config.bootstrap.batch, rng=boot_rng,
    ).to_frame()
    absolute, _ = paired_errors(human, judge, na_policy=config.na_policy)
    differences = comparison_differences(absolute, variants, comparisons)
    tests = sign_flip_test(differences, n_resamples=config.permutation.n_resamples,
                           alternative=config.permutation.alternative, rng=test_rng)
    power = power_analysis(
        differences, level=config.bootstrap.level, target_power=config.power.target_power,
        target_improvement=config.power.target_improvement,
        n_simulations=config.power.n_simulations, max_notebooks=config.power.max_notebooks,
        rng=power_rng)

    repeats = _repeat_spread(human, judge, table, variants, order, config.na_policy)
    mae = _mae_frame(boot, agreed.to_frame(), repeats)
    improvement = _improvement_frame(
        boot, tests, adjust_pvalues(tests.pvalue, "holm"), adjust_pvalues(tests.pvalue, "fdr_bh"),
        comparisons, table.dimensions, config, mae, ceiling)
    pairs = [(r, c, d) for r, c in comparisons for d in table.dimensions]
    power_frame = pd.concat(
        [pd.DataFrame(pairs, columns=["reference", "variant", "dimension"]), power.to_frame()],
        axis=1)
    frames.update(agreement=agreed.to_frame(), confusion=agreed.confusion_frame(), mae=mae,
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
    metrics["mae"] = {
        variant: {
            row.dimension: {"value": _number(row.mae), "ci_low": _number(row.mae_ci_low),
                            "ci_high": _number(row.mae_ci_high), "bias": _number(row.bias),
                            "n_notebooks": _number(row.n_notebooks),
                            "n_failed": _number(row.n_failed)}
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
    metrics = {"status": metrics.pop("status"), "summary": _summary(mae, named), **metrics}
    return ExperimentStats(frames, metrics)


def _summary(mae: pd.DataFrame, comparisons: pd.DataFrame) -> dict[str, Any]:
    """One line per variant for ``dvc exp show``: mean MAE over the dimensions and,
    against the reference, how many dimensions got significantly better or worse."""
    summary: dict[str, Any] = {
        variant: {"mae_mean": _number(group.mae.mean())}
        for variant, group in mae.groupby("variant", sort=False)
    }
    improvements = comparisons[comparisons.kind == "improvement"]
    for variant, group in improvements.groupby("series", sort=False):
        significant = group[group.significant.astype(bool)]
        summary[variant]["better"] = int((significant.improvement > 0).sum())
        summary[variant]["worse"] = int((significant.improvement < 0).sum())
    return summary
