"""``generate.prompt: infer``: the judge model states the task of a notebook that does not.

Only for notebooks with no prompt from metadata, ``cases.yaml``, ``prompts.csv`` or a
markdown cell that reads like a task. The model is sent the notebook's cells (code and
markdown, no outputs, as many as its context holds) and asked for one sentence. The
request goes through :class:`nbjudge.llm.calls.CallRunner` with the answer cache
(``.nbjudge-cache/import-prompts``), so a rerun sends nothing. An answer that is not a
usable sentence (empty, code, a refusal, too short or too long: the offline model's
answers often are) is never used: the notebook keeps the placeholder prompt and its
warning says why. The prompt taken is marked ``prompt_source: inferred``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import nbformat

from nbjudge.llm.backends import Backend, LLMConfig, backend_if_needed, judge_model_uri
from nbjudge.llm.cache import AnswerCache, cache_path, content_key
from nbjudge.llm.calls import Answer, CallRunner, RetryPolicy, RunSummary
from nbjudge.llm.chat import chat_completion
from nbjudge.llm.limits import Limits
from nbjudge.notebooks.render import estimate_tokens

from .building import StatedTask, TaskStater

__all__ = ["CACHE_DIR", "INSTRUCTIONS", "StateRequest", "stated_sentence", "task_stater"]

CACHE_DIR = ".nbjudge-cache/import-prompts"
INSTRUCTIONS = (
    "You read a Jupyter notebook a data scientist wrote and state the task they were "
    "given, as the person who asked for it would have typed it: one sentence that says "
    "what to predict or analyse, from which data, and how success is measured if the "
    "notebook shows it. Answer with that one sentence only.")
MAX_REPLY_TOKENS = 96
MIN_WORDS, MAX_WORDS = 6, 60
_REFUSAL = re.compile(r"^(i('m| am)? (sorry|cannot|can't|unable)|as an ai|sorry)\b", re.I)


@dataclass(frozen=True)
class StateRequest:
    """One notebook whose task the model is asked to state."""

    notebook_id: str
    key: str
    prompt_tokens: int
    messages: tuple[dict[str, str], ...]
    params: dict[str, Any]

    @property
    def label(self) -> str:
        return f"the task of notebook {self.notebook_id}"


def notebook_cells(notebook: nbformat.NotebookNode, max_tokens: int) -> str:
    """The notebook's code and markdown cells, numbered from 1, without outputs, as many
    as ``max_tokens`` holds."""
    parts: list[str] = []
    used = 0
    cells = [c for c in notebook.cells if c.cell_type in ("code", "markdown")]
    for number, cell in enumerate(notebook.cells, start=1):
        if cell.cell_type not in ("code", "markdown") or not cell.source.strip():
            continue
        part = f"[cell {number}, {cell.cell_type}]\n{cell.source.strip()}"
        cost = estimate_tokens(part)
        if used + cost > max_tokens:
            parts.append(f"[... the notebook goes on: {len(cells)} cells in all]")
            break
        parts.append(part)
        used += cost
    return "\n\n".join(parts)


def stated_sentence(raw: str) -> tuple[str | None, str | None]:
    """The model's answer as a one-sentence task, or ``(None, why it is unusable)``."""
    if "```" in raw:
        return None, f"code, not a sentence ({_short(raw.strip())})"
    text = raw.strip()
    text = re.sub(r"^(task|the task|answer)\s*:\s*", "", text, flags=re.I).strip(" \"'*")
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    sentence = re.split(r"(?<=[.!?])\s", line, maxsplit=1)[0].strip(" \"'*")
    words = sentence.split()
    letters = sum(ch.isalpha() for ch in sentence)
    if not words:
        return None, "an empty answer"
    if _REFUSAL.match(sentence):
        return None, f"a refusal ({_short(sentence)})"
    if any(mark in sentence for mark in ("{", "}", "```", "import ", "def ", " = ")):
        return None, f"code, not a sentence ({_short(sentence)})"
    if letters < 0.6 * len(sentence.replace(" ", "")):
        return None, f"not prose ({_short(sentence)})"
    if len(words) < MIN_WORDS:
        return None, f"too short for a task ({len(words)} words: {_short(sentence)})"
    if len(words) > MAX_WORDS:
        return None, f"longer than one sentence of a task ({len(words)} words)"
    if len(set(w.lower() for w in words)) < len(words) / 2:
        return None, f"the same words over and over ({_short(sentence)})"
    return (sentence if sentence[-1] in ".!?" else sentence + "."), None


def _short(text: str, length: int = 60) -> str:
    return repr(text if len(text) <= length else text[:length - 3] + "...")


def _requests(notebooks: Mapping[str, nbformat.NotebookNode],
              config: LLMConfig) -> list[StateRequest]:
    model = judge_model_uri(config)
    params: dict[str, Any] = {"temperature": 0.0, "max_tokens": MAX_REPLY_TOKENS}
    room = max(256, config.context_size - MAX_REPLY_TOKENS - estimate_tokens(INSTRUCTIONS) - 64)
    requests = []
    for notebook_id, notebook in sorted(notebooks.items()):
        cells = notebook_cells(notebook, room)
        messages = ({"role": "system", "content": INSTRUCTIONS},
                    {"role": "user", "content": f"The notebook:\n\n{cells}\n\nThe task, "
                                                "in one sentence:"})
        key = content_key({"kind": "import-prompt", "model": model,
                           "messages": list(messages), "params": params})
        tokens = sum(estimate_tokens(m["content"]) for m in messages) + 20
        requests.append(StateRequest(notebook_id, key, tokens, messages, params))
    return requests


def task_stater(config: LLMConfig, *, cache_dir: str | None = None, progress: bool = False,
                backend: Backend | None = None) -> TaskStater:
    """A :data:`~nbjudge.benchmark.importer.TaskStater` asking ``config``'s model; the
    backend is opened (the local server started) only when an answer is not cached."""

    def state(notebooks: Mapping[str, nbformat.NotebookNode]) -> dict[str, StatedTask]:
        requests = _requests(notebooks, config)
        with (AnswerCache(cache_path(cache_dir, CACHE_DIR)) as cache,
              backend_if_needed(config, requests, cache, backend) as active):
            cached = {r.key for r in requests if r.key in cache}

            def call(request: StateRequest) -> Answer:
                if active is None:
                    raise RuntimeError(f"{request.label} is not cached and no backend is open")
                return chat_completion(active, request.messages, request.params)

            runner = CallRunner(
                call, cache, concurrency=config.concurrency,
                context_tokens=config.context_size - MAX_REPLY_TOKENS,
                retry=RetryPolicy(max_retries=config.max_retries),
                limits=active.limits if active is not None else Limits(),
                progress=progress, description="stating tasks", unit="notebook")
            outcomes = runner.run(requests, RunSummary(noun="tasks"))
        note = f"{config.backend}:{config.model}" + (
            ", a smoke-test model: its sentence means nothing" if config.smoke else "")
        stated = {}
        for request, outcome in zip(requests, outcomes, strict=True):
            if outcome.status != "ok":
                stated[request.notebook_id] = StatedTask(None, outcome.error or "failed")
                continue
            prompt, problem = stated_sentence(str(outcome.details.get("value") or ""))
            stated[request.notebook_id] = StatedTask(prompt, problem, request.key in cached,
                                                     note)
        return stated

    return state
