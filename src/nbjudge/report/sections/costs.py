"""What judging cost: per variant, and per stage as planned against what was used."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from nbjudge.schemas import PlanLine

from ..inputs import ReportInputs
from .cells import fmt, fmt_int

__all__ = ["JudgingCostRow", "PlannedCostRow", "judging_cost", "planned_cost"]


@dataclass(frozen=True)
class JudgingCostRow:
    variant: str
    judgments: str
    failed: str
    errors: str         # the three most frequent errors with their counts
    latency: str        # mean seconds per judgment
    tokens_in: str
    tokens_out: str


@dataclass(frozen=True)
class PlannedCostRow:
    """One line of a stage's plan, beside what its records say it used."""

    stage: str
    what: str
    bound: str
    planned_requests: str
    planned_in: str
    planned_out: str
    planned_cost: str
    requests: str
    tokens_in: str
    tokens_out: str
    cost: str


def judging_cost(inputs: ReportInputs) -> tuple[JudgingCostRow, ...]:
    rows = []
    for variant in sorted({j.variant for j in inputs.judgments}):
        records = [j for j in inputs.judgments if j.variant == variant]
        latencies = [j.latency_s for j in records if j.latency_s is not None]
        tokens_in = [j.tokens_in for j in records if j.tokens_in is not None]
        tokens_out = [j.tokens_out for j in records if j.tokens_out is not None]
        failed = [j for j in records if j.status == "failed"]
        errors = Counter((j.error or "unknown").splitlines()[0][:80] for j in failed)
        rows.append(JudgingCostRow(
            variant=variant,
            judgments=fmt_int(len(records)),
            failed=fmt_int(len(failed)),
            errors="; ".join(f"{error} ({count})" for error, count in errors.most_common(3)),
            latency=fmt(sum(latencies) / len(latencies), 1) if latencies else "—",
            tokens_in=fmt_int(sum(tokens_in)) if tokens_in else "—",
            tokens_out=fmt_int(sum(tokens_out)) if tokens_out else "—",
        ))
    return tuple(rows)


def _money(value: float | None) -> str:
    if value is None:
        return "unknown"
    return "0" if value == 0 else f"{value:.4f}"


def _priced(line: PlanLine, tokens_in: int | None, tokens_out: int | None) -> str:
    if tokens_in is None and tokens_out is None:
        return "—"
    if line.input_price is None or line.output_price is None:
        return "unknown"
    return _money((tokens_in or 0) * line.input_price + (tokens_out or 0) * line.output_price)


def _actual_usage(inputs: ReportInputs, stage: str,
                  what: str) -> tuple[int | None, int | None, int | None]:
    """Requests, tokens in and tokens out a stage's records say it used for ``what``
    (the curve's lines say their variant: ``judge requests (full)``)."""
    if stage == "curve":
        what, _, variant = what.partition(" (")
        variant = variant.rstrip(")")
        judgments = [j for j in inputs.curve_judgments
                     if j.variant.partition("@")[0] == variant]
        audits = [a for a in inputs.curve_alignment if a.variant.partition("@")[0] == variant]
    else:
        variant = "baseline" if stage == "judge" else stage.removeprefix("align@")
        judgments = [j for j in inputs.judgments if j.variant == variant]
        audits = [a for a in inputs.alignment if a.variant == variant]
    if what == "judge requests":
        tokens_in = [j.tokens_in for j in judgments if j.tokens_in is not None]
        tokens_out = [j.tokens_out for j in judgments if j.tokens_out is not None]
        return (len(judgments), sum(tokens_in) if tokens_in else None,
                sum(tokens_out) if tokens_out else None)
    if what == "distillation":
        counted = [a.tokens for a in audits if a.tokens]
        if not counted:
            return None, None, None
        return (sum(t.get("calls", 0) for t in counted), sum(t.get("prompt", 0) for t in counted),
                sum(t.get("completion", 0) for t in counted))
    return None, None, None


def planned_cost(inputs: ReportInputs) -> tuple[PlannedCostRow, ...]:
    """Planned (every request, replies at their cap) against what the records say was used."""
    rows = []
    for plan in inputs.plans:
        for line in plan.lines:
            planned = (None if line.input_price is None or line.output_price is None else
                       line.prompt_tokens * line.input_price
                       + line.reply_tokens * line.output_price)
            requests, tokens_in, tokens_out = _actual_usage(inputs, plan.stage, line.what)
            rows.append(PlannedCostRow(
                stage=plan.stage, what=line.what, bound=line.bound,
                planned_requests=fmt_int(line.requests),
                planned_in=fmt_int(line.prompt_tokens),
                planned_out=fmt_int(line.reply_tokens),
                planned_cost=_money(planned),
                requests=fmt_int(requests),
                tokens_in=fmt_int(tokens_in), tokens_out=fmt_int(tokens_out),
                cost=_priced(line, tokens_in, tokens_out),
            ))
    return tuple(rows)
