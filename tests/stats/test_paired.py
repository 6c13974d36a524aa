"""Cluster-robust intervals of paired differences: against theory, explicit matrices and
simulation."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import linalg, stats

from nbjudge.stats import paired_interval
from nbjudge.stats.paired import case_sums


def explicit_cr2(y, clusters, level=0.95):
    """CR2 variance and Bell-McCaffrey df of the mean with explicit matrices:
    V = (X'X)^-1 sum_g X_g' A_g e_g e_g' A_g X_g (X'X)^-1, A_g = (I - H_gg)^(-1/2), and
    df = (sum_g p_g' M p_g)^2 / sum_(g,h) (p_g' M p_h)^2 (Pustejovsky & Tipton 2018, eq. 11
    with a working identity covariance)."""
    n = y.size
    x = np.ones((n, 1))
    bread = 1 / n
    e = y - y.mean()
    m = np.eye(n) - np.ones((n, n)) / n
    meat, vectors = 0.0, []
    for g in np.unique(clusters):
        at = clusters == g
        h = x[at] @ x[at].T * bread
        a = np.real(linalg.inv(linalg.sqrtm(np.eye(at.sum()) - h)))
        meat += (x[at].T @ a @ e[at]).item() ** 2
        p = np.zeros(n)
        p[at] = (a @ x[at] * bread).ravel()
        vectors.append(p)
    p = np.array(vectors)
    b = p @ m @ p.T
    df = np.trace(b) ** 2 / np.sum(b**2)
    se = np.sqrt(bread * meat * bread)
    half = stats.t.ppf(1 - (1 - level) / 2, df) * se
    return y.mean() - half, y.mean() + half, se, df


class TestAgainstTheory:
    def test_one_notebook_per_case_is_the_t_interval(self):
        y = np.random.default_rng(0).normal(0.3, 1, 30)
        result = paired_interval(y)
        low, high = stats.t.interval(0.95, 29, y.mean(), stats.sem(y))
        assert_allclose([result.low, result.high], [low, high], rtol=1e-12)
        assert_allclose(result.df, 29)

    def test_equal_cases_give_the_t_interval_of_case_means(self):
        y = np.random.default_rng(1).normal(0, 1, 40)
        clusters = np.repeat(np.arange(8), 5).astype(str)
        result = paired_interval(y, clusters)
        means = y.reshape(8, 5).mean(axis=1)
        low, high = stats.t.interval(0.95, 7, means.mean(), stats.sem(means))
        assert_allclose([result.low, result.high], [low, high], rtol=1e-12)
        assert_allclose(result.df, 7)

    @pytest.mark.parametrize("seed", [2, 3, 4])
    def test_unequal_cases_equal_the_explicit_matrices(self, seed):
        rng = np.random.default_rng(seed)
        sizes = rng.integers(1, 6, 9)
        clusters = np.repeat(np.arange(sizes.size), sizes)
        y = rng.choice([-1.0, 0.0, 0.0, 0.0, 1.0, 2.0], clusters.size)
        result = paired_interval(y, clusters.astype(str))
        low, high, se, df = explicit_cr2(y, clusters)
        assert_allclose([result.low, result.high, result.standard_error, result.df],
                        [low, high, se, df], rtol=1e-9)

    def test_missing_differences_leave_their_case(self):
        y = np.array([[1.0, 1.0], [np.nan, 0.0], [0.0, 2.0], [2.0, np.nan], [1.0, 1.0]])
        clusters = ["a", "a", "b", "b", "c"]
        sums, counts = case_sums(y, clusters)
        assert_allclose(sums, [[1, 1], [2, 2], [1, 1]])
        assert_allclose(counts, [[1, 2], [2, 1], [1, 1]])
        result = paired_interval(y, clusters)
        assert result.n_notebooks.tolist() == [4, 4]
        assert result.n_cases.tolist() == [3, 3]
        assert_allclose(result.estimate, [1.0, 1.0])


class TestEdges:
    def test_one_case_has_no_interval(self):
        result = paired_interval(np.array([1.0, 0.0, 2.0]), ["a", "a", "a"])
        assert np.isnan(result.low) and np.isnan(result.high)
        assert result.n_cases == 1

    def test_no_spread_gives_the_point(self):
        result = paired_interval(np.zeros(10))
        assert (result.low, result.high) == (0.0, 0.0)

    def test_trailing_shape_and_frame(self):
        result = paired_interval(np.random.default_rng(5).normal(size=(20, 2, 3)))
        assert result.low.shape == (2, 3)
        assert len(result.to_frame()) == 6

    @pytest.mark.parametrize(("kwargs", "message"), [
        ({"level": 1.5}, "level must be a number strictly between 0 and 1"),
        ({"method": "bootstrap"},
         "method must be one of 'cr2', 'wild', 'hall'; got 'bootstrap'"),
        ({"n_resamples": 0}, "n_resamples must be an integer >= 1"),
        ({"clusters": ["a"]}, "clusters names 1 cases for 4 notebooks"),
    ])
    def test_invalid(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            paired_interval(np.zeros(4), **kwargs)

    def test_invalid_differences(self):
        with pytest.raises(ValueError, match="differences is empty"):
            paired_interval(np.zeros(0))
        with pytest.raises(ValueError, match="finite or NaN"):
            paired_interval(np.array([1.0, np.inf]))


class TestWild:
    def test_close_to_cr2_with_many_cases(self):
        rng = np.random.default_rng(6)
        y = rng.normal(0.2, 1, 400)
        clusters = np.repeat(np.arange(100), 4).astype(str)
        cr2 = paired_interval(y, clusters)
        wild = paired_interval(y, clusters, method="wild", n_resamples=20_000, rng=rng)
        assert_allclose([wild.low, wild.high], [cr2.low, cr2.high], atol=0.02)

    def test_same_seed_same_interval(self):
        y = np.random.default_rng(7).normal(size=30)
        one, two = (paired_interval(y, method="wild", n_resamples=500,
                                    rng=np.random.default_rng(8)) for _ in range(2))
        assert (one.low, one.high) == (two.low, two.high)


class TestHall:
    def test_symmetric_differences_give_the_cr2_interval(self):
        y = np.array([-2.0, -1.0, 0.0, 0.0, 1.0, 2.0] * 3)
        hall, cr2 = (paired_interval(y, method=m) for m in ("hall", "cr2"))
        assert_allclose([hall.low, hall.high], [cr2.low, cr2.high], atol=1e-12)

    def test_right_skew_moves_the_interval_up(self):
        y = np.array([0.0] * 16 + [1.0, 1.0, 2.0, 3.0])
        hall, cr2 = (paired_interval(y, method=m) for m in ("hall", "cr2"))
        assert hall.low > cr2.low and hall.high > cr2.high
        assert hall.low < y.mean() < hall.high
        flipped = paired_interval(-y, method="hall")
        assert_allclose([flipped.low, flipped.high], [-hall.high, -hall.low])

    def test_no_spread_gives_the_point(self):
        result = paired_interval(np.ones(6), method="hall")
        assert result.low == result.high == 1.0

    @pytest.mark.slow
    def test_balances_the_misses_of_a_skewed_mean(self):
        """A mean absolute error that is mostly 0 (Poisson 0.35, capped at 3), n = 40: the
        plain t-interval misses mostly with the truth above it and covers under 95%; Hall's
        correction covers at least 95% (it is conservative here: about 0.963) with its misses
        on both sides."""
        rng = np.random.default_rng(10)
        truth = np.minimum(np.random.default_rng(11).poisson(0.35, 2_000_000), 3).mean()
        misses = {m: [0, 0] for m in ("cr2", "hall")}
        n_experiments = 4000
        for _ in range(n_experiments):
            y = np.minimum(rng.poisson(0.35, 40), 3).astype(float)
            for method, counts in misses.items():
                result = paired_interval(y, method=method)
                counts[0] += int(truth < result.low)
                counts[1] += int(truth > result.high)
        cr2_below, cr2_above = misses["cr2"]
        hall_below, hall_above = misses["hall"]
        assert cr2_above > 3 * cr2_below
        assert stats.binomtest(cr2_below + cr2_above, n_experiments, 0.05).pvalue < 0.01
        assert stats.binomtest(hall_below + hall_above, n_experiments, 0.05,
                               alternative="greater").pvalue > 0.01
        assert hall_above < 2 * hall_below


@pytest.mark.slow
def test_coverage_on_tie_heavy_clustered_differences():
    """Differences of two lenient judges on 1/2/3 scores: 70% exactly 0, a case effect, cases
    of 1-5; the CR2 interval covers the true mean at 95% within binomial tolerance."""
    rng = np.random.default_rng(9)
    n_experiments, covered = 2000, 0
    values = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    for _ in range(n_experiments):
        sizes = rng.integers(1, 6, 14)
        case = np.repeat(np.arange(sizes.size), sizes)
        shift = 0.6 * rng.standard_normal(sizes.size)[case]
        probabilities = np.stack([np.full(case.size, 0.05), 0.1 + 0.05 * (shift < 0),
                                  np.full(case.size, 0.7), 0.1 + 0.05 * (shift > 0),
                                  np.full(case.size, 0.05)])
        probabilities /= probabilities.sum(axis=0)
        draws = (rng.random(case.size) > np.cumsum(probabilities, axis=0)).sum(axis=0)
        result = paired_interval(values[draws], case.astype(str))
        covered += int(result.low <= 0 <= result.high)  # symmetric: the true mean is 0
    assert stats.binomtest(covered, n_experiments, 0.95).pvalue > 0.01
