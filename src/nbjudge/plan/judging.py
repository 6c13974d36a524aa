"""The plans of the stages that judge: ``judge`` (exact), ``align@<variant>``,
``register`` and ``curve`` (upper bounds).

The baseline judges' requests are built by the code that sends them
(:func:`nbjudge.judges.requests.build_requests`), so the plan has the same
cache keys as the run and asks the same answer cache which it holds. Their
prompts are the messages MLflow's judge sends (system: the rubric and the
answer format; user: the task prompt and the rendered notebook), counted with
the model's tokenizer; the reply bound is ``llm.max_output_tokens``.

An aligned judge's prompts depend on what MemAlign distils, which is known
only after distillation, so ``align`` and ``register`` get upper bounds:
every judge request counted as not cached, the guidelines as long as every
distillation reply at its cap, ``memalign.retrieval_k`` retrieved examples as
long as the longest training notebook with its labels; distillation requests
batched as MemAlign batches them (at most 50 examples, within the context),
one example per label, replies at the model's output cap (DSPy sends none);
embedding requests (none with the in-process ``hashing`` embedder) one per
200 examples of each memory, one per retrieval, each text at most 8,192 tokens.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from nbjudge.judges.batch import baseline_judges
from nbjudge.judges.dimension import make_dimension_judge
from nbjudge.judges.requests import DimensionJudge, NotebookView, build_requests
from nbjudge.llm.backends import LLMConfig, inference_params, judge_model_uri
from nbjudge.llm.cache import cache_path
from nbjudge.llm.tokens import Tokenizer, model_output_cap, tokenizer_for
from nbjudge.plan.core import cached_keys, plan_line, price_of
from nbjudge.rubrics import load_rubric
from nbjudge.schemas import DIMENSIONS, Label, PlanLine, StagePlan

__all__ = [
    "Bound",
    "Fold",
    "alignment_plan",
    "curve_plan",
    "judge_messages",
    "judging_line",
    "judging_plan",
    "registration_plan",
]

Bound = Literal["exact", "upper", "estimate"]

# MemAlign (MLflow 3.x): examples per distillation request, per embedding request,
# the longest text it embeds, and the context it leaves free.
DISTILL_BATCH = 50
EMBED_BATCH = 200
EMBED_MAX_TOKENS = 8192
CONTEXT_FLEX = 5000
# Field names, ids and punctuation around one example in a prompt (a generous bound).
EXAMPLE_OVERHEAD = 50


def judge_messages(judge: Any, outputs: str) -> list[dict[str, str]]:
    """The chat messages an MLflow ``make_judge`` judge sends for ``{{ outputs }}``."""
    return [{"role": "system", "content": judge._build_system_message(False)},
            {"role": "user", "content": judge._build_user_message(None, outputs, None, None)}]


def _mlflow_judges(judges: Mapping[str, DimensionJudge], llm: LLMConfig) -> dict[str, Any]:
    """An MLflow judge per dimension with the judges' instructions (building one sends
    nothing)."""
    return {d: make_dimension_judge(load_rubric(d), model=judge_model_uri(llm),
                                    instructions=j.instructions,
                                    inference_params=inference_params(llm))
            for d, j in judges.items()}


class _Sizes:
    """Token counts of the parts of judge prompts, each text counted once."""

    def __init__(self, views: Sequence[NotebookView], judges: Mapping[str, DimensionJudge],
                 llm: LLMConfig, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        mlflow_judges = _mlflow_judges(judges, llm)
        any_judge = next(iter(mlflow_judges.values()), None)
        # 3 tokens prime the reply; each message adds 3 and its role (Tokenizer.messages)
        self.system = {d: tokenizer.messages([judge_messages(j, "")[0]]) - 3
                       for d, j in mlflow_judges.items()}
        self.user = {v.notebook_id: tokenizer.messages([judge_messages(any_judge, v.outputs)[1]])
                     for v in views} if any_judge is not None else {}
        self.embed = {v.notebook_id: min(tokenizer.text(v.outputs), EMBED_MAX_TOKENS)
                      for v in views}

    def prompt(self, dimension: str, notebook_id: str) -> int:
        return self.system[dimension] + self.user[notebook_id]


def judging_line(views: Sequence[NotebookView], llm: LLMConfig, judge: Mapping[str, Any], *,
                 judges: Mapping[str, DimensionJudge] | None = None, variant: str = "baseline",
                 bound: Bound = "exact", how: str = "") -> tuple[PlanLine, Tokenizer]:
    """The line of ``views`` judged by ``judges`` (the baseline judges by default): the
    requests the stage builds, their keys looked up in the answer cache."""
    judges = judges if judges is not None else baseline_judges(llm)
    model = judge_model_uri(llm)
    requests = build_requests(views, judges, variant=variant, model=model,
                              inference_params=inference_params(llm))
    tokenizer = tokenizer_for(model)
    sizes = _Sizes(views, judges, llm, tokenizer)
    cached = cached_keys(cache_path(judge.get("cache_dir"), ".nbjudge-cache/judgments"),
                         (r.key for r in requests), retry_failed=llm.retry_failed)
    line = plan_line(
        what="judge requests", model=model, price=price_of(model, llm),
        prompt_tokens=[sizes.prompt(r.dimension, r.notebook_id) for r in requests],
        reply_tokens=[llm.max_output_tokens] * len(requests), cached=cached,
        bound=bound,
        how=how or (f"{len(views)} notebooks x {len(judges)} dimensions, built and keyed as "
                    "the stage builds them; the answer cache asked for each key"))
    return line, tokenizer


def judging_plan(views: Sequence[NotebookView], llm: LLMConfig, judge: Mapping[str, Any], *,
                 stage: str = "judge", bound: Bound = "exact", how: str = "",
                 notes: Sequence[str] = ()) -> StagePlan:
    """The plan of the ``judge`` stage: the baseline judges over every notebook."""
    line, tokenizer = judging_line(views, llm, judge, bound=bound, how=how)
    return StagePlan(stage=stage, tokenizer=tokenizer.description, lines=[line],
                     notes=list(notes))


class Fold:
    """One training/held-out split of the cross-validation."""

    def __init__(self, repeat: int, fold: int, train: Sequence[str],
                 held_out: Sequence[str]) -> None:
        self.repeat, self.fold = repeat, fold
        self.train, self.held_out = list(train), list(held_out)


def _label_tokens(labels: Sequence[Label], tokenizer: Tokenizer
                  ) -> dict[tuple[str, str], list[int]]:
    """Tokens of each label's score and rationale, by (notebook, dimension)."""
    found: dict[tuple[str, str], list[int]] = {}
    for label in labels:
        size = tokenizer.text(f"{label.score} {label.rationale or ''}")
        found.setdefault((label.notebook_id, label.dimension), []).append(size)
    return found


def _distill_base(judges: Mapping[str, DimensionJudge], tokenizer: Tokenizer) -> dict[str, int]:
    """Tokens of MemAlign's distillation prompt without examples, per dimension."""
    try:
        from jinja2 import Template
        from mlflow.genai.judges.optimizers.memalign.prompts import (
            DISTILLATION_PROMPT_TEMPLATE,
        )
    except ImportError:  # another MLflow: the instructions plus a generous template
        return {d: tokenizer.text(j.instructions) + 1000 for d, j in judges.items()}
    template = Template(DISTILLATION_PROMPT_TEMPLATE)
    return {d: tokenizer.messages([{"role": "user", "content": template.render(
        judge_instructions=j.instructions, feedback_records=[], ids=[],
        existing_guidelines=[], zip=zip, len=len)}]) for d, j in judges.items()}


class _Alignment:
    """The requests of aligning one dimension's judge on ``teach`` (upper bounds)."""

    def __init__(self, teach: Sequence[str], dimension: str, base: int,
                 example: Mapping[str, int], context: int, reply_cap: int,
                 embed: Mapping[str, int]) -> None:
        self.distill_prompts: list[int] = []
        batch: list[int] = []
        limit = context - CONTEXT_FLEX
        for notebook_id in teach:
            size = example[notebook_id]
            if batch and (base + sum(batch) + size > limit or len(batch) >= DISTILL_BATCH):
                self.distill_prompts.append(base + sum(batch))
                batch = []
            batch.append(size)
        if batch:
            self.distill_prompts.append(base + sum(batch))
        # Later batches see the guidelines of the earlier ones (at most their replies).
        self.distill_prompts = [p + i * reply_cap for i, p in enumerate(self.distill_prompts)]
        self.guidelines = len(self.distill_prompts) * reply_cap
        self.longest_example = max((example[n] for n in teach), default=0)
        self.embed_requests = math.ceil(len(teach) / EMBED_BATCH)
        self.embed_tokens = sum(embed[n] for n in teach)


def _alignment_lines(views: Sequence[NotebookView], labels: Sequence[Label],
                     splits: Sequence[tuple[Sequence[str], Sequence[str]]], llm: LLMConfig,
                     settings: Any, variant: str | None, how: str,
                     judged: str = "once per CV repeat"
                     ) -> tuple[list[PlanLine], Tokenizer]:
    """Lines for aligning every dimension on each split's training notebooks and (with a
    ``variant``) judging its held-out notebooks with the aligned judges."""
    judges = baseline_judges(llm)
    model = judge_model_uri(llm)
    tokenizer = tokenizer_for(model)
    sizes = _Sizes(views, judges, llm, tokenizer)
    by_label = _label_tokens(labels, tokenizer)
    labelled = {d: {n for (n, dim) in by_label if dim == d} for d in DIMENSIONS}
    base = _distill_base(judges, tokenizer)
    reflection = (f"{settings.reflection_model}" if settings.reflection_model else model)
    cap_source = "llm.reflection_max_tokens, the local server's reply cap"
    reply_cap = llm.reflection_max_tokens
    if llm.backend != "local":
        listed = model_output_cap(reflection)
        if listed is not None:
            reply_cap, cap_source = listed, "the model's output cap: DSPy sends no reply cap"
        else:
            cap_source = ("llm.reflection_max_tokens, assumed: DSPy sends no reply cap and "
                          "litellm's list has no output cap for the model")
    distill_prompts: list[int] = []
    judge_prompts: list[int] = []
    embed_requests = embed_tokens = 0
    embed_sizes: list[int] = []
    for train, held_out in splits:
        for dimension in judges:
            teach = [n for n in train if n in labelled[dimension]]
            example = {n: sizes.user[n] + sum(by_label[(n, dimension)])
                       + EXAMPLE_OVERHEAD * len(by_label[(n, dimension)]) for n in teach}
            aligned = _Alignment(teach, dimension, base[dimension], example,
                                 llm.context_size, reply_cap, sizes.embed)
            distill_prompts += aligned.distill_prompts
            embed_requests += aligned.embed_requests
            embed_tokens += aligned.embed_tokens
            if variant is None:
                continue
            for notebook_id in held_out:
                prompt = sizes.prompt(dimension, notebook_id) + aligned.guidelines
                if variant == "full":
                    prompt += settings.retrieval_k * (aligned.longest_example + EXAMPLE_OVERHEAD)
                    embed_sizes.append(sizes.embed[notebook_id])
                judge_prompts.append(prompt)
    lines = []
    if variant is not None:
        lines.append(plan_line(
            what="judge requests", model=model, price=price_of(model, llm),
            prompt_tokens=judge_prompts, reply_tokens=[llm.max_output_tokens] * len(judge_prompts),
            bound="upper",
            how=(f"every held-out notebook and dimension {judged}; their cache keys "
                 "depend on what MemAlign distils, so none counts as cached; prompts bounded "
                 "by the guidelines at every distillation reply's cap"
                 + (f" and memalign.retrieval_k={settings.retrieval_k} retrieved examples, "
                    "each as long as the longest training example" if variant == "full"
                    else ""))))
    lines.append(plan_line(
        what="distillation", model=reflection, price=price_of(reflection, llm),
        prompt_tokens=distill_prompts, reply_tokens=[reply_cap] * len(distill_prompts),
        bound="upper",
        how=(f"{how}; MemAlign's batches (at most {DISTILL_BATCH} examples within "
             f"{llm.context_size:,} tokens), one example per label; replies at "
             f"{reply_cap:,} tokens ({cap_source}); "
             "DSPy's cache (a rerun sends none of these) is not consulted")))
    if llm.embedding_model != "hashing":
        embed_model = llm.embedding_model
        prompts = [embed_tokens // max(embed_requests, 1)] * embed_requests + embed_sizes
        if embed_requests:
            prompts[0] += embed_tokens - sum(prompts[:embed_requests])
        lines.append(plan_line(
            what="embeddings", model=embed_model, price=price_of(embed_model),
            prompt_tokens=prompts, reply_tokens=[0] * len(prompts), bound="upper",
            how=(f"one request per {EMBED_BATCH} examples of each memory and one per "
                 f"retrieval, texts cut at {EMBED_MAX_TOKENS:,} tokens")))
    return lines, tokenizer


def alignment_plan(views: Sequence[NotebookView], labels: Sequence[Label],
                   folds: Sequence[Fold], llm: LLMConfig, settings: Any, variant: str, *,
                   how: str = "",
                   notes: Sequence[str] = ()) -> StagePlan:
    """Upper bounds of the ``align@<variant>`` stage."""
    splits = [(f.train, f.held_out) for f in folds]
    repeats = len({f.repeat for f in folds})
    lines, tokenizer = _alignment_lines(
        views, labels, splits, llm, settings, variant,
        how or f"{len(folds)} folds ({repeats} repeat(s)) x 9 dimensions")
    return StagePlan(stage=f"align@{variant}", tokenizer=tokenizer.description, lines=lines,
                     notes=list(notes))


def registration_plan(views: Sequence[NotebookView], labels: Sequence[Label],
                      llm: LLMConfig, settings: Any, *, notes: Sequence[str] = ()
                      ) -> StagePlan:
    """Upper bounds of the ``register`` stage: each dimension aligned on every label."""
    ids = [v.notebook_id for v in views]
    lines, tokenizer = _alignment_lines(
        views, labels, [(ids, [])], llm, settings, None, "9 dimensions on every label")
    return StagePlan(stage="register", tokenizer=tokenizer.description, lines=lines,
                     notes=list(notes))


def curve_plan(views: Sequence[NotebookView], labels: Sequence[Label],
               splits: Mapping[float, Sequence[tuple[Sequence[str], Sequence[str]]]],
               variants: Sequence[str], llm: LLMConfig, settings: Any, *,
               notes: Sequence[str] = ()) -> StagePlan:
    """Upper bounds of the ``curve`` stage: for each fraction and each variant judged by a
    model (``calibrated`` needs none), every fold aligned on its labelled share of the
    training notebooks (``splits``, from :func:`nbjudge.alignment.curve.curve_splits`)
    and judging its held-out notebooks. Lines are named ``<what> (<variant>)``."""
    pairs = [split for q in sorted(splits) for split in splits[q]]
    per_fraction = len(pairs) // max(len(splits), 1)
    lines: list[PlanLine] = []
    tokenizer = tokenizer_for(judge_model_uri(llm))
    for variant in (v for v in variants if v != "calibrated"):
        variant_lines, tokenizer = _alignment_lines(
            views, labels, pairs, llm, settings, variant,
            f"{len(splits)} fraction(s) x {per_fraction} folds x 9 dimensions",
            judged="once per fraction and CV repeat")
        lines += [line.model_copy(update={"what": f"{line.what} ({variant})"})
                  for line in variant_lines]
    return StagePlan(stage="curve", tokenizer=tokenizer.description, lines=lines,
                     notes=list(notes))
