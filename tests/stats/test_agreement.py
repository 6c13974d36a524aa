import krippendorff
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats
from sklearn.metrics import cohen_kappa_score

from nbjudge.stats import agreement, krippendorff_alpha, quadratic_kappa
from nbjudge.stats.agreement import confusion_matrix

from ._simulate import judge_scores, scores


class TestQuadraticKappa:
    @pytest.mark.parametrize("seed", range(5))
    def test_equals_sklearn(self, seed):
        rng = np.random.default_rng(seed)
        human = rng.integers(0, 4, 60).astype(float)
        judge = judge_scores(human, 0.4, rng)
        expected = cohen_kappa_score(human, judge, weights="quadratic", labels=[0, 1, 2, 3])
        assert_allclose(quadratic_kappa(human, judge), expected, rtol=1e-12)

    def test_equals_sklearn_without_na(self):
        # Categories 1-3 only: the empty N/A row and column change nothing.
        rng = np.random.default_rng(7)
        human = rng.integers(1, 4, 40).astype(float)
        judge = np.clip(judge_scores(human, 0.5, rng), 1, 3)
        expected = cohen_kappa_score(human, judge, weights="quadratic")
        assert_allclose(quadratic_kappa(human, judge), expected, rtol=1e-12)

    def test_perfect_and_undefined(self):
        assert quadratic_kappa([1, 2, 3], [1, 2, 3]) == 1
        assert np.isnan(quadratic_kappa([2, 2], [2, 2]))

    def test_invalid(self):
        with pytest.raises(ValueError, match=r"judge scores must be 0 \(N/A\), 1, 2 or 3; got 4"):
            quadratic_kappa([1, 2], [1, 4])
        with pytest.raises(ValueError, match="human and judge differ in length: 2 != 3"):
            quadratic_kappa([1, 2], [1, 2, 3])
        with pytest.raises(ValueError, match="human must be 1-D"):
            quadratic_kappa([[1, 2]], [1, 2])


class TestKrippendorffAlpha:
    def test_hand_worked_example(self):
        # Coincidences o11 = 2, o22 = 2, o33 = 2, o23 = o32 = 1; marginals 2, 3, 3 (n = 8).
        # Ordinal distances d12 = 2.5^2, d23 = 3^2, d13 = 5.5^2.
        # alpha = 1 - (n - 1) * 2 * 9 / (2 * (6 * 6.25 + 6 * 30.25 + 9 * 9)) = 1 - 126 / 600.
        data = np.array([[1, 2, 3, 3], [1, 2, 3, 2]], dtype=float)
        assert_allclose(krippendorff_alpha(data), 0.79, rtol=1e-12)

    def test_krippendorff_2011_example(self):
        # "Computing Krippendorff's Alpha-Reliability" (2011), section E: four
        # coders, twelve units with missing values; published ordinal alpha 0.815.
        nan = np.nan
        data = np.array([
            [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
            [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
            [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
            [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
        ])
        assert_allclose(krippendorff_alpha(data), 0.815, atol=5e-4)

    @pytest.mark.parametrize("seed", range(5))
    def test_equals_krippendorff_package(self, seed):
        rng = np.random.default_rng(seed)
        truth = rng.integers(0, 4, 30).astype(float)
        data = np.stack([judge_scores(truth, 0.3, rng) for _ in range(3)])
        data[rng.random(data.shape) < 0.2] = np.nan
        expected = krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal")
        assert_allclose(krippendorff_alpha(data), expected, rtol=1e-10)

    def test_undefined(self):
        assert np.isnan(krippendorff_alpha([[1, np.nan], [np.nan, 2]]))  # nothing pairable
        assert np.isnan(krippendorff_alpha([[2, 2], [2, 2]]))  # no variation

    def test_invalid(self):
        with pytest.raises(ValueError, match=r"reliability_data must be 2-D \(coder, unit\)"):
            krippendorff_alpha([1, 2, 3])


def test_confusion_matrix_rows_are_human_columns_judge():
    matrix = confusion_matrix([0, 0, 3, 2], [1, 0, 3, 3])
    expected = np.zeros((4, 4), dtype=int)
    expected[0, 1] = expected[0, 0] = expected[3, 3] = expected[2, 3] = 1
    assert_array_equal(matrix, expected)


class TestAgreement:
    def test_metrics_match_their_references(self):
        rng = np.random.default_rng(3)
        human, judge = scores(rng, n=40, n_dimensions=2, flips=(0.5, 0.2))
        result = agreement(human, judge, variants=["baseline", "full"], dimensions=["a", "b"],
                           na_policy="zero")
        for v in range(2):
            for d in range(2):
                h, j = human[:, d], judge[v, :, d]
                assert_allclose(result.mae[v, d], np.mean(np.abs(j - h)))
                assert_allclose(result.bias[v, d], np.mean(j - h))
                assert_allclose(result.exact_agreement[v, d], np.mean(j == h))
                assert_allclose(result.kappa_quadratic[v, d], cohen_kappa_score(
                    h, j, weights="quadratic", labels=[0, 1, 2, 3]))
                assert_allclose(result.spearman[v, d], stats.spearmanr(h, j).statistic)
                assert_allclose(result.alpha_ordinal[v, d], krippendorff.alpha(
                    reliability_data=np.stack([h, j]), level_of_measurement="ordinal"))
                assert_allclose(result.na_agreement[v, d], np.mean((h == 0) == (j == 0)))
        assert result.n_notebooks.tolist() == [[40, 40], [40, 40]]
        assert result.confusion[..., :4].sum(axis=(2, 3)).tolist() == [[40, 40], [40, 40]]

    def test_failed_and_na_are_counted(self):
        human = np.array([[0.0], [2.0], [3.0], [1.0]])
        judge = np.array([[[0.0], [2.0], [np.nan], [2.0]]])
        failed = np.isnan(judge)
        result = agreement(human, judge, na_policy="exclude", failed=failed)
        assert result.n_failed.tolist() == [[1]]
        assert result.n_pairs.tolist() == [[2]]  # the N/A pair is excluded from kappa & co.
        assert result.na_agreement[0, 0] == 1  # but counted for N/A agreement
        frame = result.confusion_frame()
        row = frame[(frame.human == "3") & (frame.judge == "failed")]
        assert row["count"].tolist() == [1]
        assert frame["count"].sum() == 4

    def test_fractional_consensus_rounds_half_up_for_categories(self):
        human = np.array([[2.5], [1.5]])
        judge = np.array([[[3.0], [2.0]]])
        result = agreement(human, judge)
        assert result.exact_agreement[0, 0] == 1
        assert_allclose(result.mae[0, 0], 0.5)

    def test_repeats_are_pooled_as_pairs(self):
        human = np.array([[2.0], [3.0]])
        judge = np.array([[[[2.0], [3.0]], [[1.0], [3.0]]]])
        result = agreement(human, judge)
        assert result.n_pairs[0, 0] == 4
        assert result.exact_agreement[0, 0] == 0.75
        assert_allclose(result.mae[0, 0], 0.25)

    def test_to_frame_is_tidy(self):
        human, judge = scores(np.random.default_rng(0), n=10, n_dimensions=3, flips=(0.3, 0.1))
        frame = agreement(human, judge, variants=["b", "f"]).to_frame()
        assert frame.shape[0] == 6
        assert frame[["variant", "dimension"]].drop_duplicates().shape[0] == 6

    def test_invalid(self):
        human = np.ones((2, 1))
        judge = np.ones((1, 2, 1))
        with pytest.raises(ValueError, match="a failed judgment carries no score"):
            agreement(human, judge, failed=np.ones((1, 2, 1), dtype=bool))
        with pytest.raises(ValueError, match="2 variant names given for an axis of length 1"):
            agreement(human, judge, variants=["a", "b"])
        with pytest.raises(ValueError, match="variant names must be unique"):
            agreement(human, np.ones((2, 2, 1)), variants=["a", "a"])
        with pytest.raises(ValueError, match="na_policy must be one of"):
            agreement(human, judge, na_policy="ignore")
