"""The figures as the page shows them: image, caption and alt text."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..figures import dimension_label
from ..view import ReportView
from .verdict import significance_rule

__all__ = ["FigureEntry", "figure_entries"]


@dataclass(frozen=True)
class FigureEntry:
    uri: str        # the image, usually a data URI
    caption: str
    alt: str        # the caption's first sentence


def _captions(view: ReportView) -> dict[str, str]:
    reference, aligned, stats = view.reference, view.aligned, view.stats
    level = stats.level_percent
    return {
        "forest": (f"Judge error per dimension. Left: MAE of the {reference} and {aligned} "
                   f"judges against the human consensus, with {level} paired cluster "
                   "intervals (dotted: one standard error either side where there were too few "
                   "units for an interval); in light gray, where they ran, the majority and "
                   "calibrated controls (no LLM), for scale. Right: the improvement (MAE "
                   f"{reference} − MAE {aligned}); filled when significant "
                   f"({significance_rule(stats)}); right margin: {stats.correction}-"
                   "adjusted sign-flip p-value, starred below "
                   f"{stats.alpha:.2g}."),
        "ablation": (f"Ablation: MAE of every judged variant with {level} intervals, side by "
                     "side per dimension; the controls (no-skill and calibrated, no LLM) in "
                     "light gray."),
        "bias": ("Left: positivity bias (mean judge score minus human score; above 0 the "
                 "judge is more lenient). Right: each variant's MAE, and the human ceiling "
                 "(MAE between two human raters of the same notebook) as a bar, thin and "
                 "gray where the raters agree too little to be trusted."),
        "ceiling": ("The human ceiling: MAE between two human raters of the same notebook, "
                    "per dimension; thin and gray where the raters agree too little."),
        "label_efficiency": (f"Label efficiency: MAE against the labelled training notebooks "
                             "per fold, when each fold's judges learn from a nested, seeded "
                             "share of every training fold (curve.fractions); bands: the "
                             f"stats stage's {level} bootstrap interval where it gives one; "
                             "calibrated (no LLM) dashed, in light gray."),
        "alignment_cost": ("Cost of alignment: seconds (and tokens where recorded) spent "
                           "building each fold's memory, per dimension."),
        "confusion": ("Judge score (columns, failed judgments last) against the human "
                      "consensus rounded to a score (rows), per dimension; the diagonal, "
                      "outlined, is exact agreement."),
    }


def _caption(captions: Mapping[str, str], name: str) -> str:
    if name.startswith("confusion_"):
        return f"Confusion matrices of the {name.removeprefix('confusion_')} judge. " + (
            captions["confusion"])
    return captions.get(name, dimension_label(name))


def figure_entries(view: ReportView, figures: Mapping[str, str]) -> dict[str, FigureEntry]:
    """Each drawn figure (name -> image URI) with its caption, in the order given."""
    captions = _captions(view)
    return {name: FigureEntry(uri=uri, caption=_caption(captions, name),
                              alt=_caption(captions, name).split(".")[0])
            for name, uri in figures.items()}
