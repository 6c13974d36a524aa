"""The production judges: aligned on every labelled notebook, registered in MLflow.

Cross-validation measures how well aligned judges generalise; the judges a
team then uses are aligned once more on all labels and registered under
stable names (``nbjudge_<dimension>``) in the experiment's scorer registry.
:func:`load_registered_judges` gets them back and :func:`score_notebook` grades a
new notebook with them.

A registered MemAlign judge stores the trace ids of its episodic examples, not the
examples: loading it re-reads every HUMAN assessment named after the judge on those
traces, and where raters disagree MLflow keeps the majority label (on a tie, the latest
rater's), not the consensus the statistics score against. So the final judges are
aligned on *consensus traces* (:func:`consensus_traces`): one per notebook, holding the
notebook's inputs and outputs and one HUMAN assessment per dimension, the raters'
consensus, whose source names them. The notebook traces keep each rater's own grade.
:func:`check_episodic_memory` rebuilds a registered judge's examples as MLflow's load
path does and compares them, count and labels, with what the alignment taught; the
``register`` stage and ``nbjudge score`` stop when they differ.

The registration record names each judge by :func:`judge_digest` (instructions, model,
guidelines, examples by notebook and label, retrieval settings), not by the registry's
version: registering the same judges in a store that already holds them gives version 2,
so a record with versions would differ between two runs of the same inputs. Readers load
the newest version with the recorded digest; the register stage logs the versions in
``nbjudge.runlog``'s side file and in its MLflow run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbjudge.alignment.memalign import (
    AlignedJudge,
    ConsensusRule,
    HumanConsensus,
    MemAlignSettings,
    align_dimension,
    human_consensus,
    mark_memory,
    memalign_label,
    memory_snapshot,
)
from nbjudge.errors import InputError
from nbjudge.judges.batch import attach_judges, baseline_judges
from nbjudge.judges.dimension import call_judge, judge_name, parse_score
from nbjudge.judges.requests import DimensionJudge
from nbjudge.llm.backends import Backend, LLMConfig
from nbjudge.schemas import (
    DIMENSIONS,
    EpisodicExample,
    Label,
    RegisteredJudge,
    Registration,
)

__all__ = [
    "LoadedJudges",
    "RebuiltTrace",
    "RegisteredJudgeError",
    "align_final",
    "check_episodic_memory",
    "consensus_traces",
    "judge_digest",
    "load_registered_judges",
    "log_registration_run",
    "rebuilt_memory",
    "register_judges",
    "registered_dimension_judges",
    "registered_name",
    "score_notebook",
    "semantic_only_judges",
    "verify_registered_judges",
]

TAG_CONSENSUS_OF = "nbjudge.consensus_of"            # the notebook trace it summarises
TAG_CONSENSUS_NOTEBOOK = "nbjudge.consensus_notebook_id"
TAG_CONSENSUS_SHA = "nbjudge.consensus_sha256"       # of the source trace and its grades
META_RATERS = "nbjudge.raters"
META_RULE = "nbjudge.consensus_rule"

_RERUN = ("re-run the `register` stage (`dvc repro register`) to align and register the "
          "judges again on this tracking store")


class RegisteredJudgeError(InputError):
    """The registered judges in the tracking store are not the ones the registration record
    describes: a judge is missing, or its episodic memory, as MLflow rebuilds it from the
    store, is not the memory it was aligned with (traces gone or changed)."""


def registered_name(dimension: str, prefix: str = "nbjudge") -> str:
    return f"{prefix}_{dimension}"


def _root_span(trace: Any) -> Any:
    roots = [span for span in trace.data.spans if span.parent_id is None]
    if not roots:
        raise InputError(f"trace {trace.info.trace_id} has no root span: it holds no "
                         "notebook (was it logged by nbjudge?)")
    return roots[0]


def _human_feedback(trace: Any, name: str) -> list[Any]:
    """The HUMAN assessments MemAlign reads for the judge ``name`` (its name rule:
    stripped, case-insensitive)."""
    from mlflow.entities import AssessmentSourceType

    wanted = name.strip().lower()
    return [a for a in trace.info.assessments or []
            if (a.name or "").strip().lower() == wanted
            and a.source.source_type == AssessmentSourceType.HUMAN]


def _carries_exactly(trace: Any, grades: Mapping[str, HumanConsensus]) -> bool:
    """Whether ``trace`` holds one HUMAN assessment per graded dimension, the consensus."""
    for dimension, grade in grades.items():
        found = _human_feedback(trace, judge_name(dimension))
        if len(found) != 1 or found[0].feedback is None \
                or memalign_label(found[0].feedback.value) != memalign_label(grade.score):
            return False
    return True


def _consensus_digest(source_trace_id: str, grades: Mapping[str, HumanConsensus]) -> str:
    rows = [[dimension, str(grade.score), list(grade.raters), grade.rationale]
            for dimension, grade in sorted(grades.items())]
    text = json.dumps([source_trace_id, rows], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def consensus_traces(traces: Mapping[str, Any],
                     grades: Mapping[tuple[str, str], HumanConsensus],
                     experiment_id: str, rule: ConsensusRule) -> dict[str, str]:
    """Notebook id -> the id of its consensus trace in ``experiment_id``.

    A consensus trace repeats the notebook trace's inputs and outputs and carries one
    HUMAN assessment per dimension with a consensus in ``grades``: the consensus score,
    its rationale, source ``consensus:<rater>+<rater>``, the raters and ``rule`` in its
    metadata. One with the same source trace and grades that still carries exactly them
    is reused, so a rerun adds nothing; an edited one is left alone and replaced.
    """
    import mlflow
    from mlflow.entities import AssessmentSource, AssessmentSourceType

    by_notebook: dict[str, dict[str, HumanConsensus]] = {}
    for (notebook_id, dimension), grade in grades.items():
        if notebook_id in traces:
            by_notebook.setdefault(notebook_id, {})[dimension] = grade
    existing: dict[str, list[Any]] = {}
    for trace in mlflow.search_traces(locations=[experiment_id], return_type="list",
                                      max_results=100_000):
        digest = (trace.info.tags or {}).get(TAG_CONSENSUS_SHA)
        if digest:
            existing.setdefault(digest, []).append(trace)
    mlflow.set_experiment(experiment_id=experiment_id)   # where the new traces go
    ids: dict[str, str] = {}
    created: list[tuple[str, dict[str, HumanConsensus]]] = []
    for notebook_id, mine in sorted(by_notebook.items()):
        source = traces[notebook_id]
        digest = _consensus_digest(source.info.trace_id, mine)
        reusable = [t for t in existing.get(digest, []) if _carries_exactly(t, mine)]
        if reusable:
            ids[notebook_id] = reusable[0].info.trace_id
            continue
        root = _root_span(source)
        with mlflow.start_span(name=f"consensus {notebook_id}") as span:
            span.set_inputs(root.inputs)
            span.set_outputs(root.outputs)
            mlflow.update_current_trace(tags={TAG_CONSENSUS_OF: source.info.trace_id,
                                              TAG_CONSENSUS_NOTEBOOK: notebook_id,
                                              TAG_CONSENSUS_SHA: digest})
            ids[notebook_id] = span.trace_id
        created.append((notebook_id, mine))
    mlflow.flush_trace_async_logging()
    for notebook_id, mine in created:
        for dimension, grade in sorted(mine.items()):
            mlflow.log_feedback(
                trace_id=ids[notebook_id], name=judge_name(dimension), value=grade.score,
                rationale=grade.rationale or None,
                source=AssessmentSource(source_type=AssessmentSourceType.HUMAN,
                                        source_id="consensus:" + "+".join(grade.raters)),
                metadata={META_RATERS: ",".join(grade.raters), META_RULE: rule.describe()})
    return ids


def align_final(traces: Mapping[str, Any], labelled: Mapping[str, set[str]], *,
                llm: LLMConfig, backend: Backend, settings: MemAlignSettings,
                labels: Sequence[Label], experiment_id: str,
                dimensions: Sequence[str] = DIMENSIONS,
                consensus_rule: ConsensusRule | None = None) -> dict[str, AlignedJudge]:
    """Each dimension's judge aligned on every notebook labelled for it, one HUMAN grade per
    notebook, the raters' consensus (as in cross-validation), read from the notebooks'
    consensus traces (:func:`consensus_traces`) so that the registered judge rebuilds it."""
    import mlflow

    rule = consensus_rule or ConsensusRule()
    human = human_consensus(labels, rule)
    consensus_ids = consensus_traces(traces, human, experiment_id, rule)
    consensus = {n: mlflow.get_trace(t) for n, t in consensus_ids.items()}
    base = baseline_judges(llm, dimensions)
    attach_judges(base, backend)
    aligned = {}
    for dimension in dimensions:
        # as in cross-validation: only notebooks with a consensus grade teach
        teach = [n for n in sorted(labelled.get(dimension, set()))
                 if n in consensus and (n, dimension) in human]
        if not teach:
            raise InputError(f"no labelled notebook for {dimension}: nothing to align on")
        aligned[dimension] = align_dimension(
            base[dimension].judge, [consensus[n] for n in teach], settings=settings,
            reflection_model=backend.judge_model, embedding_model=str(backend.embedding_model),
            usage=backend.usage,
            human={consensus_ids[n]: human[n, dimension] for n in teach}, human_in_store=True)
    return aligned


@dataclass(frozen=True)
class RebuiltTrace:
    """One trace a registered judge names, as MLflow's load path reads it back."""

    trace_id: str
    notebook_id: str | None      # its consensus trace's notebook; None: gone or no tag
    labels: list[str] | None     # one per rebuilt example; None: the trace is gone


def rebuilt_memory(judge: Any) -> list[RebuiltTrace]:
    """The episodic examples MLflow rebuilds, trace by trace, when ``judge`` (a registered
    MemAlign judge) is loaded.

    It is the conversion MLflow's load path runs on each stored trace id
    (``trace_to_dspy_example``), without building the embedding index.
    """
    import mlflow
    from mlflow.genai.judges.optimizers.dspy_utils import trace_to_dspy_example

    rebuilt = []
    for trace_id in memory_snapshot(judge).episodic_ids:
        trace = mlflow.get_trace(trace_id, silent=True)
        if trace is None:
            rebuilt.append(RebuiltTrace(trace_id, None, None))
            continue
        rebuilt.append(RebuiltTrace(
            trace_id, (trace.info.tags or {}).get(TAG_CONSENSUS_NOTEBOOK),
            [str(example.result) for example in trace_to_dspy_example(trace, judge)]))
    return rebuilt


def check_episodic_memory(judge: Any, registered: RegisteredJudge) -> int:
    """The number of episodic examples ``judge`` rebuilds from the tracking store; raises
    :class:`RegisteredJudgeError` unless they are, notebook for notebook and label for
    label, the examples ``registered`` says its alignment taught."""
    if not registered.examples:
        raise RegisteredJudgeError(
            f"the registration record of {registered.name} lists no episodic examples (it "
            f"was written before records named them), so its memory cannot be checked: "
            f"{_RERUN}")
    expected = {example.notebook_id: example for example in registered.examples}
    rebuilt = rebuilt_memory(judge)
    problems = []
    if len(rebuilt) != len(expected):
        problems.append(f"it names {len(rebuilt)} example trace(s) where the alignment "
                        f"taught {len(expected)}")
    for trace in rebuilt:
        example = expected.get(trace.notebook_id or "")
        where = f"trace {trace.trace_id}" + (f" (notebook {trace.notebook_id})"
                                             if trace.notebook_id else "")
        if trace.labels is None:
            problems.append(f"{where} is gone from the tracking store")
        elif example is None:
            problems.append(f"{where} is not the consensus trace of a notebook it was "
                            "aligned on")
        elif trace.labels != [example.label]:
            problems.append(f"{where} rebuilds as {trace.labels} where the alignment taught "
                            f"[{example.label!r}]")
    if problems:
        more = f" and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise RegisteredJudgeError(
            f"registered judge {registered.name} (version {registered.version}) does not "
            f"rebuild the episodic memory it was aligned with: {'; '.join(problems[:5])}{more}."
            f" The traces it names were deleted, or their human feedback is not the consensus "
            f"the alignment taught; {_RERUN}")
    return sum(len(trace.labels or []) for trace in rebuilt)


def judge_digest(judge: Any, examples: Sequence[tuple[str | None, str | None]]) -> str:
    """SHA-256 of what a registered MemAlign judge is, whatever tracking store holds it: its
    name, base instructions and model, its guidelines' texts, its episodic ``examples`` as
    (notebook id, label) in memory order, and its retrieval settings. Not its trace ids nor
    the registry's version, which differ between stores (a store that already holds the
    judge gives the same registration version 2)."""
    data = judge.model_dump().get("memory_augmented_judge_data") or {}
    base = (data.get("base_judge") or {}).get("instructions_judge_pydantic_data") or {}
    content = {"name": judge.name, "instructions": base.get("instructions"),
               "model": base.get("model"),
               "guidelines": [str(g.get("guideline_text", ""))
                              for g in data.get("semantic_memory") or []],
               "examples": [[notebook, label] for notebook, label in examples],
               "retrieval_k": data.get("retrieval_k"),
               "embedding_model": data.get("embedding_model")}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _rebuilt_digest(judge: Any) -> str:
    """:func:`judge_digest` of a loaded judge, its examples as MLflow's load path rebuilds
    them from the store (a trace that is gone or holds several labels matches nothing)."""
    return judge_digest(judge, [(t.notebook_id, t.labels[0] if t.labels and len(t.labels) == 1
                                 else None) for t in rebuilt_memory(judge)])


def _taught_examples(result: AlignedJudge) -> list[EpisodicExample]:
    missing = [t for t in result.snapshot.episodic_ids
               if t not in result.taught or not result.taught[t].notebook_id]
    if missing:
        raise ValueError(f"{result.dimension}: episodic examples {missing[:3]} were not "
                         "aligned on a notebook's consensus grade; align with align_final")
    return [EpisodicExample(notebook_id=result.taught[t].notebook_id,
                            label=memalign_label(result.taught[t].score),
                            raters=list(result.taught[t].raters))
            for t in result.snapshot.episodic_ids]


def register_judges(aligned: Mapping[str, AlignedJudge], experiment_id: str,
                    prefix: str = "nbjudge") -> list[RegisteredJudge]:
    """Register every aligned judge, load it back through MLflow's public path and check
    that it rebuilds the examples it was aligned with (count and labels) and the same
    :func:`judge_digest`; returns name, version, digest, memory size and those examples of
    each."""
    from mlflow.genai.scorers import get_scorer

    registered = []
    for dimension, result in aligned.items():
        name = registered_name(dimension, prefix)
        scorer = result.aligned.register(name=name, experiment_id=experiment_id)
        examples = _taught_examples(result)
        entry = RegisteredJudge(
            dimension=dimension, name=name, version=scorer.scorer_version,
            digest=judge_digest(result.aligned, [(e.notebook_id, e.label) for e in examples]),
            guidelines=len(result.snapshot.guidelines),
            episodic_examples=len(result.snapshot.episodic_ids),
            seconds=result.seconds, examples=examples)
        loaded = get_scorer(name=name, experiment_id=experiment_id, version=entry.version)
        rebuilt = check_episodic_memory(loaded, entry)
        if _rebuilt_digest(loaded) != entry.digest:
            raise RegisteredJudgeError(
                f"registered judge {name} (version {entry.version}) loads back as another "
                "judge than the one aligned (instructions, model, guidelines or retrieval "
                f"settings differ); {_RERUN}")
        registered.append(entry.model_copy(update={"rebuilt_examples": rebuilt,
                                                   "labels_match": True}))
    return registered


def _with_digest(name: str, experiment_id: str, digest: str) -> Any:
    """The newest registered version of ``name`` whose :func:`judge_digest` is ``digest``;
    the latest when none is (:func:`verify_registered_judges` then says what differs)."""
    from mlflow.genai.scorers import get_scorer

    latest = get_scorer(name=name, experiment_id=experiment_id)
    newest = int(getattr(latest, "scorer_version", None) or 1)
    for version in range(newest, 0, -1):
        try:
            judge = latest if version == newest else get_scorer(
                name=name, experiment_id=experiment_id, version=version)
        except Exception:  # MLflow raises its own exception types for a deleted version
            continue
        if _rebuilt_digest(judge) == digest:
            return judge
    return latest


def load_registered_judges(experiment_id: str, prefix: str = "nbjudge",
                           dimensions: Sequence[str] = DIMENSIONS,
                           versions: Mapping[str, int | None] | None = None,
                           digests: Mapping[str, str | None] | None = None) -> dict[str, Any]:
    """The registered judges by dimension: the newest version whose :func:`judge_digest` is
    ``digests[dimension]`` where given (the latest when none is: check them with
    :func:`verify_registered_judges`), else the one at ``versions[dimension]`` where given,
    else the latest; a clear error names any that is missing."""
    from mlflow.genai.scorers import get_scorer

    versions, digests = versions or {}, digests or {}
    judges, missing = {}, []
    for dimension in dimensions:
        name = registered_name(dimension, prefix)
        version, digest = versions.get(dimension), digests.get(dimension)
        try:
            judges[dimension] = (
                _with_digest(name, experiment_id, digest) if digest is not None
                else get_scorer(name=name, experiment_id=experiment_id, version=version))
        except Exception:  # MLflow raises its own exception types for a missing scorer
            missing.append(name if version is None or digest is not None
                           else f"{name} version {version}")
    if missing:
        raise RegisteredJudgeError(f"no registered judge named {', '.join(missing)} in this "
                                   "tracking store: run the pipeline first (`make repro`, "
                                   "stage `register`)")
    return judges


def verify_registered_judges(judges: Mapping[str, Any],
                             registration: Registration) -> dict[str, int]:
    """Dimension -> episodic examples of each loaded judge, checked against the record of
    its registration (:func:`check_episodic_memory`), and, where the record gives one,
    against its digest (:func:`judge_digest`: the guidelines, instructions and settings)."""
    recorded: dict[str, RegisteredJudge] = {judge.dimension: judge
                                            for judge in registration.judges}
    counts: dict[str, int] = {}
    for dimension, judge in judges.items():
        if dimension not in recorded:
            raise RegisteredJudgeError(f"the registration record names no judge for "
                                        f"{dimension}: {_RERUN}")
        entry = recorded[dimension]
        counts[dimension] = check_episodic_memory(judge, entry)
        if entry.digest is not None and _rebuilt_digest(judge) != entry.digest:
            raise RegisteredJudgeError(
                f"no registered version of {entry.name} in this tracking store is the judge "
                f"the registration record names (digest {entry.digest[:12]}): its "
                f"guidelines, instructions or settings differ; {_RERUN}")
    return counts


@dataclass(frozen=True)
class LoadedJudges:
    """The registered judges of a registration record, loaded and checked."""

    judges: dict[str, DimensionJudge]   # by dimension, each bound to its MLflow judge
    examples: dict[str, int]            # episodic examples each rebuilds from the store
    embeddings: bool                    # some judge retrieves examples: it needs embeddings


def registered_dimension_judges(
        llm: LLMConfig, judge: Mapping[str, Any], registration: str | Path,
        dimensions: Sequence[str] | None = None, *, marked: bool = True,
        missing: str = "run the pipeline first (`make repro`, stage `register`)"
) -> LoadedJudges:
    """The judges ``registration`` (a :class:`Registration` record) names, of ``dimensions``
    (None: all of them), loaded from the judges' tracking store (``judge.tracking_uri``,
    ``judge.experiment``) and checked against the record (:func:`verify_registered_judges`).

    Each judge is the newest registered version with the digest the record gives it
    (:func:`judge_digest`; the registry's version numbers depend on what the store held
    before), or, in a record without digests, the version it names. Each is a
    :class:`DimensionJudge` whose memory key names that digest and its examples by
    notebook (a fresh store gives the same traces new ids), as the answer cache keys them.
    ``marked``: its memory reaches its prompts as data, as the aligned judge's did
    (:func:`~nbjudge.alignment.memalign.mark_memory`; a judge loaded from the store is
    MLflow's own, unmarked); without it nothing is marked. ``missing`` is what the error
    says to do when the record does not exist.
    """
    from nbjudge.judges.tracing import resolve_tracking_uri, setup_tracking
    from nbjudge.schemas import read_json_record

    path = Path(registration)
    if not path.is_file():
        raise InputError(f"{path}: no registration record; {missing}")
    record = read_json_record(path, Registration)
    entries = [j for j in record.judges if dimensions is None or j.dimension in dimensions]
    experiment_id = setup_tracking(resolve_tracking_uri(judge.get("tracking_uri")),
                                   judge["experiment"])
    loaded = load_registered_judges(experiment_id, dimensions=[j.dimension for j in entries],
                                    versions={j.dimension: j.version for j in entries},
                                    digests={j.dimension: j.digest for j in entries})
    examples = verify_registered_judges(loaded, record)
    base = baseline_judges(llm, list(loaded), marked=marked)
    judges: dict[str, DimensionJudge] = {}
    for entry in entries:
        aligned = mark_memory(loaded[entry.dimension], marked=marked)
        snapshot = memory_snapshot(aligned)   # its key says how the memory is quoted
        notebook_of = {t.trace_id: t.notebook_id for t in rebuilt_memory(aligned)
                       if t.notebook_id}
        memory = snapshot.as_key()
        memory["episodic_ids"] = sorted(notebook_of.get(i, i) for i in memory["episodic_ids"])
        # the digest (version-1 records: the version) names the judge in any store
        memory["registered"] = f"{entry.name}@{entry.digest or entry.version}"
        judges[entry.dimension] = DimensionJudge(
            entry.dimension, base[entry.dimension].instructions, judge=aligned,
            memory=memory, examples_per_prompt=snapshot.retrieval_k, notebook_of=notebook_of)
    return LoadedJudges(judges, examples,
                        any(j.examples_per_prompt > 0 for j in judges.values()))


def semantic_only_judges(registered: Mapping[str, DimensionJudge], marked: bool = True
                         ) -> dict[str, DimensionJudge]:
    """The ``semantic_only`` judges of ``registered`` (as :func:`registered_dimension_judges`
    loads them): each judge's instructions and distilled guidelines, no retrieved examples.
    ``marked``: the guidelines are neutralised (quoted as data, as the registered judge quotes
    its memory); without it, the instructions as MLflow keeps them, without the data
    sentence. A judge whose alignment distilled no guideline asks what the baseline judge
    asks."""
    from nbjudge.judges.marking import neutralise_guidelines, plain_instructions

    return {d: DimensionJudge(d, neutralise_guidelines(j.judge.instructions, j.instructions)
                              if marked else plain_instructions(j.judge.instructions))
            for d, j in registered.items()}


def score_notebook(judges: Mapping[str, Any], outputs: str) -> list[dict[str, Any]]:
    """Grade one notebook's judge text with every judge; failures are reported, not hidden."""
    rows = []
    for dimension, judge in judges.items():
        try:
            answer = call_judge(judge, outputs)
            rows.append({"dimension": dimension, "score": parse_score(answer.value),
                         "rationale": answer.rationale or "", "error": None})
        except Exception as error:  # one judge failing must not hide the other eight
            rows.append({"dimension": dimension, "score": None, "rationale": "",
                         "error": " ".join(str(error).split())[:300]})
    return rows


def log_registration_run(registration: Registration, banner: str | None = None) -> str:
    """An MLflow run ``register-judges`` with the settings the judges were aligned with."""
    import mlflow

    with mlflow.start_run(run_name="register-judges") as run:
        mlflow.log_params(dict(registration.params))
        mlflow.log_dict({"judges": [j.model_dump(mode="json") for j in registration.judges]},
                        "registered_judges.json")
        if banner:
            mlflow.set_tag("mlflow.note.content", banner)
    run_id: str = run.info.run_id
    return run_id
