"""Everything the report reads, gathered once: parameters, statistics, records, audit files.

:func:`load_inputs` is the only function of the package that reads the
pipeline's files; the figures and the report context are built from the
:class:`ReportInputs` it returns. Optional inputs (judgments, the notebook
indexes, alignment audit files, ``run.json``) may be absent: the report then
says what it could not show.
"""

from __future__ import annotations

import json
import platform
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from nbjudge.schemas import Judgment, Label, Notebook, read_records

__all__ = [
    "PACKAGES",
    "AlignmentRun",
    "Guideline",
    "Provenance",
    "ReportInputs",
    "git_revision",
    "load_inputs",
    "package_versions",
    "read_alignment",
    "read_stats_tables",
]

# Package versions printed in the settings section: the ones that shape the numbers.
PACKAGES = ("nbjudge", "numpy", "scipy", "pandas", "statsmodels", "scikit-learn",
            "krippendorff", "matplotlib", "mlflow", "dspy", "litellm", "dvc", "hydra-core",
            "jinja2")

_FOLD = re.compile(r"^fold(\d+)$")
_REPEAT = re.compile(r"^repeat(\d+)$")


@dataclass(frozen=True)
class Guideline:
    """One distilled guideline of an aligned judge, and the labelled examples it came from."""

    text: str
    source_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class AlignmentRun:
    """The audit of one alignment: a variant's memory for one fold, repeat and dimension."""

    variant: str
    fold: int
    dimension: str
    guidelines: tuple[Guideline, ...]
    episodic_ids: tuple[str, ...]
    retrievals: Mapping[str, tuple[str, ...]]
    seconds: float | None
    tokens: int | None
    repeat: int = 0


@dataclass(frozen=True)
class Provenance:
    """Where the code and its dependencies stood when the report was made."""

    git_revision: str | None
    python: str
    packages: Mapping[str, str]


@dataclass(frozen=True)
class ReportInputs:
    """What a report is built from.

    Attributes
    ----------
    params : dict
        ``params.yaml`` as plain containers.
    metrics : dict
        ``reports/metrics.json``.
    tables : dict of str to DataFrame
        The stats stage's CSVs by stem (``mae``, ``improvement``, ...).
    labels, judgments, notebooks : tuple of records
        Notebooks come from the executed index where it exists (it carries
        each run's status and the executed file), else the written index.
    alignment : tuple of AlignmentRun
        Empty when no alignment audit exists.
    run : dict
        ``data/judgments/run.json`` (model, smoke, banner), or empty.
    provenance : Provenance
    root : Path
        Folder that notebook paths are relative to.
    """

    params: Mapping[str, Any]
    metrics: Mapping[str, Any]
    tables: Mapping[str, pd.DataFrame]
    labels: tuple[Label, ...]
    judgments: tuple[Judgment, ...] = ()
    notebooks: tuple[Notebook, ...] = ()
    alignment: tuple[AlignmentRun, ...] = ()
    run: Mapping[str, Any] = field(default_factory=dict)
    provenance: Provenance = field(
        default_factory=lambda: Provenance(None, platform.python_version(), {}))
    root: Path = Path(".")


def read_stats_tables(folder: str | Path) -> dict[str, pd.DataFrame]:
    """The stats stage's CSVs, keyed by file stem.

    ``N/A`` is a score here, not a missing value: only empty cells become NaN.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no statistics tables (run the stats stage first)")
    return {path.stem: pd.read_csv(path, keep_default_na=False, na_values=[""])
            for path in sorted(folder.glob("*.csv"))}


def _as_ids(values: Any) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        return (values,)
    return tuple(str(v) for v in values)


def _guideline(item: Any) -> Guideline | None:
    if isinstance(item, str):
        text, sources = item, ()
    elif isinstance(item, Mapping):
        text = item.get("text") or item.get("guideline_text") or ""
        sources = _as_ids(item.get("source_ids") or item.get("source_trace_ids"))
    else:
        return None
    text = " ".join(str(text).split())
    return Guideline(text, sources) if text else None


def _tokens(value: Any) -> int | None:
    """A token count, from a number or a mapping of counts (its ``total`` if it has one)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, Mapping):
        if "total" in value:
            return _tokens(value["total"])
        counts = [_tokens(v) for v in value.values()]
        counts = [c for c in counts if c is not None]
        return sum(counts) if counts else None
    return None


def _audit_place(relative: Path) -> tuple[str, int, int] | None:
    """(variant, repeat, fold) of ``<variant>/[repeat<r>/]fold<k>/<dimension>.json``.

    None for anything else, such as the ``final/`` judges aligned on every
    notebook, which were never tested and so have no place in the report.
    """
    parts = relative.parts
    fold = _FOLD.match(parts[-2]) if len(parts) in (3, 4) else None
    if fold is None:
        return None
    repeat = 0
    if len(parts) == 4:
        found = _REPEAT.match(parts[1])
        if found is None:
            return None
        repeat = int(found.group(1))
    return parts[0], repeat, int(fold.group(1))


def read_alignment(folder: str | Path) -> tuple[AlignmentRun, ...]:
    """Every ``<variant>/[repeat<r>/]fold<k>/<dimension>.json`` under ``folder``.

    An absent folder means no audit (an empty tuple). Fields beyond those of
    :class:`AlignmentRun` are ignored; ``tokens`` may be a count or a
    mapping of counts (summed, or its ``total``).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return ()
    runs = []
    for path in sorted(folder.rglob("*.json")):
        place = _audit_place(path.relative_to(folder))
        if place is None:
            continue
        try:
            audit = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON: {exc.msg}") from None
        if not isinstance(audit, Mapping):
            raise ValueError(f"{path}: an alignment audit must be a JSON object")
        guidelines = [_guideline(item) for item in audit.get("guidelines") or ()]
        seconds = audit.get("seconds")
        variant, repeat, fold = place
        runs.append(AlignmentRun(
            variant=variant, fold=fold, repeat=repeat, dimension=path.stem,
            guidelines=tuple(g for g in guidelines if g is not None),
            episodic_ids=_as_ids(audit.get("episodic_ids")),
            retrievals={str(k): _as_ids(v) for k, v in (audit.get("retrievals") or {}).items()},
            seconds=float(seconds) if isinstance(seconds, int | float) else None,
            tokens=_tokens(audit.get("tokens")),
        ))
    return tuple(sorted(runs, key=lambda r: (r.variant, r.repeat, r.fold, r.dimension)))


def git_revision(root: str | Path = ".") -> str | None:
    """``git rev-parse HEAD`` in ``root``, or None outside a repository or without git."""
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    revision = result.stdout.strip()
    return revision if result.returncode == 0 and revision else None


def package_versions(names: Sequence[str] = PACKAGES) -> dict[str, str]:
    """Installed versions by distribution name; ``not installed`` where absent."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _read_json(path: Path, *, required: bool) -> dict[str, Any]:
    if not path.exists():
        if required:
            raise FileNotFoundError(f"{path}: not found (run the stage that writes it first)")
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc.msg}") from None


def _check_tables(tables: Mapping[str, pd.DataFrame], metrics: Mapping[str, Any],
                  folder: Path) -> None:
    """The tables the stats stage writes for its status must all be there."""
    needed = ["labels", "ceiling"]
    if metrics.get("status", "ok") != "no_judgments":
        needed += ["agreement", "confusion", "mae", "improvement", "power"]
    missing = [f"{name}.csv" for name in needed if name not in tables]
    if missing:
        raise ValueError(f"{folder} lacks {', '.join(missing)}: rerun the stats stage "
                         "(`dvc repro stats`)")


def _notebooks(index: Path, executed_index: Path) -> tuple[Notebook, ...]:
    for path in (executed_index, index):
        if path.exists():
            return tuple(read_records(path, Notebook))
    return ()


def load_inputs(
    params: Mapping[str, Any],
    *,
    metrics: str | Path = "reports/metrics.json",
    stats: str | Path = "reports/stats",
    labels: str | Path = "data/labels/labels.jsonl",
    judgments: str | Path = "data/judgments",
    notebook_index: str | Path = "data/notebooks/index.jsonl",
    executed_index: str | Path = "data/notebooks/executed/index.jsonl",
    alignment: str | Path = "data/alignment",
    root: str | Path = ".",
) -> ReportInputs:
    """Read every input of the report, given the parameters as plain containers.

    ``metrics``, ``stats`` and ``labels`` are required; the rest may be
    missing. The run facts are ``run.json`` in the judgments folder.
    """
    judgments_dir = Path(judgments)
    metrics_content = _read_json(Path(metrics), required=True)
    tables = read_stats_tables(stats)
    _check_tables(tables, metrics_content, Path(stats))
    records = [j for path in sorted(judgments_dir.glob("*.jsonl"))
               for j in read_records(path, Judgment)] if judgments_dir.is_dir() else []
    return ReportInputs(
        params=dict(params),
        metrics=metrics_content,
        tables=tables,
        labels=tuple(read_records(labels, Label)),
        judgments=tuple(records),
        notebooks=_notebooks(Path(notebook_index), Path(executed_index)),
        alignment=read_alignment(alignment),
        run=_read_json(judgments_dir / "run.json", required=False),
        provenance=Provenance(git_revision(root), platform.python_version(),
                              package_versions()),
        root=Path(root),
    )
