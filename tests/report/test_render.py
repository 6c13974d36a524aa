"""The HTML page and the PDF printer, without drawing the full set of figures."""

import dataclasses
import re
import shutil

import pytest

from nbjudge.report import PdfError, draw_figures, html_to_pdf, render_html, write_report
from nbjudge.report.context import build_context, report_view
from nbjudge.report.render import CHROMIUM_INSTALL

NETWORK = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//|"""
                     r"""@import|<link\b|<script\b""", re.IGNORECASE)


def verdict_table(page: str) -> str:
    return page.split('<table class="verdict">', 1)[1].split("</table>", 1)[0]


@pytest.fixture(scope="module")
def page(experiment):
    return render_html(build_context(experiment, {"forest": "data:image/png;base64,AAAA",
                                                  "confusion_full": "data:image/png;base64,BB"}))


class TestHtml:
    def test_warnings_come_first(self, page):
        body = page.split("<body>", 1)[1]
        text = re.sub(r"<[^>]+>", " ", body).split()
        assert " ".join(text[:4]) == "SMOKE TEST: scores from"

    def test_verdict_table_with_every_dimension(self, page):
        assert "<h2>Verdict per dimension</h2>" in page
        table = verdict_table(page)
        assert table.count('<th scope="row">') == 9
        assert "MLflow logging" in table

    def test_self_contained(self, page):
        assert NETWORK.search(page) is None
        assert "<style>" in page and "@page" in page
        assert page.count('<img src="data:image/png;base64,') == 2

    def test_text_is_escaped(self, experiment):
        context = build_context(experiment, {})
        first = context.disagreements[0]
        rating = dataclasses.replace(first.ratings[0], rationale="<b>bold</b>")
        first = dataclasses.replace(first, ratings=(rating, *first.ratings[1:]))
        page = render_html(dataclasses.replace(
            context, disagreements=(first, *context.disagreements[1:])))
        assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page

    def test_baseline_only_has_no_improvement_columns(self, baseline):
        table = verdict_table(render_html(build_context(baseline, {})))
        assert "<th>baseline MAE</th>" in table and "Improvement" not in table
        assert table.count('<th scope="row">') == 9

    def test_without_judgments_the_table_counts_labels(self, unjudged):
        page = render_html(build_context(unjudged, {}))
        table = verdict_table(page)
        assert "Labelled notebooks" in table and "MAE</th>" not in table
        assert "Agreement details" not in page


class TestFigureSelection:
    def test_full_experiment(self, experiment):
        names = list(draw_figures(experiment, report_view(experiment)))
        assert names == ["forest", "ablation", "bias", "confusion_baseline", "confusion_full",
                         "confusion_semantic_only", "alignment_cost"]

    def test_labels_only(self, unjudged):
        assert list(draw_figures(unjudged, report_view(unjudged))) == ["ceiling"]


class TestWriteReport:
    def test_writes_html_and_figures_and_drops_stale_ones(self, unjudged, tmp_path):
        stale = tmp_path / "figures/forest.svg"
        stale.parent.mkdir()
        stale.write_text("old")
        (tmp_path / "figures/keep.txt").write_text("not a figure")
        files = write_report(unjudged, html=tmp_path / "report.html", pdf=None,
                             figures=tmp_path / "figures")
        assert files.pdf is None
        assert sorted(p.name for p in files.figures) == ["ceiling.png", "ceiling.svg"]
        assert not stale.exists() and (tmp_path / "figures/keep.txt").exists()
        assert "Verdict per dimension" in files.html.read_text()

    def test_same_inputs_same_html(self, unjudged, tmp_path):
        pages = [write_report(unjudged, html=tmp_path / f"{run}.html", pdf=None,
                              figures=tmp_path / f"figures{run}").html.read_bytes()
                 for run in (1, 2)]
        assert pages[0] == pages[1]

    def test_missing_chromium_names_the_install_command_after_writing_html(
            self, unjudged, tmp_path, monkeypatch):
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))
        with pytest.raises(PdfError, match=re.escape(CHROMIUM_INSTALL)):
            write_report(unjudged, html=tmp_path / "report.html", pdf=tmp_path / "report.pdf",
                         figures=tmp_path / "figures", formats=())
        assert (tmp_path / "report.html").exists() and not (tmp_path / "report.pdf").exists()


@pytest.mark.slow
def test_a_failing_chromium_is_reported(tmp_path):
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\necho 'cannot open display' >&2\nexit 3\n")
    fake.chmod(0o755)
    html = tmp_path / "page.html"
    html.write_text("<p>hi</p>")
    with pytest.raises(PdfError, match=r"exited with 3 and wrote no PDF:\ncannot open display"):
        html_to_pdf(html, tmp_path / "page.pdf", chromium=str(fake))


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs chromium")
@pytest.mark.slow
def test_prints_a_pdf(tmp_path):
    html = tmp_path / "page.html"
    html.write_text("<h1>Verdict per dimension</h1>")
    pdf = html_to_pdf(html, tmp_path / "page.pdf")
    assert pdf.read_bytes().startswith(b"%PDF-")
