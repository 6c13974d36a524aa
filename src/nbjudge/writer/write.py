"""``generate=llm``: a model writes each case's notebooks, as a coding agent would.

For every case and sample the writer is sent the prompt template filled with
the case's task and tables (:mod:`nbjudge.writer.prompt`). Requests go
through :class:`nbjudge.llm.calls.CallRunner`: the
same content-addressed answer cache, concurrency, retries with backoff on
429/5xx/timeouts and the same stop when the backend keeps failing. The
answer cached is the model's raw text, so a rerun sends nothing and parsing
can improve without asking again.

Each answer becomes a notebook (:mod:`nbjudge.writer.parse`) written to
``<out_dir>/<case_id>__<sample>.ipynb`` with an index entry carrying the
:class:`~nbjudge.schemas.Generation` provenance, or, when it cannot, a failed
:class:`~nbjudge.schemas.GenerationAttempt` that keeps the raw answer; no
notebook stands in for it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import nbformat

from nbjudge.errors import ConfigError
from nbjudge.llm.backends import (
    Backend,
    BackendConfigError,
    LLMConfig,
    backend_if_needed,
    judge_model_uri,
)
from nbjudge.llm.cache import CACHE_ROOT, AnswerCache, cache_path, content_key
from nbjudge.llm.calls import Answer, CallRunner, Outcome, RetryPolicy, RunSummary
from nbjudge.llm.chat import chat_completion
from nbjudge.llm.limits import Limits
from nbjudge.notebooks.render import estimate_tokens
from nbjudge.params import LlmGenerateParams
from nbjudge.schemas import Case, Generation, GenerationAttempt, Notebook
from nbjudge.writer.parse import UnusableAnswerError, build_notebook, parse_answer
from nbjudge.writer.prompt import (
    CELLS_SCHEMA,
    describe_tables,
    load_template,
    messages_sha256,
    render_messages,
)

__all__ = [
    "GenerationRequest",
    "GenerationResult",
    "WriterSettings",
    "build_generation_requests",
    "call_writer",
    "write_notebooks",
    "writer_config",
]

# Fields that belong to one provider and are not carried over to a writer on another.
_PROVIDER_FIELDS = ("base_url", "api_key_env", "smoke", "structured_output", "embedding_model")


# The defaults are the `generate` section's (nbjudge.params.LlmGenerateParams), their one
# source; only ``cache_dir`` (null there) and ``seed`` (the top-level one) are this module's.
_DEFAULT = LlmGenerateParams(backend="llm", input="")


@dataclass(frozen=True)
class WriterSettings:
    """The ``generate`` section for ``backend: llm``."""

    notebooks_per_case: int | None = _DEFAULT.notebooks_per_case  # None: the suite's count
    temperature: float = _DEFAULT.temperature
    temperatures: tuple[float, ...] | None = _DEFAULT.temperatures  # per sample, cycled
    seeds: tuple[int, ...] | None = _DEFAULT.seeds  # per sample; None: seed + sample - 1
    seed: int = 0
    max_output_tokens: int = _DEFAULT.max_output_tokens
    template: str = _DEFAULT.template
    sample_rows: int = _DEFAULT.sample_rows
    cache_dir: str = str(CACHE_ROOT / "generations")

    def __post_init__(self) -> None:
        if self.notebooks_per_case is not None and self.notebooks_per_case < 1:
            raise ValueError("generate.notebooks_per_case must be at least 1 (or null)")
        temperatures = self.temperatures or (self.temperature,)
        if any(t < 0 or t > 2 for t in temperatures):
            raise ValueError(f"generate temperatures must be within [0, 2], got {temperatures}")
        if self.temperatures is not None and not self.temperatures:
            raise ValueError("generate.temperatures is empty: give a list or null")
        if self.max_output_tokens < 64:
            raise ValueError("generate.max_output_tokens must be at least 64")
        if self.sample_rows < 0:
            raise ValueError("generate.sample_rows must not be negative")

    @classmethod
    def from_params(cls, generate: LlmGenerateParams, seed: int) -> WriterSettings:
        """From the validated ``generate`` section; a null there is this class's default,
        except ``notebooks_per_case`` (null: the suite's count)."""
        values = generate.model_dump(
            exclude={"backend", "input", "writer", "notebooks_per_case"}, exclude_none=True)
        return cls(seed=seed, **values, notebooks_per_case=generate.notebooks_per_case)

    def samples(self, case: Case) -> int:
        return self.notebooks_per_case if self.notebooks_per_case is not None else case.notebooks

    def sample_settings(self, sample: int) -> tuple[float, int]:
        """Temperature and seed of the ``sample``-th notebook (1-based) of every case."""
        temperature = (self.temperatures[(sample - 1) % len(self.temperatures)]
                       if self.temperatures else self.temperature)
        if self.seeds is not None:
            if sample > len(self.seeds):
                raise ConfigError(f"generate.seeds has {len(self.seeds)} seeds but notebook "
                                  f"{sample} of a case needs one: give one seed per notebook")
            return float(temperature), int(self.seeds[sample - 1])
        return float(temperature), self.seed + sample - 1


def writer_config(llm: LLMConfig | Mapping[str, Any], writer: Mapping[str, Any] | None,
                  max_output_tokens: int) -> LLMConfig:
    """The writer's LLM: the ``llm`` settings, or ``writer``'s over them.

    Fields ``writer`` leaves out come from ``llm``; when ``writer`` names
    another backend, the provider-specific ones (address, key variable,
    structured output, ...) are not carried over and take their defaults.
    The reply cap is ``max_output_tokens`` (``generate.max_output_tokens``).
    """
    settings = llm.model_dump(exclude_unset=True) if isinstance(llm, LLMConfig) else dict(llm)
    if writer:
        writer = dict(writer)
        if writer.get("backend", settings.get("backend")) != settings.get("backend"):
            if "model" not in writer:
                raise BackendConfigError(
                    f"generate.writer names backend {writer['backend']!r} but no model: "
                    "add model: ... to generate.writer")
            for name in _PROVIDER_FIELDS:
                settings.pop(name, None)
        settings.update(writer)
    settings["max_output_tokens"] = max_output_tokens
    try:
        return LLMConfig.from_mapping(settings)
    except BackendConfigError as error:
        raise BackendConfigError(f"the notebook writer's model: {error}".replace(
            "llm.", "generate.writer." if writer else "llm.")) from None


@dataclass(frozen=True)
class GenerationRequest:
    """One notebook to ask for: a case, a sample, the messages and settings."""

    notebook_id: str
    case_id: str
    task_prompt: str
    sample: int
    key: str
    prompt_tokens: int
    messages: tuple[dict[str, str], ...]
    prompt_sha256: str
    temperature: float
    seed: int
    params: dict[str, Any] = field(default_factory=dict)   # litellm.completion settings

    @property
    def label(self) -> str:
        return f"notebook {self.notebook_id}"


def completion_params(config: LLMConfig, temperature: float, seed: int) -> dict[str, Any]:
    """What the writer's request carries besides the messages."""
    params: dict[str, Any] = {"temperature": temperature, "seed": seed,
                              "max_tokens": config.max_output_tokens}
    if config.structured_output == "json_schema":
        params["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "notebook", "strict": True, "schema": CELLS_SCHEMA},
        }
    return params


def build_generation_requests(
    cases: Sequence[Case],
    settings: WriterSettings,
    config: LLMConfig,
    datasets_dir: str | Path,
) -> list[GenerationRequest]:
    """One request per case and sample, in case order."""
    template = load_template(settings.template)
    answer_format: Literal["json", "fenced"] = (
        "json" if config.structured_output == "json_schema" else "fenced")
    model = judge_model_uri(config)
    requests = []
    for case in cases:
        tables = describe_tables(Path(datasets_dir) / case.case_id, settings.sample_rows)
        messages = render_messages(template, prompt=case.prompt, tables=tables,
                                   answer_format=answer_format, sample_rows=settings.sample_rows)
        digest = messages_sha256(messages)
        tokens = sum(estimate_tokens(m["content"]) for m in messages) + 20
        for sample in range(1, settings.samples(case) + 1):
            temperature, seed = settings.sample_settings(sample)
            params = completion_params(config, temperature, seed)
            key = content_key({"kind": "notebook", "model": model, "messages": messages,
                               "params": params})
            requests.append(GenerationRequest(
                notebook_id=f"{case.case_id}__{sample:02d}", case_id=case.case_id,
                task_prompt=case.prompt, sample=sample, key=key, prompt_tokens=tokens,
                messages=tuple(messages), prompt_sha256=digest, temperature=temperature,
                seed=seed, params=params))
    return requests


def call_writer(backend: Backend) -> Callable[[GenerationRequest], Answer]:
    """The ``call`` of :class:`~nbjudge.llm.calls.CallRunner`: one chat completion each."""

    def call(request: GenerationRequest) -> Answer:
        return chat_completion(backend, request.messages, request.params)

    return call


@dataclass
class GenerationResult:
    """What a generation run produced."""

    notebooks: list[Notebook]
    attempts: list[GenerationAttempt]
    summary: RunSummary

    def line(self) -> str:
        failed = [a for a in self.attempts if a.status == "failed"]
        truncated = sum(1 for a in self.attempts if a.status == "ok" and a.generation.truncated)
        return (f"{len(self.notebooks)} of {len(self.attempts)} notebooks written "
                f"({len(failed)} failed, {truncated} truncated); {self.summary.cached} from cache, "
                f"{self.summary.sent} requests sent, {self.summary.seconds:.1f} s")


def write_notebooks(
    cases: Sequence[Case],
    settings: WriterSettings,
    config: LLMConfig,
    *,
    out_dir: str | Path,
    datasets_dir: str | Path,
    root: str | Path = ".",
    backend: Backend | None = None,
    retry: RetryPolicy | None = None,
    progress: bool = True,
) -> GenerationResult:
    """Ask for every case's notebooks and write the usable ones under ``out_dir``.

    The backend is opened (the local server started) only when an answer is
    not in the cache; pass ``backend`` to use one that is already open.
    """
    out_dir, root = Path(out_dir), Path(root)
    requests = build_generation_requests(cases, settings, config, datasets_dir)
    summary = RunSummary(noun="notebooks")
    with (AnswerCache(cache_path(settings.cache_dir, ".nbjudge-cache/generations")) as cache,
          backend_if_needed(config, requests, cache, backend) as active):
        call = call_writer(active) if active is not None else _nothing_to_send
        runner = CallRunner(
            call, cache, concurrency=config.concurrency,
            context_tokens=config.context_size - config.max_output_tokens,
            retry=retry or RetryPolicy(max_retries=config.max_retries),
            limits=active.limits if active is not None else Limits(),
            context_hint="raise the writer's context_size, or lower "
                         "generate.max_output_tokens or generate.sample_rows",
            progress=progress, description="writing notebooks", unit="notebook")
        outcomes = runner.run(requests, summary)
    model = f"{judge_model_uri(config).replace(':/', '/', 1)}"
    out_dir.mkdir(parents=True, exist_ok=True)
    notebooks, attempts = [], []
    for request, outcome in zip(requests, outcomes, strict=True):
        attempt, notebook = _record(request, outcome, settings, config, model, out_dir, root)
        attempts.append(attempt)
        if notebook is not None:
            notebooks.append(notebook)
    return GenerationResult(notebooks, attempts, summary)


def _nothing_to_send(request: GenerationRequest) -> Answer:
    raise RuntimeError(f"{request.label} is not cached and no backend is open")


def _record(request: GenerationRequest, outcome: Outcome, settings: WriterSettings,
            config: LLMConfig, model: str, out_dir: Path, root: Path
            ) -> tuple[GenerationAttempt, Notebook | None]:
    provenance = {
        "model": model, "backend": config.backend, "template": settings.template,
        "prompt_sha256": request.prompt_sha256, "sample": request.sample,
        "temperature": request.temperature, "seed": request.seed,
        "max_output_tokens": config.max_output_tokens,
        "tokens_in": outcome.tokens_in, "tokens_out": outcome.tokens_out,
        "latency_s": outcome.latency_s,
    }
    base = {"notebook_id": request.notebook_id, "case_id": request.case_id}
    if outcome.status != "ok":
        return GenerationAttempt(**base, status="failed", error=outcome.error or "failed",
                                 raw=None, generation=Generation(**provenance)), None
    raw = outcome.details.get("value") or ""
    try:
        parsed = parse_answer(raw)
    except UnusableAnswerError as error:
        return GenerationAttempt(**base, status="failed", error=f"unusable answer: {error}",
                                 raw=raw, generation=Generation(**provenance)), None
    finish = (outcome.details.get("meta") or {}).get("finish_reason")
    problem = parsed.problem
    if finish == "length" and not parsed.truncated:
        problem = "the reply hit max_output_tokens after its last complete cell"
    generation = Generation(**provenance, answer_format=parsed.answer_format,
                            truncated=problem is not None)
    notebook = build_notebook(parsed, {"notebook_id": request.notebook_id,
                                       "case_id": request.case_id, "prompt": request.task_prompt,
                                       "generation": generation.model_dump(mode="json")})
    text = nbformat.writes(notebook) + "\n"
    path = out_dir / f"{request.notebook_id}.ipynb"
    path.write_text(text, encoding="utf-8")
    entry = Notebook(notebook_id=request.notebook_id, case_id=request.case_id,
                     path=path.resolve().relative_to(root.resolve()).as_posix(),
                     sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(), origin="llm",
                     generation=generation)
    attempt = GenerationAttempt(**base, status="ok", error=problem, cells=len(parsed.cells),
                                raw=raw, generation=generation)
    return attempt, entry
