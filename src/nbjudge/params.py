"""The experiment parameters as one typed model: every section of ``params.yaml``.

``params.yaml`` is composed from ``conf/`` (``make params``, ``dvc exp run -S``);
:func:`load_params` validates all of it against :class:`Params`
whichever stage runs, so a misspelt key or a value of the wrong type is refused
before any work starts, with its dotted path and the key it probably meant.

Each section is a frozen pydantic model that forbids unknown keys. Sections a
library takes as they are are the library's settings (``llm`` is
:class:`nbjudge.llm.config.LLMConfig`, ``memalign`` is :class:`MemAlignSettings`);
the others are read field by field by the stage that runs them, or turned into
the library's settings by one function (``stats``: ``StatsConfig.from_mapping``,
``generate`` with ``backend: llm``: ``WriterSettings.from_params``). Besides
pydantic it imports only leaves (``nbjudge.llm.config``, ``nbjudge.schemas``), so
that loading the parameters never loads a model client.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from types import UnionType
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from nbjudge.config import read_params_mapping
from nbjudge.errors import ConfigError
from nbjudge.llm.config import LLMConfig
from nbjudge.schemas import DIMENSIONS

__all__ = [
    "AblationParams",
    "ControlsParams",
    "CurveParams",
    "CvParams",
    "ExecuteParams",
    "GenerateParams",
    "ImportGenerateParams",
    "JudgeParams",
    "LabelsParams",
    "LlmGenerateParams",
    "MemAlignSettings",
    "Params",
    "ProceduralGenerateParams",
    "RobustnessParams",
    "StatsParams",
    "SuiteParams",
    "describe_errors",
    "load_params",
    "need",
    "validate_params",
]

MemoryVariant = Literal["full", "semantic_only"]
Probabilities = tuple[float, float, float]
Positive = Annotated[int, Field(ge=1)]
Share = Annotated[float, Field(ge=0, le=1)]
# The choices of the statistics (nbjudge.stats checks the same; tests/test_params.py
# keeps the two in step) and of notebook execution (nbjudge.notebooks).
NaPolicy = Literal["worst", "zero", "exclude"]
NaRule = Literal["majority", "zero"]
FailurePolicy = Literal["worst", "exclude"]
Significance = Literal["test", "simultaneous", "ci", "both"]
BootstrapMethod = Literal["auto", "cr2", "wild", "hall", "studentized", "expanded", "percentile",
                          "bca"]
Alternative = Literal["two-sided", "greater", "less"]
Correction = Literal["holm", "fdr_bh"]
# mean | median | rater:<rater_id> (that rater's grades alone)
Consensus = Annotated[str, Field(pattern=r"^(mean|median|rater:.+)$")]
ExecuteMode = Literal["keep", "run", "auto"]
EnvironmentFailure = Literal["keep_original", "judge_run"]
ExecutionEngine = Literal["local", "dask"]
SandboxMode = Literal["bwrap", "none"]
# nbjudge.controls.CONTROL_VARIANTS and nbjudge.alignment.curve.CURVE_VARIANTS
ControlVariant = Literal["majority", "prior", "calibrated", "calibrated_full"]
CurveVariant = Literal["full", "semantic_only", "calibrated"]


class Section(BaseModel):
    """A section of ``params.yaml``: unknown keys are refused, values never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SuiteParams(Section):
    """``suite``: the committed suite of test cases (``conf/suite/``)."""

    name: str
    path: str


class LevelParams(Section):
    """``generate.levels``: probabilities of levels 1, 2, 3, by default and per dimension."""

    default: Probabilities = (0.3, 0.3, 0.4)
    per_dimension: dict[str, Probabilities] = Field(default_factory=dict)

    @field_validator("default")
    @classmethod
    def _distribution(cls, probs: Probabilities) -> Probabilities:
        if any(p < 0 for p in probs) or abs(sum(probs) - 1) > 1e-6:
            raise ValueError("expected three probabilities for levels 1, 2, 3 summing to 1")
        return probs

    @field_validator("per_dimension")
    @classmethod
    def _distributions(cls, table: dict[str, Probabilities]) -> dict[str, Probabilities]:
        _check_dimensions(table)
        for name, probs in table.items():
            if any(p < 0 for p in probs) or abs(sum(probs) - 1) > 1e-6:
                raise ValueError(f"{name}: expected three probabilities for levels 1, 2, 3 "
                                 "summing to 1")
        return table


class ProceduralGenerateParams(Section):
    """``generate`` with ``backend: procedural`` (``conf/generate/procedural.yaml``)."""

    backend: Literal["procedural"]
    input: str
    levels: LevelParams = Field(default_factory=LevelParams)


class ImportGenerateParams(Section):
    """``generate`` with ``backend: import``: a folder of the user's notebooks."""

    backend: Literal["import"]
    input: str
    # Where nothing states a notebook's task (metadata, cases.yaml, prompts.csv, a markdown
    # cell that reads like one): read, a placeholder saying the task is unknown; infer, the
    # judge model (llm) states it in one sentence, cached, marked inferred.
    prompt: Literal["read", "infer"] = "read"


class LlmGenerateParams(Section):
    """``generate`` with ``backend: llm``: a model writes the notebooks."""

    backend: Literal["llm"]
    input: str
    notebooks_per_case: Positive | None = 2     # None: the suite's count per case
    temperature: float = Field(default=0.7, ge=0, le=2)
    temperatures: tuple[Annotated[float, Field(ge=0, le=2)], ...] | None = Field(
        default=None, min_length=1)
    seeds: tuple[int, ...] | None = None
    max_output_tokens: int = Field(default=1536, ge=64)
    sample_rows: int = Field(default=3, ge=0)
    template: str = "prompts/notebook_writer.yaml"
    cache_dir: str | None = None
    writer: dict[str, Any] | None = None   # fields of the `llm` section, checked by the writer


GenerateParams = Annotated[
    ProceduralGenerateParams | ImportGenerateParams | LlmGenerateParams,
    Field(discriminator="backend")]


class NoiseParams(Section):
    """P(one level down), P(one level up) of a simulated rater."""

    down: Share
    up: Share


class PanelParams(Section):
    """``labels.panel``: the simulated expert panel (defaults: the library's)."""

    raters: Positive = 4
    multi_rated_share: Share = 0.3
    raters_per_multi_rated: int = Field(default=2, ge=2)
    noise: dict[str, NoiseParams] | None = None   # `default` and dimensions
    na_slip: Share = 0.02
    na_on_applicable: Share = 0.0

    @field_validator("noise")
    @classmethod
    def _noise_keys(cls, noise: dict[str, NoiseParams] | None) -> dict[str, NoiseParams] | None:
        _check_dimensions(noise or {}, "default")
        return noise

    @model_validator(mode="after")
    def _pool_large_enough(self) -> PanelParams:
        if self.multi_rated_share > 0 and self.raters_per_multi_rated > self.raters:
            raise ValueError(f"raters_per_multi_rated ({self.raters_per_multi_rated}) exceeds "
                             f"the pool of raters ({self.raters}): raise raters or lower "
                             "raters_per_multi_rated")
        return self


class PanelLabelsParams(Section):
    """``labels`` with ``source: panel`` (``conf/labels/panel.yaml``)."""

    source: Literal["panel"]
    input: str
    panel: PanelParams = Field(default_factory=PanelParams)


class FileLabelsParams(Section):
    """``labels`` with ``source: file``: the experts' JSONL or CSV."""

    source: Literal["file"]
    path: str
    input: str


class MlflowLabelsParams(Section):
    """``labels`` with ``source: mlflow``: grades given in MLflow's UI."""

    source: Literal["mlflow"]
    experiment: str
    tracking_uri: str | None = None
    input: str


LabelsParams = Annotated[
    PanelLabelsParams | FileLabelsParams | MlflowLabelsParams, Field(discriminator="source")]


class RenderParams(Section):
    """``judge.render``: how much of a notebook a judge reads."""

    max_tokens: int | None = Field(default=None, ge=100)  # None: what the context leaves
    max_output_chars: Positive = 1500
    min_output_chars: Positive = 200


class JudgeParams(Section):
    """``judge`` (``conf/judge/default.yaml``)."""

    render: RenderParams = Field(default_factory=RenderParams)
    cache_dir: str = ".nbjudge-cache/judgments"
    tracking_uri: str | None = None
    experiment: str = "nbjudge"
    # a notebook the injection scanner flags: judged as it is (and listed in the report),
    # judged with the flagged lines stripped, or the stage stops before judging
    on_injection: Literal["judge", "strip", "fail"] = "judge"


class AblationParams(Section):
    """``ablation`` (``conf/memory/``): the memory variants the `align` matrix runs."""

    memory_variants: tuple[MemoryVariant, ...]


class BootstrapParams(Section):
    n_resamples: Positive = 10_000
    level: float = Field(default=0.95, gt=0, lt=1)
    method: BootstrapMethod = "auto"
    sample_size: Positive | Literal["original_study"] | None = None
    min_notebooks: int = Field(default=20, ge=0)
    min_cases: int = Field(default=5, ge=0)
    batch: Positive | None = None


class PermutationParams(Section):
    n_resamples: Positive = 9999
    alternative: Alternative = "two-sided"
    correction: Correction = "holm"


class CeilingParams(Section):
    min_alpha: float = Field(default=0.667, le=1)


class PowerParams(Section):
    target_power: float = Field(default=0.8, gt=0, lt=1)
    target_improvement: float = Field(default=0.1, gt=0)
    n_simulations: Positive = 2000
    max_notebooks: Positive = 2000


class StatsParams(Section):
    """``stats`` (``conf/stats/default.yaml``), read by :class:`nbjudge.stats.StatsConfig`;
    ``consensus``, ``consensus_na`` and ``na_policy`` also say what MemAlign and the
    controls learn."""

    reference: str = "baseline"
    contrasts: tuple[tuple[str, str], ...] | None = None   # [candidate, other] pairs
    controls: tuple[str, ...] | None = None
    na_policy: NaPolicy = "worst"
    failure_policy: FailurePolicy = "worst"
    failure_margin: Share = 0.05
    consensus: Consensus = "mean"
    consensus_na: NaRule = "majority"
    significance: Significance = "test"
    repeat_share: float = Field(default=0.25, ge=0)
    bootstrap: BootstrapParams = Field(default_factory=BootstrapParams)
    permutation: PermutationParams = Field(default_factory=PermutationParams)
    ceiling: CeilingParams = Field(default_factory=CeilingParams)
    power: PowerParams = Field(default_factory=PowerParams)


class LimitParams(Section):
    """``execute.limits``: per notebook; None is no limit."""

    wall_seconds: Positive | None = 1800
    memory_mb: Positive | None = 6144
    total_memory_mb: Positive | None = 8192   # the whole sandbox: processes and shared memory
    cpu_seconds: Positive | None = 1800
    processes: Positive | None = 256
    file_size_mb: Positive | None = 1024
    open_files: Positive | None = 1024
    tmp_mb: Positive | None = 2048
    output_mb: Positive | None = 64


class ExecuteParams(Section):
    """``execute``: how notebooks are run (the choices are checked by
    :mod:`nbjudge.notebooks`)."""

    mode: ExecuteMode | None = None        # None: keep imported notebooks, run the others
    on_environment_failure: EnvironmentFailure | None = None
    # A run stopped at a time or resource limit judges the run, unless this is true (then
    # the outputs the notebook came with, which it may have invented: batch.OutputPolicy)
    keep_original_on_limit: bool = False
    timeout: Positive = 300
    workers: Positive = 2
    engine: ExecutionEngine = "local"
    address: str | None = None             # the Dask scheduler (engine dask)
    cache_dir: str | None = None
    sandbox: SandboxMode = "bwrap"
    limits: LimitParams = Field(default_factory=LimitParams)

    @model_validator(mode="after")
    def _address_needs_dask(self) -> ExecuteParams:
        if self.engine == "local" and self.address:
            raise ValueError("address is the Dask scheduler's address: set "
                             "execute.engine=dask with it, or leave it null")
        return self


class CvParams(Section):
    """``cv``: grouped K-fold cross-validation of the aligned judges."""

    k: int = Field(default=4, ge=2)
    repeats: Positive = 1


class MemAlignSettings(Section):
    """The ``memalign`` section: MemAlign's settings (``retrieval_k`` examples pasted
    into each prompt; ``reflection_model`` None: the judge's own model distils)."""

    retrieval_k: int = Field(default=5, ge=1)   # MemAlign refuses 0: semantic_only is that
    embedding_dim: int = Field(default=512, ge=1)
    reflection_model: str | None = None


class ControlsParams(Section):
    """``controls``: the no-skill and calibrated control variants ([] turns them off)."""

    variants: tuple[ControlVariant, ...] = ()


class CurveParams(Section):
    """``curve``: the label-efficiency curve (null or [] fractions: off)."""

    fractions: tuple[Annotated[float, Field(gt=0, le=1)], ...] | None = None
    variants: tuple[CurveVariant, ...] = ()


class RobustnessParams(Section):
    """``robustness``: the metamorphic suite and the defences it measures (stage
    `robustness`, off unless ``enabled``; :mod:`nbjudge.robustness`)."""

    enabled: bool = False
    notebooks: int | None = Field(default=4, ge=1)   # originals sampled (seeded); None: all
    variants: tuple[str, ...] | None = None          # name patterns; None: the whole suite
    dimensions: tuple[str, ...] | None = None        # None: all nine
    judges: tuple[Literal["baseline", "full", "registered", "semantic_only"], ...] = (
        "baseline",)
    defences: tuple[Literal["none", "marked", "marked+strip"], ...] = ("none", "marked")
    threshold: float = Field(default=0.25, ge=0)     # injection shift the first page names
    level: float = Field(default=0.95, gt=0, lt=1)

    @field_validator("dimensions")
    @classmethod
    def _known_dimensions(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None:
            _check_dimensions(dict.fromkeys(value))
        return value


class GateParams(Section):
    """``compare.gate``: what ``python -m nbjudge gate`` calls a regression
    (:class:`nbjudge.compare.gate.GateSettings`)."""

    tolerances: dict[str, Annotated[float, Field(ge=0, lt=3)]] = Field(
        default_factory=lambda: {"default": 0.25})   # points on the 1-3 scale; `default`
    level: float | None = Field(default=None, gt=0, lt=1)   # None: the comparison's level
    min_cases: int = Field(default=20, ge=2)
    max_failure_rate: Share = 0.05
    source: Literal["auto", "ppi", "judge"] = "auto"
    min_graded_cases: int = Field(default=10, ge=2)

    @field_validator("tolerances")
    @classmethod
    def _known_dimensions(cls, value: dict[str, float]) -> dict[str, float]:
        _check_dimensions(value, "default")
        return value


class CompareGradesParams(Section):
    """``compare.grades``: expert grades of compared notebooks (for PPI)."""

    source: Literal["none", "file", "mlflow", "panel"] = "none"
    path: str | None = None           # source file: labels in the labels=file format
    experiment: str = "nbjudge-compare-grading"   # source mlflow
    tracking_uri: str | None = None   # source mlflow; None: the judges' store
    fraction: float = Field(default=0.3, gt=0, le=1)   # source panel: share graded
    # The file DVC re-runs compare-stats on (dvc.yaml: ${compare.grades.input}): with source
    # file the grades file (`input: ${compare.grades.path}`), else one every checkout has.
    input: str = "conf/compare/none.yaml"

    @model_validator(mode="after")
    def _file_needs_path(self) -> CompareGradesParams:
        if self.source == "file" and not self.path:
            raise ValueError("grades.source is file: set grades.path to the label file "
                             "(JSONL or CSV, as `python -m nbjudge compare grading-list` "
                             "writes its template)")
        if self.source == "file" and self.input != self.path:
            raise ValueError("grades.source is file: set grades.input: "
                             "${compare.grades.path} beside grades.path, so that DVC "
                             "re-runs the comparison when the grades file changes")
        return self


class CompareParams(Section):
    """``compare``: arms (agent builds, writer models) compared on the same test cases
    with the judges (off while ``arms`` is empty). Arm fields are checked by
    :mod:`nbjudge.compare`."""

    arms: dict[str, dict[str, Any]] = Field(default_factory=dict)
    reference: str | None = None      # None: the first arm
    # registered, or full (the same judges, named as the experiment's variant): the register
    # stage's aligned judges; semantic_only: their instructions and distilled guidelines, no
    # retrieved examples; baseline: the rubric judges, unaligned; calibrated, calibrated_full:
    # the baseline and registered judges' scores through a map learned on every expert label
    judges: Literal["registered", "full", "semantic_only", "baseline", "calibrated",
                    "calibrated_full"] = "registered"
    grades: CompareGradesParams = Field(default_factory=CompareGradesParams)
    gate: GateParams = Field(default_factory=GateParams)


class Params(Section):
    """The whole of ``params.yaml``; a section a test's small params file leaves out is
    None, and the stage that needs it says so (:func:`load_params`)."""

    seed: int | None = None
    suite: SuiteParams | None = None
    generate: GenerateParams | None = None
    labels: LabelsParams | None = None
    llm: LLMConfig | None = None
    judge: JudgeParams | None = None
    ablation: AblationParams | None = None
    stats: StatsParams | None = None
    execute: ExecuteParams | None = None
    cv: CvParams | None = None
    memalign: MemAlignSettings | None = None
    controls: ControlsParams | None = None
    curve: CurveParams | None = None
    compare: CompareParams | None = None
    robustness: RobustnessParams | None = None

    def judge_settings(self) -> dict[str, Any]:
        """The ``judge`` section as the mapping the judges read (only the keys it sets,
        so that cache keys built from it stay what they were)."""
        return need(self.judge, "judge").model_dump(exclude_unset=True)


S = TypeVar("S")


def need(section: S | None, name: str) -> S:
    """``section``, or a :class:`ConfigError` saying ``params.yaml`` lacks section ``name``
    (a small params file of a test may leave out what a stage does not read)."""
    if section is None:
        raise ConfigError(f"params.yaml has no {name} section: recompose it from conf/ with "
                          "`make params`")
    return section


def _check_dimensions(table: Mapping[str, Any], *also: str) -> None:
    """Refuse a key that is not one of the nine dimensions (or ``also``), naming the
    closest."""
    known = [*also, *DIMENSIONS]
    for name in table:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f"did you mean `{close[0]}`?" if close else f"use one of {', '.join(known)}"
            raise ValueError(f"unknown dimension `{name}`: {hint}")


def validate_params(mapping: Mapping[str, Any], source: str = "params.yaml") -> Params:
    """``mapping`` (``params.yaml`` as plain data) as :class:`Params`, or a
    :class:`~nbjudge.errors.ConfigError` naming every wrong key by its dotted path."""
    try:
        params = Params.model_validate(dict(mapping))
    except ValidationError as error:
        problems = describe_errors(error)
        raise ConfigError(f"{source}: {problems}{'' if problems.endswith('?') else '.'} Fix "
                          "conf/ (or the -S override) and recompose with `make params`") from None
    # The llm section's checks across fields are LLMConfig's validators: they ran above and
    # raise a BackendConfigError of their own (a mandatory ??? unset, base_url and backend).
    return params


def describe_errors(error: ValidationError) -> str:
    """One clause per problem: the key's dotted path, what is wrong, and for an unknown
    key the known key it is closest to."""
    clauses = []
    for item in error.errors():
        path, _ = _walk(item["loc"])
        if item["type"] == "extra_forbidden":
            clauses.append(f"unknown key `{path}`{_suggestion(item['loc'])}")
            continue
        message = item["msg"].removeprefix("Value error, ")
        found = item.get("input")
        if isinstance(found, Mapping):  # a check of a whole section: its message says
            clauses.append(f"`{path}`: {message}")
            continue
        shown = repr(found) if len(repr(found)) <= 80 else repr(found)[:77] + "..."
        clauses.append(f"`{path}`: {message} (got {shown})")
    return "; ".join(clauses)


def _suggestion(loc: tuple[int | str, ...]) -> str:
    _, models = _walk(loc[:-1])
    known = sorted({name for model in models for name in model.model_fields})
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    if close:
        return f": did you mean `{close[0]}`?"
    return f" (known here: {', '.join(known)})" if known else ""


def _walk(loc: tuple[int | str, ...]) -> tuple[str, list[type[BaseModel]]]:
    """The dotted path of a pydantic error location as the file spells it, and the models
    that validate the mapping found there. Pydantic puts a tagged union's tag into the
    location (``labels.panel.panel``: the ``panel`` option's ``panel`` key) and marks a
    mapping's key as ``[key]``; neither is a key of the file."""
    parts: list[str] = []
    candidates: list[Any] = [Params]
    for part in loc:
        leaves = [leaf for annotation in candidates for leaf in _leaves(annotation)]
        models = [leaf for leaf in leaves if _is_model(leaf)]
        tagged = [model for model in models if _tag_of(model) is not None]
        if len(tagged) > 1 and part in [_tag_of(model) for model in tagged]:
            candidates = [model for model in tagged if _tag_of(model) == part]
            continue
        if part == "[key]":
            continue
        parts.append(str(part))
        following: list[Any] = []
        for leaf in leaves:
            if _is_model(leaf):
                field = leaf.model_fields.get(str(part))
                if field is not None:
                    following.append(field.annotation)
            elif get_origin(leaf) in (dict, tuple, list):
                following.extend(get_args(leaf)[-1:])
        candidates = following
    models = [leaf for annotation in candidates for leaf in _leaves(annotation)
              if _is_model(leaf)]
    return ".".join(parts), models


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _leaves(annotation: Any) -> list[Any]:
    """The types an annotation admits, through Optional, unions and Annotated."""
    origin = get_origin(annotation)
    if origin is Union or origin is UnionType or origin is Annotated:
        args = get_args(annotation)[:1] if origin is Annotated else get_args(annotation)
        return [leaf for arg in args for leaf in _leaves(arg)]
    return [annotation]


def _tag_of(model: type[BaseModel]) -> Any:
    """The tag of a tagged union's member (its ``backend`` or ``source`` literal)."""
    for name in ("backend", "source"):
        field = model.model_fields.get(name)
        if field is not None and get_origin(field.annotation) is Literal:
            return get_args(field.annotation)[0]
    return None


def load_params(path: str | os.PathLike[str] = "params.yaml", *sections: str) -> Params:
    """``params.yaml`` validated as a whole (every section, whichever stage asks), with
    ``sections`` required; any problem is a :class:`ConfigError` naming the key."""
    params = validate_params(read_params_mapping(path), str(path))
    missing = [s for s in sections if getattr(params, s) is None]
    if missing:
        raise ConfigError(f"{path} has no {', '.join(missing)} section: recompose it from "
                          "conf/ with `make params`")
    return params
