"""Plan lines priced, summed, printed, checked against the caps and written.

A :class:`~nbjudge.schemas.StagePlan` is what one stage will send: a line per
kind of request (judge requests, distillation, embeddings, notebook writing)
with its requests, those the answer cache already holds, prompt tokens and an
upper bound of reply tokens (the reply cap), priced with litellm's bundled
price list. A price the list does not have is "unknown", never 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

from nbjudge.errors import BudgetError
from nbjudge.llm.backends import LLMConfig
from nbjudge.llm.cache import AnswerCache
from nbjudge.llm.usage import backend_price, price_per_token
from nbjudge.runlog import set_aside
from nbjudge.schemas import PlanLine, StagePlan, write_json_record

__all__ = [
    "PlanExceedsBudgetError",
    "announce",
    "cached_keys",
    "check_budget",
    "format_plans",
    "plan_line",
    "price_of",
    "total_cost",
]


class PlanExceedsBudgetError(BudgetError):
    """The plan of a stage goes over ``llm.max_requests`` or ``llm.max_cost``; nothing
    was sent. The message carries the plan's numbers and the fix."""


def price_of(model: str, llm: LLMConfig | None = None) -> tuple[float, float] | None:
    """Currency per prompt token and per reply token of ``model`` (an MLflow model URI),
    None when unknown. The judges' own model is priced as its backend is (``local``
    costs nothing; a self-hosted ``openai_compatible`` server has no list price)."""
    if llm is not None:
        from nbjudge.llm.backends import judge_model_uri

        if model == judge_model_uri(llm):
            return backend_price(llm)
    return price_per_token(model)


def cached_keys(directory: Path, keys: Iterable[str], *, retry_failed: bool = False
                ) -> list[bool]:
    """Which ``keys`` the answer cache under ``directory`` holds (none when it does not
    exist yet: planning creates no cache); under ``retry_failed`` a failure that will be
    asked once more counts as not held."""
    keys = list(keys)
    if not directory.is_dir():
        return [False] * len(keys)
    with AnswerCache(directory, retry_failed=retry_failed) as cache:
        return [key in cache for key in keys]


def plan_line(*, what: str, model: str, price: tuple[float, float] | None,
              prompt_tokens: Sequence[int], reply_tokens: Sequence[int],
              cached: Sequence[bool] | None = None,
              bound: Literal["exact", "upper", "estimate"], how: str = "") -> PlanLine:
    """A line from per-request token counts (``cached[i]``: the cache holds request i)."""
    cached = list(cached) if cached is not None else [False] * len(prompt_tokens)
    if not len(prompt_tokens) == len(reply_tokens) == len(cached):
        raise ValueError("a plan line needs one prompt size, reply cap and cache flag "
                         "per request")
    sent = [i for i, hit in enumerate(cached) if not hit]
    return PlanLine(
        what=what, model=model, requests=len(prompt_tokens), cached=sum(cached),
        prompt_tokens=sum(prompt_tokens), reply_tokens=sum(reply_tokens),
        send_prompt_tokens=sum(prompt_tokens[i] for i in sent),
        send_reply_tokens=sum(reply_tokens[i] for i in sent),
        input_price=None if price is None else price[0],
        output_price=None if price is None else price[1],
        bound=bound, how=how)


def total_cost(lines: Sequence[PlanLine]) -> float | None:
    """Money of every request to send; None when one line with requests to send has no
    price (a sum that leaves out an unknown is not a total)."""
    costs = [line.cost for line in lines if line.to_send is None or line.to_send]
    if any(cost is None for cost in costs):
        return None
    return float(sum(cost for cost in costs if cost is not None))


def _money(value: float | None) -> str:
    if value is None:
        return "unknown"
    if value == 0:
        return "0"
    return f"{value:.4f}" if value < 100 else f"{value:,.0f}"


def _int(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _total(values: Iterable[int | None]) -> int | None:
    """The sum; None when one value is not known."""
    known = list(values)
    return None if any(v is None for v in known) else sum(v for v in known if v is not None)


def _sending(line: PlanLine) -> tuple[int, int, int, int]:
    """Requests to send, cached, and prompt and reply tokens to send; a line that does not
    say what is cached (as written to an output) counts every request as sent."""
    if line.cached is None or line.send_prompt_tokens is None or line.send_reply_tokens is None:
        return line.requests, 0, line.prompt_tokens, line.reply_tokens
    return (line.requests - line.cached, line.cached, line.send_prompt_tokens,
            line.send_reply_tokens)


def _price(line: PlanLine) -> str:
    if line.input_price is None or line.output_price is None:
        return "unknown"
    return f"{line.input_price * 1e6:.4g}/{line.output_price * 1e6:.4g}"


_HEADER = ("stage", "requests", "what", "cached", "to send", "prompt tokens",
           "reply tokens <=", "price/M in/out", "cost <=", "bound")


def _row(stage: str, line: PlanLine) -> tuple[str, ...]:
    return (stage, _int(line.requests), line.what, _int(line.cached), _int(line.to_send),
            _int(line.send_prompt_tokens), _int(line.send_reply_tokens), _price(line),
            _money(line.cost), line.bound)


def format_plans(plans: Sequence[StagePlan], *, total: bool = True) -> str:
    """A table per stage (prompt and reply tokens, cost: of the requests to send) and,
    with several stages, their total."""
    rows: list[tuple[str, ...]] = []
    for plan in plans:
        for line in plan.lines:
            rows.append(_row(plan.stage, line))
    every = [line for plan in plans for line in plan.lines]
    if total and len(plans) > 1:
        rows.append(("total", _int(sum(line.requests for line in every)), "",
                     _int(_total(line.cached for line in every)),
                     _int(_total(line.to_send for line in every)),
                     _int(_total(line.send_prompt_tokens for line in every)),
                     _int(_total(line.send_reply_tokens for line in every)), "",
                     _money(total_cost(every)), _worst(every)))
    widths = [max(len(row[i]) for row in [_HEADER, *rows]) for i in range(len(_HEADER))]
    text_columns = {0, 2, 7, 9}

    def fmt(row: tuple[str, ...]) -> str:
        cells = [cell.ljust(w) if i in text_columns else cell.rjust(w)
                 for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
        return "  ".join(cells).rstrip()

    out = [fmt(_HEADER), fmt(tuple("-" * w for w in widths))]
    for row in rows:
        if row[0] == "total":
            out.append(fmt(tuple("-" * w for w in widths)))
        out.append(fmt(row))
    notes = []
    for plan in plans:
        for line in plan.lines:
            if line.how:
                notes.append(f"  {plan.stage}, {line.what}: {line.how}")
        notes += [f"  {plan.stage}: {note}" for note in plan.notes]
    tokenizers = sorted({plan.tokenizer for plan in plans})
    out.append(f"prompt tokens counted with {', '.join(tokenizers)}; reply tokens are the "
               "reply caps (an upper bound); cost is of the requests to send, replies at "
               "their cap, priced per million tokens from litellm's bundled price list")
    out += notes
    return "\n".join(out)


def _worst(lines: Sequence[PlanLine]) -> str:
    bounds = {line.bound for line in lines if line.requests}
    for bound in ("estimate", "upper"):
        if bound in bounds:
            return bound
    return "exact"


def check_budget(plan: StagePlan, llm: LLMConfig) -> None:
    """Raise :class:`PlanExceedsBudgetError` when sending ``plan`` would go over
    ``llm.max_requests`` or ``llm.max_cost`` (replies at their cap, the plan's worst case)."""
    max_requests = getattr(llm, "max_requests", None)
    max_cost = getattr(llm, "max_cost", None)
    sending = [_sending(line) for line in plan.lines]
    to_send = sum(s[0] for s in sending)
    counted = (f"{to_send:,} requests to send "
               f"({sum(s[1] for s in sending):,} answered from the cache), "
               f"{sum(s[2] for s in sending):,} prompt tokens, "
               f"at most {sum(s[3] for s in sending):,} reply tokens")
    if max_requests is not None and to_send > max_requests:
        raise PlanExceedsBudgetError(
            f"the plan of {plan.stage} goes over llm.max_requests={max_requests}: {counted}; "
            f"nothing was sent. Raise the cap (-S llm.max_requests={to_send}), or judge fewer "
            "notebooks")
    if max_cost is None:
        return
    cost = total_cost(plan.lines)
    if cost is None:
        unpriced = sorted({line.model for line in plan.lines
                           if line.to_send and line.cost is None})
        raise PlanExceedsBudgetError(
            f"{plan.stage}: llm.max_cost={max_cost:g} is set, but litellm's price list has no "
            f"price for {', '.join(unpriced)} ({counted}); nothing was sent (an unknown "
            "price is not taken as free). Cap the run with -S llm.max_requests=N instead, "
            "or set -S llm.max_cost=null")
    if cost > max_cost:
        raise PlanExceedsBudgetError(
            f"the plan of {plan.stage} goes over llm.max_cost={max_cost:g}: {counted}, "
            f"costing up to {cost:.4f} with every reply at its cap; nothing was sent. Raise "
            f"the cap (-S llm.max_cost={math.ceil(cost * 100) / 100:g}) or judge fewer "
            "notebooks")


def announce(plan: StagePlan, llm: LLMConfig, record: str | Path | None = None) -> None:
    """What a stage does before it sends anything: print its plan, write it to ``record``
    (for the report), and stop when the plan goes over a cap.

    What the answer cache already holds, and so what is sent, depends on the runs before
    this one: the record leaves it empty and ``nbjudge.runlog`` keeps it, so that the
    record is the same on every run of the same inputs."""
    print(f"plan of {plan.stage}:\n{format_plans([plan], total=False)}", flush=True)
    if record is not None:
        write_json_record(record, set_aside([plan], record)[0])
    check_budget(plan, llm)
