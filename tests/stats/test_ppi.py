"""PPI++ for a mean: the authors' package, exact reductions, and coverage with cases."""

import importlib
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from scipy import stats

from nbjudge.stats.ppi import ppi_mean

# `make env` installs the authors' package (ppi-python) in a folder of its own; appended, not
# prepended, to sys.path: it ships a top-level `tests` package that must not shadow ours.
REFERENCE = Path(__file__).resolve().parents[2] / ".venv" / "reference"


@pytest.fixture(scope="module")
def ppi_py() -> ModuleType:
    if str(REFERENCE) not in sys.path:
        sys.path.append(str(REFERENCE))
    try:
        return importlib.import_module("ppi_py")
    except ImportError as error:
        pytest.fail(f"the reference package ppi_py is missing ({error}): run `make env`")


def _sample(seed, n=40, big_n=300):
    rng = np.random.default_rng(seed)
    truth = rng.normal(2.0, 0.6, n + big_n)
    judge = truth + 0.4 + rng.normal(0, 0.5, n + big_n)  # biased and noisy
    human = truth + rng.normal(0, 0.3, n + big_n)
    return human[:n], judge[:n], judge[n:]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("lam", [None, 0.0, 0.3, 1.0])
@pytest.mark.parametrize("level", [0.9, 0.95])
def test_equals_the_authors_ppi_py(ppi_py, seed, lam, level):
    y, f, f_u = _sample(seed)
    result = ppi_mean(y, f, f_u, level=level, lam=lam)
    low, high = ppi_py.ppi_mean_ci(y, f, f_u, alpha=1 - level, lam=lam)
    estimate = ppi_py.ppi_mean_pointestimate(y, f, f_u, lam=lam)
    assert result.estimate == pytest.approx(float(np.ravel(estimate)[0]), abs=1e-8)
    assert result.low == pytest.approx(float(np.ravel(low)[0]), abs=1e-8)
    assert result.high == pytest.approx(float(np.ravel(high)[0]), abs=1e-8)


def test_tuned_lambda_is_the_authors(ppi_py):
    y, f, f_u = _sample(7)
    tuned = ppi_mean(y, f, f_u)
    # The tuned estimate equals the package's at the lambda we report.
    assert tuned.estimate == pytest.approx(
        float(np.ravel(ppi_py.ppi_mean_pointestimate(y, f, f_u, lam=tuned.lam))[0]), abs=1e-10)
    assert tuned.estimate == pytest.approx(
        float(np.ravel(ppi_py.ppi_mean_pointestimate(y, f, f_u))[0]), abs=1e-8)
    assert 0 < tuned.lam < 1


def test_clustered_with_one_notebook_per_case_is_iid_times_n_over_n_minus_1():
    y, f, f_u = _sample(3)
    iid = ppi_mean(y, f, f_u, lam=0.6)
    clustered = ppi_mean(y, f, f_u, lam=0.6, clusters=[f"l{i}" for i in range(y.size)],
                         clusters_ungraded=[f"u{i}" for i in range(f_u.size)])
    assert clustered.estimate == pytest.approx(iid.estimate, abs=1e-12)
    assert clustered.standard_error**2 == pytest.approx(
        iid.standard_error**2 * y.size / (y.size - 1), rel=1e-12)
    assert clustered.df == y.size - 1


def test_lambda_zero_clustered_is_the_t_interval_of_the_grades():
    y, f, f_u = _sample(4, n=15)
    result = ppi_mean(y, f, f_u, lam=0.0, level=0.9, clusters=[str(i) for i in range(15)],
                      clusters_ungraded=[f"u{i}" for i in range(f_u.size)])
    expected = stats.ttest_1samp(y, 0).confidence_interval(0.9)
    assert (result.low, result.high) == pytest.approx((expected.low, expected.high), abs=1e-12)
    assert result.classic_standard_error == pytest.approx(stats.sem(y), abs=1e-12)


def _clustered_world(rng, n_cases=30, per_case=4, graded_cases=10):
    """Strong case effects; experts grade every notebook of a few cases (grading a case at
    a time, as a team short of time does)."""
    case_effect = rng.normal(0, 1.0, n_cases)
    truth = 2.0 + case_effect[:, None] + rng.normal(0, 0.3, (n_cases, per_case))
    judge = truth + 0.5 + 0.3 * case_effect[:, None] + rng.normal(0, 0.3, truth.shape)
    graded = np.zeros(n_cases, dtype=bool)
    graded[rng.choice(n_cases, graded_cases, replace=False)] = True
    cases = np.repeat(np.arange(n_cases), per_case).reshape(n_cases, per_case).astype(str)
    return (truth[graded].ravel(), judge[graded].ravel(), judge[~graded].ravel(),
            cases[graded].ravel(), cases[~graded].ravel())


def test_clustered_interval_covers_where_the_iid_one_does_not():
    """The mean over all notebooks of the world is 2.0 in expectation; 400 experiments."""
    rng = np.random.default_rng(11)
    covered = {"iid": 0, "clustered": 0}
    experiments = 400
    for _ in range(experiments):
        y, f, f_u, c, c_u = _clustered_world(rng)
        for name, result in (("iid", ppi_mean(y, f, f_u)),
                             ("clustered", ppi_mean(y, f, f_u, clusters=c,
                                                    clusters_ungraded=c_u))):
            covered[name] += result.low <= 2.0 <= result.high
    # Binomial tolerance around 95%: two-sided test at 0.001.
    assert stats.binomtest(covered["clustered"], experiments, 0.95).pvalue > 1e-3, covered
    assert covered["iid"] / experiments < 0.85, covered


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"human": [1.0], "judge": [1.0]}, "at least 2 graded"),
    ({"human": [1.0, 2.0], "judge": [1.0]}, "human has 2 scores but judge 1"),
    ({"human": [1.0, np.nan], "judge": [1.0, 2.0]}, "human must be finite"),
    ({"level": 1.5}, "level must be a number strictly between 0 and 1"),
    ({"lam": 2.0}, r"lam must lie in \[0, 1\]"),
    ({"clusters": ["a", "b"]}, "give clusters for both"),
    ({"clusters": ["a"], "clusters_ungraded": ["a", "b"]}, "clusters name 1 and 2 cases"),
    ({"judge_ungraded": [[1.0]]}, "judge_ungraded must be 1-D"),
])
def test_errors_name_the_problem(kwargs, message):
    arguments = {"human": [1.0, 2.0], "judge": [1.0, 3.0], "judge_ungraded": [2.0, 2.0]}
    arguments.update(kwargs)
    human, judge, ungraded = (arguments.pop(k) for k in ("human", "judge", "judge_ungraded"))
    with pytest.raises(ValueError, match=message):
        ppi_mean(human, judge, ungraded, **arguments)
