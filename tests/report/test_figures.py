"""The figure functions on the fabricated experiment's tables, and the figure writer."""

import base64

import matplotlib
import pandas as pd
import pytest
from matplotlib.figure import Figure

from nbjudge.report.alignment import alignment_costs
from nbjudge.report.figures import (
    ablation_figure,
    alignment_cost_figure,
    bias_figure,
    confusion_figure,
    dimension_label,
    forest_figure,
    save_figure,
)
from nbjudge.schemas import DIMENSIONS

LABELS = [dimension_label(d) for d in DIMENSIONS]


def ytick_labels(ax):
    return [t.get_text() for t in ax.get_yticklabels()]


def texts(ax):
    return [t.get_text() for t in ax.texts]


def test_dimension_labels_read_as_words():
    assert dimension_label("data_imputation") == "Data imputation"
    assert dimension_label("mlflow_logging") == "MLflow logging"


class TestForest:
    def test_two_panels_with_every_dimension_and_adjusted_p(self, experiment):
        tables = experiment.tables
        fig = forest_figure(tables["mae"], tables["improvement"])
        assert isinstance(fig, Figure)
        left, right = fig.axes
        assert ytick_labels(left) == LABELS
        rows = tables["improvement"].query("kind == 'improvement' and variant == 'full'")
        assert sum(t.startswith("p") for t in texts(right)) == rows.p_holm.notna().sum()
        assert "holm p" in texts(right)
        assert fig.get_size_inches()[0] == pytest.approx(7.0)

    def test_significant_improvements_are_filled(self, experiment):
        tables = experiment.tables
        improvement = tables["improvement"].copy()
        full = (improvement.kind == "improvement") & (improvement.variant == "full")
        improvement.loc[full, "significant"] = False
        improvement.loc[full & (improvement.dimension == "model_use"), "significant"] = True
        fig = forest_figure(tables["mae"], improvement)
        diamonds = [line for line in fig.axes[1].lines
                    if line.get_marker() == "D" and len(line.get_xdata())]
        filled = [line for line in diamonds if line.get_markerfacecolor() == "black"]
        assert len(diamonds) == 9 and len(filled) == 1
        assert filled[0].get_ydata()[0] == DIMENSIONS.index("model_use")

    def test_a_star_marks_adjusted_p_below_alpha(self, experiment):
        tables = experiment.tables
        improvement = tables["improvement"].assign(p_holm=0.2)
        improvement.loc[improvement.dimension == "data_imputation", "p_holm"] = 0.0004
        right = forest_figure(tables["mae"], improvement).axes[1]
        assert sorted(t for t in texts(right) if t.startswith("p")) == (
            ["p<0.001 *"] + ["p=0.200"] * 8)


def test_ablation_shows_every_variant_per_dimension(experiment):
    fig = ablation_figure(experiment.tables["mae"])
    (ax,) = fig.axes
    assert ytick_labels(ax) == LABELS
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["baseline", "full", "semantic_only"]
    markers = [line for line in ax.lines if len(line.get_xdata())]
    assert len(markers) == 27


@pytest.mark.parametrize(("level", "label"), [(0.95, "95% CI"), (0.9, "90% CI"),
                                              (0.975, "97.5% CI")])
def test_interval_labels_follow_the_level(experiment, level, label):
    (ax,) = ablation_figure(experiment.tables["mae"], level=level).axes
    assert label in ax.get_xlabel()
    bias_ax = bias_figure(experiment.tables["mae"], experiment.tables["ceiling"],
                          level=level).axes[0]
    assert label in bias_ax.get_xlabel()


class TestConfusion:
    def test_one_panel_per_dimension_with_the_counts(self, experiment):
        confusion = experiment.tables["confusion"]
        fig = confusion_figure(confusion, variant="full")
        panels = [ax for ax in fig.axes if ax.get_visible()]
        assert len(panels) == 9
        frame = confusion[(confusion.variant == "full")
                          & (confusion.dimension == "data_imputation")]
        panel = panels[DIMENSIONS.index("data_imputation")]
        assert panel.get_title() == f"Data imputation (n={frame['count'].sum()})"
        assert sorted(map(int, texts(panel))) == sorted(frame["count"])
        assert [t.get_text() for t in panel.get_xticklabels()] == ["N/A", "1", "2", "3", "fail"]

    def test_failed_judgments_have_their_own_column(self, experiment):
        confusion = experiment.tables["confusion"]
        failed = confusion[(confusion.variant == "baseline") & (confusion.judge == "failed")]
        assert failed["count"].sum() == 3  # every fabricated failure has a human label
        fig = confusion_figure(confusion, variant="baseline")
        shown = sum(int(t) for ax in fig.axes for t in texts(ax)[4::5])
        assert shown == 3

    def test_fewer_dimensions_leave_no_empty_panels_visible(self, experiment):
        fig = confusion_figure(experiment.tables["confusion"], variant="full",
                               dimensions=["model_use", "data_imputation"])
        assert len([ax for ax in fig.axes if ax.get_visible()]) == 2


class TestBias:
    def test_bias_and_ceiling_panels(self, experiment):
        tables = experiment.tables
        bias_ax, mae_ax = bias_figure(tables["mae"], tables["ceiling"]).axes
        assert ytick_labels(bias_ax) == LABELS
        bars = [line for line in mae_ax.lines
                if line.get_marker() == "|" and len(line.get_xdata())]
        assert len(bars) == tables["ceiling"].human_mae.notna().sum()
        trusted = [line for line in bars if line.get_markeredgewidth() == 3]
        assert len(trusted) == (tables["ceiling"].status == "ok").sum()

    def test_without_judgments_only_the_ceiling(self, unjudged):
        fig = bias_figure(None, unjudged.tables["ceiling"])
        assert len(fig.axes) == 1
        assert fig.axes[0].get_xlabel() == "human-human MAE"


class TestAlignmentCost:
    def test_seconds_and_tokens_per_fold_and_dimension(self, experiment):
        costs = alignment_costs(experiment.alignment)
        fig = alignment_cost_figure(costs)
        seconds, tokens = fig.axes
        assert ytick_labels(seconds)[:2] == ["full · fold 0", "full · fold 1"]
        assert len(texts(seconds)) == 8 * 9
        assert f"total {costs.tokens.sum():,.0f}" in tokens.get_title(loc="left")

    def test_seconds_only(self, experiment):
        costs = alignment_costs(experiment.alignment).assign(tokens=float("nan"))
        assert len(alignment_cost_figure(costs).axes) == 1

    def test_nothing_to_draw_is_an_error(self):
        costs = pd.DataFrame({"variant": ["full"], "fold": [0], "dimension": ["model_use"],
                              "seconds": [float("nan")], "tokens": [float("nan")]})
        with pytest.raises(ValueError, match="neither seconds nor tokens"):
            alignment_cost_figure(costs)


class TestSaveFigure:
    @pytest.fixture
    def small(self, experiment):
        return lambda: ablation_figure(experiment.tables["mae"],
                                       dimensions=["model_use", "data_imputation"])

    def test_same_figure_same_bytes(self, small, tmp_path):
        first = save_figure(small(), tmp_path / "a", "ablation")
        second = save_figure(small(), tmp_path / "b", "ablation")
        for one, two in zip(first.paths, second.paths, strict=True):
            assert one.read_bytes() == two.read_bytes(), one.name
        assert first.data_uri == second.data_uri

    def test_files_carry_no_date_and_the_uri_is_the_png(self, small, tmp_path):
        saved = save_figure(small(), tmp_path, "ablation")
        png, svg = saved.paths
        assert (png.name, svg.name) == ("ablation.png", "ablation.svg")
        assert "<dc:date>" not in svg.read_text()
        assert b"Software" not in png.read_bytes()[:400]
        payload = saved.data_uri.removeprefix("data:image/png;base64,")
        assert base64.b64decode(payload) == png.read_bytes()

    def test_formats(self, small, tmp_path):
        saved = save_figure(small(), tmp_path, "only", formats=("svg",))
        assert [p.name for p in saved.paths] == ["only.svg"]
        assert saved.data_uri.startswith("data:image/png;base64,")
        with pytest.raises(ValueError, match="png and svg"):
            save_figure(small(), tmp_path, "x", formats=("pdf",))

    def test_global_style_is_left_alone(self, small, tmp_path):
        before = dict(matplotlib.rcParams)
        save_figure(small(), tmp_path, "x", formats=())
        assert dict(matplotlib.rcParams) == before
