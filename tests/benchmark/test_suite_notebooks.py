"""The demo8 and bench50 suites' notebooks, read statically (static_checks.py):
nothing but a crash template stops a run.

A procedural notebook may crash only where its blueprint says so (a template
with ``crash=True``: the crash is the defect the judge is shown). Any other
metric that cannot take the task's target, or column read where it does not
exist, would be a generator bug: a template combination that cannot run.
Executing the crash notebooks is tests/notebooks/test_execute.py's slow test.
"""

from pathlib import Path

import nbformat
import pytest

from nbjudge.benchmark import build_cases, generate_notebooks, write_notebook

from .static_checks import column_problems, metric_problems

SEED = 42  # `seed` in conf/config.yaml
SUITES = ("demo8", "bench50")

# bench50's notebooks that stop with an error at the project seed, and the crash
# template each stops at (the errors they raise: tests/notebooks/test_execute.py).
BENCH50_CRASHES = {
    "co2_forecast__01": "fc_use_raw_future",
    "store_sales_forecast__03": "fc_use_raw_future",
    "store_sales_forecast__04": "fc_use_raw_future",
    "house_prices__02": "metrics_crash",
    "ticket_priority__03": "metrics_crash",
}


def problems(case, notebook, data_dir: Path) -> tuple[list[str], int]:
    columns, checked = column_problems(notebook, data_dir)
    return metric_problems(case, notebook) + columns, checked


@pytest.fixture(scope="module")
def suites(tmp_path_factory):
    """suite -> [(case, notebook id, notebook, blueprint entries, data folder)]."""
    root = tmp_path_factory.mktemp("suites")
    out = {}
    for suite in SUITES:
        cases = build_cases(f"data/suites/{suite}.yaml", SEED, root / suite / "datasets")
        by_id = {case.case_id: case for case in cases}
        index, blueprint = generate_notebooks(cases, SEED, root / suite / "notebooks", root=root)
        out[suite] = [
            (by_id[entry.case_id], entry.notebook_id, nbformat.read(root / entry.path, 4),
             [b for b in blueprint if b.notebook_id == entry.notebook_id],
             root / suite / "datasets" / entry.case_id)
            for entry in index
        ]
    return out


@pytest.mark.parametrize("suite", SUITES)
def test_only_crash_templates_have_faults_that_stop_the_run(suites, suite):
    faulty, crashing = {}, set()
    for case, notebook_id, notebook, entries, data_dir in suites[suite]:
        found, checked = problems(case, notebook, data_dir)
        assert checked >= 1, (notebook_id, "the column check followed nothing")
        if found:
            faulty[notebook_id] = found
        if any(e.crash for e in entries):
            crashing.add(notebook_id)
    # every fault belongs to a crash template, and every crash template's fault is seen
    assert set(faulty) == crashing, {k: v for k, v in faulty.items() if k not in crashing}


def test_bench50_crashes_are_the_flagged_templates(suites):
    """The five bench50 notebooks that stop with an error: intended crashes, each seen
    statically as the fault its template writes."""
    crashing = {}
    for case, notebook_id, notebook, entries, data_dir in suites["bench50"]:
        templates = [e.template for e in entries if e.crash]
        if templates:
            crashing[notebook_id] = (templates, problems(case, notebook, data_dir)[0])
    assert set(crashing) == set(BENCH50_CRASHES)
    for notebook_id, (templates, found) in crashing.items():
        template = BENCH50_CRASHES[notebook_id]
        assert templates == [template]
        if template == "fc_use_raw_future":
            assert len(found) == 1 and "(the training columns)" in found[0], found
        elif notebook_id.startswith("house_prices"):
            assert found == ["classification metric precision_score on a regression target"]
        else:
            assert found == ["roc_auc_score on the whole predict_proba array"]


def test_metric_check_sees_a_classification_metric_on_a_regression(suites):
    case, _, notebook, _, _ = next(n for n in suites["demo8"] if n[0].task_type == "regression")
    assert metric_problems(case, notebook) == []
    broken = nbformat.from_dict(notebook)
    broken.cells.append(nbformat.v4.new_code_cell("f1_score(y_va, model.predict(X_va))"))
    assert metric_problems(case, broken) == [
        "classification metric f1_score on a regression target"]


def test_column_check_sees_a_column_read_before_it_is_made(suites):
    _, _, notebook, _, data_dir = next(n for n in suites["demo8"]
                                       if n[0].task_type == "forecasting")
    assert column_problems(notebook, data_dir)[0] == []
    broken = nbformat.from_dict(notebook)
    first_code = next(i for i, c in enumerate(broken.cells)
                      if c.cell_type == "code" and "read_csv" in c.source)
    table = broken.cells[first_code].source.split("=")[0].strip()
    broken.cells.insert(first_code + 1, nbformat.v4.new_code_cell(
        f'{table}[["lag_999"]].head()'))
    found, _ = column_problems(broken, data_dir)
    assert found == [f"columns ['lag_999'] missing in {table}[['lag_999']]"]


def test_seed_sweep_only_crash_templates_have_faults(tmp_path):
    """demo8's cases over many seeds reach nearly every template combination."""
    cases = build_cases("data/suites/demo8.yaml", SEED, tmp_path)
    caught = set()
    for seed in range(40):
        for case in cases:
            written = write_notebook(case, f"{case.case_id}__01", seed)
            found, _ = problems(case, written.notebook, tmp_path / case.case_id)
            crash = [e.template for e in written.blueprint if e.crash]
            assert bool(found) == bool(crash), (seed, case.case_id, crash, found)
            caught.update(crash)
    assert caught == {"metrics_crash", "fc_metrics_crash", "fc_use_raw_future"}
