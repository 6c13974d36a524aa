"""What the report shows before any section is built: variants, dimensions, settings.

:func:`report_view` decides the reference and aligned variants, the order of
variants and dimensions, and reads the statistics settings the stats stage
ran with; the figures and every section follow it. The facts about the run
that several sections state (smoke model, label sources, sandbox) live here
too, so that each is decided once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nbjudge.schemas import DIMENSIONS
from nbjudge.stats import StatsConfig

from .inputs import ReportInputs

__all__ = [
    "ReportSettings",
    "ReportView",
    "StatsSettings",
    "is_smoke",
    "judge_model",
    "label_sources",
    "params_section",
    "report_view",
    "unsandboxed",
]


@dataclass(frozen=True)
class ReportSettings:
    """Choices of the report that are not statistics.

    ``aligned`` is the variant the verdict compares with the reference
    (``full`` when it was judged, else the first other variant);
    ``disagreements`` how many notebook-dimension pairs to list;
    ``guidelines`` how many guideline groups to show per dimension;
    ``excerpt_lines`` how many lines of code each disagreement quotes.
    """

    aligned: str = "full"
    disagreements: int = 10
    guidelines: int = 6
    excerpt_lines: int = 12

    def __post_init__(self) -> None:
        for name in ("disagreements", "guidelines"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0; got {getattr(self, name)}")
        if self.excerpt_lines < 1:
            raise ValueError(f"excerpt_lines must be >= 1; got {self.excerpt_lines}")


@dataclass(frozen=True)
class StatsSettings:
    """The settings the statistics ran with, as the report states them."""

    reference: str
    correction: str
    level: float
    significance: str
    n_resamples: int
    method: str
    na_policy: str
    failure_policy: str
    consensus: str
    consensus_na: str
    min_notebooks: int
    min_alpha: float
    target_improvement: float
    target_power: float
    max_notebooks: int
    controls: tuple[str, ...]

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> StatsSettings:
        """``params.yaml``'s ``stats`` over the defaults of
        :class:`~nbjudge.stats.StatsConfig` (the same parse the stage does)."""
        config = StatsConfig.from_mapping(params_section(params, "stats"))
        return cls(
            reference=config.reference,
            correction=config.permutation.correction,
            level=float(config.bootstrap.level),
            significance=config.significance,
            n_resamples=config.bootstrap.n_resamples,
            method=config.bootstrap.method,
            na_policy=config.na_policy,
            failure_policy=config.failure_policy,
            consensus=config.consensus,
            consensus_na=config.consensus_na,
            min_notebooks=config.bootstrap.min_notebooks,
            min_alpha=config.ceiling.min_alpha,
            target_improvement=config.power.target_improvement,
            target_power=config.power.target_power,
            max_notebooks=config.power.max_notebooks,
            controls=tuple(config.controls),
        )

    @property
    def alpha(self) -> float:
        """The error rate of the intervals and tests: 1 - level."""
        return 1 - self.level

    @property
    def level_percent(self) -> str:
        """The interval level as the report writes it (``95%``)."""
        return f"{100 * self.level:.0f}%"


@dataclass(frozen=True)
class ReportView:
    """Which variants and dimensions the report shows, and the statistics settings.

    ``aligned`` is None when only the reference (or nothing) was judged.
    ``controls`` are the variants among ``variants`` that are controls (no-skill,
    calibrated): listed last, drawn muted, never the aligned variant.
    """

    stats: StatsSettings
    reference: str
    aligned: str | None
    variants: tuple[str, ...]
    dimensions: tuple[str, ...]
    controls: tuple[str, ...] = ()

    @property
    def judges(self) -> tuple[str, ...]:
        """The variants that are judges, not controls."""
        return tuple(v for v in self.variants if v not in self.controls)


def params_section(params: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """``params[name]`` when it is a mapping, else empty."""
    value = params.get(name)
    return value if isinstance(value, Mapping) else {}


def is_smoke(inputs: ReportInputs) -> bool:
    """The judge is the offline smoke-test model: ``run.json`` says so, else ``llm.smoke``."""
    if inputs.run is not None:
        return inputs.run.smoke
    return bool(params_section(inputs.params, "llm").get("smoke", False))


def judge_model(inputs: ReportInputs) -> str | None:
    """The judge's model: ``run.json``, else the judgments' own records, else ``llm.model``."""
    if inputs.run is not None:
        return inputs.run.model
    models = sorted({j.model for j in inputs.judgments})
    if models:
        return ", ".join(models)
    model = params_section(inputs.params, "llm").get("model")
    return str(model) if model else None


def label_sources(inputs: ReportInputs) -> Counter[str]:
    """How many labels each source (``human``, ``simulated``) gave."""
    return Counter(label.source for label in inputs.labels)


def unsandboxed(inputs: ReportInputs) -> int:
    """How many notebooks ran without a sandbox (``execute.sandbox=none``)."""
    return sum(1 for n in inputs.notebooks if n.execution and n.execution.sandbox == "none")


def _dimensions(inputs: ReportInputs) -> list[str]:
    present: set[str] = set()
    for name in ("labels", "ceiling", "mae"):
        frame = inputs.tables.get(name)
        if frame is not None and "dimension" in frame:
            present.update(frame["dimension"])
    present.update(label.dimension for label in inputs.labels)
    return [d for d in DIMENSIONS if d in present] + sorted(present - set(DIMENSIONS))


def _variants(inputs: ReportInputs, reference: str, controls: Sequence[str] = ()) -> list[str]:
    mae = inputs.tables.get("mae")
    if mae is None or mae.empty:
        return []
    found: list[str] = list(dict.fromkeys(mae["variant"]))
    return sorted(found, key=lambda v: (v != reference, v in controls, found.index(v)))


def _aligned_variant(variants: Sequence[str], reference: str, preferred: str,
                     controls: Sequence[str] = ()) -> str | None:
    judges = [v for v in variants if v not in controls]
    if preferred in judges and preferred != reference:
        return preferred
    return next((v for v in judges if v != reference), None)


def report_view(inputs: ReportInputs, settings: ReportSettings | None = None) -> ReportView:
    """The reference and aligned variants, every judged variant and dimension, in order."""
    settings = settings or ReportSettings()
    stats = StatsSettings.from_params(inputs.params)
    reference = stats.reference
    variants = _variants(inputs, reference, stats.controls)
    return ReportView(stats=stats, reference=reference,
                      aligned=_aligned_variant(variants, reference, settings.aligned,
                                               stats.controls),
                      variants=tuple(variants), dimensions=tuple(_dimensions(inputs)),
                      controls=tuple(v for v in variants if v in stats.controls))
