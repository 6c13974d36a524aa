import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats
from statsmodels.stats.multitest import multipletests
from threadpoolctl import threadpool_limits

from nbjudge.stats import adjust_pvalues, sign_flip_test


def scipy_sign_flip(differences, alternative):
    """Exact paired test: scipy flips the sign of each observation of a single sample."""
    return stats.permutation_test((differences,), np.mean, permutation_type="samples",
                                  n_resamples=np.inf, alternative=alternative).pvalue


class TestSignFlip:
    @pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
    @pytest.mark.parametrize("seed", range(3))
    def test_exact_equals_scipy(self, alternative, seed):
        rng = np.random.default_rng(seed)
        differences = rng.integers(-2, 3, 12) / 3  # ties and zeros, as errors of 1-3 scores
        result = sign_flip_test(differences[:, np.newaxis], alternative=alternative)
        assert result.exact[0]
        assert_allclose(result.pvalue[0], scipy_sign_flip(differences, alternative), rtol=1e-12)
        assert_allclose(result.statistic[0], differences.mean(), rtol=1e-12)

    def test_monte_carlo_is_close_to_exact(self):
        rng = np.random.default_rng(3)
        differences = rng.integers(-3, 4, 16) / 3 + 0.2
        n_resamples = 9999
        result = sign_flip_test(differences, n_resamples=n_resamples, rng=rng)
        assert not result.exact
        exact = scipy_sign_flip(differences, "two-sided")
        tolerance = 4 * np.sqrt(exact * (1 - exact) / n_resamples) + 1 / n_resamples
        assert abs(result.pvalue - exact) <= tolerance

    def test_exact_when_the_sign_patterns_fit_in_n_resamples(self):
        differences = np.zeros((20, 3))
        differences[:10, 0] = 1  # 2**10 patterns
        differences[:11, 1] = 1  # 2**11
        differences[:, 2] = np.nan
        result = sign_flip_test(differences, n_resamples=1024, rng=np.random.default_rng(0))
        assert result.exact.tolist() == [True, False, False]
        assert_allclose(result.pvalue[0], 2 / 2**10)  # all +1 or all -1
        assert_allclose(result.pvalue[1], 1 / 1025, atol=2 / 1025)
        assert result.n_notebooks.tolist() == [20, 20, 0]
        assert np.isnan(result.pvalue[2]) and np.isnan(result.statistic[2])

    def test_zero_and_missing_differences(self):
        differences = np.array([1.0, -0.5, 1.0, 0.5, 0.0, 0.0, np.nan])
        with_zeros = sign_flip_test(differences)
        without = sign_flip_test(differences[:4])
        assert_allclose(with_zeros.pvalue, without.pvalue)
        assert with_zeros.n_notebooks == 6
        assert sign_flip_test(np.zeros(5)).pvalue == 1

    def test_trailing_shape_is_kept(self):
        result = sign_flip_test(np.ones((6, 2, 3)))
        assert result.pvalue.shape == result.statistic.shape == (2, 3)

    def test_thread_count_and_column_set_do_not_change_p_values(self):
        differences = np.random.default_rng(4).normal(size=(40, 5))
        with threadpool_limits(limits=1, user_api="blas"):
            one = sign_flip_test(differences, rng=np.random.default_rng(5))
        with threadpool_limits(limits=2, user_api="blas"):
            two = sign_flip_test(differences, rng=np.random.default_rng(5))
        assert_array_equal(one.pvalue, two.pvalue)
        # The random sign patterns are shared: a column's p-value does not
        # depend on which other columns are tested with it.
        alone = sign_flip_test(differences[:, 2], rng=np.random.default_rng(5))
        assert alone.pvalue == one.pvalue[2]

    def test_same_seed_same_numbers(self):
        differences = np.random.default_rng(4).normal(size=(40, 5))
        one = sign_flip_test(differences, rng=np.random.default_rng(5))
        two = sign_flip_test(differences, rng=np.random.default_rng(5))
        assert_array_equal(one.pvalue, two.pvalue)

    @staticmethod
    def null_differences(rng, n_experiments, consensus_raters):
        """Error differences of two exchangeable judges (three repeats each), one
        column per experiment of 30 notebooks: symmetric about 0 under the null."""
        truth = rng.integers(0, 4, (n_experiments, 30))
        ratings = np.clip(truth[..., np.newaxis] + rng.integers(-1, 2, (
            n_experiments, 30, consensus_raters)) * (rng.random(
                (n_experiments, 30, consensus_raters)) < 0.3), 0, 3)
        human = ratings.mean(axis=-1, keepdims=True)
        judges = np.clip(truth[np.newaxis, ..., np.newaxis]
                         + rng.integers(-1, 2, (2, n_experiments, 30, 3)), 0, 3)
        errors = np.abs(judges - human).mean(axis=-1)
        return (errors[0] - errors[1]).T

    @pytest.mark.parametrize("alternative", ["two-sided", "greater"])
    def test_type_one_error_is_nominal(self, alternative):
        # A consensus of three raters puts the differences on a fine grid;
        # one test per experiment makes rejections independent trials.
        rng = np.random.default_rng(6)
        n_experiments, alpha = 4000, 0.05
        differences = self.null_differences(rng, n_experiments, consensus_raters=3)
        result = sign_flip_test(differences, n_resamples=999, alternative=alternative, rng=rng)
        rejections = int(np.sum(result.pvalue <= alpha))
        assert stats.binomtest(rejections, n_experiments, alpha).pvalue > 0.001

    def test_type_one_error_is_conservative_on_coarse_scores(self):
        # One rater and integer scores: ties make the test reject less than alpha.
        rng = np.random.default_rng(7)
        n_experiments, alpha = 4000, 0.05
        differences = self.null_differences(rng, n_experiments, consensus_raters=1)
        result = sign_flip_test(differences, n_resamples=999, rng=rng)
        rejections = int(np.sum(result.pvalue <= alpha))
        assert stats.binomtest(rejections, n_experiments, alpha, alternative="greater").pvalue \
            > 0.001

    def test_p_values_are_uniform_under_the_null(self):
        rng = np.random.default_rng(7)
        differences = rng.standard_normal((25, 2000))
        result = sign_flip_test(differences, n_resamples=999, rng=rng)
        assert stats.kstest(result.pvalue, "uniform").pvalue > 0.001

    def test_detects_a_real_improvement(self):
        rng = np.random.default_rng(8)
        differences = rng.normal(0.8, 1, (50, 1))
        assert sign_flip_test(differences, alternative="greater", rng=rng).pvalue[0] < 0.01

    @pytest.mark.parametrize(("differences", "kwargs", "message"), [
        (np.ones((0, 3)), {}, r"differences is empty \(shape \(0, 3\)\)"),
        (np.array(1.0), {}, "differences is empty"),
        (np.array([1.0, np.inf]), {}, "differences must be finite or NaN"),
        (np.ones(5), {"n_resamples": 0}, "n_resamples must be an integer >= 1; got 0"),
        (np.ones(5), {"alternative": "both"},
         "alternative must be one of 'two-sided', 'greater', 'less'; got 'both'"),
    ])
    def test_invalid(self, differences, kwargs, message):
        with pytest.raises(ValueError, match=message):
            sign_flip_test(differences, **kwargs)

    def test_rng_must_be_a_generator(self):
        with pytest.raises(TypeError, match=r"rng must be a numpy\.random\.Generator"):
            sign_flip_test(np.ones(5), rng=np.random.RandomState(0))


class TestCases:
    """Several notebooks per case: the case is flipped as one."""

    def test_exact_equals_scipy_on_case_sums(self):
        rng = np.random.default_rng(20)
        differences = rng.integers(-2, 3, 24).astype(float)
        clusters = np.repeat(np.arange(8), 3).astype(str)
        result = sign_flip_test(differences[:, np.newaxis], clusters=clusters)
        assert result.exact[0] and result.n_cases[0] == 8
        sums = differences.reshape(8, 3).sum(axis=1)
        assert result.pvalue[0] == pytest.approx(scipy_sign_flip(sums, "two-sided"))
        assert result.statistic[0] == pytest.approx(differences.mean())

    def test_labels_say_exact_or_monte_carlo(self):
        rng = np.random.default_rng(21)
        differences = rng.normal(size=(40, 2))
        clusters = np.repeat(np.arange(10), 4).astype(str)
        by_case = sign_flip_test(differences, clusters=clusters, n_resamples=2000, rng=rng)
        by_notebook = sign_flip_test(differences, n_resamples=2000, rng=rng)
        assert by_case.describe().tolist() == ["exact (1024 sign patterns)"] * 2
        assert by_notebook.describe().tolist() == ["Monte Carlo, 2000 sign patterns"] * 2
        assert by_notebook.n_patterns.tolist() == [2000, 2000]

    def test_batches_do_not_change_the_p_value_distribution(self):
        rng = np.random.default_rng(22)
        differences = rng.normal(0.1, 1, (20, 1))
        exact = scipy_sign_flip(differences[:, 0], "two-sided")
        n = 50_000  # several batches of random patterns
        result = sign_flip_test(differences, n_resamples=n, rng=rng)
        assert abs(result.pvalue[0] - exact) <= 4 * np.sqrt(exact * (1 - exact) / n) + 1 / n

    @pytest.mark.slow
    def test_familywise_error_holds_under_a_case_by_judge_interaction(self):
        """Nine null dimensions, cases of 2-6 notebooks whose paired differences share a case
        effect (the judges differ per case, not on average): Holm over case flips stays at
        the level; flipping notebooks, which the bootstrap does not resample, does not."""
        rng = np.random.default_rng(23)
        n_experiments, alpha = 400, 0.05
        flagged = {"case": 0, "notebook": 0}
        for _ in range(n_experiments):
            sizes = rng.integers(2, 7, 12)
            case = np.repeat(np.arange(sizes.size), sizes)
            effect = 0.5 * rng.standard_normal((sizes.size, 9))[case]
            differences = np.round(effect + 0.5 * rng.standard_normal((case.size, 9)))
            for unit, clusters in (("case", case.astype(str)), ("notebook", None)):
                p = sign_flip_test(differences, clusters=clusters, n_resamples=999,
                                   rng=rng).pvalue
                flagged[unit] += bool(np.any(adjust_pvalues(p, "holm") < alpha))
        assert stats.binomtest(flagged["case"], n_experiments, alpha,
                               alternative="greater").pvalue > 0.01
        assert flagged["notebook"] / n_experiments > 0.1

    def test_clusters_must_match(self):
        with pytest.raises(ValueError, match="clusters names 2 cases for 3 notebooks"):
            sign_flip_test(np.zeros(3), clusters=["a", "b"])


class TestAdjust:
    def test_hand_worked_values(self):
        # R: p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm") and (..., "BH").
        pvalues = np.array([0.01, 0.04, 0.03, 0.005])
        assert_allclose(adjust_pvalues(pvalues, "holm"), [0.03, 0.06, 0.06, 0.02])
        assert_allclose(adjust_pvalues(pvalues, "fdr_bh"), [0.02, 0.04, 0.04, 0.02])

    @pytest.mark.parametrize("method", ["holm", "fdr_bh"])
    @pytest.mark.parametrize("seed", range(3))
    def test_equals_statsmodels_per_family(self, method, seed):
        pvalues = np.random.default_rng(seed).uniform(0, 0.2, (3, 9))
        adjusted = adjust_pvalues(pvalues, method)
        for family in range(3):
            expected = multipletests(pvalues[family], method=method)[1]
            assert_allclose(adjusted[family], expected, rtol=1e-12)

    @pytest.mark.parametrize("method", ["holm", "fdr_bh"])
    @pytest.mark.parametrize("seed", range(3))
    def test_equals_statsmodels_with_ties_and_ones(self, method, seed):
        # Permutation p-values are discrete: ties and p = 1 are the usual case.
        pvalues = np.random.default_rng(seed).choice([0.002, 0.01, 0.03, 0.25, 1.0], 27)
        assert_allclose(adjust_pvalues(pvalues, method),
                        multipletests(pvalues, method=method)[1], rtol=1e-12)

    def test_no_garbage_collection_per_family(self, monkeypatch):
        # multipletests calls gc.collect() (about 0.1 s here); the adjustment must not.
        import gc

        monkeypatch.setattr(gc, "collect", lambda *a: pytest.fail("gc.collect was called"))
        adjust_pvalues(np.full((50, 9), 0.01), "holm")

    def test_nan_is_left_out_of_the_family(self):
        pvalues = np.array([0.01, np.nan, 0.04, 0.03])
        adjusted = adjust_pvalues(pvalues, "holm")
        assert np.isnan(adjusted[1])
        assert_allclose(adjusted[[0, 2, 3]], multipletests([0.01, 0.04, 0.03], method="holm")[1])
        assert np.all(np.isnan(adjust_pvalues(np.full(3, np.nan), "fdr_bh")))

    def test_invalid(self):
        with pytest.raises(ValueError, match="method must be one of 'holm', 'fdr_bh'; got 'bonf'"):
            adjust_pvalues([0.1], "bonf")
        with pytest.raises(ValueError, match=r"p-values must lie in \[0, 1\]; got 1.5"):
            adjust_pvalues([0.1, 1.5], "holm")
