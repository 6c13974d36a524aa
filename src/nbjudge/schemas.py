"""Record types of every file that crosses a stage boundary.

Most records are JSON lines (cases, notebooks, blueprint, labels,
judgments); a few are one JSON document each (the fold assignment, an
alignment audit, the judging run's facts, the registered judges). Every
record carries ``schema_version``, is validated when written and when read,
and a bad one raises :class:`RecordError` naming the file, the line and the
field. This module depends on nothing else in the package.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, Final, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from nbjudge.errors import InputError

__all__ = [
    "DIMENSIONS",
    "SCHEMA_VERSION",
    "TASK_TYPES",
    "AlignmentAudit",
    "ArmComparison",
    "ArmSummary",
    "BlueprintEntry",
    "CalibrationMap",
    "Case",
    "ControlsRun",
    "DatasetProperties",
    "EpisodicExample",
    "Execution",
    "FoldRepeat",
    "FoldsFile",
    "Generation",
    "GenerationAttempt",
    "Guideline",
    "InjectionFinding",
    "JudgeRun",
    "Judgment",
    "Label",
    "Notebook",
    "PPIComparison",
    "PlanLine",
    "PriorDistribution",
    "Record",
    "RecordError",
    "RegisteredJudge",
    "Registration",
    "RobustnessShift",
    "Score",
    "StagePlan",
    "atomic_write_text",
    "describe",
    "iter_records",
    "normalize_score",
    "read_json",
    "read_json_record",
    "read_records",
    "write_json",
    "write_json_record",
    "write_records",
]

SCHEMA_VERSION: Final = 1

DIMENSIONS: tuple[str, ...] = (
    "library_installation",
    "data_exploration",
    "data_imputation",
    "feature_engineering",
    "model_training",
    "model_use",
    "metrics_evaluation",
    "mlflow_logging",
    "cell_organization",
)

TASK_TYPES: tuple[str, ...] = (
    "binary",
    "binary_imbalanced",
    "multiclass",
    "regression",
    "forecasting",
    "unknown",      # an imported notebook whose data and prompt do not tell
)

_NA_SPELLINGS = {"n/a", "na", "not applicable"}


def normalize_score(value: Any) -> Any:
    """Map the spellings found in label files onto ``1 | 2 | 3 | "N/A"``.

    ``"2"``, ``2.0`` and ``2`` become ``2``; ``"n/a"``/``"NA"`` become ``"N/A"``.
    Anything else is returned unchanged so that validation rejects it with
    the offending value in the message.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in _NA_SPELLINGS:
            return "N/A"
        if text.isdigit():
            return int(text)
        try:
            number = float(text)
        except ValueError:
            return text
        return int(number) if number.is_integer() else text
    return value


Score = Annotated[Literal[1, 2, 3, "N/A"], BeforeValidator(normalize_score)]
Dimension = Literal[
    "library_installation",
    "data_exploration",
    "data_imputation",
    "feature_engineering",
    "model_training",
    "model_use",
    "metrics_evaluation",
    "mlflow_logging",
    "cell_organization",
]
TaskType = Literal["binary", "binary_imbalanced", "multiclass", "regression", "forecasting",
                   "unknown"]
NonEmpty = Annotated[str, Field(min_length=1)]


class Record(BaseModel):
    """Base of every stage-boundary record: strict fields, a schema version."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: Literal[1] = SCHEMA_VERSION  # the record's format; readers check it


class DatasetProperties(BaseModel):
    """What a grader needs to know about a dataset to judge a notebook."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rows: int = Field(gt=0)
    columns: list[str]
    missing_columns: list[str]
    missing_rate: float = Field(ge=0.0, le=1.0)
    missing_mechanism: Literal["none", "MCAR", "MAR"]
    categorical_columns: list[str]
    class_balance: dict[str, float] | None = None
    time_index: str | None = None
    frequency: str | None = None


class Case(Record):
    """One test case: a task as a user would type it, and its dataset."""

    case_id: NonEmpty  # unique in its suite; generated notebooks are <case_id>__01, __02, ...
    suite: NonEmpty
    prompt: NonEmpty   # the task as a user would type it; judges read it with the notebook
    task_type: TaskType
    dataset: NonEmpty  # the dataset's name: churn, titanic, co2, ...
    tables: dict[str, NonEmpty]  # role -> table name: "train", "test" (or "future")
    target: NonEmpty                # the column to predict
    id_column: str | None = None    # the rows' identifier, if the data has one
    horizon: int | None = None      # forecasting: how many steps ahead
    notebooks: int = Field(ge=1)    # notebooks per case
    # None: unknown (imported notebooks whose tables are not in the folder). Only the
    # report's description of the dataset reads them; nothing needs them to judge.
    properties: DatasetProperties | None = None
    # Imported notebooks: where the prompt comes from (unknown: a placeholder that says
    # the task is unknown; inferred: stated by the judge model). None: a suite's case
    # (left out of the record, as is the next field when None).
    prompt_source: Literal["metadata", "cases.yaml", "prompts.csv", "markdown cell",
                           "inferred", "unknown"] | None = None
    # Imported notebooks: what shows the task type (given in cases.yaml, data: ...,
    # prompt: the word ..., code: the estimators and metrics used).
    task_type_evidence: str | None = None

    @model_serializer(mode="wrap")
    def _leave_out_unset_provenance(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            for key in ("prompt_source", "task_type_evidence"):
                if data.get(key) is None:
                    data.pop(key, None)
        return data


class Execution(BaseModel):
    """How one notebook ran in its sandboxed kernel, or that it was judged as it came."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # resource_limit: stopped at one of execute.limits (which one: ``limit``);
    # not_run: execute.mode keep, the notebook is judged with the outputs it came with
    status: Literal["ok", "error", "timeout", "resource_limit", "not_run"]
    # Wall-clock time of the run; None in the pipeline's outputs (nbjudge.runlog keeps it)
    seconds: float | None = Field(default=None, ge=0.0)
    error: str | None = None
    path: NonEmpty  # the executed notebook, relative to the repository root
    limit: Literal["memory", "total_memory", "cpu", "processes", "file_size", "open_files",
                   "disk", "wall_time", "output"] | None = None
    # The cell the run stopped at, numbered from 1 as Jupyter and the judge's text number
    # cells (version-1 index records counted from 0; they read as this numbering).
    cell: int | None = Field(default=None, ge=1)
    sandbox: Literal["bwrap", "none"] | None = None  # None: recorded before sandboxes
    mode: Literal["run", "keep"] = "run"   # execute.mode as applied to this notebook
    # Where the outputs the judges read come from: this machine's run, the notebook as it
    # came (execute.mode keep, or on_environment_failure keep_original; after a time or
    # resource limit only with execute.keep_original_on_limit), or nowhere.
    outputs: Literal["run", "original", "none"] = "run"
    # Why a run failed: environment (a module, data file, network or kernel this machine
    # lacks, or one of its limits) or notebook (an error the code itself raises).
    failure: Literal["environment", "notebook"] | None = None

    def model_post_init(self, __context: Any) -> None:
        if (self.status == "not_run") != (self.mode == "keep"):
            raise ValueError("a notebook is not_run exactly when execute.mode keep applied")
        if self.status in ("ok", "not_run") and self.failure is not None:
            raise ValueError(f"a notebook with status {self.status} has no failure")
        if self.outputs == "run" and self.mode == "keep":
            raise ValueError("a kept notebook's outputs are original or none, never run")


Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class Generation(BaseModel):
    """How a model wrote one notebook (``origin: llm``): what was asked, of whom, at what cost."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    model: NonEmpty                  # the writer, as litellm names it: "openai/gpt-4o-mini"
    backend: NonEmpty                # the llm backend: local, openai, openai_compatible, ...
    template: NonEmpty               # the prompt template file, relative to the repository
    prompt_sha256: Sha256            # of the messages sent (system and user prompt)
    sample: int = Field(ge=1)        # 1, 2, ... within the case
    temperature: float = Field(ge=0.0)
    seed: int | None = None
    max_output_tokens: int = Field(ge=1)
    answer_format: Literal["json", "fenced"] | None = None  # None: no usable answer
    truncated: bool = False          # cut off (or malformed) after its last complete cell
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_s: float | None = None


class Notebook(Record):
    """An entry of the notebook index.

    Version 2 numbers ``execution.cell`` from 1, as Jupyter, the judge's text, stage
    messages and the report do; version-1 records (counted from 0) still read, their
    cell renumbered.
    """

    schema_version: Literal[2] = 2  # type: ignore[assignment]  # 2: execution.cell counted from 1
    notebook_id: NonEmpty
    case_id: NonEmpty
    path: NonEmpty  # the notebook as written, relative to the repository root
    sha256: Sha256
    origin: Literal["procedural", "llm", "import"]
    execution: Execution | None = None
    generation: Generation | None = None  # provenance of notebooks written by a model

    @model_validator(mode="before")
    @classmethod
    def _upgrade_version_1(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("schema_version") == 1:
            data = {**data, "schema_version": 2}
            execution = data.get("execution")
            if isinstance(execution, dict) and isinstance(execution.get("cell"), int):
                data["execution"] = {**execution, "cell": execution["cell"] + 1}
        return data

    def model_post_init(self, __context: Any) -> None:
        if (self.origin == "llm") != (self.generation is not None):
            raise ValueError("a notebook has generation provenance if and only if its "
                             "origin is llm")


class GenerationAttempt(Record):
    """One request for a notebook (``generate=llm``), kept whether or not it became one."""

    notebook_id: NonEmpty            # the notebook's id when the answer is usable
    case_id: NonEmpty
    status: Literal["ok", "failed"]
    error: str | None = None         # why no notebook came of it, or what was dropped
    cells: int = Field(default=0, ge=0)
    raw: str | None = None           # the model's answer as received (None: no answer came)
    generation: Generation

    def model_post_init(self, __context: Any) -> None:
        if self.status == "failed" and not self.error:
            raise ValueError("a failed generation says why in error")
        if self.status == "ok" and self.cells < 1:
            raise ValueError("a generation with status ok has at least one cell")


class BlueprintEntry(Record):
    """The true quality of one notebook on one dimension. Judges never see it.

    Version 2 renamed ``variant`` to ``template`` (a variant is a judge
    configuration); version-1 records still read, their ``variant`` as ``template``.
    """

    schema_version: Literal[2] = 2  # type: ignore[assignment]  # a newer version than Record's
    notebook_id: NonEmpty
    case_id: NonEmpty
    dimension: Dimension
    level: Score
    template: NonEmpty  # the generator's code template that wrote this dimension
    defects: list[NonEmpty]
    description: NonEmpty  # one sentence: what the code for this dimension does
    crash: bool = False

    @model_validator(mode="before")
    @classmethod
    def _upgrade_version_1(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("schema_version") == 1:
            data = {**data, "schema_version": 2}
            if "variant" in data:
                data["template"] = data.pop("variant")
        return data


class Label(Record):
    """One rater's grade of one notebook on one dimension."""

    notebook_id: NonEmpty
    dimension: Dimension
    score: Score  # 1 bad, 2 average, 3 good, or N/A
    rationale: Annotated[str, Field(min_length=1, pattern=r"\S")]  # what the rater saw
    rater_id: NonEmpty
    source: Literal["human", "simulated"]  # simulated: the panel of labels=panel


class Judgment(Record):
    """One judge's grade of one notebook on one dimension, or its failure."""

    notebook_id: NonEmpty
    dimension: Dimension
    variant: NonEmpty  # baseline, full, semantic_only, ...
    fold: int | None = None  # the cross-validation fold it was held out in (None: baseline)
    repeat: int = 0          # the cross-validation repeat
    status: Literal["ok", "failed"]  # failed: no score, the error instead, never a made-up one
    score: Score | None = None
    rationale: str | None = None  # the judge's reason for its score
    error: str | None = None      # why the judgment failed
    model: NonEmpty               # as MLflow names it; control:<variant> for the controls
    prompt_sha256: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_s: float | None = None  # None in the pipeline's outputs: nbjudge.runlog keeps it
    retrieved_ids: list[str] = Field(default_factory=list)  # notebooks an aligned judge read
    notebook_tokens: int | None = Field(default=None, ge=0)  # of the notebook text it read
    notebook_cut: bool | None = None  # the notebook was shortened to fit the judge's budget

    def model_post_init(self, __context: Any) -> None:
        if self.status == "ok" and self.score is None:
            raise ValueError("a judgment with status ok needs a score")
        if self.status == "failed" and self.score is not None:
            raise ValueError("a failed judgment carries no score")


# One JSON document each -------------------------------------------------------------------


class FoldRepeat(BaseModel):
    """One repeat of grouped K-fold: each notebook's fold and case."""

    model_config = ConfigDict(extra="forbid")
    repeat: int = Field(ge=0)
    seed: int = Field(ge=0)                  # the random state this repeat was drawn with
    folds: dict[NonEmpty, int]
    cases: dict[NonEmpty, NonEmpty]


class FoldsFile(BaseModel):
    """``data/folds.json``: the folds of every repeat (checked further by the folds module)."""

    model_config = ConfigDict(extra="forbid")
    schema_version: Literal[1] = SCHEMA_VERSION
    k: int = Field(ge=2)
    seed: int = Field(ge=0)
    repeats: list[FoldRepeat] = Field(min_length=1)


def _fold_all_is_none(value: Any) -> Any:
    return None if value == "all" else value


class Guideline(BaseModel):
    """One distilled guideline and the ids of the feedback it came from."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    text: Annotated[str, Field(min_length=1, pattern=r"\S")]
    source_ids: list[NonEmpty] = Field(default_factory=list)


class AlignmentAudit(Record):
    """The memory and retrievals of one aligned judge (variant, fold, repeat, dimension).

    ``fold`` is ``None`` for the final judge aligned on every notebook
    (``"all"`` is read as ``None``). ``retrievals`` maps each judged notebook
    to the ids retrieved for it, at most ``retrieval_k`` of them. Ids are as
    recorded (often MLflow trace ids); map them to notebook ids before the
    leakage check.
    """

    variant: NonEmpty
    fold: Annotated[Annotated[int, Field(ge=0)] | None, BeforeValidator(_fold_all_is_none)] = None
    repeat: int = Field(default=0, ge=0)
    dimension: str
    guidelines: list[Guideline] = Field(default_factory=list)
    episodic_ids: list[NonEmpty] = Field(default_factory=list)
    retrievals: dict[NonEmpty, list[NonEmpty]] = Field(default_factory=dict)
    seconds: float | None = Field(default=None, ge=0.0)  # None in outputs: nbjudge.runlog
    # Calls and tokens the alignment sent (answers from DSPy's cache are not sent): None in
    # outputs, nbjudge.runlog keeps them
    tokens: dict[NonEmpty, Annotated[int, Field(ge=0)]] | None = None
    reflection_model: NonEmpty
    embedding_model: NonEmpty | None = None
    retrieval_k: int = Field(ge=0)
    # The HUMAN grade MemAlign learned for each training notebook: the consensus of these
    # raters under ``consensus_rule`` (empty: each trace's own feedback was used).
    consensus_raters: dict[NonEmpty, list[NonEmpty]] = Field(default_factory=dict)
    consensus_rule: str | None = None

    @field_validator("dimension")
    @classmethod
    def _known_dimension(cls, value: str) -> str:
        if value not in DIMENSIONS:
            raise ValueError(f"unknown dimension {value!r}; expected one of {DIMENSIONS}")
        return value

    @model_validator(mode="after")
    def _retrievals_within_k(self) -> AlignmentAudit:
        over = sorted(n for n, ids in self.retrievals.items() if len(ids) > self.retrieval_k)
        if over:
            raise ValueError(
                f"retrievals longer than retrieval_k={self.retrieval_k} for: {', '.join(over)}"
            )
        return self

    @property
    def total_tokens(self) -> int | None:
        """Prompt and completion tokens of the alignment together (None: not counted)."""
        if self.tokens is None:
            return None
        return self.tokens.get("prompt", 0) + self.tokens.get("completion", 0)

    def memory_ids(self) -> list[str]:
        """Every id in the memory: guideline sources and episodic examples, sorted."""
        ids = {i for g in self.guidelines for i in g.source_ids}
        return sorted(ids.union(self.episodic_ids))



class JudgeRun(Record):
    """``data/judgments/run.json``: the facts of the baseline judging run."""

    model: NonEmpty          # as MLflow names it: "hosted_vllm:/smollm2-..."
    backend: NonEmpty
    smoke: bool              # the offline smoke model: its scores mean nothing
    banner: str | None = None            # the report's first line when smoke
    metrics_warning: str | None = None   # metrics.json's first entry when smoke
    notebooks: int = Field(ge=0)
    judgments: int = Field(ge=0)
    ok: int = Field(ge=0)
    failed: int = Field(ge=0)


class PriorDistribution(BaseModel):
    """The score distribution the ``prior`` control drew from for one fold and dimension."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    repeat: int = Field(ge=0)
    fold: int = Field(ge=0)
    dimension: Dimension
    probabilities: dict[Literal["N/A", "1", "2", "3"], float]  # of the training folds
    notebook_ids: list[NonEmpty]  # the held-out notebooks scored with it


class CalibrationMap(BaseModel):
    """How a ``calibrated`` control maps its judge's scores, for one fold and dimension."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    variant: NonEmpty             # calibrated, calibrated_full
    source: NonEmpty              # the judge variant it calibrates: baseline, full
    repeat: int = Field(ge=0)
    fold: int = Field(ge=0)
    dimension: Dimension
    mapping: dict[Literal["N/A", "1", "2", "3"], Score]  # judge score -> calibrated score
    n_training: int = Field(ge=0)  # training notebooks with a judge score and a label


class ControlsRun(Record):
    """``data/controls/controls.json``: what the ``controls`` stage computed, and how fast."""

    variants: list[NonEmpty]
    skipped: list[str] = Field(default_factory=list)
    seconds: float | None = Field(default=None, ge=0.0)  # None in outputs: nbjudge.runlog
    seed: int
    consensus: NonEmpty
    consensus_na: NonEmpty
    calibration: NonEmpty
    priors: list[PriorDistribution] = Field(default_factory=list)
    calibrations: list[CalibrationMap] = Field(default_factory=list)


class EpisodicExample(BaseModel):
    """One example of a registered judge's episodic memory: the consensus grade it learned
    for a notebook (MLflow rebuilds it from the notebook's consensus trace when the judge
    is loaded; trace ids differ in every store, so the record names the notebook)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    notebook_id: NonEmpty
    label: NonEmpty              # as MemAlign stores it: "1", "2", "3" or "n/a"
    raters: list[NonEmpty]       # whose grades the consensus came from


class RegisteredJudge(BaseModel):
    """One aligned judge registered in MLflow for production use.

    ``examples`` are what the alignment taught; ``rebuilt_examples`` and ``labels_match``
    what MLflow's load path rebuilt from the tracking store right after registration
    (the register stage fails when they differ). Records written before these fields
    existed leave them empty.

    ``digest`` identifies the judge whatever store holds it (its instructions, model,
    guidelines, examples by notebook and label, and retrieval settings:
    ``alignment.final.judge_digest``); readers load the newest version with that digest.
    The registry's ``version`` depends on what the store held before (a second
    registration of the same judge is version 2), so outputs leave it empty and
    ``nbjudge.runlog`` keeps it; records without a digest are loaded by version.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    dimension: Dimension
    name: NonEmpty
    version: int | None = None     # None in outputs: nbjudge.runlog
    digest: Sha256 | None = None   # None in records of version 1
    guidelines: int = Field(ge=0)
    episodic_examples: int = Field(ge=0)
    seconds: float | None = Field(default=None, ge=0.0)  # None in outputs: nbjudge.runlog
    examples: list[EpisodicExample] = Field(default_factory=list)  # what alignment taught
    rebuilt_examples: int | None = Field(default=None, ge=0)  # rebuilt by MLflow's load path
    labels_match: bool | None = None     # the rebuilt labels are the taught ones


class Registration(Record):
    """``data/registered/judges.json``: the judges the ``register`` stage registered.

    Version 2 names each judge by ``digest`` and leaves its registry ``version`` empty;
    version-1 records (a version, no digest) still read.
    """

    schema_version: Literal[2] = 2  # type: ignore[assignment]  # 2: judges named by digest
    params: dict[str, Any]
    judges: list[RegisteredJudge]

    @model_validator(mode="before")
    @classmethod
    def _upgrade_version_1(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("schema_version") == 1:
            data = {**data, "schema_version": 2}
        return data


class PlanLine(BaseModel):
    """One kind of request a stage will send, counted before sending (``nbjudge plan``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    what: NonEmpty                 # "judge requests", "distillation", "embeddings", ...
    model: NonEmpty                # the model the requests go to, as MLflow names it
    requests: int = Field(ge=0)    # every request the stage needs
    # Of which the answer cache already holds the answer, and the tokens of the others: what
    # this run sends. None in the pipeline's outputs (the cache differs between runs of the
    # same inputs): nbjudge.runlog keeps them.
    cached: int | None = Field(ge=0)
    prompt_tokens: int = Field(ge=0)       # of all ``requests``
    reply_tokens: int = Field(ge=0)        # upper bound (the reply cap) of all ``requests``
    send_prompt_tokens: int | None = Field(ge=0)  # of the requests not cached
    send_reply_tokens: int | None = Field(ge=0)
    # Currency per token from litellm's bundled price list; None: no known price.
    input_price: float | None = Field(default=None, ge=0.0)
    output_price: float | None = Field(default=None, ge=0.0)
    # exact: counted from the rendered requests and the cache; upper: an upper bound;
    # estimate: inputs of the stage do not exist yet (``how`` says from what)
    bound: Literal["exact", "upper", "estimate"]
    how: str = ""

    @property
    def to_send(self) -> int | None:
        """The requests not cached; None where the line does not say (an output's)."""
        return None if self.cached is None else self.requests - self.cached

    @property
    def cost(self) -> float | None:
        """Money of the requests to send, replies at their cap; None when unpriced or
        when the line does not say what is sent."""
        if (self.input_price is None or self.output_price is None
                or self.send_prompt_tokens is None or self.send_reply_tokens is None):
            return None
        return (self.send_prompt_tokens * self.input_price
                + self.send_reply_tokens * self.output_price)


class StagePlan(Record):
    """What one stage sends, counted before it sends anything: printed at its start and
    written next to its outputs (``data/judgments/baseline.plan.json``,
    ``data/alignment/<variant>/plan.json``) for the report's planned-against-actual table.

    Version 2 may leave a line's ``cached``, ``send_prompt_tokens`` and
    ``send_reply_tokens`` empty, as the written plans do; version-1 records still read.
    """

    schema_version: Literal[2] = 2  # type: ignore[assignment]  # 2: what is sent may be None
    stage: NonEmpty
    tokenizer: NonEmpty            # how prompt tokens were counted
    lines: list[PlanLine]
    notes: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _upgrade_version_1(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("schema_version") == 1:
            data = {**data, "schema_version": 2}
        return data


class PPIComparison(BaseModel):
    """The PPI++ side of one comparison: estimates of the *human* mean score from the
    judge's scores on every notebook plus the graded subset (``nbjudge.stats.ppi``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    mean_reference: float | None
    mean_candidate: float | None
    difference: float | None           # candidate - reference
    ci_low: float | None
    ci_high: float | None
    standard_error: float | None
    df: float | None
    p_value: float | None
    p_holm: float | None
    lambda_reference: float | None     # power tuning, 0 (grades alone) to 1 (plain PPI)
    lambda_candidate: float | None
    mdd: float | None                  # minimum detectable difference at this size
    classic_standard_error: float | None  # of the graded notebooks alone
    judge_outside_ppi: bool            # the judge-only difference lies outside the interval


class ArmComparison(Record):
    """``data/compare/comparisons.jsonl``: one arm against the reference on one dimension,
    judge-only and (with expert grades) PPI; what ``python -m nbjudge gate`` reads."""

    reference: NonEmpty
    candidate: NonEmpty
    dimension: Dimension
    level: float = Field(gt=0, lt=1)
    na_policy: Literal["worst", "zero", "exclude"]
    failure_policy: Literal["worst", "exclude"]
    family_size: int = Field(ge=0)     # tests Holm adjusted over (dimensions x comparisons)
    n_cases: int = Field(ge=0)         # cases where both arms have a usable notebook
    n_notebooks_reference: int = Field(ge=0)
    n_notebooks_candidate: int = Field(ge=0)
    failure_rate_reference: float | None
    failure_rate_candidate: float | None
    na_rate_reference: float | None
    na_rate_candidate: float | None
    mean_reference: float | None       # the judge's mean score over cases
    mean_candidate: float | None
    difference: float | None           # judge-only, candidate - reference, paired by case
    ci_low: float | None
    ci_high: float | None
    standard_error: float | None
    df: float | None
    p_value: float | None              # sign flips per case
    p_holm: float | None
    test_method: str
    mdd: float | None                  # minimum detectable difference of the Holm verdict
    n_graded_reference: int = Field(ge=0)
    n_graded_candidate: int = Field(ge=0)
    ppi: PPIComparison | None = None   # None: no expert grades on these arms


class ArmSummary(Record):
    """``data/compare/arms.jsonl``: one arm on one dimension (the leaderboard's cell):
    the judge's mean score over cases with its interval, N/A and failure rates, and
    with expert grades the PPI++ estimate of the mean *human* score."""

    arm: NonEmpty
    dimension: Dimension
    level: float = Field(gt=0, lt=1)
    na_policy: Literal["worst", "zero", "exclude"]
    failure_policy: Literal["worst", "exclude"]
    n_cases: int = Field(ge=0)
    n_notebooks: int = Field(ge=0)
    mean: float | None                 # the judge's mean score over cases
    ci_low: float | None
    ci_high: float | None
    na_rate: float | None
    failure_rate: float | None
    n_graded: int = Field(ge=0)
    ppi_mean: float | None = None      # PPI++ mean human score (None: too few grades)
    ppi_ci_low: float | None = None
    ppi_ci_high: float | None = None
    ppi_lambda: float | None = None


R = TypeVar("R", bound=BaseModel)


class RobustnessShift(Record):
    """``data/robustness/shifts.jsonl``: how far one suite variant (``*``: its family pooled)
    moved one judge under one defence on one dimension (``*``: all pooled), against the
    original notebooks (:mod:`nbjudge.stats.robustness`)."""

    judge: NonEmpty                     # baseline, registered, semantic_only
    defence: NonEmpty                   # none, marked, marked+strip
    family: Literal["injection", "cosmetic", "defect"]
    variant: NonEmpty                   # the suite variant, or * for the family
    dimension: NonEmpty                 # a dimension, or * for all
    expected: Literal["none", "fall"]
    n_pairs: int = Field(ge=0)
    n_notebooks: int = Field(ge=0)
    n_failed: int = Field(ge=0)         # pairs left out: a judgment of either failed
    mean_shift: float | None            # variant - original, over numeric pairs
    ci_low: float | None
    ci_high: float | None
    level: float = Field(gt=0, lt=1)
    share_moved: float | None = Field(default=None, ge=0, le=1)
    share_up: float | None = Field(default=None, ge=0, le=1)
    share_down: float | None = Field(default=None, ge=0, le=1)


class InjectionFinding(Record):
    """``data/injections.jsonl`` (the judged notebooks) and ``data/robustness/findings.jsonl``
    (the suite): a line of a notebook the injection scanner flags (text addressed to a
    grader, or imitating a verdict or a system prompt)."""

    notebook_id: NonEmpty
    cell: int = Field(ge=1)             # numbered from 1, as the judge's text numbers cells
    where: Literal["markdown", "comment", "code", "output"]
    rule: NonEmpty
    text: str
    output: int | None = Field(default=None, ge=0)
    action: Literal["judge", "strip", "fail"] = "judge"   # judge.on_injection applied


class RecordError(InputError):
    """A record file is malformed; the message names file, line and field."""


def describe(error: ValidationError, *, prefix: str = "", whole: str = "(record)") -> str:
    """One clause per failing field: where it is, what is wrong, what was found.

    ``prefix`` names where the validated mapping sits (``"llm."``); ``whole``
    stands for the mapping itself when the error is not about one field.
    """
    parts = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"])
        where = f"{prefix}{field}" if field else whole
        found = repr(item.get("input"))
        found = found if len(found) <= 80 else found[:77] + "..."
        parts.append(f"field '{where}': {item['msg']} (got {found})")
    return "; ".join(parts)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` so that readers never see a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def read_json(path: str | os.PathLike[str], what: str) -> Any:
    """Parse a JSON file; :class:`RecordError` names the file when it is absent or malformed."""
    path = Path(path)
    if not path.exists():
        raise RecordError(f"{path}: {what} not found (run the stage that writes it first)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RecordError(
            f"{path}: {what} is not valid JSON: {exc.msg} (line {exc.lineno})"
        ) from None


def read_json_record(path: str | os.PathLike[str], model: type[R], what: str | None = None) -> R:
    """Read and validate a one-document JSON record (``what`` names it in errors)."""
    data = read_json(path, what or re.sub(r"(?<!^)(?=[A-Z])", " ", model.__name__).lower())
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RecordError(f"{path}: invalid {model.__name__}: {describe(exc)}") from None


def write_json_record(path: str | os.PathLike[str], record: BaseModel) -> None:
    """Validate ``record`` and write it as one indented JSON document, atomically."""
    try:
        type(record).model_validate(record.model_dump())
    except ValidationError as exc:
        raise RecordError(
            f"{path}: invalid {type(record).__name__}: {describe(exc)}") from None
    write_json(path, record.model_dump(mode="json"))


def read_records(path: str | os.PathLike[str], model: type[R]) -> list[R]:
    """Read and validate a JSONL file of ``model`` records."""
    return list(iter_records(path, model))


def iter_records(path: str | os.PathLike[str], model: type[R]) -> Iterator[R]:
    path = Path(path)
    if not path.exists():
        raise RecordError(f"{path}: file not found (run the stage that writes it first)")
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RecordError(f"{path}:{lineno}: not valid JSON: {exc.msg}") from None
            try:
                yield model.model_validate(data)
            except ValidationError as exc:
                raise RecordError(
                    f"{path}:{lineno}: invalid {model.__name__}: {describe(exc)}"
                ) from None


def write_records(path: str | os.PathLike[str], records: Iterable[BaseModel]) -> int:
    """Validate and write records as JSONL, atomically. Returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for index, record in enumerate(records, start=1):
        try:
            type(record).model_validate(record.model_dump())
        except ValidationError as exc:
            raise RecordError(
                f"{path}: record {index}: invalid {type(record).__name__}: {describe(exc)}"
            ) from None
        lines.append(record.model_dump_json())
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)
