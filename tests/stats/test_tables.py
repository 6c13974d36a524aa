import numpy as np
import pytest
from numpy.testing import assert_array_equal

from nbjudge.schemas import Judgment, Label
from nbjudge.stats.tables import (
    build_table,
    comparison_differences,
    consensus,
    judgment_counts,
    label_counts,
    paired_errors,
)

from ._simulate import records


def label(notebook, score, rater="alice", dimension="model_use"):
    return Label(notebook_id=notebook, dimension=dimension, score=score, rationale="r",
                 rater_id=rater, source="human")


def judgment(notebook, score, variant="baseline", repeat=0, dimension="model_use"):
    status = "failed" if score is None else "ok"
    return Judgment(notebook_id=notebook, dimension=dimension, variant=variant, repeat=repeat,
                    status=status, score=score, error="boom" if score is None else None,
                    model="m")


class TestBuildTable:
    def test_aligns_scores_on_sorted_axes_with_na_as_zero(self):
        labels = [label("b", 3), label("a", "N/A"), label("a", 1, rater="bob")]
        judgments = [judgment("b", 2), judgment("a", None), judgment("a", 1, "full"),
                     judgment("b", "N/A", "full")]
        table = build_table(labels, judgments)
        assert table.notebooks == ("a", "b")
        assert table.raters == ("alice", "bob")
        assert table.variants == ("baseline", "full")
        assert table.dimensions == ("model_use",)
        assert_array_equal(table.ratings[:, :, 0], [[0, 3], [1, np.nan]])
        assert_array_equal(table.judge[:, 0, :, 0], [[np.nan, 2], [1, 0]])
        assert_array_equal(table.failed[:, 0, :, 0], [[True, False], [False, False]])
        assert table.label_sources == ("human",)

    def test_dimensions_follow_rubric_order(self):
        labels = [label("a", 2, dimension="cell_organization"),
                  label("a", 2, dimension="library_installation")]
        table = build_table(labels, [])
        assert table.dimensions == ("library_installation", "cell_organization")
        assert table.judge.shape == (0, 0, 1, 2)

    def test_variants_may_have_different_repeats(self):
        judgments = [judgment("a", 2), judgment("a", 3, "full", 0), judgment("a", 1, "full", 5)]
        table = build_table([label("a", 2)], judgments)
        assert_array_equal(table.repeats, [[True, False], [True, True]])
        counts = judgment_counts(table)
        assert counts.set_index("variant").n_missing.tolist() == [0, 0]
        assert counts.set_index("variant").n_repeats.tolist() == [1, 2]

    def test_counts_failed_missing_and_unlabelled_judgments(self):
        labels = [label("a", 2), label("b", 2)]
        judgments = [judgment("a", None), judgment("b", 3), judgment("c", 1),
                     judgment("a", 2, dimension="model_training")]
        counts = judgment_counts(build_table(labels, judgments)).set_index("dimension")
        assert counts.loc["model_use", ["n_ok", "n_failed", "n_missing", "n_unlabelled"]].tolist() \
            == [2, 1, 0, 1]
        # b and c were judged on model_use but not on model_training.
        assert counts.loc["model_training", "n_missing"] == 2

    def test_label_counts(self):
        labels = [label("a", 2), label("a", "N/A", rater="bob"), label("b", 1)]
        counts = label_counts(build_table(labels, [])).iloc[0]
        assert counts[["n_notebooks", "n_labels", "n_na", "n_multi_rated"]].tolist() == [2, 3, 1, 1]

    def test_no_labels(self):
        with pytest.raises(ValueError, match="no labels"):
            build_table([], [judgment("a", 2)])

    def test_mismatched_notebooks_across_variants(self):
        judgments = [judgment("a", 2), judgment("b", 2), judgment("a", 2, "full")]
        with pytest.raises(ValueError, match=r"mismatched notebooks across variants.*\['b'\]"):
            build_table([label("a", 2)], judgments)

    def test_mismatched_notebooks_across_repeats(self):
        judgments = [judgment("a", 2), judgment("b", 2), judgment("a", 2, repeat=1)]
        with pytest.raises(ValueError, match="repeat 1 judged 1 notebooks"):
            build_table([label("a", 2)], judgments)

    def test_duplicate_label(self):
        with pytest.raises(ValueError, match="duplicate label: rater 'alice' graded notebook 'a'"):
            build_table([label("a", 2), label("a", 3)], [])

    def test_duplicate_judgment(self):
        with pytest.raises(ValueError, match="duplicate judgment: variant 'baseline' repeat 0"):
            build_table([label("a", 2)], [judgment("a", 2), judgment("a", None)])

    def test_record_order_does_not_matter(self):
        labels, judgments = records(np.random.default_rng(0), n=8, repeats=2)
        first = build_table(labels, judgments)
        order = np.random.default_rng(1)
        second = build_table([labels[i] for i in order.permutation(len(labels))],
                             [judgments[i] for i in order.permutation(len(judgments))])
        for field in ("ratings", "judge", "failed", "judged", "repeats"):
            assert_array_equal(getattr(first, field), getattr(second, field))


class TestConsensus:
    # Three raters on two notebooks, one dimension: (N/A, 2, 3) and (2, 2, missing).
    ratings = np.array([[[0.0], [2.0]], [[2.0], [2.0]], [[3.0], [np.nan]]])

    def test_mean_and_median_with_na_as_zero(self):
        assert_array_equal(consensus(self.ratings, "mean", na_rule="zero")[:, 0], [5 / 3, 2])
        assert_array_equal(consensus(self.ratings, "median", na_rule="zero")[:, 0], [2, 2])

    def test_exclude_drops_na_ratings_and_keeps_all_na_cells_na(self):
        assert_array_equal(consensus(self.ratings, "mean", na_policy="exclude",
                                     na_rule="zero")[:, 0], [2.5, 2])
        all_na = np.array([[[0.0]], [[0.0]]])
        assert_array_equal(consensus(all_na, "mean", na_policy="exclude", na_rule="zero"),
                           [[0.0]])

    def test_old_rule_reads_na_and_3_as_2(self):
        # The issue: {N/A, 3} averaged to 1.5, which the agreement metrics round to "2".
        pair = np.array([[[0.0]], [[3.0]]])
        assert consensus(pair, "mean", na_rule="zero")[0, 0] == 1.5
        assert np.floor(consensus(pair, "mean", na_rule="zero")[0, 0] + 0.5) == 2

    @pytest.mark.parametrize(("scores", "mean", "median"), [
        ([0, 3], 3.0, 3.0),               # a tie is not "most": the numeric score
        ([0, 0, 3], 0.0, 0.0),            # most said N/A: N/A
        ([0, 2, 3], 2.5, 2.5),            # N/A is not a 0 in the mean
        ([0, 0], 0.0, 0.0),
        ([1, 2, 3, 0], 2.0, 2.0),
        ([0, 0, 2, 3], 2.5, 2.5),         # half is not most
    ])
    def test_majority_rule(self, scores, mean, median):
        ratings = np.array(scores, dtype=float)[:, np.newaxis, np.newaxis]
        assert consensus(ratings, "mean")[0, 0] == mean
        assert consensus(ratings, "median")[0, 0] == median
        # The rule does not depend on the N/A policy of the errors.
        assert consensus(ratings, "mean", na_policy="exclude")[0, 0] == mean

    def test_majority_ignores_raters_who_did_not_grade(self):
        ratings = np.array([[[0.0]], [[np.nan]], [[np.nan]]])
        assert consensus(ratings, "mean")[0, 0] == 0.0

    def test_chosen_rater(self):
        result = consensus(self.ratings, "rater:carol", raters=["alice", "bob", "carol"])
        assert_array_equal(result[:, 0], [3, np.nan])

    def test_unrated_cell_is_nan(self):
        assert np.isnan(consensus(np.full((2, 1, 1), np.nan), "median")[0, 0])

    @pytest.mark.parametrize(("how", "raters", "message"), [
        ("mode", None, "consensus must be one of 'mean', 'median', 'rater:<rater_id>'"),
        ("rater:dave", ["alice", "bob", "carol"], "no rater 'dave' among"),
    ])
    def test_invalid(self, how, raters, message):
        with pytest.raises(ValueError, match=message):
            consensus(self.ratings, how, raters=raters)

    def test_invalid_policy_and_shape(self):
        with pytest.raises(ValueError, match="na_policy must be one of 'worst', 'zero', 'exclude'"):
            consensus(self.ratings, na_policy="drop")
        with pytest.raises(ValueError, match="ratings must be 3-D"):
            consensus(self.ratings[0])
        with pytest.raises(ValueError, match="na_rule must be one of 'majority', 'zero'"):
            consensus(self.ratings, na_rule="mean")


class TestPairedErrors:
    def test_repeats_are_averaged_per_notebook(self):
        human = np.array([[2.0], [3.0]])
        judge = np.array([[[[1.0], [3.0]], [[3.0], [np.nan]], [[2.0], [1.0]]]])  # 3 repeats
        absolute, signed = paired_errors(human, judge)
        assert_array_equal(absolute[0, :, 0], [2 / 3, 1])
        assert_array_equal(signed[0, :, 0], [0, -1])

    def test_exclude_drops_pairs_with_na_on_either_side(self):
        human = np.array([[0.0], [2.0], [2.0]])
        judge = np.array([[[1.0], [0.0], [3.0]]])
        absolute, _ = paired_errors(human, judge, na_policy="zero")
        assert_array_equal(absolute[0, :, 0], [1, 2, 1])
        absolute, _ = paired_errors(human, judge, na_policy="exclude")
        assert_array_equal(absolute[0, :, 0], [np.nan, np.nan, 1])

    def test_comparison_differences(self):
        absolute = np.array([[[1.0], [0.0]], [[0.0], [np.nan]], [[1.0], [1.0]]])
        diff = comparison_differences(absolute, ["b", "f", "s"], [("b", "f"), ("s", "b")])
        assert diff.shape == (2, 2, 1)
        assert_array_equal(diff[:, 0, 0], [1, np.nan])
        assert_array_equal(diff[:, 1, 0], [0, 1])

    @pytest.mark.parametrize(("human", "judge", "message"), [
        (np.zeros((0, 9)), np.zeros((1, 0, 9)), r"human is empty \(shape \(0, 9\)\)"),
        (np.zeros(5), np.zeros((1, 5)), "human must be 2-D"),
        (np.full((2, 1), 4.0), np.ones((1, 2, 1)), "human scores must lie in 0-3.*got 4"),
        (np.full((2, 1), -1.0), np.ones((1, 2, 1)), "human scores must lie in 0-3.*got -1"),
        (np.ones((2, 1)), np.full((1, 2, 1), 1.5), r"judge scores must be 0 \(N/A\), 1, 2 or 3"),
        (np.ones((2, 1)), np.full((1, 2, 1), 5.0), "judge scores must be .* got 5"),
        (np.ones((2, 1)), np.ones((1, 3, 1)), "judge covers 3 notebooks .* human covers 2"),
        (np.ones((2, 1)), np.ones((0, 2, 1)), "judge is empty"),
        (np.ones((2, 1)), np.ones((2, 1)), "judge must be .*; got shape"),
    ])
    def test_invalid(self, human, judge, message):
        with pytest.raises(ValueError, match=message):
            paired_errors(human, judge)

    def test_invalid_comparison(self):
        absolute = np.zeros((2, 3, 1))
        with pytest.raises(ValueError, match="names variant 'x', which is not among"):
            comparison_differences(absolute, ["a", "b"], [("a", "x")])
        with pytest.raises(ValueError, match="compares a variant with itself"):
            comparison_differences(absolute, ["a", "b"], [("a", "a")])
