"""Each arm's notebooks, generated and executed as the experiment's are.

Procedural arms go through the procedural generator, ``llm`` arms through the writer
(``generate=llm``), ``import`` arms through the importer; then every notebook goes through
the same execution (``execute``: sandboxed runs, imports keep their outputs by
``execute.mode``). A notebook's id is ``<arm>__<its id in the arm>``, so that arms never
collide and every record names its arm.

The output folder holds ``generated/<arm>/`` (notebooks as built), ``executed/`` (as the
judges read them), ``index.jsonl`` (:class:`~nbjudge.schemas.Notebook` with execution),
``cases.jsonl`` (the cases compared: the experiment's, and the cases of imported folders),
``blueprint.jsonl`` (true levels of procedural arms; judges never see it),
``generation.jsonl`` (attempts of ``llm`` arms) and ``arms.json`` (each arm, its settings and
its notebooks).
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import yaml

from nbjudge.benchmark.procedural import LevelDistribution, write_notebook
from nbjudge.compare.arms import Arm, ImportArm, LlmArm, ProceduralArm, reference_arm
from nbjudge.errors import ConfigError, InputError
from nbjudge.params import Params, need
from nbjudge.runlog import set_aside
from nbjudge.schemas import (
    BlueprintEntry,
    Case,
    GenerationAttempt,
    Notebook,
    read_records,
    write_json,
    write_records,
)

__all__ = ["ArmsManifest", "BuiltArms", "arm_notebook_id", "build_arms", "read_manifest"]

SEPARATOR = "__"


def arm_notebook_id(arm: str, notebook_id: str) -> str:
    """The id a notebook of ``arm`` has in the comparison."""
    return f"{arm}{SEPARATOR}{notebook_id}"


@dataclass
class BuiltArms:
    """What :func:`build_arms` wrote."""

    index: list[Notebook] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)
    arm_of: dict[str, str] = field(default_factory=dict)
    blueprint: list[BlueprintEntry] = field(default_factory=list)
    attempts: list[GenerationAttempt] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ArmsManifest:
    """``arms.json``: the arms in order (the reference named), their backends and settings,
    and each notebook's arm."""

    arms: tuple[str, ...]
    reference: str | None
    backends: dict[str, str]
    settings: dict[str, dict[str, str]]
    arm_of: dict[str, str]

    @property
    def off(self) -> bool:
        return not self.arms


def read_manifest(path: str | Path) -> ArmsManifest:
    """``arms.json`` as written by :func:`build_arms`."""
    import json

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no arms manifest; run the compare-notebooks stage first "
                         "(`dvc repro compare-notebooks`)")
    data = json.loads(path.read_text(encoding="utf-8"))
    return ArmsManifest(tuple(data["arms"]), data["reference"], dict(data["backends"]),
                        {k: dict(v) for k, v in data["settings"].items()},
                        dict(data["arm_of"]))


def _procedural(arm: Arm, settings: ProceduralArm, cases: Sequence[Case], seed: int,
                out: Path, built: BuiltArms) -> list[Notebook]:
    levels = LevelDistribution(default=settings.levels.default,
                               per_dimension=dict(settings.levels.per_dimension))
    arm_seed = settings.seed if settings.seed is not None else seed
    out.mkdir(parents=True, exist_ok=True)
    index = []
    for case in cases:
        for number in range(1, (settings.notebooks_per_case or case.notebooks) + 1):
            notebook_id = arm_notebook_id(arm.name, f"{case.case_id}{SEPARATOR}{number:02d}")
            written = write_notebook(case, notebook_id, arm_seed, levels)
            text = nbformat.writes(written.notebook) + "\n"
            path = out / f"{notebook_id}.ipynb"
            path.write_text(text, encoding="utf-8")
            index.append(Notebook(notebook_id=notebook_id, case_id=case.case_id,
                                  path=path.as_posix(), origin="procedural",
                                  sha256=hashlib.sha256(text.encode()).hexdigest()))
            built.blueprint.extend(written.blueprint)
    return index


def _llm(arm: Arm, settings: LlmArm, params: Params, cases: Sequence[Case],
         datasets: Path, out: Path, built: BuiltArms) -> list[Notebook]:
    from nbjudge.plan import announce
    from nbjudge.plan.writing import writing_plan
    from nbjudge.writer import WriterSettings, write_notebooks, writer_config

    writer = WriterSettings.from_params(settings, need(params.seed, "seed"))
    config = writer_config(need(params.llm, "llm"), settings.writer, writer.max_output_tokens)
    announce(writing_plan(list(cases), writer, config, datasets), config)
    result = write_notebooks(cases, writer, config, out_dir=out, datasets_dir=datasets)
    print(f"compare arm {arm.name} (llm, {config.backend}:{config.model}): {result.line()}")
    built.attempts.extend(a.model_copy(update={"notebook_id": arm_notebook_id(
        arm.name, a.notebook_id)}) for a in result.attempts)
    return [n.model_copy(update={"notebook_id": arm_notebook_id(arm.name, n.notebook_id)})
            for n in result.notebooks]


def _read_mapping(path: str) -> dict[str, str]:
    try:
        content = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise InputError(f"{path}: no such mapping file (compare.arms.*.mapping: a YAML "
                         "mapping of notebook file name -> case id)") from None
    except yaml.YAMLError as error:
        raise InputError(f"{path}: not valid YAML ({' '.join(str(error).split())})") from None
    if not isinstance(content, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in content.items()):
        raise InputError(f"{path}: expected a mapping of notebook file name -> case id, "
                         "e.g. `run_017.ipynb: titanic_survival`")
    return {str(k): str(v) for k, v in content.items()}


def match_case(notebook_id: str, file: str, imported_case: str, *, mapping: Mapping[str, str],
               known: Sequence[str], explicit: bool) -> str:
    """The case a notebook of an import arm belongs to: by the mapping file, by the case id
    the folder states (``cases.yaml`` or metadata), by name (the longest known case id that
    starts the notebook's id, or the id before its last ``__``), else the importer's case."""
    if mapping:
        if file not in mapping:
            raise InputError(f"{file}: not in the arm's mapping file; map every notebook of "
                             "the folder to a case id")
        return mapping[file]
    if explicit:
        return imported_case
    prefixes = [case for case in known if notebook_id == case
                or notebook_id.startswith(case + "_") or notebook_id.startswith(case + "-")]
    if prefixes:
        return max(prefixes, key=len)
    if SEPARATOR in notebook_id:
        return notebook_id.rsplit(SEPARATOR, 1)[0]
    return imported_case


def _import(arm: Arm, settings: ImportArm, known: Mapping[str, Case], out: Path,
            datasets: Path, built: BuiltArms) -> tuple[list[Notebook], dict[str, Path | None]]:
    from nbjudge.benchmark.importer import copy_case_data, copy_notebooks, read_notebook_folder

    imported = read_notebook_folder(settings.path, notebooks_dir=out, suite=f"compare-{arm.name}")
    copy_notebooks(imported, out)
    copy_case_data(imported, datasets)
    mapping = _read_mapping(settings.mapping) if settings.mapping else {}
    cases = {case.case_id: case for case in imported.cases}
    members: dict[str, list[str]] = {}
    for notebook in imported.notebooks:
        members.setdefault(notebook.case_id, []).append(notebook.notebook_id)
    index, data_dirs = [], {}
    for notebook in imported.notebooks:
        own = notebook.case_id
        derived = own in members[own] or any(re.fullmatch(re.escape(m) + r"_\d+", own)
                                             for m in members[own])
        case_id = match_case(notebook.notebook_id, imported.sources[notebook.notebook_id], own,
                             mapping=mapping, known=sorted(known), explicit=not derived)
        if case_id not in known:
            built.cases.append(cases[own].model_copy(update={"case_id": case_id}))
            known = {**known, case_id: built.cases[-1]}
        new_id = arm_notebook_id(arm.name, notebook.notebook_id)
        index.append(notebook.model_copy(update={"notebook_id": new_id, "case_id": case_id}))
        folder = datasets / own
        data_dirs[new_id] = folder if folder.is_dir() else None
    return index, data_dirs


def build_arms(arms: Sequence[Arm], params: Params, *, cases_dir: Path, out: Path) -> BuiltArms:
    """Generate and execute every arm's notebooks under ``out`` (emptied first) and write
    the files the module docstring lists; with no arms, write them empty."""
    from nbjudge.notebooks.batch import Engine, NotebookJob, OutputPolicy, execute_index
    from nbjudge.notebooks.execute import SandboxLimits, SandboxSettings

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    built = BuiltArms()
    jobs: list[NotebookJob] = []
    if arms:
        suite_cases = read_records(cases_dir / "cases.jsonl", Case)
        built.cases = list(suite_cases)
        known = {case.case_id: case for case in suite_cases}
        seed = need(params.seed, "seed")
        for arm in arms:
            generated = out / "generated" / arm.name
            data_dirs: dict[str, Path | None] = {}
            if isinstance(arm.settings, ProceduralArm):
                index = _procedural(arm, arm.settings, suite_cases, seed, generated, built)
            elif isinstance(arm.settings, LlmArm):
                index = _llm(arm, arm.settings, params, suite_cases, cases_dir / "datasets",
                             generated, built)
            else:
                index, data_dirs = _import(arm, arm.settings, known, generated,
                                           out / "datasets" / arm.name, built)
                known = {case.case_id: case for case in built.cases}
            if not index:
                raise InputError(f"compare arm {arm.name} has no notebook")
            for entry in index:
                built.arm_of[entry.notebook_id] = arm.name
                data_dir = (data_dirs[entry.notebook_id] if entry.notebook_id in data_dirs
                            else cases_dir / "datasets" / entry.case_id)
                jobs.append(NotebookJob(entry, Path(entry.path),
                                        data_dir if data_dir and data_dir.is_dir() else None,
                                        out / "executed" / f"{entry.notebook_id}.ipynb"))
        execute = need(params.execute, "execute")
        sandbox = SandboxSettings(execute.sandbox, SandboxLimits(**execute.limits.model_dump()))
        built.index = execute_index(
            jobs, timeout=execute.timeout, workers=execute.workers,
            cache_dir=Path(execute.cache_dir) if execute.cache_dir else None, sandbox=sandbox,
            policy=OutputPolicy(execute.mode, execute.on_environment_failure,
                                execute.keep_original_on_limit),
            engine=Engine(execute.engine, execute.address))
        _check_pairing(arms, built)
    _write(arms, params, built, out)
    return built


def _check_pairing(arms: Sequence[Arm], built: BuiltArms) -> None:
    """Cases only some arms wrote notebooks for pair with nothing: say so."""
    cases_of: dict[str, set[str]] = {arm.name: set() for arm in arms}
    for entry in built.index:
        cases_of[built.arm_of[entry.notebook_id]].add(entry.case_id)
    shared = set.intersection(*cases_of.values())
    if not shared:
        raise InputError("the arms share no test case, so nothing pairs: " + "; ".join(
            f"{arm}: {', '.join(sorted(cases)[:5])}" for arm, cases in cases_of.items())
            + ". Match notebooks to cases with a mapping file (compare.arms.<arm>.mapping) or "
            "name them <case_id>__<n>.ipynb")
    for arm, cases in cases_of.items():
        if cases - shared:
            built.notes.append(f"arm {arm}: {len(cases - shared)} case(s) no other arm has "
                               f"({', '.join(sorted(cases - shared)[:5])}) pair with nothing")


def _write(arms: Sequence[Arm], params: Params, built: BuiltArms, out: Path) -> None:
    compare = params.compare
    reference = reference_arm(list(arms), compare.reference if compare else None) if arms \
        else None
    # Run times differ on every run: they go to the run log, so the index reproduces.
    write_records(out / "index.jsonl", set_aside(built.index, out / "index.jsonl"))
    write_records(out / "cases.jsonl", built.cases)
    write_records(out / "blueprint.jsonl", built.blueprint)
    write_records(out / "generation.jsonl", built.attempts)
    manifest: dict[str, Any] = {
        "arms": [arm.name for arm in arms], "reference": reference,
        "backends": {arm.name: arm.backend for arm in arms},
        "settings": {arm.name: arm.params() for arm in arms},
        "arm_of": dict(sorted(built.arm_of.items()))}
    write_json(out / "arms.json", manifest)
    if arms and not built.index:
        raise ConfigError("the arms produced no notebook")
