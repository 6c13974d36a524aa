"""The label-efficiency curve: nested seeded subsets, the calibrated curve, its table and figure."""

from types import SimpleNamespace

import numpy as np
import pytest

from nbjudge.alignment import FoldAssignment
from nbjudge.alignment.curve import curve_subsets, label_efficiency, labelled_per_fold
from nbjudge.controls import ControlSettings
from nbjudge.report.figures import label_efficiency_figure
from nbjudge.schemas import Judgment, Label
from nbjudge.stats import StatsConfig
from nbjudge.stats.curve import CURVE_COLUMNS, curve_table, split_curve_variant

DIMS = ("data_imputation", "model_training")


def assignment(n=12, k=3, repeat=0):
    ids = [f"nb{i:02d}" for i in range(n)]
    return FoldAssignment(k=k, seed=0, repeat=repeat, fold_seed=0,
                          folds={x: i % k for i, x in enumerate(ids)}, cases={x: x for x in ids})


class TestSubsets:
    def test_nested_seeded_and_a_share_of_every_fold(self):
        folds = assignment()
        subsets = curve_subsets(folds, [0.25, 0.5, 1.0], seed=3)
        assert subsets == curve_subsets(folds, [1.0, 0.5, 0.25], seed=3)  # order-free
        assert subsets[0.25] < subsets[0.5] < subsets[1.0]
        assert subsets[1.0] == set(folds.notebook_ids)
        for fold in range(folds.k):  # 4 notebooks per fold: 1, 2, 4 of them
            held = set(folds.test_ids(fold))
            assert [len(held & subsets[q]) for q in (0.25, 0.5, 1.0)] == [1, 2, 4]
        assert labelled_per_fold(folds, subsets[0.5]) == 4.0  # 2 from each of 2 training folds
        other = curve_subsets(folds, [0.5], seed=4)[0.5]
        assert other != subsets[0.5] or curve_subsets(folds, [0.5], seed=5)[0.5] != other

    @pytest.mark.parametrize("bad", [[0.0], [1.5], [-0.2]])
    def test_fractions_lie_in_zero_one(self, bad):
        with pytest.raises(ValueError, match=r"curve.fractions must lie in \(0, 1\]"):
            curve_subsets(assignment(), bad, seed=0)


def experiment(n=24):
    rng = np.random.default_rng(1)
    folds = assignment(n=n, k=3)
    human = {(x, d): int(rng.integers(1, 3)) for x in folds.notebook_ids for d in DIMS}
    labels = [Label(notebook_id=x, dimension=d, score=s, rationale="r", rater_id="r1",
                    source="human") for (x, d), s in human.items()]
    baseline = [Judgment(notebook_id=x, dimension=d, variant="baseline", status="ok",
                         score=s + 1, model="m") for (x, d), s in human.items()]
    return folds, labels, baseline


def test_calibrated_curve_needs_no_model_and_learns_with_labels():
    folds, labels, baseline = experiment()
    inputs = SimpleNamespace(labels=labels, labelled=lambda: {})
    judgments, n_labelled = label_efficiency(
        inputs, [folds], [0.125, 1.0], variants=("calibrated",), baseline=baseline,
        settings=None, controls=ControlSettings(), backend=None, audit_root="unused", seed=0)
    assert {j.variant for j in judgments} == {"calibrated@0.125", "calibrated@1"}
    assert n_labelled == {0.125: 2.0, 1.0: 16.0}
    for variant in ("calibrated@0.125", "calibrated@1"):
        mine = [j for j in judgments if j.variant == variant]
        assert sorted((j.notebook_id, j.dimension) for j in mine) == sorted(
            (x, d) for x in folds.notebook_ids for d in DIMS)
    config = StatsConfig.from_mapping({"bootstrap": {"n_resamples": 200, "min_notebooks": 20}})
    table = curve_table(labels, judgments, n_labelled, config, seed=0)
    assert list(table.columns) == CURVE_COLUMNS
    assert set(table.variant) == {"calibrated"}
    full = table[table.fraction == 1.0]
    assert (full.mae == 0).all()  # every fold sees both levels: an exact map
    assert full.n_labelled.eq(16.0).all() and full.mae_ci_low.notna().all()
    figure = label_efficiency_figure(table, dimensions=list(DIMS))
    assert len([ax for ax in figure.axes if ax.get_visible()]) == len(DIMS)


def test_too_few_notebooks_no_band():
    folds, labels, baseline = experiment(n=12)
    records = [j.model_copy(update={"variant": "calibrated@1",
                                    "fold": folds.fold_of(j.notebook_id)}) for j in baseline]
    table = curve_table(labels, records, {1.0: 8.0}, StatsConfig(), seed=0)
    assert table.mae_ci_low.isna().all()  # 12 notebooks < stats.bootstrap.min_notebooks
    assert split_curve_variant("semantic_only@0.25") == ("semantic_only", 0.25)


def test_empty_curve_is_an_empty_table():
    _, labels, _ = experiment(n=6)
    assert curve_table(labels, [], {}).empty
