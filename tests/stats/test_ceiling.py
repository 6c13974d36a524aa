import krippendorff
import numpy as np
import pytest
from numpy.testing import assert_allclose

from nbjudge.stats import human_ceiling
from nbjudge.stats.ceiling import gap_closed

nan = np.nan
# Three raters, four notebooks, one dimension; notebook 3 has a single rating.
RATINGS = np.array([
    [[2], [3], [1], [2]],
    [[2], [2], [1], [nan]],
    [[nan], [3], [3], [nan]],
], dtype=float)


def test_hand_worked_human_mae_and_alpha():
    # Rater-pair differences: notebook 0: 0; notebook 1: 1, 0, 1; notebook 2: 0, 2, 2.
    # Per-notebook means 0, 2/3, 4/3; their mean is 2/3.
    result = human_ceiling(RATINGS, dimensions=["model_use"])
    assert result.n_notebooks.tolist() == [3]
    assert_allclose(result.human_mae, [2 / 3])
    expected = krippendorff.alpha(reliability_data=RATINGS[:, :3, 0],
                                  level_of_measurement="ordinal")
    assert_allclose(result.human_alpha, [expected])
    frame = result.to_frame()
    assert frame.columns.tolist() == ["dimension", "n_notebooks", "human_mae", "human_alpha",
                                      "min_alpha", "status"]


def test_flags_dimensions_with_low_agreement():
    rng = np.random.default_rng(0)
    truth = rng.integers(1, 4, 40)
    agreeing = np.stack([truth, truth])
    random = rng.integers(1, 4, (2, 40))
    ratings = np.stack([agreeing, random], axis=-1).astype(float)
    result = human_ceiling(ratings, min_alpha=0.667)
    assert result.status == ("ok", "low_agreement")
    assert result.human_mae[0] == 0


def test_single_rated_dimension_is_insufficient():
    ratings = np.array([[[2.0]], [[nan]]])
    result = human_ceiling(ratings)
    assert result.status == ("insufficient",)
    assert result.n_notebooks.tolist() == [0]
    assert np.isnan(result.human_mae[0])


def test_exclude_policy_drops_na_ratings():
    ratings = np.array([[[0.0], [2.0]], [[3.0], [2.0]]])
    assert_allclose(human_ceiling(ratings, na_policy="zero").human_mae, [1.5])
    excluded = human_ceiling(ratings, na_policy="exclude")
    assert excluded.n_notebooks.tolist() == [1]
    assert_allclose(excluded.human_mae, [0.0])


def test_gap_closed():
    # Published model-training numbers: 0.680 -> 0.180 against a human MAE of 0.10.
    assert_allclose(gap_closed(0.680, 0.180, 0.10), 0.5 / 0.58)
    assert_allclose(gap_closed([0.5, 0.5], [0.5, 0.3], [0.1, 0.1]), [0.0, 0.5])
    assert np.isnan(gap_closed(0.1, 0.05, 0.2))  # already below the human ceiling


@pytest.mark.parametrize(("ratings", "kwargs", "message"), [
    (np.ones((2, 3)), {}, r"ratings must be 3-D \(rater, notebook, dimension\)"),
    (np.ones((0, 3, 1)), {}, "ratings is empty"),
    (np.full((2, 3, 1), 4.0), {}, r"ratings must lie in 0-3 \(N/A encoded as 0\)"),
    (np.ones((2, 3, 1)), {"na_policy": "skip"}, "na_policy must be one of"),
    (np.ones((2, 3, 1)), {"min_alpha": 2}, r"min_alpha must lie in \[-1, 1\]; got 2"),
    (np.ones((2, 3, 1)), {"dimensions": ["a", "b"]}, "2 dimension names given"),
])
def test_invalid(ratings, kwargs, message):
    with pytest.raises(ValueError, match=message):
        human_ceiling(ratings, **kwargs)
