"""From report inputs to the typed records the HTML template shows.

:func:`build_context` decides everything a reader sees, section by section
(:mod:`nbjudge.report.sections`): the warnings on the first line, the verdict
per dimension, the provenance of notebooks, labels and judge, and what each
later section holds. Numbers are formatted in the sections, so the template
only lays them out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .inputs import ReportInputs
from .sections.ablation import Ablation, ablation
from .sections.agreement import AgreementTable, agreement
from .sections.captions import FigureEntry, figure_entries
from .sections.ceiling import Ceiling, ceiling
from .sections.compare import Comparison, comparison
from .sections.costs import JudgingCostRow, PlannedCostRow, judging_cost, planned_cost
from .sections.disagreements import DisagreementItem, disagreements
from .sections.guidelines import AlignmentRow, Guidelines, alignment_summary, guidelines
from .sections.limitations import limitations
from .sections.original_outputs import original_outputs
from .sections.provenance import JudgeFacts, Provenance, judge_facts, provenance
from .sections.robustness import Robustness, robustness
from .sections.settings import RunSettings, run_settings
from .sections.verdict import Verdict, verdict
from .sections.warnings import warning_lines
from .view import ReportSettings, ReportView, is_smoke, judge_model, report_view

__all__ = [
    "QUESTION",
    "TITLE",
    "ReportContext",
    "ReportSettings",
    "ReportView",
    "build_context",
    "is_smoke",
    "judge_model",
    "report_view",
    "warning_lines",
]

TITLE = "Can we trust our LLM judges of ML notebooks?"
QUESTION = ("Do our LLM judges of ML notebooks agree with human experts, and does aligning "
            "them with human feedback (MLflow's MemAlign) make them agree more?")


@dataclass(frozen=True)
class ReportContext:
    """Everything the template shows; its fields are the template's variables.

    A section that the inputs do not support is None (ablation, guidelines)
    or empty (the tables); ``contents`` lists the (anchor, title) of the
    sections shown.
    """

    title: str
    warnings: tuple[str, ...]
    question: str
    status: str
    judge: JudgeFacts
    verdict: Verdict
    provenance: Provenance
    figures: Mapping[str, FigureEntry]
    confusion: tuple[str, ...]              # names of the confusion figures, in order
    variants: tuple[str, ...]
    contents: tuple[tuple[str, str], ...]
    ablation: Ablation | None
    agreement: tuple[AgreementTable, ...]
    judging_cost: tuple[JudgingCostRow, ...]
    planned_cost: tuple[PlannedCostRow, ...]
    ceiling: Ceiling
    guidelines: Guidelines | None
    alignment: tuple[AlignmentRow, ...]
    disagreements: tuple[DisagreementItem, ...]
    settings: RunSettings
    limitations: tuple[str, ...]
    comparison: Comparison | None = None     # arms compared (data/compare), when any
    robustness: Robustness | None = None     # the robustness stage and the scanner
    original_outputs: tuple[str, ...] = ()   # notebooks judged on outputs not made here


def build_context(
    inputs: ReportInputs,
    figures: Mapping[str, str],
    settings: ReportSettings | None = None,
) -> ReportContext:
    """Every section of the report, as typed records of plain strings.

    ``figures`` maps figure names (``forest``, ``ablation``, ``bias``,
    ``confusion_<variant>``, ``alignment_cost``) to image URIs; figures
    absent from it are left out of the report.
    """
    settings = settings or ReportSettings()
    view = report_view(inputs, settings)
    shown_ablation = ablation(inputs, view)
    shown_agreement = agreement(inputs, view.variants)
    shown_guidelines = guidelines(inputs, view, settings)
    shown_alignment = alignment_summary(inputs)
    shown_disagreements = disagreements(inputs, view, settings)
    shown_comparison = comparison(inputs, figures)
    shown_robustness = robustness(inputs)
    contents = tuple((anchor, text) for anchor, text, shown in (
        ("compare", "comparing builds", shown_comparison is not None),
        ("improvement", "does alignment help", "forest" in figures),
        ("ablation", "ablation", shown_ablation is not None),
        ("curve", "how many labels", "label_efficiency" in figures),
        ("agreement", "agreement details", bool(shown_agreement)),
        ("ceiling", "human ceiling and power", True),
        ("guidelines", "what alignment learned", bool(shown_guidelines or shown_alignment)),
        ("disagreements", "largest disagreements", bool(shown_disagreements)),
        ("robustness", "robustness", shown_robustness is not None),
        ("settings", "settings", True),
        ("limitations", "limitations", True),
    ) if shown)
    return ReportContext(
        title=TITLE,
        warnings=tuple(warning_lines(inputs)),
        question=QUESTION,
        status=str(inputs.metrics.get("status", "ok")),
        judge=judge_facts(inputs),
        verdict=verdict(inputs, view),
        provenance=provenance(inputs),
        figures=figure_entries(view, figures),
        confusion=tuple(name for name in figures if name.startswith("confusion_")),
        variants=view.variants,
        contents=contents,
        ablation=shown_ablation,
        agreement=shown_agreement,
        judging_cost=judging_cost(inputs),
        planned_cost=planned_cost(inputs),
        ceiling=ceiling(inputs, view),
        guidelines=shown_guidelines,
        alignment=shown_alignment,
        disagreements=shown_disagreements,
        settings=run_settings(inputs, view.stats),
        limitations=limitations(inputs, view),
        comparison=shown_comparison,
        robustness=shown_robustness,
        original_outputs=original_outputs(inputs),
    )
