"""Comparison of arms: exact computations, policies, PPI, coverage, the grading sample."""

import itertools
from collections import Counter

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from nbjudge.schemas import (
    DIMENSIONS,
    ArmComparison,
    Judgment,
    Label,
    read_records,
    write_records,
)
from nbjudge.stats.compare import arm_table, compare_arms, grading_sample
from nbjudge.stats.ppi import ppi_mean


def _world(rng, n_cases=20, per_case=4, n_dimensions=3, shift=0.0, bias=(0.0, 0.0),
           graded=0.25):
    """Two arms on the same cases: a case effect common to both, the candidate's true
    score shifted by ``shift``, a judge biased by ``bias[arm]``; continuous scores are
    rounded to 1-3. Grades on a stratified sample."""
    case = rng.normal(0, 0.5, (1, n_cases, 1, n_dimensions))
    truth = 2.0 + case + np.array([0.0, shift])[:, None, None, None] + rng.normal(
        0, 0.4, (2, n_cases, per_case, n_dimensions))
    human = np.clip(np.rint(truth + rng.normal(0, 0.3, truth.shape)), 1, 3)
    judge = np.clip(np.rint(truth + np.array(bias)[:, None, None, None]
                            + rng.normal(0, 0.5, truth.shape)), 1, 3)
    ids = [f"{a}/{g}/{k}" for a in range(2) for g in range(n_cases) for k in range(per_case)]
    chosen = set(grading_sample(ids, [i.split("/")[0] for i in ids],
                                [i.split("/")[1] for i in ids], fraction=graded,
                                seed=int(rng.integers(2**31))))
    mask = np.array([i in chosen for i in ids]).reshape(2, n_cases, per_case, 1)
    return judge, np.where(mask, human, np.nan)


def test_judge_only_difference_is_the_paired_t_interval_of_case_means():
    rng = np.random.default_rng(1)
    judge, _ = _world(rng)
    result = compare_arms(judge, level=0.9, mdd=False, rng=rng)
    means = judge.mean(axis=2)  # (arm, case, dimension)
    for d in range(3):
        expected = stats.ttest_rel(means[1, :, d], means[0, :, d]).confidence_interval(0.9)
        assert result.difference[0, d] == pytest.approx(
            (means[1, :, d] - means[0, :, d]).mean(), abs=1e-12)
        assert (result.low[0, d], result.high[0, d]) == pytest.approx(
            (expected.low, expected.high), abs=1e-12)
        arm = stats.ttest_1samp(means[1, :, d], 0).confidence_interval(0.9)
        assert (result.arms.low[1, d], result.arms.high[1, d]) == pytest.approx(
            (arm.low, arm.high), abs=1e-12)


def test_p_value_flips_whole_cases_exactly():
    rng = np.random.default_rng(2)
    judge, _ = _world(rng, n_cases=8, n_dimensions=1, shift=0.3)
    result = compare_arms(judge, mdd=False, rng=rng)
    d = (judge[1].mean(axis=1) - judge[0].mean(axis=1))[:, 0]
    null = [abs(np.dot(s, d)) for s in itertools.product([-1, 1], repeat=d.size)]
    expected = np.mean(np.array(null) >= abs(d.sum()) - 1e-12)
    assert result.p_value[0, 0] == pytest.approx(expected, abs=1e-12)


def test_holm_over_every_dimension_of_every_comparison():
    rng = np.random.default_rng(3)
    judge, _ = _world(rng, n_dimensions=4, shift=0.2)
    third = np.clip(judge[1:] + rng.integers(-1, 2, judge[1:].shape), 1, 3)
    result = compare_arms(np.concatenate([judge, third]), arms=["a", "b", "c"], mdd=False,
                          rng=rng)
    assert result.comparisons == (("a", "b"), ("a", "c"))
    expected = multipletests(result.p_value.ravel(), method="holm")[1]
    np.testing.assert_allclose(result.p_holm.ravel(), expected, atol=1e-12)


def test_failure_and_na_policies_and_rates():
    judge = np.full((2, 2, 2, 1), 2.0)
    judge[1, 0, 0, 0] = np.nan       # failed
    judge[1, 1, 0, 0] = 0.0          # N/A
    failed = np.isnan(judge)
    worst = compare_arms(judge, failed=failed, mdd=False)
    # candidate cases: (1 + 2) / 2 and (1 + 2) / 2 under "worst" for both
    assert worst.arms.mean[1, 0] == pytest.approx(1.5)
    assert worst.arms.failure_rate[1, 0] == pytest.approx(0.25)
    assert worst.arms.na_rate[1, 0] == pytest.approx(1 / 3)
    excluded = compare_arms(judge, failed=failed, na_policy="exclude",
                            failure_policy="exclude", mdd=False)
    assert excluded.arms.mean[1, 0] == pytest.approx(2.0)
    assert excluded.arms.n_notebooks[1, 0] == 2
    zero = compare_arms(judge, failed=failed, na_policy="zero", failure_policy="exclude",
                        mdd=False)
    assert zero.arms.mean[1, 0] == pytest.approx((2.0 + 1.0) / 2)


def test_means_are_over_cases_whatever_their_notebook_counts():
    judge = np.full((2, 2, 3, 1), np.nan)
    judge[:, 0, :, 0] = 3.0          # a case of three notebooks scoring 3
    judge[:, 1, 0, 0] = 1.0          # a case of one scoring 1
    result = compare_arms(judge, mdd=False)
    assert result.arms.mean[0, 0] == pytest.approx(2.0)


def test_ppi_of_an_arm_is_the_clustered_ppi_mean():
    rng = np.random.default_rng(4)
    judge, human = _world(rng, n_dimensions=1)
    result = compare_arms(judge, human=human, mdd=False, rng=rng)
    arm = 1
    graded = ~np.isnan(human[arm, ..., 0])
    cases = np.broadcast_to(np.arange(20)[:, None], graded.shape).astype(str)
    expected = ppi_mean(human[arm, ..., 0][graded], judge[arm, ..., 0][graded],
                        judge[arm, ..., 0][~graded], clusters=cases[graded],
                        clusters_ungraded=cases[~graded])
    assert result.arms.ppi_mean[arm, 0] == pytest.approx(expected.estimate, abs=1e-12)
    assert result.arms.ppi_low[arm, 0] == pytest.approx(expected.low, abs=1e-12)
    assert result.arms.ppi_lambda[arm, 0] == pytest.approx(expected.lam, abs=1e-12)


def test_ppi_difference_covers_when_the_judge_is_biased_for_one_arm():
    """No true difference; the judge scores the candidate 0.4 higher. The judge-only
    interval misses, the PPI interval covers at its level (200 experiments)."""
    rng = np.random.default_rng(5)
    experiments, covered, judge_covered, flagged = 200, 0, 0, 0
    for _ in range(experiments):
        judge, human = _world(rng, n_dimensions=1, bias=(0.0, 0.4), graded=0.3)
        result = compare_arms(judge, human=human, mdd=False, n_resamples=99, rng=rng)
        covered += result.ppi_low[0, 0] <= 0 <= result.ppi_high[0, 0]
        judge_covered += result.low[0, 0] <= 0 <= result.high[0, 0]
        flagged += bool(result.judge_outside_ppi[0, 0])
    assert stats.binomtest(covered, experiments, 0.95).pvalue > 1e-3, covered
    assert judge_covered / experiments < 0.5
    assert flagged / experiments > 0.3


def test_records_round_trip(tmp_path):
    rng = np.random.default_rng(6)
    judge, human = _world(rng, n_dimensions=len(DIMENSIONS))
    result = compare_arms(judge, human=human, arms=["v1", "v2"], dimensions=DIMENSIONS,
                          rng=rng)
    records = result.to_records()
    assert len(records) == len(DIMENSIONS)
    write_records(tmp_path / "comparisons.jsonl", records)
    assert read_records(tmp_path / "comparisons.jsonl", ArmComparison) == records
    first = records[0]
    assert (first.reference, first.candidate, first.family_size) == ("v1", "v2", 9)
    assert first.ppi is not None and first.mdd is not None and first.mdd > 0
    assert len(result.to_frame()) == len(DIMENSIONS)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"judge": np.ones((2, 2, 2))}, "judge must be 4-D"),
    ({"judge": np.ones((1, 2, 2, 1))}, "at least 2 arms and 2 cases"),
    ({"judge": np.full((2, 2, 1, 1), 4.0)}, "judge scores must be 0"),
    ({"failed": np.ones((2, 2, 1, 1), dtype=bool)}, "a failed judgment carries no score"),
    ({"failed": np.zeros((2, 1), dtype=bool)}, "failed has shape"),
    ({"human": np.full((2, 2, 1, 1), 5.0)}, "human scores must lie in 0-3"),
    ({"human": np.ones((2, 2))}, "human has shape"),
    ({"reference": "c"}, "reference 'c' is not among the arms"),
    ({"arms": ["a", "a"]}, "arm names must be unique"),
    ({"na_policy": "drop"}, "na_policy must be one of"),
    ({"failure_policy": "zero"}, "failure_policy must be one of"),
    ({"level": 0}, "level must be a number"),
])
def test_errors_name_the_problem(kwargs, message):
    arguments = {"judge": np.full((2, 2, 1, 1), 2.0), "arms": ["a", "b"]}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        compare_arms(arguments.pop("judge"), **arguments)


def test_a_grade_needs_a_notebook():
    judge = np.full((2, 2, 2, 1), 2.0)
    judge[0, 0, 1] = np.nan
    human = np.full(judge.shape, np.nan)
    human[0, 0, 1] = 2.0
    with pytest.raises(ValueError, match="a grade is given for a notebook the judge never saw"):
        compare_arms(judge, human=human)


def _suite(n_cases=10, per_case=(4, 3)):
    rows = [(f"{arm}-{c}-{k}", arm, f"case{c}") for a, arm in enumerate(("ref", "new"))
            for c in range(n_cases) for k in range(per_case[a])]
    return [list(column) for column in zip(*rows, strict=True)]


def test_grading_sample_is_seeded_stratified_and_paired_by_case():
    notebooks, arms, cases = _suite()
    chosen = grading_sample(notebooks, arms, cases, fraction=0.25, seed=3)
    assert chosen == grading_sample(notebooks, arms, cases, fraction=0.25, seed=3)
    assert chosen != grading_sample(notebooks, arms, cases, fraction=0.25, seed=4)
    per_arm = Counter(n.split("-")[0] for n in chosen)
    assert per_arm == {"ref": 10, "new": round(0.25 * 30)}
    per_case = {arm: Counter(n.split("-")[1] for n in chosen if n.startswith(arm))
                for arm in ("ref", "new")}
    assert set(per_case["ref"].values()) == {1}      # 10 grades over 10 cases
    assert set(per_case["new"]) <= set(per_case["ref"])  # the same cases first
    assert max(per_case["new"].values()) == 1


def test_grading_sample_fills_small_cases_elsewhere():
    notebooks, arms, cases = _suite(n_cases=3, per_case=(1, 4))
    chosen = grading_sample(notebooks, arms, cases, fraction=1.0, seed=0)
    assert len(chosen) == 15


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"fraction": 0}, r"fraction must lie in \(0, 1\]"),
    ({"seed": -1}, "seed must be an integer >= 0"),
    ({"arms": ["a"]}, "must align"),
    ({"notebooks": ["x", "x"]}, "notebook ids must be unique"),
])
def test_grading_sample_errors(kwargs, message):
    arguments = {"notebooks": ["x", "y"], "arms": ["a", "a"], "cases": ["1", "2"],
                 "fraction": 0.5, "seed": 0}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        grading_sample(arguments.pop("notebooks"), arguments.pop("arms"),
                       arguments.pop("cases"), **arguments)


def _judgment(notebook, dimension, score, status="ok"):
    return Judgment(notebook_id=notebook, dimension=dimension, variant="full", status=status,
                    score=score if status == "ok" else None, model="m",
                    error=None if status == "ok" else "timeout")


def _label(notebook, dimension, score, rater):
    return Label(notebook_id=notebook, dimension=dimension, score=score, rationale="seen",
                 rater_id=rater, source="human")


def test_arm_table_from_records():
    judgments = [_judgment("n1", "model_use", 3), _judgment("n1", "data_exploration", "N/A"),
                 _judgment("n2", "model_use", 2), _judgment("n2", "data_exploration", 1),
                 _judgment("n3", "model_use", None, "failed"),
                 _judgment("n3", "data_exploration", 2)]
    arm_of = {"n1": "old", "n2": "old", "n3": "new"}
    case_of = {"n1": "c1", "n2": "c1", "n3": "c1"}
    labels = [_label("n1", "model_use", 3, "a"), _label("n1", "model_use", 2, "b"),
              _label("n3", "model_use", "N/A", "a")]
    table = arm_table(judgments, arm_of, case_of, labels, arms=["old", "new"])
    assert (table.arms, table.cases, table.dimensions) == (
        ("old", "new"), ("c1",), ("data_exploration", "model_use"))
    assert table.judge.shape == (2, 1, 2, 2)
    assert table.notebooks.tolist() == [[["n1", "n2"]], [["n3", ""]]]
    np.testing.assert_array_equal(table.judge[0, 0], [[0, 3], [1, 2]])
    assert table.failed[1, 0, 0, 1] and np.isnan(table.judge[1, 0, 0, 1])
    assert table.human[0, 0, 0, 1] == 2.5 and table.human[1, 0, 0, 1] == 0.0
    assert np.isnan(table.human[0, 0, 1]).all()


@pytest.mark.parametrize(("change", "message"), [
    ({"arm_of": {"n1": "old"}}, "have no arm or case"),
    ({"arms": ["old", "other"]}, "do not match the judged arms"),
    ({"judgments": [_judgment("n1", "model_use", 3)] * 2}, "judged twice"),
    ({"labels": [_label("n9", "model_use", 3, "a")]}, "which no judgment of the arms names"),
    ({"labels": [_label("n1", "model_use", 3, "a")] * 2}, "graded notebook 'n1' on "
                                                           "'model_use' twice"),
])
def test_arm_table_errors(change, message):
    arguments = {"judgments": [_judgment("n1", "model_use", 3), _judgment("n2", "model_use", 1)],
                 "arm_of": {"n1": "old", "n2": "new"}, "case_of": {"n1": "c", "n2": "c"},
                 "labels": [], "arms": None}
    arguments.update(change)
    with pytest.raises(ValueError, match=message):
        arm_table(arguments.pop("judgments"), arguments.pop("arm_of"),
                  arguments.pop("case_of"), arguments.pop("labels"), arms=arguments["arms"])
