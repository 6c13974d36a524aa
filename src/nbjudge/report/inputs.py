"""Everything the report reads, gathered once: parameters, statistics, records, audit files.

:func:`load_inputs` is the only function of the package that reads the
pipeline's files; the figures and the report context are built from the
:class:`ReportInputs` it returns. Optional inputs (judgments, the notebook
indexes, alignment audit files, ``run.json``) may be absent: the report then
says what it could not show.
"""

from __future__ import annotations

import platform
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from nbjudge.errors import InputError
from nbjudge.schemas import (
    AlignmentAudit,
    ArmComparison,
    ArmSummary,
    InjectionFinding,
    JudgeRun,
    Judgment,
    Label,
    Notebook,
    RobustnessShift,
    StagePlan,
    read_json,
    read_json_record,
    read_records,
)

__all__ = [
    "PACKAGES",
    "Provenance",
    "ReportInputs",
    "git_revision",
    "load_inputs",
    "package_versions",
    "read_alignment",
    "read_comparison",
    "read_plans",
    "read_stats_tables",
]

# Package versions printed in the settings section: the ones that shape the numbers.
PACKAGES = ("nbjudge", "numpy", "scipy", "pandas", "statsmodels", "scikit-learn",
            "krippendorff", "matplotlib", "mlflow", "dspy", "litellm", "dvc", "hydra-core",
            "jinja2")

_FOLD = re.compile(r"^fold(\d+)$")
_REPEAT = re.compile(r"^repeat(\d+)$")


@dataclass(frozen=True)
class Provenance:
    """The Python and the package versions the report was made with.

    Not the commit: a report is a DVC output, and its bytes must follow from the inputs
    ``dvc.lock`` records for it, so that a rerun at a later commit that changed nothing
    the report reads writes the same file. The report stage logs the commit it ran at
    beside the report (``nbjudge.runlog``, with :func:`git_revision`), and the MLflow run
    of the ``track`` stage carries it as its ``mlflow.source.git.commit`` tag.
    """

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
        ``reports/metrics_detail.json`` (every figure; ``metrics.json`` is its headline).
    tables : dict of str to DataFrame
        The stats stage's CSVs by stem (``mae``, ``improvement``, ...).
    labels, judgments, notebooks : tuple of records
        Notebooks come from the executed index where it exists (it carries
        each run's status and the executed file), else the written index.
    alignment : tuple of AlignmentAudit
        The out-of-fold alignments; empty when no audit exists.
    run : JudgeRun or None
        ``data/judgments/run.json`` (model, smoke, banner), when it exists.
    plans : tuple of StagePlan
        What the judging stages planned to send (``*.plan.json`` in the judgments
        folder, ``<variant>/plan.json`` in the alignment folder, ``plan.json``
        in the curve folder); empty when none.
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
    alignment: tuple[AlignmentAudit, ...] = ()
    run: JudgeRun | None = None
    plans: tuple[StagePlan, ...] = ()
    provenance: Provenance = field(
        default_factory=lambda: Provenance(platform.python_version(), {}))
    root: Path = Path(".")
    curve: pd.DataFrame | None = None  # the label-efficiency curve (data/curve/curve.csv)
    # what the curve stage sent: its judgments (``<variant>@<q>``) and alignment audits
    curve_judgments: tuple[Judgment, ...] = ()
    curve_alignment: tuple[AlignmentAudit, ...] = ()
    # the comparison of arms (data/compare): the leaderboard's cells and each candidate
    # against the reference; empty when no arms are set
    compare_arms: tuple[ArmSummary, ...] = ()
    comparisons: tuple[ArmComparison, ...] = ()
    # the robustness stage (data/robustness): its summary (None: no such folder) and shifts;
    # the injection scanner's findings on the judged notebooks (data/injections.jsonl)
    robustness: Mapping[str, Any] | None = None
    robustness_shifts: tuple[RobustnessShift, ...] = ()
    injections: tuple[InjectionFinding, ...] = ()
    injections_scanned: bool = False


def read_curve(folder: str | Path | None) -> pd.DataFrame | None:
    """``<folder>/curve.csv`` of the curve stage; None when absent or empty (curve off)."""
    path = None if folder is None else Path(folder) / "curve.csv"
    if path is None or not path.exists():
        return None
    frame = pd.read_csv(path)
    return None if frame.empty else frame


def read_comparison(arms: str | Path | None, comparisons: str | Path | None,
                    ) -> tuple[tuple[ArmSummary, ...], tuple[ArmComparison, ...]]:
    """The comparison stages' ``data/compare/arms.jsonl`` and
    ``data/compare/comparisons.jsonl``; empty where a file is absent or empty (no arms
    set)."""
    return (tuple(read_records(arms, ArmSummary))
            if arms is not None and Path(arms).is_file() else (),
            tuple(read_records(comparisons, ArmComparison))
            if comparisons is not None and Path(comparisons).is_file() else ())


def read_stats_tables(folder: str | Path) -> dict[str, pd.DataFrame]:
    """The stats stage's CSVs, keyed by file stem.

    ``N/A`` is a score here, not a missing value: only empty cells become NaN.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no statistics tables (run the stats stage first)")
    return {path.stem: pd.read_csv(path, keep_default_na=False, na_values=[""])
            for path in sorted(folder.glob("*.csv"))}


def _audit_place(relative: Path) -> bool:
    """Is ``relative`` an out-of-fold audit, ``<variant>/[repeat<r>/]fold<k>/<dimension>.json``?

    The ``final/`` judges aligned on every notebook were never tested and so
    have no place in the report.
    """
    parts = relative.parts
    if len(parts) not in (3, 4) or not _FOLD.match(parts[-2]):
        return False
    return len(parts) == 3 or bool(_REPEAT.match(parts[1]))


def read_alignment(folder: str | Path) -> tuple[AlignmentAudit, ...]:
    """Every out-of-fold audit under ``folder``, by variant, repeat, fold and dimension.

    An absent folder means no audit (an empty tuple); a malformed audit is a
    :class:`~nbjudge.schemas.RecordError` naming the file and the field.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return ()
    audits = [read_json_record(path, AlignmentAudit) for path in sorted(folder.rglob("*.json"))
              if _audit_place(path.relative_to(folder))]
    return tuple(sorted(audits, key=lambda a: (a.variant, a.repeat, a.fold or 0, a.dimension)))


def read_plans(judgments: str | Path, alignment: str | Path,
               curve: str | Path | None = None) -> tuple[StagePlan, ...]:
    """The plans the judging stages wrote before sending: ``judge`` first, then each
    ``align@<variant>``, then ``curve``; absent files are no plan."""
    judgments, alignment = Path(judgments), Path(alignment)
    paths = sorted(judgments.glob("*.plan.json")) if judgments.is_dir() else []
    paths += sorted(alignment.glob("*/plan.json")) if alignment.is_dir() else []
    if curve is not None and (Path(curve) / "plan.json").is_file():
        paths.append(Path(curve) / "plan.json")
    return tuple(read_json_record(path, StagePlan) for path in paths)


def git_revision(root: str | Path = ".") -> str | None:
    """``git rev-parse HEAD`` in ``root``, or None outside a repository or without git
    (logged beside the report, not printed in it: :class:`Provenance`)."""
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


def _check_tables(tables: Mapping[str, pd.DataFrame], metrics: Mapping[str, Any],
                  folder: Path) -> None:
    """The tables the stats stage writes for its status must all be there."""
    needed = ["labels", "ceiling"]
    if metrics.get("status", "ok") != "no_judgments":
        needed += ["agreement", "confusion", "mae", "improvement", "power"]
    missing = [f"{name}.csv" for name in needed if name not in tables]
    if missing:
        raise InputError(f"{folder} lacks {', '.join(missing)}: rerun the stats stage "
                         "(`dvc repro stats`)")


def _notebooks(index: Path, executed_index: Path) -> tuple[Notebook, ...]:
    for path in (executed_index, index):
        if path.exists():
            return tuple(read_records(path, Notebook))
    return ()


def load_inputs(
    params: Mapping[str, Any],
    *,
    metrics: str | Path = "reports/metrics_detail.json",
    stats: str | Path = "reports/stats",
    labels: str | Path = "data/labels/labels.jsonl",
    judgments: str | Path | Sequence[str | Path] = "data/judgments",
    notebook_index: str | Path = "data/notebooks/index.jsonl",
    executed_index: str | Path = "data/notebooks/executed/index.jsonl",
    alignment: str | Path = "data/alignment",
    root: str | Path = ".",
    curve: str | Path | None = None,
    compare_arms: str | Path | None = None,
    comparisons: str | Path | None = None,
    robustness: str | Path | None = None,
    injections: str | Path | None = None,
) -> ReportInputs:
    """Read every input of the report, given the parameters as plain containers.

    ``metrics``, ``stats`` and ``labels`` are required; the rest may be
    missing (``compare_arms`` and ``comparisons``: the comparison stages' records).
    ``judgments`` is one folder or several (the judges', the controls');
    the run facts are ``run.json`` in the first.
    """
    folders = ([Path(judgments)] if isinstance(judgments, str | Path)
               else [Path(f) for f in judgments])
    judgments_dir = folders[0]
    metrics_content = read_json(metrics, "metrics file")
    tables = read_stats_tables(stats)
    _check_tables(tables, metrics_content, Path(stats))
    arm_records, comparison_records = read_comparison(compare_arms, comparisons)
    records = [j for folder in folders if folder.is_dir()
               for path in sorted(folder.glob("*.jsonl")) for j in read_records(path, Judgment)]
    return ReportInputs(
        params=dict(params),
        metrics=metrics_content,
        tables=tables,
        labels=tuple(read_records(labels, Label)),
        judgments=tuple(records),
        notebooks=_notebooks(Path(notebook_index), Path(executed_index)),
        alignment=read_alignment(alignment),
        run=(read_json_record(judgments_dir / "run.json", JudgeRun)
             if (judgments_dir / "run.json").exists() else None),
        plans=read_plans(judgments_dir, alignment, curve),
        provenance=Provenance(platform.python_version(), package_versions()),
        root=Path(root),
        curve=read_curve(curve),
        curve_judgments=(tuple(read_records(Path(curve) / "judgments.jsonl", Judgment))
                         if curve is not None and (Path(curve) / "judgments.jsonl").is_file()
                         else ()),
        curve_alignment=read_alignment(Path(curve) / "alignment") if curve is not None else (),
        compare_arms=arm_records,
        comparisons=comparison_records,
        robustness=(read_json(Path(robustness) / "summary.json", "robustness summary")
                    if robustness is not None and (Path(robustness) / "summary.json").is_file()
                    else None),
        robustness_shifts=(tuple(read_records(Path(robustness) / "shifts.jsonl",
                                              RobustnessShift))
                           if robustness is not None
                           and (Path(robustness) / "shifts.jsonl").is_file() else ()),
        injections=(tuple(read_records(injections, InjectionFinding))
                    if injections is not None and Path(injections).is_file() else ()),
        injections_scanned=injections is not None and Path(injections).is_file(),
    )
