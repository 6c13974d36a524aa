import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from nbjudge.stats import adjust_pvalues, power_analysis, sign_flip_test


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


class TestThePrintedVerdict:
    """The verdict adjusts over a family and treats cases as units; so does its power."""

    def test_family_size_sets_the_test_level(self):
        rng = np.random.default_rng(10)
        differences = rng.standard_normal(100)
        result = power_analysis(differences, family_size=9, rng=rng)
        t = stats.t.ppf(1 - 0.05 / 18, 99)
        expected = (t + stats.norm.ppf(0.8)) * empirical_sd(differences) / 10
        assert_allclose(result.minimal_detectable_improvement, expected, rtol=0.05)
        assert result.to_frame().test_level.iloc[0] == pytest.approx(0.05 / 9)
        assert result.family_size == 9

    def test_cases_are_the_units(self):
        rng = np.random.default_rng(11)
        n_cases, size = 40, 5
        case = np.repeat(np.arange(n_cases), size)
        differences = rng.standard_normal(n_cases)[case] + 0.3 * rng.standard_normal(case.size)
        clustered = power_analysis(differences, clusters=case.astype(str),
                                   target_improvement=0.4, rng=rng)
        naive = power_analysis(differences, rng=rng)
        means = differences.reshape(n_cases, size).mean(axis=1)
        expected = (stats.t.ppf(0.975, n_cases - 1) + stats.norm.ppf(0.8)) * means.std() \
            / np.sqrt(n_cases)
        assert_allclose(clustered.minimal_detectable_improvement, expected, rtol=0.08)
        assert naive.minimal_detectable_improvement < 0.6 * expected
        assert clustered.n_cases == n_cases
        assert clustered.notebooks_needed == size * clustered.cases_needed

    def test_power_at_target_is_the_share_detected(self):
        rng = np.random.default_rng(12)
        differences = rng.standard_normal(60)
        mdi = float(power_analysis(differences, rng=rng).minimal_detectable_improvement)
        result = power_analysis(differences, target_improvement=mdi, n_simulations=4000,
                                rng=rng)
        assert result.power_at_target == pytest.approx(0.8, abs=0.03)

    @pytest.mark.slow
    def test_prediction_matches_holm_over_case_sign_flips(self):
        """One improved dimension among nine, cases of 1-5 with a case effect: the predicted
        power at the true improvement equals the rate at which Holm over case-level sign
        flips detects it (what the stats stage prints)."""
        rng = np.random.default_rng(13)
        delta, n_experiments = 0.45, 300

        def experiment():
            sizes = rng.integers(1, 6, 25)
            case = np.repeat(np.arange(sizes.size), sizes)
            noise = (0.6 * rng.standard_normal((sizes.size, 9))[case]
                     + 0.8 * rng.standard_normal((case.size, 9)))
            differences = np.round(noise * 2) / 2
            differences[:, 0] += delta
            return differences, case.astype(str)

        detected, predicted = 0, []
        for _ in range(n_experiments):
            differences, clusters = experiment()
            p = sign_flip_test(differences, clusters=clusters, n_resamples=1999,
                               rng=rng).pvalue
            detected += bool(adjust_pvalues(p, "holm")[0] < 0.05)
            predicted.append(float(power_analysis(
                differences[:, :1] - delta, clusters=clusters, family_size=9,
                target_improvement=delta, n_simulations=500, rng=rng).power_at_target[0]))
        assert detected / n_experiments == pytest.approx(np.mean(predicted), abs=0.08)


def test_columns_are_independent_analyses():
    rng = np.random.default_rng(3)
    differences = np.stack([rng.normal(0, 0.5, 50), rng.normal(0, 1.0, 50)], axis=1)
    differences[:10, 1] = np.nan
    result = power_analysis(differences, rng=rng)
    assert result.n_notebooks.tolist() == [50, 40]
    small, large = result.minimal_detectable_improvement
    assert small < large
    assert result.notebooks_needed[0] < result.notebooks_needed[1]
    assert result.to_frame().shape == (2, 11)


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
