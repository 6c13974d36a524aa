"""The report's comparison section: the gate first, the leaderboard, the forest plot, the
judge-error panel; and no trace of it without a comparison."""

import dataclasses
import html
import re

import numpy as np
import pytest
from matplotlib.collections import PolyCollection

from nbjudge.report import draw_figures, render_html, write_report
from nbjudge.report.context import build_context, report_view
from nbjudge.report.figures import comparison_figure
from nbjudge.report.sections.compare import gate_settings
from nbjudge.schemas import DIMENSIONS, write_records
from nbjudge.stats.compare import compare_arms, grading_sample

from .conftest import load
from .test_stage import load_stage, stage_arguments

CASES, PER_CASE = 30, 2
REGRESSED, KINDER = "model_training", "data_exploration"


def _comparison(seed=0):
    """Two arms on 30 cases x 2 notebooks: the experts see the candidate one point worse on
    model training and equal elsewhere; the judge also grades the candidate one point more
    kindly on data exploration (a bias only the grades reveal). Half the notebooks graded."""
    rng = np.random.default_rng(seed)
    shape = (2, CASES, PER_CASE, len(DIMENSIONS))
    human = rng.choice([1.0, 2.0, 3.0], size=shape, p=[0.25, 0.45, 0.3])
    t, e = DIMENSIONS.index(REGRESSED), DIMENSIONS.index(KINDER)
    human[1, :, :, t] = np.clip(human[1, :, :, t] - 1, 1, 3)
    judge = np.clip(human + rng.choice([-1.0, 0.0, 1.0], size=shape, p=[0.1, 0.8, 0.1]), 1, 3)
    judge[1, :, :, e] = np.clip(judge[1, :, :, e] + 1, 1, 3)
    ids = [f"{a}-{c}-{k}" for a in range(2) for c in range(CASES) for k in range(PER_CASE)]
    chosen = set(grading_sample(ids, [i.split("-")[0] for i in ids],
                                [i.split("-")[1] for i in ids], fraction=0.5, seed=seed))
    graded = np.array([i in chosen for i in ids]).reshape(shape[:3])
    stats = compare_arms(judge, human=np.where(graded[..., None], human, np.nan),
                         arms=["v1", "v2"], dimensions=DIMENSIONS,
                         rng=np.random.default_rng(seed))
    return (stats.arms.to_records(level=stats.level, na_policy=stats.na_policy,
                                  failure_policy=stats.failure_policy), stats.to_records())


@pytest.fixture(scope="module")
def records():
    return _comparison()


@pytest.fixture(scope="module")
def compared(experiment, records):
    arms, comparisons = records
    return dataclasses.replace(experiment, compare_arms=tuple(arms),
                               comparisons=tuple(comparisons))


@pytest.fixture(scope="module")
def page(compared):
    return render_html(build_context(compared, {"compare": "data:image/png;base64,CMP"}))


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _table(page: str, name: str) -> str:
    return page.split(f'<table class="compact {name}">', 1)[1].split("</table>", 1)[0]


def _row(table: str, dimension: str) -> str:
    return next(r for r in table.split("<tr")
                if f'<th scope="row">{dimension}</th>' in r)


def test_the_synthetic_world_is_what_the_tests_claim(records):
    _, comparisons = records
    by = {c.dimension: c for c in comparisons}
    assert by[REGRESSED].ppi.ci_high < -0.25          # a regression beyond the tolerance
    assert by[KINDER].ci_low > 0                       # the judge alone sees progress
    assert by[KINDER].ppi.judge_outside_ppi            # the grades do not
    assert sum(c.ppi.judge_outside_ppi for c in comparisons) == 1


def test_gate_verdict_comes_first(page):
    body = _text(page.split("<body>", 1)[1])
    warnings, rest = body.split("Can we trust our LLM judges of ML notebooks?", 1)
    assert warnings.startswith("SMOKE TEST")
    assert rest.lstrip().startswith(
        "Release gate (v2 against v1, exit 1): FAIL: regression beyond tolerance on "
        "model_training (v2 vs v1). Smoke model: this verdict means nothing.")
    assert page.index('<p class="gate failed">') < page.index('class="question"')
    assert '<a href="#compare">comparing builds</a>' in page


def test_leaderboard_cells(page, records):
    arms, _ = records
    table = _table(page, "leaderboard")
    assert table.count('<th scope="row">') == 9
    summary = next(s for s in arms if s.arm == "v2" and s.dimension == REGRESSED)
    row = _row(table, "Model training")
    cell = f"{summary.mean:.2f} [{summary.ci_low:.2f}, {summary.ci_high:.2f}]"
    human = f"{summary.ppi_mean:.2f} [{summary.ppi_ci_low:.2f}, {summary.ppi_ci_high:.2f}]"
    assert cell in row and human in row
    assert f"{summary.n_graded} of {summary.n_notebooks} graded" in row
    assert "N/A 0%<br>failed 0%" in row
    assert f'<td class="num">{CASES}</td>' in row
    assert "v1 (reference)" in table


def test_differences_reading_and_gate(page, records):
    _, comparisons = records
    table = _table(page, "differences")
    regressed = _row(table, "Model training")
    assert "regression (ppi)" in regressed and "−0.25" in regressed
    record = next(c for c in comparisons if c.dimension == "mlflow_logging")
    assert f"no change larger than {record.mdd:.2f}" in _row(table, "MLflow logging")
    assert "higher" in _row(table, "Data exploration")
    assert table.count('class="worse"') == 2   # the regressed row and its gate cell


def test_every_interval_says_method_level_cases_and_unit(page):
    text = _text(page.split('id="compare"', 1)[1].split("</section>", 1)[0])
    assert "95% CR2 t-intervals (Bell-McCaffrey degrees of freedom) of the mean over cases, " \
           "the case as the unit" in text
    assert "95% CR2 t-intervals of the paired difference, the case as the unit" in text
    assert "95% PPI++ t-intervals, the case as the unit" in text
    assert "sign-flip test flipping whole cases (Monte Carlo, 9999 sign patterns)" in text
    assert "n = the cases column" in text


def test_judge_error_panel_flags_the_kinder_judge(page):
    table = _table(page, "judge-error")
    assert "yes: judge biased differently" in _row(table, "Data exploration")
    assert table.count("yes: judge biased differently") == 1
    assert "Outside the PPI interval: Data exploration (v2)." in page


def test_smoke_numbers_are_labelled(page, baseline, records):
    assert "these scores, differences and the gate's verdict mean nothing" in html.unescape(page)
    arms, comparisons = records
    hosted = dataclasses.replace(baseline, compare_arms=tuple(arms),
                                 comparisons=tuple(comparisons))
    clean = render_html(build_context(hosted, {}))
    assert "Smoke model" not in clean and "Release gate (v2 against v1, exit 1)" in clean


def test_gate_settings_come_from_params(compared):
    params = {**compared.params, "compare": {"gate": {"tolerances": {"default": 1.5}}}}
    lenient = dataclasses.replace(compared, params=params)
    assert gate_settings(params).tolerance(REGRESSED) == 1.5
    page = render_html(build_context(lenient, {}))
    assert "Release gate (v2 against v1, exit 0): PASS" in page
    assert 'class="gate failed"' not in page


def test_forest_plot_draws_tolerance_bands_and_flags(compared, records):
    figures = draw_figures(compared, report_view(compared))
    assert next(iter(figures)) == "compare"
    _, comparisons = records
    figure = comparison_figure(comparisons, tolerances={d: 0.25 for d in DIMENSIONS},
                               verdicts={("v2", REGRESSED): "regression"})
    ax = figure.axes[0]
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 9
    texts = [t.get_text() for t in ax.texts]
    assert "regression" in texts and "judge outside PPI" in texts
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "judge only", "PPI++ (human score)", "worse than the tolerance"]


def test_without_a_comparison_there_is_no_trace(experiment):
    page = render_html(build_context(experiment, {}))
    assert 'id="compare"' not in page and "Release gate" not in page
    assert "comparing builds" not in page and 'class="gate' not in page
    assert "compare" not in draw_figures(experiment, report_view(experiment))


def test_loaded_from_the_compare_records_and_empty_files_are_no_comparison(
        experiment_root, records, tmp_path):
    folder = tmp_path / "compare"
    folder.mkdir()
    (folder / "arms.jsonl").write_text("")
    (folder / "comparisons.jsonl").write_text("")
    paths = {"compare_arms": folder / "arms.jsonl", "comparisons": folder / "comparisons.jsonl"}
    empty = load(experiment_root, **paths)
    assert (empty.compare_arms, empty.comparisons) == ((), ())
    assert build_context(empty, {}).comparison is None
    arms, comparisons = records
    write_records(folder / "arms.jsonl", arms)
    write_records(folder / "comparisons.jsonl", comparisons)
    loaded = load(experiment_root, **paths)
    assert len(loaded.compare_arms) == 18 and len(loaded.comparisons) == 9


def test_the_stage_reads_the_compare_folder(baseline_root, records, tmp_path):
    folder = tmp_path / "compare"
    arms, comparisons = records
    write_records(folder / "arms.jsonl", arms)
    write_records(folder / "comparisons.jsonl", comparisons)
    out = tmp_path / "report.html"
    arguments = stage_arguments(baseline_root, "--no-pdf", "--compare-arms",
                                str(folder / "arms.jsonl"), "--comparisons",
                                str(folder / "comparisons.jsonl"))
    arguments[arguments.index("--html") + 1] = str(out)
    arguments[arguments.index("--figures") + 1] = str(tmp_path / "figures")
    load_stage().main(arguments)
    page = out.read_text()
    assert "Release gate (v2 against v1, exit 1)" in page and 'id="compare"' in page
    assert (tmp_path / "figures/compare.png").is_file()


def test_the_whole_report_with_a_comparison_is_written(compared, tmp_path):
    files = write_report(compared, html=tmp_path / "report.html", pdf=None,
                         figures=tmp_path / "figures")
    assert (tmp_path / "figures/compare.svg") in files.figures
    assert files.html.read_text().count('<img src="data:image/png;base64,') >= 2
