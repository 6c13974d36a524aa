"""The experiment report: figures, one self-contained HTML page, and the same page as PDF.

Pure functions over records and the stats stage's tables: imports no judge,
no LLM client and no MLflow. :func:`load_inputs` reads the pipeline's files,
:func:`write_report` turns them into ``report.html``, ``report.pdf`` and the
figure files.
"""

from .inputs import ReportInputs, load_inputs
from .render import PdfError, ReportFiles, draw_figures, html_to_pdf, render_html, write_report
from .view import ReportSettings

__all__ = [
    "PdfError",
    "ReportFiles",
    "ReportInputs",
    "ReportSettings",
    "draw_figures",
    "html_to_pdf",
    "load_inputs",
    "render_html",
    "write_report",
]
