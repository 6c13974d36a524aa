import collections
import json

import nbformat
import pytest
from scipy import stats

from nbjudge.benchmark.procedural import (
    REGISTRY,
    LevelDistribution,
    generate_notebooks,
    write_notebook,
)
from nbjudge.benchmark.suites import build_cases
from nbjudge.schemas import DIMENSIONS

SEEDS = range(40)


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    return build_cases("data/suites/demo8.yaml", 42, tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def written(cases):
    """Many notebooks: every demo case under many seeds."""
    return [(case, write_notebook(case, f"{case.case_id}__01", seed))
            for seed in SEEDS for case in cases]


def code_cells(notebook):
    return [c.source for c in notebook.cells if c.cell_type == "code"]


def test_same_seed_same_bytes(cases, tmp_path):
    a_index, a_blueprint = generate_notebooks(cases, 5, tmp_path / "a", root=tmp_path)
    b_index, b_blueprint = generate_notebooks(cases, 5, tmp_path / "b", root=tmp_path)
    assert [e.sha256 for e in a_index] == [e.sha256 for e in b_index]
    assert a_blueprint == b_blueprint
    c_index, _ = generate_notebooks(cases, 6, tmp_path / "c", root=tmp_path)
    assert [e.sha256 for e in a_index] != [e.sha256 for e in c_index]
    assert len(a_index) == sum(c.notebooks for c in cases)
    assert all(not e.path.startswith("/") for e in a_index)


def test_notebooks_are_valid_nbformat_v4(written):
    for _, notebook in written:
        nbformat.validate(notebook.notebook)
        assert notebook.notebook.nbformat == 4


def test_code_compiles(written):
    for case, notebook in written:
        for source in code_cells(notebook.notebook):
            lines = [line for line in source.splitlines() if not line.lstrip().startswith("%")]
            compile("\n".join(lines), f"{case.case_id}", "exec")


def test_blueprint_covers_every_dimension_once(written):
    for _, notebook in written:
        assert [e.dimension for e in notebook.blueprint] == list(DIMENSIONS)


def test_na_only_for_imputation_without_missing_values(written):
    for case, notebook in written:
        for entry in notebook.blueprint:
            no_missing = not case.properties.missing_columns
            expected_na = entry.dimension == "data_imputation" and no_missing
            assert (entry.level == "N/A") == expected_na, (case.case_id, entry)


def test_at_least_two_templates_per_level_and_dimension(written):
    seen = collections.defaultdict(set)
    for case, notebook in written:
        family = "forecasting" if case.task_type == "forecasting" else "tabular"
        for entry in notebook.blueprint:
            seen[(family, entry.dimension, entry.level)].add(entry.template)
    for family in ("tabular", "forecasting"):
        for dimension in DIMENSIONS:
            for level in (1, 2, 3):
                assert len(seen[(family, dimension, level)]) >= 2, (family, dimension, level)


def test_level_distribution_follows_configuration(cases):
    probs = (0.6, 0.3, 0.1)
    levels = LevelDistribution(default=(0.2, 0.3, 0.5), per_dimension={"model_use": probs})
    counts = collections.Counter()
    default_counts = collections.Counter()
    for seed in range(60):
        for case in cases:
            for entry in write_notebook(case, f"{case.case_id}__01", seed, levels).blueprint:
                if entry.dimension == "model_use":
                    counts[entry.level] += 1
                elif entry.dimension == "model_training":
                    default_counts[entry.level] += 1
    for observed, expected in ((counts, probs), (default_counts, (0.2, 0.3, 0.5))):
        table = [observed[level] for level in (1, 2, 3)]
        total = sum(table)
        result = stats.chisquare(table, [p * total for p in expected])
        assert result.pvalue > 0.001, (table, expected)


def test_level_distribution_errors():
    with pytest.raises(ValueError, match="summing to 1"):
        LevelDistribution(default=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="unknown dimension 'speed'"):
        LevelDistribution(per_dimension={"speed": (0.2, 0.3, 0.5)})


def test_blueprint_never_leaks_into_notebooks(written):
    template_names = {t.name for t in REGISTRY.all()}
    for _, notebook in written:
        text = json.dumps(notebook.notebook).lower()
        for word in ("blueprint", "defect", "leakage", "level 1", "level 2", "level 3", "nbjudge"):
            assert word not in text
        for name in template_names:
            assert name.lower() not in text, name
        for entry in notebook.blueprint:
            assert entry.description.lower() not in text
            for defect in entry.defects:
                assert defect.lower() not in text


def test_names_and_structure_vary(written):
    model_names, first_code = set(), set()
    for _, notebook in written:
        cells = code_cells(notebook.notebook)
        first_code.add(cells[0][:30])
        for name in ("model", "pipe", "final_model", "clf_pipeline"):
            if any(f"{name}.fit(" in c or f"{name} = " in c for c in cells):
                model_names.add(name)
    assert len(model_names) >= 3
    assert len(first_code) >= 3


def test_crash_templates_are_flagged(written):
    crashing = {t.name for t in REGISTRY.all() if t.crash}
    assert crashing
    for _, notebook in written:
        for entry in notebook.blueprint:
            assert entry.crash == (entry.template in crashing)
