"""From executed notebooks to judgments: what each judge reads, how it is asked, what it said.

:func:`load_views` renders every executed notebook once (the same text for
all nine judges, for the MLflow trace and for MemAlign's memory);
:func:`build_requests` turns views and a set of judges into requests
whose keys cover everything that decides the prompt, ordered dimension by
dimension so that consecutive prompts share the rubric as a prefix (servers
with a prompt cache, like llama-server, then evaluate only the notebook);
:func:`run_requests` sends them through :class:`nbjudge.llm.calls.CallRunner`
and turns each answer into a :class:`~nbjudge.schemas.Judgment`: a score the
rubric allows, or a failed judgment that keeps the raw answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from nbjudge.errors import InputError
from nbjudge.judges.dimension import InvalidScoreError, call_judge, notebook_outputs, parse_score
from nbjudge.llm.cache import AnswerCache, request_key
from nbjudge.llm.calls import Answer, CallRunner, Outcome, RetryPolicy, RunSummary
from nbjudge.llm.limits import Limits
from nbjudge.notebooks.render import RenderOptions, estimate_tokens, render
from nbjudge.robustness.scanner import Finding, scan_notebook, strip_injections
from nbjudge.schemas import DIMENSIONS, Case, Judgment, Notebook

__all__ = [
    "DimensionJudge",
    "JudgeRequest",
    "NotebookView",
    "build_requests",
    "call_request",
    "load_views",
    "run_requests",
]

# MLflow adds the answer format (fields and types) to the system prompt.
FORMAT_OVERHEAD_TOKENS = 150
# Each retrieved example adds its label and rationale around the example's notebook text.
EXAMPLE_OVERHEAD_TOKENS = 50


@dataclass(frozen=True)
class NotebookView:
    """One notebook as every judge sees it."""

    notebook_id: str
    case_id: str
    task_prompt: str
    outputs: str            # task prompt + rendered notebook: the judge's ``{{ outputs }}``
    notebook_tokens: int | None = None   # of the rendered notebook
    notebook_cut: bool | None = None     # shortened to fit the budget
    # what the injection scanner flagged in the notebook (judge.on_injection)
    injections: tuple[Finding, ...] = ()


ON_INJECTION = ("judge", "strip", "fail")


@dataclass(frozen=True)
class JudgeRequest:
    """One judgment to obtain: a notebook, a dimension, a judge variant."""

    notebook_id: str
    dimension: str
    variant: str
    key: str
    prompt_tokens: int          # estimated size of the whole prompt
    fold: int | None = None
    repeat: int = 0
    payload: Any = None         # whatever ``call`` needs (the notebook text, the judge, ...)
    notebook_tokens: int | None = None   # of the notebook text in the prompt
    notebook_cut: bool | None = None     # that text was shortened to fit the budget

    @property
    def label(self) -> str:
        return f"{self.dimension} of {self.notebook_id}"



@dataclass
class DimensionJudge:
    """A judge of one dimension and what determines its prompts besides the notebook."""

    dimension: str
    instructions: str                       # the instructions the judge is built with
    judge: Any = None                       # the MLflow judge; may be attached later
    memory: Mapping[str, Any] | None = None  # episodic memory that retrieval draws from
    examples_per_prompt: int = 0            # retrieved examples pasted into each prompt
    # MLflow trace id -> notebook id of the memory's examples: answers (and so the cache)
    # name retrieved examples by notebook, since a fresh MLflow store gives traces new ids.
    notebook_of: Mapping[str, str] | None = None


def _notebook_path(entry: Notebook, root: Path) -> Path:
    if entry.execution is not None and entry.execution.path:
        return root / entry.execution.path
    return root / entry.path


def load_views(index: Sequence[Notebook], cases: Iterable[Case], options: RenderOptions,
               root: str | Path = ".", *, marked: bool = True,
               on_injection: str = "judge") -> list[NotebookView]:
    """Render every notebook of ``index`` (the executed copy when there is one).

    Each notebook is scanned for injections first (:mod:`nbjudge.robustness.scanner`);
    ``on_injection`` says what a finding does: ``judge`` (judged as it is, the finding
    recorded on the view), ``strip`` (the flagged lines removed before rendering),
    ``fail`` (an :class:`InputError` listing every finding, before anything is judged).
    ``marked``: the notebook's text between the data delimiters
    (:func:`nbjudge.judges.marking.mark_notebook`).
    """
    if on_injection not in ON_INJECTION:
        raise InputError(f"judge.on_injection is {on_injection!r}: use one of "
                         f"{', '.join(ON_INJECTION)}")
    prompts = {case.case_id: case.prompt for case in cases}
    root = Path(root)
    views = []
    for entry in index:
        if entry.case_id not in prompts:
            raise InputError(f"notebook {entry.notebook_id} belongs to case {entry.case_id!r}, "
                             "which is not in the cases file: rerun the cases stage")
        path = _notebook_path(entry, root)
        try:
            notebook = nbformat.read(path, as_version=4)
        except FileNotFoundError:
            raise InputError(f"{path}: notebook not found; rerun the execute stage") from None
        except Exception as error:  # nbformat raises several types for malformed files
            raise InputError(f"{path}: not a readable notebook ({error}); "
                             "regenerate or re-import it") from None
        findings = tuple(scan_notebook(notebook))
        if findings and on_injection == "strip":
            notebook = strip_injections(notebook)
        rendered = render(notebook, options)
        views.append(NotebookView(entry.notebook_id, entry.case_id, prompts[entry.case_id],
                                  notebook_outputs(prompts[entry.case_id], rendered.text,
                                                   marked=marked),
                                  rendered.tokens, rendered.cut, findings))
    flagged = [v for v in views if v.injections]
    if flagged and on_injection == "fail":
        lines = [f"{v.notebook_id} {f.describe()}" for v in flagged for f in v.injections]
        raise InputError(f"{len(flagged)} notebook(s) hold text addressed to the grader "
                         "(judge.on_injection=fail):\n  " + "\n  ".join(lines[:20])
                         + "\nremove it from the notebooks, or set judge.on_injection to "
                         "judge (graded as they are, flagged) or strip")
    return views


def build_requests(
    views: Sequence[NotebookView],
    judges: Mapping[str, DimensionJudge],
    *,
    variant: str,
    model: str,
    inference_params: Mapping[str, Any] | None,
    fold: int | None = None,
    repeat: int = 0,
    notebook_ids: Iterable[str] | None = None,
) -> list[JudgeRequest]:
    """One request per (dimension, notebook), dimension-major, in ``DIMENSIONS`` order."""
    wanted = None if notebook_ids is None else set(notebook_ids)
    chosen = [v for v in views if wanted is None or v.notebook_id in wanted]
    mean_outputs = (sum(estimate_tokens(v.outputs) for v in chosen) // len(chosen)
                    if chosen else 0)
    requests = []
    for dimension in DIMENSIONS:
        if dimension not in judges:
            continue
        judge = judges[dimension]
        fixed = estimate_tokens(judge.instructions) + FORMAT_OVERHEAD_TOKENS
        for view in chosen:
            key = request_key(model=model, instructions=judge.instructions, outputs=view.outputs,
                              inference_params=inference_params, memory=judge.memory)
            tokens = (fixed + estimate_tokens(view.outputs)
                      + judge.examples_per_prompt * (mean_outputs + EXAMPLE_OVERHEAD_TOKENS))
            requests.append(JudgeRequest(
                notebook_id=view.notebook_id, dimension=dimension, variant=variant, key=key,
                prompt_tokens=tokens, fold=fold, repeat=repeat, payload=(judge, view.outputs),
                notebook_tokens=view.notebook_tokens, notebook_cut=view.notebook_cut))
    return requests


def call_request(request: JudgeRequest) -> Answer:
    """The runner's ``call`` for requests made by :func:`build_requests`."""
    judge, outputs = request.payload
    if judge.judge is None:
        raise RuntimeError(f"no MLflow judge attached for {judge.dimension}")
    answer = call_judge(judge.judge, outputs)
    if judge.notebook_of:
        answer.retrieved_ids = [judge.notebook_of.get(i, i) for i in answer.retrieved_ids]
    return answer


def run_requests(
    requests: Sequence[JudgeRequest],
    call: Callable[[JudgeRequest], Answer],
    *,
    model: str,
    cache: AnswerCache,
    concurrency: int = 1,
    context_tokens: int | None = None,
    retry: RetryPolicy | None = None,
    progress: bool = True,
    description: str = "judging",
    context_hint: str = "lower llm.notebook_tokens or raise llm.context_size",
    summary: RunSummary | None = None,
    limits: Limits | None = None,
) -> list[Judgment]:
    """Judge every request; the result is in ``requests`` order, one record each.

    ``limits`` (the open backend's) pace and cap the requests. Raises
    :class:`BackendFatalError` or :class:`BackendUnavailableError` (every
    answer received before is in ``cache``); Ctrl-C stops sending and keeps
    the answers received so far.
    """
    runner = CallRunner(call, cache, interpret=_judgment_outcome, concurrency=concurrency,
                        context_tokens=context_tokens, retry=retry or RetryPolicy(),
                        limits=limits or Limits(), context_hint=context_hint,
                        progress=progress, description=description, unit="judgment")
    return [_judgment(request, outcome, model)
            for request, outcome in zip(requests, runner.run(requests, summary), strict=True)]


def _judgment(request: JudgeRequest, outcome: Outcome, model: str) -> Judgment:
    return Judgment(notebook_id=request.notebook_id, dimension=request.dimension,
                    variant=request.variant, fold=request.fold, repeat=request.repeat,
                    model=model, prompt_sha256=request.key,
                    notebook_tokens=request.notebook_tokens, notebook_cut=request.notebook_cut,
                    status=outcome.status, error=outcome.error, tokens_in=outcome.tokens_in,
                    tokens_out=outcome.tokens_out, latency_s=outcome.latency_s,
                    **outcome.details)


def _judgment_outcome(answer: Answer) -> dict[str, Any]:
    outcome: dict[str, Any] = {"rationale": answer.rationale,
                               "retrieved_ids": list(answer.retrieved_ids)}
    try:
        outcome |= {"status": "ok", "score": parse_score(answer.value)}
    except InvalidScoreError as error:
        outcome |= {"status": "failed", "error": f"invalid answer: {error}"}
    return outcome
