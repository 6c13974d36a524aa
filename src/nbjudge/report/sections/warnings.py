"""The first lines of the report: what the reader must know before reading a number."""

from __future__ import annotations

from ..inputs import ReportInputs
from ..view import is_smoke, judge_model, label_sources, unsandboxed
from .robustness import injection_line

__all__ = ["warning_lines"]


def warning_lines(inputs: ReportInputs) -> list[str]:
    """What the reader must know before reading a number, most important first."""
    lines = []
    if is_smoke(inputs):
        model = judge_model(inputs) or "a tiny offline model"
        lines.append((inputs.run and inputs.run.banner) or (
            f"SMOKE TEST: scores from a tiny offline model ({model}); they mean nothing "
            "about judge quality."))
    sources = label_sources(inputs)
    if sources.get("simulated") and not sources.get("human"):
        lines.append("Labels are simulated by an expert panel model, not graded by people.")
    elif sources.get("simulated"):
        lines.append(f"{sources['simulated']:,} of {sum(sources.values()):,} labels are "
                     "simulated by an expert panel model, not graded by people.")
    count = unsandboxed(inputs)
    if count:
        ran = sum(1 for n in inputs.notebooks if n.execution)
        lines.append(f"{count:,} of {ran:,} notebooks ran UNSANDBOXED "
                     "(execute.sandbox=none): their code could reach the network and this "
                     "machine's files.")
    status = inputs.metrics.get("status")
    if status == "no_judgments":
        lines.append("No judgments yet: this report shows the labels and the human ceiling "
                     "only.")
    moved = injection_line(inputs.robustness)
    if moved:
        lines.append(moved)
    for flag in inputs.metrics.get("flags") or []:
        lines.append(flag[0].upper() + flag[1:] + ("" if flag.endswith(".") else "."))
    return lines
