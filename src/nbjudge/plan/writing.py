"""The plan of ``generate`` with ``generate=llm``: one request per notebook to write.

The requests are built by :func:`nbjudge.writer.write.build_generation_requests`
(the same messages, parameters and cache keys as the run), their messages
counted with the writer model's tokenizer; replies are bounded by
``generate.max_output_tokens``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from nbjudge.llm.backends import LLMConfig, judge_model_uri
from nbjudge.llm.cache import cache_path
from nbjudge.llm.tokens import tokenizer_for
from nbjudge.plan.core import cached_keys, plan_line, price_of
from nbjudge.schemas import Case, StagePlan
from nbjudge.writer.write import WriterSettings, build_generation_requests

__all__ = ["writing_plan"]


def writing_plan(cases: Sequence[Case], settings: WriterSettings, config: LLMConfig,
                 datasets_dir: str | Path) -> StagePlan:
    """Every notebook the writer is asked for, looked up in the generations cache."""
    requests = build_generation_requests(cases, settings, config, datasets_dir)
    model = judge_model_uri(config)
    tokenizer = tokenizer_for(model)
    line = plan_line(
        what="notebook writing", model=model, price=price_of(model, config),
        prompt_tokens=[tokenizer.messages(r.messages) for r in requests],
        reply_tokens=[config.max_output_tokens] * len(requests),
        cached=cached_keys(cache_path(settings.cache_dir, ".nbjudge-cache/generations"),
                           (r.key for r in requests), retry_failed=config.retry_failed),
        bound="exact",
        how=f"{len(cases)} cases, {len(requests)} notebooks, built and keyed as the stage "
            "builds them")
    return StagePlan(stage="generate", tokenizer=tokenizer.description, lines=[line])
