"""What alignment learned: the distilled guidelines per dimension, and what alignment cost."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..alignment import SIMILARITY_THRESHOLD, alignment_costs, group_guidelines
from ..figures import dimension_label
from ..inputs import ReportInputs
from ..view import ReportSettings, ReportView
from .cells import fmt, fmt_int

__all__ = [
    "AlignmentRow",
    "GuidelineEntry",
    "GuidelineSection",
    "Guidelines",
    "alignment_summary",
    "guidelines",
]


@dataclass(frozen=True)
class GuidelineEntry:
    """One group of similar guidelines, as found across folds."""

    text: str
    folds: str          # "<found in> of <folds>"
    fold_list: str
    n_sources: int      # labelled notebooks the guideline was distilled from
    recurring: bool     # found in more than one fold


@dataclass(frozen=True)
class GuidelineSection:
    dimension: str
    groups: tuple[GuidelineEntry, ...]
    more: int           # groups left out by ``ReportSettings.guidelines``


@dataclass(frozen=True)
class Guidelines:
    variant: str
    threshold: float
    sections: tuple[GuidelineSection, ...]


@dataclass(frozen=True)
class AlignmentRow:
    """Per variant: folds, alignments, memory sizes, seconds and tokens."""

    variant: str
    folds: str
    runs: str
    guidelines: str
    episodic: str
    seconds: str
    tokens: str


def _fold_names(folds: Sequence[tuple[int, int | None]]) -> str:
    if all(repeat == 0 for repeat, _ in folds):
        return ", ".join(str(fold) for _, fold in folds)
    return ", ".join(f"{fold} of repeat {repeat}" for repeat, fold in folds)


def guidelines(inputs: ReportInputs, view: ReportView,
               settings: ReportSettings) -> Guidelines | None:
    """The aligned variant's guidelines (else the first audited variant's); None without
    audit files."""
    if not inputs.alignment:
        return None
    variants = sorted({run.variant for run in inputs.alignment})
    variant = view.aligned if view.aligned in variants else variants[0]
    groups = group_guidelines([run for run in inputs.alignment if run.variant == variant])
    dimensions = list(view.dimensions)
    sections = []
    for dimension in dimensions + sorted({g.dimension for g in groups} - set(dimensions)):
        found = [g for g in groups if g.dimension == dimension]
        if not found:
            continue
        shown = found[:settings.guidelines]
        sections.append(GuidelineSection(
            dimension=dimension_label(dimension),
            groups=tuple(GuidelineEntry(text=g.text, folds=f"{len(g.folds)} of {g.n_folds}",
                                        fold_list=_fold_names(g.folds),
                                        n_sources=len(g.source_ids),
                                        recurring=len(g.folds) > 1)
                         for g in shown),
            more=len(found) - len(shown),
        ))
    return Guidelines(variant=variant, threshold=SIMILARITY_THRESHOLD, sections=tuple(sections))


def alignment_summary(inputs: ReportInputs) -> tuple[AlignmentRow, ...]:
    """One row per aligned variant; empty without audit files."""
    costs = alignment_costs(inputs.alignment)
    if costs.empty:
        return ()
    return tuple(
        AlignmentRow(
            variant=str(variant),
            folds=fmt_int(group["fold"].nunique()),
            runs=fmt_int(len(group)),
            guidelines=fmt(group["n_guidelines"].mean(), 1),
            episodic=fmt(group["n_episodic"].mean(), 1),
            seconds=fmt(group["seconds"].sum(min_count=1), 0),
            tokens=fmt_int(group["tokens"].sum(min_count=1)),
        )
        for variant, group in costs.groupby("variant", sort=True))
