"""A procedural notebook's defect variants are the generator's own notebooks: the same
notebook written again with the defect's dimension drawn at level 1, every other
dimension's template unchanged; where that cannot be had, the code edit stands in."""

from __future__ import annotations

from pathlib import Path

import nbformat
import yaml

from nbjudge.benchmark.procedural import LevelDistribution, generate_notebooks, write_notebook
from nbjudge.benchmark.suites import build_cases
from nbjudge.robustness.suite import build_suite
from nbjudge.robustness.variants import select_variants
from stages.robustness import ProceduralRedraw

ROOT = Path(__file__).resolve().parents[2]


def test_defects_of_procedural_notebooks_are_redrawn_by_the_generator(tmp_path):
    conf = yaml.safe_load((ROOT / "conf" / "suite" / "demo8.yaml").read_text())
    cases = build_cases(ROOT / conf["path"], 42, tmp_path / "datasets")
    index, blueprint = generate_notebooks(cases, 42, tmp_path / "nb", root=tmp_path)
    levels = {(e.notebook_id, e.dimension): e.level for e in blueprint}
    redraw = ProceduralRedraw({c.case_id: c for c in cases}, 42, LevelDistribution())
    # a record the recipe does not give back (another seed, an edited file) is not redrawn
    index[0] = index[0].model_copy(update={"sha256": "0" * 64})
    kept, to_run = build_suite(index, select_variants(["defect_*"]), tmp_path / "suite",
                               root=tmp_path, redraw=redraw)
    assert kept == []
    redrawn = [e for e in to_run if e.redrawn]
    by_dimension = {e.variant.dimension for e in redrawn}
    assert by_dimension == {"model_training", "data_imputation", "mlflow_logging"}
    case_of = {c.case_id: c for c in cases}
    for entry in redrawn:
        dimension = entry.variant.dimension
        assert entry.original != index[0].notebook_id
        assert isinstance(levels[entry.original, dimension], int)
        assert levels[entry.original, dimension] > 1
        expected = write_notebook(case_of[entry.notebook.case_id], entry.original, 42,
                                  LevelDistribution(per_dimension={dimension: (1, 0, 0)}))
        assert nbformat.writes(expected.notebook) + "\n" == \
            (tmp_path / entry.notebook.path).read_text(encoding="utf-8")
        drawn = {e.dimension: e for e in expected.blueprint}
        assert drawn[dimension].level == 1 and drawn[dimension].template in entry.redrawn
        assert "-> 1" in entry.redrawn
    # elsewhere the code edit, executed like every defect
    assert all(e.notebook.execution is None for e in to_run)
    assert any(e.original == index[0].notebook_id and not e.redrawn for e in to_run)
