import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from nbjudge.stats import StatsConfig, analyze_experiment

from ._simulate import records

DEFAULT_YAML = Path(__file__).parents[2] / "conf" / "stats" / "default.yaml"
LIGHT = {"bootstrap": {"n_resamples": 400, "min_notebooks": 20},
         "permutation": {"n_resamples": 199},
         "power": {"n_simulations": 200, "max_notebooks": 300}}


def light(**overrides):
    settings = {key: dict(value) for key, value in LIGHT.items()}
    for key, value in overrides.items():
        if isinstance(value, dict):
            settings.setdefault(key, {}).update(value)
        else:
            settings[key] = value
    return StatsConfig.from_mapping(settings)


@pytest.fixture(scope="module")
def experiment():
    return records(np.random.default_rng(0), n=20, repeats=2)


class TestConfig:
    def test_default_yaml_is_the_library_default(self):
        assert StatsConfig.from_mapping(yaml.safe_load(DEFAULT_YAML.read_text())) == StatsConfig()

    def test_unknown_key(self):
        with pytest.raises(ValueError,
                           match=r"unknown stats setting\(s\) \['bootstrap\.n_resample'\]"):
            StatsConfig.from_mapping({"bootstrap": {"n_resample": 10}})
        with pytest.raises(ValueError, match=r"unknown stats setting\(s\) \['levl'\]"):
            StatsConfig.from_mapping({"levl": 0.9})

    @pytest.mark.parametrize(("mapping", "message"), [
        ({"significance": "p"},
         "significance must be one of 'test', 'simultaneous', 'ci', 'both'; got 'p'"),
        ({"failure_policy": "drop"}, "failure_policy must be one of 'worst', 'exclude'"),
        ({"consensus_na": "mean"}, "consensus_na must be one of 'majority', 'zero'"),
        ({"bootstrap": {"method": "basic"}},
         "bootstrap.method must be one of 'auto', 'cr2', 'wild', 'hall', 'studentized'"),
        ({"bootstrap": {"sample_size": "twice"}},
         "bootstrap.sample_size must be null, an integer or 'original_study'; got 'twice'"),
        ({"na_policy": "one"}, "na_policy must be one of 'worst', 'zero', 'exclude'; got 'one'"),
        ({"permutation": {"correction": "bonferroni"}},
         "permutation.correction must be one of 'holm', 'fdr_bh'"),
        ({"contrasts": [["full"]]}, r"a contrast is a \[candidate, other\] pair"),
    ])
    def test_invalid_values(self, mapping, message):
        with pytest.raises(ValueError, match=message):
            StatsConfig.from_mapping(mapping)

    def test_section_must_be_a_mapping(self):
        with pytest.raises(TypeError, match="stats setting 'bootstrap' must be a mapping"):
            StatsConfig.from_mapping({"bootstrap": 5})


class TestAnalyze:
    def test_everything_is_reported(self, experiment):
        labels, judgments = experiment
        result = analyze_experiment(labels, judgments, light(contrasts=[["full", "semantic_only"]]),
                                    seed=1)
        assert set(result.frames) == {"labels", "judgments", "ceiling", "agreement", "confusion",
                                      "mae", "improvement", "power", "repeats", "plot_mae",
                                      "plot_improvement"}
        metrics = json.loads(json.dumps(result.metrics, allow_nan=False))
        assert metrics["status"] == "ok"
        assert metrics["labels"] == {"n_notebooks": 20, "n_labels": 234, "n_raters": 2,
                                     "n_multi_rated_notebooks": 6, "source": "simulated"}
        assert metrics["judgments"]["baseline"] == {"n_ok": 178, "n_failed": 2, "n_missing": 0,
                                                    "n_repeats": 1}
        assert metrics["judgments"]["full"]["n_repeats"] == 2
        assert set(metrics["improvement"]) == {"full", "semantic_only"}
        assert set(metrics["contrast"]) == {"full_vs_semantic_only"}
        entry = metrics["improvement"]["full"]["model_training"]
        assert set(entry) == {"value", "ci_low", "ci_high", "ci_method", "relative", "p",
                              "p_adjusted", "significant", "n_notebooks", "simultaneous_low",
                              "simultaneous_high", "standard_error", "test_method",
                              "significant_unadjusted_ci", "reference_mae", "variant_mae",
                              "repeat_sd"}
        assert metrics["intervals"] | {"conditions_on": ""} == {
            "method": "cr2 (MAE, bias, improvements) and studentized (relative reductions)",
            "level": 0.95,
            "n_resamples": 400, "sample_size": 20,
            "resampling_unit": "notebook", "n_units": 20, "n_notebooks": 20, "n_cases": 20,
            "note": "", "shown": True, "n_without_interval": 0, "smallest_units": 20,
            "min_notebooks": 20, "min_cases": 5, "conditions_on": "",
            "significance": "test", "correction": "holm", "family_size": 27,
            "failure_policy": "worst", "na_policy": "worst", "consensus_na": "majority"}
        assert "fold assignment" in metrics["intervals"]["conditions_on"]
        assert metrics["skipped"] == []
        assert list(metrics)[:2] == ["status", "summary"]  # first in dvc exp show
        assert set(metrics["summary"]) == {"baseline", "full", "semantic_only"}
        mae = result.frames["mae"]
        assert metrics["summary"]["full"]["mae_mean"] == pytest.approx(
            mae[mae.variant == "full"].mae.mean())
        improvement = result.frames["improvement"]
        full = improvement[(improvement.kind == "improvement") & (improvement.variant == "full")]
        better = int((full.significant.astype(bool) & (full.improvement > 0)).sum())
        assert metrics["summary"]["full"]["better"] == better
        assert "better" not in metrics["summary"]["baseline"]
        # Failures count as the worst score (intention to treat): no notebook is lost.
        by_variant = result.frames["mae"].groupby("variant")
        assert by_variant.n_notebooks.sum().to_dict() == {
            "baseline": 180, "full": 180, "semantic_only": 180}
        # The simulated repeats are independent judges: their spread is large.
        assert [f.split(" exceeds")[0] for f in metrics["flags"]] == [
            "the spread over CV repeats"]
        # Dropped instead, two failed baseline judgments cost two notebooks; a failure
        # in one of full's two repeats leaves the other repeat's score.
        dropped = analyze_experiment(labels, judgments, light(failure_policy="exclude"), seed=1)
        assert dropped.frames["mae"].groupby("variant").n_notebooks.sum().to_dict() == {
            "baseline": 178, "full": 180, "semantic_only": 180}
        assert not dropped.metrics["summary"]["full"]["same_notebooks"]
        assert metrics["summary"]["full"]["same_notebooks"]
        assert by_variant.n_failed.sum().to_dict() == {
            "baseline": 2, "full": 2, "semantic_only": 2}
        assert by_variant.n_repeats.max().to_dict() == {
            "baseline": 1, "full": 2, "semantic_only": 2}

    def test_improvement_rows_are_consistent(self, experiment):
        labels, judgments = experiment
        frame = analyze_experiment(labels, judgments, light(), seed=1).frames["improvement"]
        assert frame.kind.value_counts().to_dict() == {"improvement": 18, "contrast": 9}
        contrast = frame[frame.kind == "contrast"]
        assert set(zip(contrast.reference, contrast.variant, strict=True)) == {
            ("semantic_only", "full")}
        assert (frame.ci_low <= frame.improvement).all()
        assert (frame.improvement <= frame.ci_high).all()
        assert (frame.p_holm >= frame.p_value).all()
        # The default rule: Holm over all 27 rows (every dimension of every comparison).
        assert frame.significant.equals(frame.p_holm < 0.05)
        assert frame.significant_unadjusted_ci.equals((frame.ci_low > 0) | (frame.ci_high < 0))
        assert ((frame.simultaneous_low <= frame.improvement)
                & (frame.improvement <= frame.simultaneous_high)).all()
        band = frame.simultaneous_high - frame.simultaneous_low
        assert band.mean() > (frame.ci_high - frame.ci_low).mean()  # 27 at once: wider
        assert frame[frame.kind == "contrast"].gap_closed.isna().all()

    @pytest.mark.parametrize("rule", ["test", "both", "ci", "simultaneous"])
    def test_significance_rule(self, experiment, rule):
        labels, judgments = experiment
        frame = analyze_experiment(labels, judgments, light(significance=rule),
                                   seed=1).frames["improvement"]
        by_test = frame.p_holm < 0.05
        by_ci = (frame.ci_low > 0) | (frame.ci_high < 0)
        by_band = (frame.simultaneous_low > 0) | (frame.simultaneous_high < 0)
        expected = {"test": by_test, "both": by_test & by_ci, "ci": by_ci,
                    "simultaneous": by_band}[rule]
        assert frame.significant.equals(expected)

    def test_more_sign_patterns_until_the_holm_decision_is_settled(self, experiment):
        """With 19 random patterns a p-value can be anything from 0 to 0.3 for the same
        data: the stage draws ten times more until no decision depends on the draw."""
        labels, judgments = experiment
        few = analyze_experiment(labels, judgments, light(permutation={"n_resamples": 19}),
                                 seed=1).frames["improvement"]
        sampled = few[~few.exact_test]
        assert (sampled.n_sign_patterns > 19).all()
        assert set(sampled.test_method) == {
            f"Monte Carlo, {sampled.n_sign_patterns.iloc[0]} sign patterns"}
        many = analyze_experiment(labels, judgments, light(permutation={"n_resamples": 99_999}),
                                  seed=1).frames["improvement"]
        assert few.significant.equals(many.significant)

    def test_record_order_does_not_change_any_number(self, experiment):
        labels, judgments = experiment
        rng = np.random.default_rng(2)
        shuffled = ([labels[i] for i in rng.permutation(len(labels))],
                    [judgments[i] for i in rng.permutation(len(judgments))])
        one = analyze_experiment(labels, judgments, light(), seed=3)
        two = analyze_experiment(*shuffled, light(), seed=3)
        assert one.metrics == two.metrics
        for name, frame in one.frames.items():
            pd.testing.assert_frame_equal(frame, two.frames[name])

    def test_plot_views_have_a_row_per_dimension_and_a_column_per_series(self, experiment):
        labels, judgments = experiment
        frames = analyze_experiment(labels, judgments, light(), seed=1).frames
        assert frames["plot_mae"].columns.tolist() == [
            "dimension", "baseline", "full", "semantic_only"]
        assert frames["plot_improvement"].columns.tolist() == [
            "dimension", "full", "semantic_only", "full_vs_semantic_only"]
        mae = frames["mae"].set_index(["variant", "dimension"]).mae
        plot = frames["plot_mae"].set_index("dimension")
        assert plot.loc["model_use", "full"] == mae.loc[("full", "model_use")]

    def test_no_judgments_yet(self, experiment):
        labels, _ = experiment
        result = analyze_experiment(labels, [], light(), seed=0)
        assert result.metrics["status"] == "no_judgments"
        assert "no judgments exist yet" in result.metrics["message"]
        assert set(result.metrics["ceiling"]) == set(result.frames["ceiling"].dimension)
        assert set(result.frames) == {"labels", "judgments", "ceiling"}

    def test_contrast_with_an_unjudged_variant_is_skipped_and_said(self, experiment):
        labels, judgments = experiment
        baseline_and_full = [j for j in judgments if j.variant != "semantic_only"]
        result = analyze_experiment(labels, baseline_and_full,
                                    light(contrasts=[["full", "semantic_only"]]), seed=0)
        assert result.metrics["contrast"] == {}
        assert result.metrics["skipped"] == [
            "contrast full vs semantic_only: no judgments of ['semantic_only']"]

    def test_missing_reference_variant(self, experiment):
        labels, judgments = experiment
        aligned_only = [j for j in judgments if j.variant != "baseline"]
        with pytest.raises(ValueError, match="reference variant 'baseline' has no judgments"):
            analyze_experiment(labels, aligned_only, light(), seed=0)

    def test_chosen_rater_consensus(self, experiment):
        labels, judgments = experiment
        result = analyze_experiment(labels, judgments, light(consensus="rater:bob"), seed=0)
        # bob graded the first six notebooks only.
        assert result.frames["mae"].n_notebooks.max() == 6

    def test_reference_alone(self, experiment):
        labels, judgments = experiment
        baseline = [j for j in judgments if j.variant == "baseline"]
        result = analyze_experiment(labels, baseline, light(contrasts=[]), seed=0)
        assert result.metrics["improvement"] == {}
        assert result.frames["improvement"].empty
        assert result.frames["mae"].shape[0] == 9
