"""The HTML report on a wide screen, measured in headless Chromium (selenium + chromedriver).

Needs Debian's chromium and chromium-driver (``bash scripts/bootstrap-system.sh``).
"""

import shutil

import pytest

from nbjudge.report import write_report

from ._fabricate import VARIANTS, fabricate
from .conftest import load

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                       reason="needs chromium and chromedriver: install Debian's chromium and "
                              "chromium-driver (bash scripts/bootstrap-system.sh)"),
]

# Lines of text in each verdict-table cell: the height of its content over its line height.
CELL_LINES = """
return Array.from(document.querySelectorAll('table.verdict th, table.verdict td')).map(cell => {
  const range = document.createRange();
  range.selectNodeContents(cell);
  const lineHeight = parseFloat(getComputedStyle(cell).lineHeight);
  return [cell.textContent.trim(), Math.round(range.getBoundingClientRect().height / lineHeight),
          cell.getBoundingClientRect().width];
});
"""


@pytest.fixture(scope="module")
def wide_page(tmp_path_factory):
    """Every judge variant and control: the verdict table has all its columns."""
    root = fabricate(tmp_path_factory.mktemp("screen"),
                     variants=(*VARIANTS, "majority", "prior", "calibrated", "calibrated_full"))
    files = write_report(load(root), html=root / "reports/report.html", pdf=None,
                         figures=root / "reports/figures")
    return files.html


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--hide-scrollbars", "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def test_verdict_table_cells_do_not_wrap_into_paragraphs_at_1400_px(wide_page, browser,
                                                                    tmp_path_factory):
    browser.get(wide_page.resolve().as_uri())
    assert browser.execute_script("return window.innerWidth") == 1400
    cells = browser.execute_script(CELL_LINES)
    assert len(cells) > 9 * 5
    table = browser.execute_script(
        "return document.querySelector('table.verdict').getBoundingClientRect().width")
    screenshot = tmp_path_factory.mktemp("screenshot") / "verdict.png"
    browser.find_element("css selector", "table.verdict").screenshot(str(screenshot))
    wrapped = [(text, lines) for text, lines, _ in cells if lines > 2]
    assert not wrapped, (f"cells wrap into more than 2 lines in a {table:.0f} px table "
                         f"(screenshot {screenshot}): {wrapped}")
    assert table > 1000  # the table uses the window, not a printed page's column


COMPARISON_CELLS = """
return Array.from(document.querySelectorAll('#compare table')).map(table => [
  table.className, table.getBoundingClientRect().width,
  Array.from(table.querySelectorAll('th, td')).map(cell => {
    const range = document.createRange();
    range.selectNodeContents(cell);
    const lineHeight = parseFloat(getComputedStyle(cell).lineHeight);
    return [cell.textContent.trim(),
            Math.round(range.getBoundingClientRect().height / lineHeight)];
  })]);
"""


def test_comparison_tables_use_the_width_at_1400_px(browser, tmp_path_factory):
    import dataclasses

    from .test_compare import _comparison

    root = fabricate(tmp_path_factory.mktemp("compare-screen"))
    arms, comparisons = _comparison()
    inputs = dataclasses.replace(load(root), compare_arms=tuple(arms),
                                 comparisons=tuple(comparisons))
    files = write_report(inputs, html=root / "reports/report.html", pdf=None,
                         figures=root / "reports/figures")
    browser.get(files.html.resolve().as_uri())
    tables = browser.execute_script(COMPARISON_CELLS)
    assert [t[0] for t in tables] == ["compact leaderboard", "compact differences",
                                      "compact judge-error"]
    for name, width, cells in tables:
        assert width > 1000, name
        wrapped = [(text, lines) for text, lines in cells if lines > 2]
        assert not wrapped, f"{name}: cells wrap into more than 2 lines: {wrapped}"
