import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from nbjudge.stats import power_analysis


def empirical_sd(differences):
    """The spread the simulation resamples from: the population sd of the sample."""
    return differences.std(ddof=0)


class TestAgainstNormalTheory:
    def test_minimal_detectable_improvement(self):
        rng = np.random.default_rng(0)
        differences = rng.standard_normal(100)
        result = power_analysis(differences, target_power=0.8, rng=rng)
        # The lower bound t * s / sqrt(n) must exceed a mean that varies by
        # s / sqrt(n): detected with power 0.8 at (t + z_0.8) * s / sqrt(n).
        t = stats.t.ppf(0.975, 99)
        expected = (t + stats.norm.ppf(0.8)) * empirical_sd(differences) / 10
        assert_allclose(result.minimal_detectable_improvement, expected, rtol=0.05)
        assert result.n_notebooks == 100
        assert_allclose(result.standard_deviation, differences.std(ddof=1))

    def test_power_at_the_minimal_detectable_improvement_is_the_target(self):
        rng = np.random.default_rng(1)
        differences = rng.standard_normal(60)
        mdi = power_analysis(differences, rng=rng).minimal_detectable_improvement
        # Fresh normal experiments with that true improvement: t-interval detection rate.
        n_experiments = 4000
        samples = rng.normal(mdi, empirical_sd(differences), (n_experiments, 60))
        low = samples.mean(axis=1) - stats.t.ppf(0.975, 59) * samples.std(axis=1, ddof=1) / 60**0.5
        detected = int(np.sum(low > 0))
        assert stats.binomtest(detected, n_experiments, 0.8).pvalue > 0.001

    @pytest.mark.parametrize("target", [0.1, 0.2])
    def test_notebooks_needed(self, target):
        rng = np.random.default_rng(2)
        differences = rng.standard_normal(80)
        result = power_analysis(differences, target_improvement=target, max_notebooks=5000,
                                rng=rng)
        z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
        expected = (z * empirical_sd(differences) / target) ** 2
        assert_allclose(result.notebooks_needed, expected, rtol=0.1)


def test_columns_are_independent_analyses():
    rng = np.random.default_rng(3)
    differences = np.stack([rng.normal(0, 0.5, 50), rng.normal(0, 1.0, 50)], axis=1)
    differences[:10, 1] = np.nan
    result = power_analysis(differences, rng=rng)
    assert result.n_notebooks.tolist() == [50, 40]
    small, large = result.minimal_detectable_improvement
    assert small < large
    assert result.notebooks_needed[0] < result.notebooks_needed[1]
    assert result.to_frame().shape == (2, 6)


def test_undefined_cases():
    differences = np.full((30, 3), 0.5)
    differences[:, 1] = np.nan
    differences[1:, 2] = np.nan
    result = power_analysis(differences, rng=np.random.default_rng(0))
    assert np.all(np.isnan(result.minimal_detectable_improvement))  # no spread, 0 and 1 notebook
    assert np.all(np.isnan(result.notebooks_needed))
    too_many = power_analysis(np.random.default_rng(1).standard_normal(30),
                              target_improvement=0.01, max_notebooks=100,
                              rng=np.random.default_rng(2))
    assert np.isnan(too_many.notebooks_needed)


def test_same_seed_same_numbers():
    differences = np.random.default_rng(4).standard_normal((40, 2))
    one = power_analysis(differences, rng=np.random.default_rng(5))
    two = power_analysis(differences, rng=np.random.default_rng(5))
    assert np.array_equal(one.minimal_detectable_improvement, two.minimal_detectable_improvement)
    assert np.array_equal(one.notebooks_needed, two.notebooks_needed)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"level": 1.5}, "level must be a number strictly between 0 and 1; got 1.5"),
    ({"target_power": 1}, "target_power must lie strictly between 0 and 1; got 1"),
    ({"target_improvement": 0}, "target_improvement must be positive; got 0"),
    ({"n_simulations": 0}, "n_simulations must be an integer >= 1; got 0"),
    ({"max_notebooks": 1}, "max_notebooks must be an integer >= 2; got 1"),
])
def test_invalid(kwargs, message):
    with pytest.raises(ValueError, match=message):
        power_analysis(np.ones(10), **kwargs)


def test_empty():
    with pytest.raises(ValueError, match=r"differences is empty \(shape \(0,\)\)"):
        power_analysis(np.ones(0))
