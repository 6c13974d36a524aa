"""Forecasting templates of the notebook generator: each one writes a notebook that
compiles, and every graded level has at least two templates for forecasting cases."""

from __future__ import annotations

import numpy as np
import pytest

from nbjudge.benchmark.procedural import REGISTRY, forecasting, write_notebook
from nbjudge.benchmark.procedural import notebook as notebook_module
from nbjudge.benchmark.procedural.context import Context
from nbjudge.benchmark.procedural.templates import CodeTemplate
from nbjudge.benchmark.suites import build_cases
from nbjudge.schemas import Case

DIMENSIONS = ("data_exploration", "data_imputation", "feature_engineering", "model_training",
              "metrics_evaluation", "model_use")
FORECASTING_TEMPLATES = list(forecasting.TEMPLATES)


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> dict[str, Case]:
    built = build_cases("data/suites/demo8.yaml", 42, tmp_path_factory.mktemp("demo"))
    daily = next(c for c in built if c.task_type == "forecasting")
    assert daily.properties.missing_columns, "demo forecasting case is expected to have gaps"
    complete = daily.model_copy(update={
        "case_id": "daily_complete",
        "properties": daily.properties.model_copy(update={"missing_columns": [],
                                                          "missing_rate": 0.0,
                                                          "missing_mechanism": "none"}),
    })
    weekly = daily.model_copy(update={
        "case_id": "weekly_gaps",
        "dataset": "co2",
        "target": "co2_ppm",
        "horizon": 52,
        "tables": {"train": "co2_history", "future": "co2_future"},
        "properties": daily.properties.model_copy(update={
            "columns": ["week", "co2_ppm"], "missing_columns": ["co2_ppm"],
            "time_index": "week", "frequency": "W-SAT"}),
    })
    return {"daily": daily, "complete": complete, "weekly": weekly}


def _context(case: Case, estimator: str) -> Context:
    ctx = Context(case=case, rng=np.random.default_rng(0), names={})
    ctx.facts["estimator"] = estimator
    return ctx


def _code_sources(nb) -> list[str]:
    return ["\n".join(line for line in cell.source.splitlines()
                      if not line.lstrip().startswith(("%", "!")))
            for cell in nb.cells if cell.cell_type == "code"]


def test_forecasting_templates_are_registered_prefixed_and_forecasting_only(cases):
    assert FORECASTING_TEMPLATES
    registered = REGISTRY.all()
    tabular_ctx = _context(cases["daily"].model_copy(update={"task_type": "regression"}),
                           "forest")
    for template in FORECASTING_TEMPLATES:
        assert template in registered, template.name
        assert template.name.startswith("fc_"), template.name
        assert not template.applies(tabular_ctx), template.name


@pytest.mark.parametrize("kind", ["daily", "complete", "weekly"])
@pytest.mark.parametrize("estimator", ["linear", "forest", "boosting"])
def test_at_least_two_templates_per_level(cases, kind, estimator):
    ctx = _context(cases[kind], estimator)
    for dimension in DIMENSIONS:
        if dimension == "data_imputation" and not ctx.has_missing:
            assert REGISTRY.candidates(dimension, "N/A", ctx), kind
            continue
        assert not REGISTRY.candidates(dimension, "N/A", ctx), (dimension, kind)
        for level in (1, 2, 3):
            found = REGISTRY.candidates(dimension, level, ctx)
            assert len(found) >= 2, (dimension, level, kind, estimator,
                                     [t.name for t in found])


def _write_with(template: CodeTemplate, case: Case, monkeypatch, attempts: int = 60):
    """A notebook for ``case`` whose ``template.dimension`` is written by ``template``."""
    original = notebook_module._draw_template

    class NotApplicable(Exception):
        pass

    def draw(ctx, dimension, levels):
        if dimension == template.dimension:
            if not template.applies(ctx):
                raise NotApplicable
            return template
        return original(ctx, dimension, levels)

    monkeypatch.setattr(notebook_module, "_draw_template", draw)
    for attempt in range(attempts):
        try:
            return write_notebook(case, f"{case.case_id}__forced{attempt}", 7)
        except NotApplicable:
            continue
    return None


@pytest.mark.parametrize("template", FORECASTING_TEMPLATES, ids=lambda t: t.name)
def test_template_writes_a_notebook_that_compiles(template, cases, monkeypatch):
    written_any = False
    for case in cases.values():
        written = _write_with(template, case, monkeypatch)
        if written is None:
            continue
        written_any = True
        used = {entry.dimension: entry.template for entry in written.blueprint}
        assert used[template.dimension] == template.name
        for source in _code_sources(written.notebook):
            compile(source, f"<{template.name}:{case.case_id}>", "exec")
        text = "\n".join(cell.source for cell in written.notebook.cells)
        assert template.name not in text
    assert written_any, f"{template.name} applies to none of the test cases"
