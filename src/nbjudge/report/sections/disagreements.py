"""The largest disagreements: where a judge is farthest from the humans, with the code."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..disagreements import largest_disagreements, notebook_excerpt
from ..figures import dimension_label
from ..inputs import ReportInputs
from ..view import ReportSettings, ReportView
from .cells import fmt

__all__ = ["DisagreementItem", "ExcerptText", "RatingText", "disagreements"]


@dataclass(frozen=True)
class RatingText:
    rater: str
    score: str
    rationale: str


@dataclass(frozen=True)
class ExcerptText:
    cell: int
    text: str
    error: str | None   # the error the cell raised, if it did


@dataclass(frozen=True)
class DisagreementItem:
    notebook_id: str
    dimension: str
    variant: str        # with its fold, where it has one
    human_score: str
    ratings: tuple[RatingText, ...]
    judge_score: str
    judge_rationale: str
    distance: str
    excerpt: ExcerptText | None   # None: the notebook file could not be read


def _score(value: float | str) -> str:
    if isinstance(value, float):
        return fmt(value, 2 if value % 1 else 0)
    return str(value)


def disagreements(inputs: ReportInputs, view: ReportView,
                  settings: ReportSettings) -> tuple[DisagreementItem, ...]:
    """The judges' (not the controls') largest disagreements, largest first."""
    found = largest_disagreements(inputs.labels, inputs.judgments, n=settings.disagreements,
                                  na_policy=view.stats.na_policy, variants=list(view.judges))
    paths: dict[str, Path] = {}
    for notebook in inputs.notebooks:
        relative = notebook.execution.path if notebook.execution else notebook.path
        paths[notebook.notebook_id] = inputs.root / relative
    items = []
    for item in found:
        excerpt = (notebook_excerpt(paths[item.notebook_id], item.dimension,
                                    max_lines=settings.excerpt_lines)
                   if item.notebook_id in paths else None)
        items.append(DisagreementItem(
            notebook_id=item.notebook_id,
            dimension=dimension_label(item.dimension),
            variant=item.variant + (f" (fold {item.fold})" if item.fold is not None else ""),
            human_score=_score(item.human_score),
            ratings=tuple(RatingText(rater=r.rater_id, score=str(r.score),
                                     rationale=r.rationale) for r in item.ratings),
            judge_score=str(item.judge_score),
            judge_rationale=item.judge_rationale or "(no rationale)",
            distance=fmt(item.distance),
            excerpt=None if excerpt is None else ExcerptText(
                cell=excerpt.cell, text=excerpt.text, error=excerpt.error),
        ))
    return tuple(items)
