"""The report as one self-contained HTML file, and the same file printed to PDF.

The HTML embeds its figures as base64 PNG data URIs and its CSS inline, and
references nothing on the network, so it can be mailed or archived as is.
The PDF is that HTML printed by headless Chromium: one layout for both.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import jinja2
import markupsafe
from matplotlib.figure import Figure

from nbjudge.errors import NbjudgeError

from .alignment import alignment_costs
from .context import ReportContext, build_context
from .figures import (
    ablation_figure,
    alignment_cost_figure,
    bias_figure,
    comparison_figure,
    confusion_figure,
    forest_figure,
    label_efficiency_figure,
    save_figure,
)
from .inputs import ReportInputs
from .sections.compare import FIGURE as COMPARE_FIGURE
from .sections.compare import gate_outcome, gate_settings, tolerance_of
from .view import ReportSettings, ReportView, report_view

__all__ = [
    "CHROMIUM_INSTALL",
    "PdfError",
    "ReportFiles",
    "draw_figures",
    "find_chromium",
    "html_to_pdf",
    "render_html",
    "write_report",
]

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_INSTALL = "sudo apt-get install -y --no-install-recommends chromium"


class PdfError(NbjudgeError):
    """The PDF could not be printed; the message says why and how to fix it."""


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    pdf: Path | None
    figures: tuple[Path, ...]


def draw_figures(inputs: ReportInputs, view: ReportView) -> dict[str, Figure]:
    """The figures the inputs support, by name, in report order.

    With judgments: ``forest`` (needs an aligned variant), ``ablation`` (two
    or more variants), ``bias`` and ``confusion_<variant>``; without, only
    ``ceiling``. ``alignment_cost`` when audit files record seconds or tokens.
    ``compare`` (first) when the inputs hold a comparison of arms.
    """
    tables, dimensions = inputs.tables, view.dimensions
    mae = tables.get("mae")
    figures: dict[str, Figure] = {}
    level = view.stats.level
    if inputs.comparisons:
        figures[COMPARE_FIGURE] = _comparison_figure(inputs)
    if mae is not None and not mae.empty:
        if view.aligned is not None:
            figures["forest"] = forest_figure(
                mae, tables["improvement"], reference=view.reference, variant=view.aligned,
                correction=view.stats.correction, alpha=view.stats.alpha,
                dimensions=dimensions,
                controls=[c for c in ("majority", "calibrated") if c in view.controls])
        if len(view.variants) >= 2:
            figures["ablation"] = ablation_figure(mae, variants=view.variants,
                                                  dimensions=dimensions, level=level,
                                                  controls=view.controls)
        figures["bias"] = bias_figure(mae, tables["ceiling"], variants=view.judges,
                                      dimensions=dimensions, level=level)
        for variant in view.judges:
            figures[f"confusion_{variant}"] = confusion_figure(
                tables["confusion"], variant=variant, dimensions=dimensions)
    elif "ceiling" in tables:
        figures["ceiling"] = bias_figure(None, tables["ceiling"], dimensions=dimensions)
    if inputs.curve is not None:
        figures["label_efficiency"] = label_efficiency_figure(
            inputs.curve, dimensions=[d for d in dimensions if d in set(inputs.curve.dimension)],
            level=level)
    costs = alignment_costs(inputs.alignment)
    if not costs.empty and costs[["seconds", "tokens"]].notna().any().any():
        figures["alignment_cost"] = alignment_cost_figure(costs, dimensions=dimensions)
    return figures


def _comparison_figure(inputs: ReportInputs) -> Figure:
    """The forest plot of the comparison, with the tolerances and verdicts the gate used
    (none of either when ``compare.gate`` cannot be read: the section says why)."""
    dimensions = sorted({c.dimension for c in inputs.comparisons})
    result = gate_outcome(inputs)
    try:
        tolerances = tolerance_of(gate_settings(inputs.params), dimensions)
    except (NbjudgeError, ValueError):
        tolerances = {}
    verdicts = ({} if isinstance(result, str) else
                {(v.candidate, v.dimension): v.status for v in result.verdicts})
    return comparison_figure(inputs.comparisons, tolerances=tolerances, verdicts=verdicts)


def breakable(text: object) -> markupsafe.Markup:
    """``text`` escaped, with a line-break opportunity after each ``_`` and ``@``.

    Names like ``align@semantic_only`` have no space to wrap at: in a table with
    many columns, one such name widens the table past the page, and Chromium then
    prints every page of the PDF shrunk to fit the widest element.
    """
    escaped = str(markupsafe.escape(text))
    return markupsafe.Markup(escaped.replace("_", "_<wbr>").replace("@", "@<wbr>"))


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("nbjudge.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["breakable"] = breakable
    return environment


def render_html(context: ReportContext) -> str:
    """The report page for a context from :func:`~nbjudge.report.context.build_context`."""
    variables = {field.name: getattr(context, field.name) for field in fields(context)}
    return _environment().get_template("report.html").render(**variables)


def find_chromium() -> str | None:
    """The first Chromium (or Chrome) binary on PATH, or None."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def html_to_pdf(html: str | Path, pdf: str | Path, *, chromium: str | None = None,
                timeout: float = 180) -> Path:
    """Print ``html`` to ``pdf`` with headless Chromium (A4, no header or footer).

    Raises :class:`PdfError` naming the install command when no Chromium is
    found, and with Chromium's own messages when printing fails.
    """
    html, pdf = Path(html).resolve(), Path(pdf).resolve()
    binary = chromium or find_chromium()
    if binary is None:
        raise PdfError(
            f"cannot print {pdf.name}: no Chromium on PATH (looked for "
            f"{', '.join(CHROMIUM_NAMES)}). Install it with `{CHROMIUM_INSTALL}` or run "
            "`bash scripts/bootstrap-system.sh`; the HTML report is complete without it.")
    pdf.parent.mkdir(parents=True, exist_ok=True)
    pdf.unlink(missing_ok=True)  # a stale file must not pass for a new one
    with tempfile.TemporaryDirectory(prefix="nbjudge-chromium-") as profile:
        command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                   "--disable-extensions", "--no-pdf-header-footer",
                   f"--user-data-dir={profile}", f"--print-to-pdf={pdf}", html.as_uri()]
        try:
            # TZ=UTC: the dates Chromium stamps (set to one value below) have one length.
            result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                    check=False, env={**os.environ, "TZ": "UTC"})
        except subprocess.TimeoutExpired:
            raise PdfError(f"Chromium did not print {pdf.name} within {timeout:g} s") from None
    if not pdf.exists() or pdf.read_bytes()[:5] != b"%PDF-":
        messages = "\n".join((result.stderr or "").strip().splitlines()[-5:])
        raise PdfError(f"Chromium exited with {result.returncode} and wrote no PDF:\n{messages}")
    pdf.write_bytes(_PRINT_TIME.sub(rb"/\1 (D:19700101000000", pdf.read_bytes()))
    return pdf


# The time of printing in /CreationDate and /ModDate is all that differs between two prints
# of one page; replaced by the Unix epoch, same length, so that the file's offsets hold and
# `dvc repro` writes the same report.pdf on every run.
_PRINT_TIME = re.compile(rb"/(CreationDate|ModDate) \(D:\d{14}")


def write_report(
    inputs: ReportInputs,
    *,
    html: str | Path = "reports/report.html",
    pdf: str | Path | None = "reports/report.pdf",
    figures: str | Path = "reports/figures",
    settings: ReportSettings | None = None,
    formats: Sequence[str] = ("png", "svg"),
) -> ReportFiles:
    """Draw and save the figures, write the HTML, print the PDF (unless ``pdf`` is None).

    Figure files of earlier runs are removed first, so that a figure this
    run does not draw does not linger. The HTML is written before the PDF is
    attempted: a missing Chromium (:class:`PdfError`) still leaves it.
    """
    html, figure_dir = Path(html), Path(figures)
    view = report_view(inputs, settings)
    figure_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*figure_dir.glob("*.png"), *figure_dir.glob("*.svg")]:
        stale.unlink()
    uris: dict[str, str] = {}
    paths: list[Path] = []
    for name, figure in draw_figures(inputs, view).items():
        saved = save_figure(figure, figure_dir, name, formats=formats)
        uris[name] = saved.data_uri
        paths.extend(saved.paths)
    page = render_html(build_context(inputs, uris, settings))
    html.parent.mkdir(parents=True, exist_ok=True)
    html.write_text(page, encoding="utf-8")
    if pdf is not None:
        html_to_pdf(html, pdf)
    return ReportFiles(html=html, pdf=None if pdf is None else Path(pdf),
                       figures=tuple(paths))
