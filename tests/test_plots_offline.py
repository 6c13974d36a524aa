"""`dvc plots show` draws offline: the repository's page (plots/offline.py, configured as
plots.html_template in .dvc/config) carries vega, vega-lite and vega-embed inline.

Headless Chromium opens the page with every host unresolvable and records each request
it makes; the plots must draw (their marks' pixels on each canvas) and nothing may leave
the file.
"""

from __future__ import annotations

import configparser
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "plots" / "offline.html"
BARS = ROOT / "plots" / "bars.json"
# DVC's templates whose x axis is quantitative: a text column there (a dimension's name)
# becomes NaN and the plot draws empty.
NUMERIC_X = {"scatter", "scatter_jitter", "linear", "simple", "smooth"}
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
DVC = Path(sys.executable).with_name("dvc")


def test_the_repository_uses_the_offline_page():
    config = configparser.ConfigParser()
    config.read(ROOT / ".dvc" / "config")
    configured = (ROOT / ".dvc" / config["plots"]["html_template"]).resolve()
    assert configured == TEMPLATE
    page = (ROOT / "plots" / "page.html").read_text()
    assert "{plot_divs}" in page and "{scripts}" not in page   # no CDN tags added by DVC


def test_plots_with_text_on_x_use_a_template_that_reads_it_as_categories():
    plots = yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]
    text_x = []
    for plot in plots:
        (name, spec), = plot.items()
        x = spec.get("x")
        columns = x.values() if isinstance(x, dict) else [x]
        if "dimension" in columns:
            text_x.append(name)
            assert spec.get("template") not in NUMERIC_X, name
            assert (ROOT / spec["template"]).resolve() == BARS, name
    assert len(text_x) == 4


def _scratch_repo(root: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run([str(DVC), "init", "-q"], cwd=root, check=True)
    (root / ".dvc" / "config").write_text(f"[plots]\n    html_template = {TEMPLATE}\n")
    (root / "curve.csv").write_text("notebooks,baseline,full\n10,0.8,0.5\n20,1.1,0.7\n")
    (root / "ceiling.csv").write_text("dimension,human_mae\nmodel_use,0.3\n")
    (root / "plot_mae.csv").write_text("dimension,baseline,full\nmodel_use,0.8,0.5\n"
                                       "data_imputation,1.1,-0.2\n")
    (root / "plots").mkdir()
    shutil.copy(BARS, root / "plots" / "bars.json")
    (root / "dvc.yaml").write_text(
        "plots:\n"
        "  - MAE against training notebooks:\n"
        "      template: scatter\n"
        "      x: {curve.csv: notebooks}\n"
        "      y: {curve.csv: [baseline, full]}\n"
        "  - ceiling.csv:\n"
        "      x: human_mae\n"
        "      y: dimension\n"
        "      template: bar_horizontal\n"
        "  - MAE per dimension:\n"
        "      template: plots/bars.json\n"
        "      x: {plot_mae.csv: dimension}\n"
        "      y: {plot_mae.csv: [baseline, full]}\n")


def test_dvc_plots_show_draws_without_a_network(tmp_path):
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("no chromium/chromedriver: install Debian's chromium and chromium-driver "
                    "(make setup runs scripts/bootstrap-system.sh)")
    pytest.importorskip("selenium", reason="selenium missing: pip install -e .[dev]")
    if not TEMPLATE.is_file():
        pytest.fail(f"{TEMPLATE} is missing: build it with `python plots/offline.py` "
                    "(make setup does)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    _scratch_repo(tmp_path)
    out = tmp_path / "shown"
    done = subprocess.run([str(DVC), "plots", "show", "-o", str(out)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    html = (out / "index.html").read_text()
    assert "vega@5.33.1" in html and "<script src" not in html

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--host-resolver-rules=MAP * ~NOTFOUND"):   # no host resolves: offline
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get((out / "index.html").as_uri())
        deadline = time.monotonic() + 30
        drawn = 0
        while drawn < 3 and time.monotonic() < deadline:
            drawn = driver.execute_script(
                "return document.querySelectorAll('.vega-embed .marks')"
                ".length")
            time.sleep(0.2)
        # vega-embed draws on canvas: count each plot's coloured pixels (the data's marks;
        # axes, grid and text are grey).
        coloured = driver.execute_script(
            "return Array.from(document.querySelectorAll('canvas.marks')).map(c => {"
            "  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            "  let n = 0;"
            "  for (let i = 0; i < d.length; i += 4)"
            "    if (d[i + 3] > 0 && (Math.abs(d[i] - d[i + 1]) > 40"
            "        || Math.abs(d[i + 1] - d[i + 2]) > 40)) n++;"
            "  return n; })")
        requests = [json.loads(entry["message"])["message"]
                    for entry in driver.get_log("performance")]
    finally:
        driver.quit()
    urls = [m["params"]["request"]["url"] for m in requests
            if m["method"] == "Network.requestWillBeSent"]
    assert drawn == 3, "the plots did not draw"
    assert len(coloured) == 3 and min(coloured) > 20, coloured   # points and a bar drawn
    # Four grouped bars (one negative) fill far more than a legend's symbols: an empty
    # plot (text on a numeric x) still draws its legend.
    assert coloured[2] > 2000, coloured
    assert [url for url in urls if not url.startswith(("file:", "data:"))] == []
