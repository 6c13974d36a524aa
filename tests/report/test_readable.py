"""The report as a reader gets it: the PDF's pages and the HTML page rendered to images.

Needs Chromium and poppler-utils (``bash scripts/bootstrap-system.sh`` installs them).
"""

import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from ._fabricate import VARIANTS, fabricate
from .test_stage import run_stage

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not all(shutil.which(tool) for tool in ("chromium", "pdftoppm", "pdftotext")),
        reason="needs chromium and poppler-utils (bash scripts/bootstrap-system.sh)"),
]


def drawn(path) -> bool:
    """An image that is not empty: a real size and more than one shade."""
    image = np.asarray(Image.open(path).convert("L"))
    return min(image.shape) > 100 and image.std() > 5 and (image < 128).mean() > 0.001


@pytest.fixture(scope="module")
def report(experiment_root):
    result = run_stage(experiment_root)
    assert result.returncode == 0, result.stderr
    return experiment_root / "reports"


def test_pdf_pages_render_and_page_one_carries_the_warning_and_verdict(report, tmp_path):
    subprocess.run(["pdftoppm", "-r", "40", "-png", report / "report.pdf", tmp_path / "page"],
                   check=True, timeout=120)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 5
    assert all(drawn(page) for page in pages)
    first = subprocess.run(["pdftotext", "-f", "1", "-l", "1", "-layout", report / "report.pdf",
                            "-"], capture_output=True, text=True, check=True).stdout
    lines = [line.strip() for line in first.splitlines() if line.strip()]
    assert lines[0].startswith("SMOKE TEST: scores from a tiny offline model")
    assert "Labels are simulated by an expert panel model, not graded by people." in first
    assert "Verdict per dimension" in first
    assert "Cell organization" in first  # the whole verdict table fits on page 1


@pytest.fixture(scope="module")
def wide_report(tmp_path_factory):
    """Every judge variant and control: the widest tables (seven variants, four contrasts)."""
    root = fabricate(tmp_path_factory.mktemp("wide"),
                     variants=(*VARIANTS, "majority", "prior", "calibrated", "calibrated_full"))
    result = run_stage(root)
    assert result.returncode == 0, result.stderr
    return root / "reports"


def test_pdf_is_printed_at_full_size(wide_report):
    """Chromium shrinks every page of the PDF when one element is wider than the page
    (a table with many columns and unbreakable names): the text would print at 60 % of
    its size. Page one's text must reach the right margin (A4 is 595 pt, margins 15 mm)."""
    html = (wide_report / "report.html").read_text(encoding="utf-8")
    assert "calibrated_<wbr>full MAE" in html      # the ablation table has every variant
    boxes = subprocess.run(["pdftotext", "-f", "1", "-l", "1", "-bbox",
                            wide_report / "report.pdf", "-"],
                           capture_output=True, text=True, check=True).stdout
    page = re.search(r'<page width="([\d.]+)"', boxes)
    right = [float(x) for x in re.findall(r'xMax="([\d.]+)"', boxes)]
    assert page and right
    width = float(page.group(1))
    assert max(right) > width - 42.5 - 25, (max(right), width)


def test_html_renders_in_a_browser(report, tmp_path):
    screenshot = tmp_path / "page.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                    f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars",
                    "--window-size=1000,1400", f"--screenshot={screenshot}",
                    (report / "report.html").resolve().as_uri()],
                   capture_output=True, check=True, timeout=120)
    assert drawn(screenshot)
    page = (report / "report.html").read_text()
    assert '<table class="verdict">' in page and "Verdict per dimension" in page
    assert page.count("data:image/png;base64,") == 7


def test_figure_files(report):
    names = sorted(p.name for p in (report / "figures").iterdir())
    assert "forest.svg" in names and "alignment_cost.png" in names and len(names) == 14
