import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats
from threadpoolctl import threadpool_limits

from nbjudge.stats import Statistic, bootstrap_agreement

from ._simulate import judge_scores, scores

VARIANTS = ("baseline", "full", "semantic_only")
COMPARISONS = (("baseline", "full"), ("baseline", "semantic_only"), ("semantic_only", "full"))


def scipy_statistic(human, baseline, full, semantic_only, axis=-1):
    """The statistics of one dimension, in the order bootstrap_agreement returns them."""
    judges = {"baseline": baseline, "full": full, "semantic_only": semantic_only}
    error = {name: np.abs(j - human).mean(axis=axis) for name, j in judges.items()}
    bias = [(j - human).mean(axis=axis) for j in judges.values()]
    improvement = [error[r] - error[c] for r, c in COMPARISONS]
    relative = [(error[r] - error[c]) / error[r] for r, c in COMPARISONS]
    return np.stack([*error.values(), *bias, *improvement, *relative])


def rows_of_dimension(result, dimension):
    return [i for i, s in enumerate(result.statistics) if s.dimension == dimension]


def fine_grained(rng, n=50, n_dimensions=2):
    """Scores whose bootstrap distributions are nearly continuous.

    A consensus of three raters and three repeats per judge put errors on a
    grid of 1/9, so Monte Carlo error, not the grid, decides how close two
    bootstrap runs' quantiles come.
    """
    truth = rng.integers(0, 4, (n, n_dimensions)).astype(float)
    human = np.mean([judge_scores(truth, 0.3, rng) for _ in range(3)], axis=0)
    judge = np.stack([
        np.stack([judge_scores(truth, flip, rng) for _ in range(3)]) for flip in (0.6, 0.3, 0.4)
    ])
    return human, judge


class TestAgainstScipy:
    def test_same_index_draws_give_the_same_percentile_interval(self):
        # scipy.stats.bootstrap(paired=True) draws rng.integers(0, n, (n_resamples, n)),
        # as bootstrap_agreement does: with one seed both see the same resamples.
        rng = np.random.default_rng(0)
        human, judge = scores(rng, n=40, n_dimensions=3)
        result = bootstrap_agreement(human, judge, na_policy="zero", variants=VARIANTS,
                                     comparisons=COMPARISONS,
                                     n_resamples=2000, rng=np.random.default_rng(1))
        for d in range(3):
            with np.errstate(divide="ignore", invalid="ignore"):
                reference = stats.bootstrap(
                    (human[:, d], *judge[:, :, d]), scipy_statistic, paired=True,
                    method="percentile", n_resamples=2000, rng=np.random.default_rng(1))
            rows = rows_of_dimension(result, str(d))
            # x / 0 is inf for scipy and "undefined" (NaN) here.
            distribution = reference.bootstrap_distribution
            assert_allclose(result.bootstrap_distribution[rows],
                            np.where(np.isfinite(distribution), distribution, np.nan),
                            rtol=1e-12, atol=1e-12)
            defined = [r for r in rows if result.method[r] == "percentile"]
            subset = [rows.index(r) for r in defined]
            for ours, theirs in zip(result.confidence_interval,
                                    reference.confidence_interval, strict=True):
                assert_allclose(ours[defined], theirs[subset], rtol=1e-12, atol=1e-12)
            assert_allclose(result.standard_error[defined], reference.standard_error[subset],
                            rtol=1e-10)

    @pytest.mark.filterwarnings("ignore::scipy.stats.DegenerateDataWarning")
    def test_same_index_draws_give_the_same_bca_interval(self):
        rng = np.random.default_rng(1)
        human, judge = scores(rng, n=30, n_dimensions=2)
        result = bootstrap_agreement(human, judge, na_policy="zero", variants=VARIANTS,
                                     comparisons=COMPARISONS,
                                     method="bca", n_resamples=2000,
                                     rng=np.random.default_rng(2))
        bca = [i for i, m in enumerate(result.method) if m == "bca"]
        assert len(bca) > 0.7 * len(result.method)
        for d in range(2):
            with np.errstate(divide="ignore", invalid="ignore"):
                reference = stats.bootstrap(
                    (human[:, d], *judge[:, :, d]), scipy_statistic, paired=True, method="BCa",
                    n_resamples=2000, rng=np.random.default_rng(2))
            rows = rows_of_dimension(result, str(d))
            subset = [rows.index(r) for r in rows if r in bca]
            for ours, theirs in zip(result.confidence_interval,
                                    reference.confidence_interval, strict=True):
                assert_allclose(ours[np.intersect1d(rows, bca)], theirs[subset], rtol=1e-10)

    @pytest.mark.parametrize("method", ["percentile", "bca"])
    def test_independent_runs_agree_within_monte_carlo_error(self, method):
        rng = np.random.default_rng(2)
        human, judge = fine_grained(rng)
        n_resamples = 10_000
        result = bootstrap_agreement(human, judge[:2], na_policy="zero", variants=VARIANTS[:2],
                                     method=method,
                                     n_resamples=n_resamples, rng=np.random.default_rng(3))
        # scipy on per-notebook errors (repeats averaged), an independent seed.
        errors = np.abs(judge[:2] - human).mean(axis=1)
        for d in range(2):
            reference = stats.bootstrap(
                (errors[0, :, d], errors[1, :, d]),
                lambda b, f, axis=-1: np.stack([b.mean(axis), f.mean(axis),
                                                b.mean(axis) - f.mean(axis)]),
                paired=True, method=method, n_resamples=n_resamples,
                rng=np.random.default_rng(4))
            rows = [result.statistics.index(Statistic(k, v, r, str(d))) for k, v, r in (
                ("mae", "baseline", ""), ("mae", "full", ""),
                ("improvement", "full", "baseline"))]
            # Standard error of a 2.5% quantile from n_resamples draws of a
            # near-normal distribution: sqrt(p (1 - p) / B) / phi(z_p) * se;
            # two independent runs differ by sqrt(2) of it. Allow four of those.
            p = 0.025
            quantile_se = np.sqrt(p * (1 - p) / n_resamples) / stats.norm.pdf(stats.norm.ppf(p))
            tolerance = 4 * np.sqrt(2) * quantile_se * reference.standard_error
            low, high = result.confidence_interval
            assert np.all(np.abs(low[rows] - reference.confidence_interval.low) <= tolerance)
            assert np.all(np.abs(high[rows] - reference.confidence_interval.high) <= tolerance)
            assert_allclose(result.standard_error[rows], reference.standard_error, rtol=0.05)


def population(rng, size=100_000, n_dimensions=9):
    """Notebooks whose quality and difficulty are shared by all nine dimensions.

    Quality correlates the human scores across dimensions, difficulty the
    judges' errors; the aligned judge errs less often. Sampling notebooks
    from this finite population is exactly iid, and its improvements are
    known exactly.
    """
    quality = rng.standard_normal((size, 1))
    difficulty = rng.standard_normal((size, 1))
    offsets = np.linspace(-1.0, 0.5, n_dimensions)
    human = np.clip(np.rint(1.5 + 0.8 * quality + 0.6 * rng.standard_normal(
        (size, n_dimensions))), 0, 3)

    def judge(shift):
        error_probability = 1 / (1 + np.exp(-(shift + offsets + 0.8 * difficulty)))
        step = rng.choice([-1, 1], human.shape) * (rng.random(human.shape) < error_probability)
        return np.clip(human + step, 0, 3)

    judge = np.stack([judge(-0.5), judge(-1.5)])
    error = np.abs(judge - human)
    return human, judge, error[0].mean(axis=0) - error[1].mean(axis=0)


def coverage(rng, n_experiments, n_notebooks, n_resamples, method):
    human, judge, true_improvement = population(rng)
    covered = np.zeros(true_improvement.size)
    for _ in range(n_experiments):
        sample = rng.integers(0, human.shape[0], n_notebooks)
        result = bootstrap_agreement(human[sample], judge[:, sample], na_policy="zero",
                                     method=method,
                                     n_resamples=n_resamples, rng=rng)
        rows = [s.kind == "improvement" for s in result.statistics]
        low, high = (bound[rows] for bound in result.confidence_interval)
        covered += (low <= true_improvement) & (true_improvement <= high)
    return covered


class TestCoverage:
    # The percentile interval of a mean under-covers by O(1/n): about 0.94 at
    # 50 notebooks (see the slow test), 0.945-0.95 at 200, where the shortfall
    # is within the binomial tolerance of 1,000 experiments.
    @pytest.mark.slow
    def test_improvement_interval_covers_at_the_nominal_rate(self):
        n_experiments = 1000
        covered = coverage(np.random.default_rng(5), n_experiments, 200, 1000, "percentile")
        for count in covered:  # one binomial test per dimension, Bonferroni over nine
            assert stats.binomtest(int(count), n_experiments, 0.95).pvalue > 0.01 / 9

    @pytest.mark.slow
    @pytest.mark.parametrize("method", ["percentile", "bca"])
    def test_coverage_with_more_experiments(self, method):
        # The coverage averaged over the nine dimensions, whose indicators are
        # positively correlated, varies at most as one dimension's does: the
        # binomial test of the rounded average count is conservative.
        n_experiments = 2000
        covered = coverage(np.random.default_rng(6), n_experiments, 400, 1000, method)
        average = round(float(covered.mean()))
        assert stats.binomtest(average, n_experiments, 0.95).pvalue > 0.01

    @pytest.mark.slow
    def test_coverage_at_fifty_notebooks_is_close_to_nominal(self):
        covered = coverage(np.random.default_rng(7), 2000, 50, 1000, "percentile") / 2000
        assert np.all((covered > 0.92) & (covered < 0.97))


class TestTheory:
    def test_m_out_of_n_narrows_intervals_by_sqrt_n_over_m(self):
        rng = np.random.default_rng(8)
        human, judge = fine_grained(rng, n=50, n_dimensions=2)
        width = {}
        for m in (50, 200):
            result = bootstrap_agreement(human, judge, sample_size=m, n_resamples=10_000,
                                         method="percentile", rng=np.random.default_rng(9))
            assert result.sample_size == m
            width[m] = result.confidence_interval.high - result.confidence_interval.low
        ok = np.isfinite(width[50])
        assert_allclose(np.median(width[200][ok] / width[50][ok]), 0.5, rtol=0.05)

    def test_standard_error_of_a_mean_is_sd_over_sqrt_n(self):
        rng = np.random.default_rng(10)
        human, judge = fine_grained(rng, n=100, n_dimensions=1)
        result = bootstrap_agreement(human, judge[:1], na_policy="zero", n_resamples=20_000,
                                     rng=rng)
        errors = np.abs(judge[0] - human).mean(axis=0)[:, 0]
        expected = errors.std(ddof=0) / np.sqrt(errors.size)
        assert_allclose(result.standard_error[0], expected, rtol=0.03)


class TestInvariance:
    def run(self, **kwargs):
        human, judge = scores(np.random.default_rng(11), n=30, n_dimensions=4)
        kwargs.setdefault("rng", np.random.default_rng(12))
        return bootstrap_agreement(human, judge, variants=VARIANTS, comparisons=COMPARISONS,
                                   n_resamples=1500, method="bca", **kwargs)

    def assert_identical(self, a, b):
        assert_array_equal(a.bootstrap_distribution, b.bootstrap_distribution)
        assert_array_equal(a.confidence_interval.low, b.confidence_interval.low)
        assert_array_equal(a.confidence_interval.high, b.confidence_interval.high)
        assert_array_equal(a.estimate, b.estimate)
        assert_array_equal(a.standard_error, b.standard_error)
        assert a.method == b.method

    @pytest.mark.parametrize("batch", [1, 7, 499, 1500, 5000])
    def test_batch_size(self, batch):
        self.assert_identical(self.run(), self.run(batch=batch))

    def test_thread_count(self):
        with threadpool_limits(limits=1, user_api="blas"):
            one = self.run()
        with threadpool_limits(limits=2, user_api="blas"):
            two = self.run()
        self.assert_identical(one, two)

    def test_same_seed_same_numbers(self):
        self.assert_identical(self.run(), self.run())
        different = self.run(rng=np.random.default_rng(13))
        assert not np.array_equal(different.bootstrap_distribution,
                                  self.run().bootstrap_distribution)

    def test_adding_a_comparison_keeps_the_shared_resamples(self):
        human, judge = scores(np.random.default_rng(11), n=30, n_dimensions=4)
        one = bootstrap_agreement(human, judge, comparisons=COMPARISONS[:1], variants=VARIANTS,
                                  n_resamples=500, rng=np.random.default_rng(1))
        three = bootstrap_agreement(human, judge, comparisons=COMPARISONS, variants=VARIANTS,
                                    n_resamples=500, rng=np.random.default_rng(1))
        for row, statistic in enumerate(one.statistics):
            assert_array_equal(one.bootstrap_distribution[row],
                               three.bootstrap_distribution[three.statistics.index(statistic)])


class TestResult:
    def test_statistics_layout_and_frame(self):
        human, judge = scores(np.random.default_rng(14), n=20, n_dimensions=2)
        result = bootstrap_agreement(human, judge, variants=VARIANTS, dimensions=["a", "b"],
                                     n_resamples=100, rng=np.random.default_rng(0))
        kinds = [s.kind for s in result.statistics]
        # Default comparisons: the first variant against each other one.
        assert kinds.count("mae") == kinds.count("bias") == 6
        assert kinds.count("improvement") == kinds.count("relative_reduction") == 4
        assert result.statistics[-1] == Statistic("relative_reduction", "semantic_only",
                                                  "baseline", "b")
        assert result.bootstrap_distribution.shape == (20, 100)
        frame = result.to_frame()
        assert frame.shape[0] == 20
        assert set(frame.columns) >= {"kind", "variant", "reference", "dimension", "estimate",
                                      "ci_low", "ci_high", "method", "n_notebooks"}

    def test_auto_takes_cr2_for_means_and_studentized_for_ratios(self):
        human, judge = scores(np.random.default_rng(16), n=30, n_dimensions=2)
        common = dict(variants=VARIANTS, n_resamples=400)
        auto = bootstrap_agreement(human, judge, rng=np.random.default_rng(1), **common)
        assert {(s.kind, m) for s, m in zip(auto.statistics, auto.method, strict=True)} == {
            ("mae", "cr2"), ("bias", "cr2"), ("improvement", "cr2"),
            ("relative_reduction", "studentized")}
        for method in ("studentized", "cr2"):
            alone = bootstrap_agreement(human, judge, method=method,
                                        rng=np.random.default_rng(1), **common)
            chosen = np.array([m == method for m in auto.method])
            assert_array_equal(auto.confidence_interval.low[chosen],
                               alone.confidence_interval.low[chosen])
            assert_array_equal(auto.confidence_interval.high[chosen],
                               alone.confidence_interval.high[chosen])

    @pytest.mark.parametrize("method", ["wild", "hall"])
    def test_paired_methods_equal_paired_interval_on_means(self, method):
        """``method="wild"`` or ``"hall"`` gives each mean the interval of
        nbjudge.stats.paired over the same cases; ratios keep the bootstrap-t."""
        from nbjudge.stats import paired_interval
        from nbjudge.stats.tables import comparison_differences, paired_errors

        human, judge = scores(np.random.default_rng(17), n=30, n_dimensions=2)
        clusters = [f"c{i // 3}" for i in range(30)]
        result = bootstrap_agreement(human, judge, variants=VARIANTS, clusters=clusters,
                                     n_resamples=400, method=method,
                                     rng=np.random.default_rng(2))
        assert {(s.kind, m) for s, m in zip(result.statistics, result.method, strict=True)} == {
            ("mae", method), ("bias", method), ("improvement", method),
            ("relative_reduction", "studentized")}
        absolute, _ = paired_errors(human, judge, na_policy="worst")
        improvement = comparison_differences(absolute, VARIANTS)
        rows = [i for i, s in enumerate(result.statistics)
                if s.kind == "improvement" and s.variant == "full"]
        direct = paired_interval(improvement[:, 0], clusters, method=method, n_resamples=400,
                                 rng=np.random.default_rng(3))
        low = result.confidence_interval.low[rows]
        high = result.confidence_interval.high[rows]
        tolerance = 1e-12 if method == "hall" else 0.1  # wild: other resamples
        assert_allclose(low, direct.low, atol=tolerance)
        assert_allclose(high, direct.high, atol=tolerance)

    def test_estimates_are_the_plain_statistics(self):
        human, judge = scores(np.random.default_rng(15), n=25, n_dimensions=1)
        result = bootstrap_agreement(human, judge, na_policy="zero", variants=VARIANTS,
                                     comparisons=COMPARISONS,
                                     n_resamples=10, rng=np.random.default_rng(0))
        assert_allclose(result.estimate, scipy_statistic(human[:, 0], *judge[:, :, 0]),
                        rtol=1e-12)

    def test_failed_judgments_reduce_the_notebook_counts(self):
        human, judge = scores(np.random.default_rng(16), n=20, n_dimensions=1, flips=(0.5, 0.2))
        judge[1, :3] = np.nan
        result = bootstrap_agreement(human, judge, n_resamples=100, rng=np.random.default_rng(0))
        counts = dict(zip([(s.kind, s.variant) for s in result.statistics],
                          result.n_notebooks, strict=True))
        assert counts[("mae", "0")] == 20
        assert counts[("mae", "1")] == 17
        assert counts[("improvement", "1")] == 17

    def test_bca_falls_back_to_percentile_when_degenerate(self):
        human, judge = scores(np.random.default_rng(17), n=30, n_dimensions=1, flips=(0.5, 0.5))
        judge[1] = judge[0]  # every paired difference is 0
        result = bootstrap_agreement(human, judge, method="bca", n_resamples=500,
                                     rng=np.random.default_rng(0))
        method = dict(zip([s.kind for s in result.statistics], result.method, strict=False))
        assert method["mae"] == "bca"
        assert method["improvement"] == "percentile_fallback"
        improvement = result.statistics.index(Statistic("improvement", "1", "0", "0"))
        assert result.confidence_interval.low[improvement] == 0
        assert result.confidence_interval.high[improvement] == 0

    def test_relative_reduction_is_undefined_where_the_reference_is_perfect(self):
        human = np.full((20, 1), 2.0)
        judge = np.stack([human.copy(), human.copy()])
        judge[0, 0] = 3.0  # the reference errs on one notebook only
        result = bootstrap_agreement(human, judge, n_resamples=1000,
                                     rng=np.random.default_rng(0))
        relative = result.statistics.index(Statistic("relative_reduction", "1", "0", "0"))
        assert result.estimate[relative] == 1
        assert result.method[relative] == "undefined"
        assert result.n_undefined[relative] > 0
        assert np.isnan(result.confidence_interval.low[relative])


class TestValidation:
    human = np.ones((5, 2))
    judge = np.ones((2, 5, 2))

    @pytest.mark.parametrize(("kwargs", "message"), [
        ({"level": 0}, "level must be a number strictly between 0 and 1; got 0"),
        ({"level": 1}, "level must be .* got 1"),
        ({"level": 95}, "level must be .* got 95"),
        ({"level": True}, "level must be .* got True"),
        ({"n_resamples": 0}, "n_resamples must be an integer >= 1; got 0"),
        ({"n_resamples": 10.5}, "n_resamples must be an integer >= 1; got 10.5"),
        ({"method": "basic"}, "method must be one of 'auto', 'cr2', 'wild', 'hall', "
                              "'studentized', 'expanded', 'percentile', 'bca'; got 'basic'"),
        ({"sample_size": 10}, "method 'auto' needs sample_size equal to the number of "
                              "notebooks \\(5\\); got 10: only the percentile"),
        ({"failure_policy": "drop"}, "failure_policy must be one of 'worst', 'exclude'"),
        ({"clusters": ["a"] * 4}, "clusters names 4 cases for 5 notebooks"),
        ({"clusters": ["a"] * 5}, "at least two cases are needed to bootstrap; got 1"),
        ({"sample_size": 0}, "sample_size must be an integer >= 1; got 0"),
        ({"method": "bca", "sample_size": 10},
         "method 'bca' needs sample_size equal to the number of notebooks \\(5\\); got 10"),
        ({"batch": 0}, "batch must be an integer >= 1; got 0"),
        ({"na_policy": "drop"}, "na_policy must be one of 'worst', 'zero', 'exclude'; got 'drop'"),
        ({"variants": ["a"]}, "1 variant names given for an axis of length 2"),
        ({"dimensions": ["a", "a"]}, "dimension names must be unique"),
        ({"variants": ["a", "b"], "comparisons": [("a", "c")]},
         "comparison \\('a', 'c'\\) names variant 'c', which is not among \\['a', 'b'\\]"),
        ({"comparisons": [("0", "1", "2")]}, "a comparison is a \\(reference, candidate\\)"),
    ])
    def test_invalid_arguments(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            bootstrap_agreement(self.human, self.judge, **kwargs)

    def test_rng_must_be_a_generator(self):
        message = r"rng must be a numpy\.random\.Generator or None; got int"
        with pytest.raises(TypeError, match=message):
            bootstrap_agreement(self.human, self.judge, rng=42)

    @pytest.mark.parametrize(("human", "judge", "message"), [
        (np.ones((0, 2)), np.ones((2, 0, 2)), "human is empty"),
        (np.ones((1, 2)), np.ones((2, 1, 2)), "at least two notebooks are needed .*; got 1"),
        (np.full((5, 2), np.nan), np.ones((2, 5, 2)), "no notebook has both a human and a judge"),
        (np.full((5, 2), 3.5), np.ones((2, 5, 2)), "human scores must lie in 0-3"),
        (np.ones((5, 2)), np.full((2, 5, 2), -1.0), "judge scores must be 0 \\(N/A\\), 1, 2 or 3"),
        (np.ones((5, 2)), np.ones((2, 4, 2)), "judge covers 4 notebooks x 2 dimensions but human "
                                              "covers 5 x 2"),
    ])
    def test_invalid_data(self, human, judge, message):
        with pytest.raises(ValueError, match=message):
            bootstrap_agreement(human, judge)

    def test_all_na_under_exclude_leaves_nothing(self):
        with pytest.raises(ValueError, match=r"no notebook has both .* \(after the N/A policy\)"):
            bootstrap_agreement(np.zeros((5, 2)), self.judge, na_policy="exclude")
