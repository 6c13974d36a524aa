"""The controls: majority (tie rule), prior (exact expected MAE), calibration, no leakage."""

import numpy as np
import pytest

from nbjudge.alignment import FoldAssignment
from nbjudge.controls import (
    ControlSettings,
    draw_prior,
    fit_calibration,
    majority_score,
    prior_distribution,
    run_controls,
)
from nbjudge.schemas import Judgment, Label
from nbjudge.stats import StatsConfig, analyze_experiment
from nbjudge.stats.controls import expected_absolute_error, prior_expected_mae
from nbjudge.stats.tables import build_table, consensus, paired_errors

DIM = "data_imputation"


def label(notebook, score, dimension=DIM, rater="r1"):
    return Label(notebook_id=notebook, dimension=dimension, score=score, rationale="graded",
                 rater_id=rater, source="human")


def judged(notebook, score, variant="baseline", dimension=DIM, fold=None, repeat=0):
    return Judgment(notebook_id=notebook, dimension=dimension, variant=variant, fold=fold,
                    repeat=repeat, status="ok" if score is not None else "failed",
                    score=score, error=None if score is not None else "timeout", model="m")


def folds(fold_of, k=2, repeat=0):
    return FoldAssignment(k=k, seed=0, repeat=repeat, fold_seed=0, folds=fold_of,
                          cases={n: n for n in fold_of})


def by_key(records, variant):
    return {(j.notebook_id, j.dimension, j.repeat): j for j in records if j.variant == variant}


class TestMajority:
    @pytest.mark.parametrize(("consensus_values", "expected"), [
        ([2, 2, 3], 2),
        ([1, 1, 3, 3], 1),          # tie: equal MAE (1.0 each), so the lower score
        ([1, 1, 2, 2, 3], 2),       # tie 1 vs 2: MAE 0.8 vs 0.6, so 2
        ([3, 3, 2, 2, 1], 2),       # the same counts in another order
        ([0, 0, 0, 2, 2], "N/A"),   # N/A is a score like any other
        ([0, 0, 3, 3], "N/A"),      # tie N/A vs 3: MAE 1.5 each, N/A is the lowest
        ([2.5, 2.5, 1], 3),         # a consensus of 2.5 counts as 3 (half up)
    ])
    def test_most_common_with_the_stated_tie_rule(self, consensus_values, expected):
        assert majority_score(consensus_values) == expected

    def test_nothing_to_count(self):
        assert majority_score([]) is None
        assert majority_score([float("nan")]) is None


class TestPrior:
    def test_distribution_of_rounded_consensus(self):
        assert prior_distribution([0, 1, 1, 2.5]) == {"N/A": 0.25, "1": 0.5, "2": 0.0, "3": 0.25}

    def test_expected_error_by_hand(self):
        uniform = {"N/A": 0.25, "1": 0.25, "2": 0.25, "3": 0.25}
        assert expected_absolute_error(2.0, uniform) == pytest.approx((2 + 1 + 0 + 1) / 4)
        # exclude: N/A draws do not count, nor does a human N/A
        assert expected_absolute_error(2.0, uniform, na_policy="exclude") == pytest.approx(2 / 3)
        assert np.isnan(expected_absolute_error(0.0, uniform, na_policy="exclude"))

    def test_exact_expected_mae_matches_a_simulation(self):
        probabilities = {"N/A": 0.1, "1": 0.2, "2": 0.3, "3": 0.4}
        humans = np.array([0.0, 1.0, 1.5, 2.0, 3.0, 2.5])
        exact = np.mean([expected_absolute_error(h, probabilities, na_policy="zero")
                         for h in humans])
        rng = np.random.default_rng(7)
        n = 40_000
        errors = []
        for h in humans:
            drawn = draw_prior(probabilities, n, rng)
            values = np.array([0.0 if s == "N/A" else float(s) for s in drawn])
            errors.append(np.abs(h - values))
        simulated = np.mean(errors, axis=0)  # per draw: the MAE over the notebooks
        standard_error = simulated.std(ddof=1) / np.sqrt(n)
        assert abs(simulated.mean() - exact) < 4 * standard_error
        assert standard_error < 0.01  # the check has teeth

    def test_pipeline_expected_mae_is_the_mean_of_the_drawn_ones(self):
        """Over many seeds, the prior control's observed MAE averages to its exact
        expectation, as the stats stage computes it from the recorded distributions."""
        notebooks = [f"nb{i}" for i in range(8)]
        scores = [1, 2, 2, 3, "N/A", 3, 1, 2]
        labels = [label(n, s) for n, s in zip(notebooks, scores, strict=True)]
        assignment = folds({n: i % 2 for i, n in enumerate(notebooks)})
        observed, expected = [], None
        for seed in range(300):
            records, run = run_controls(labels, [], [assignment],
                                        ControlSettings(variants=("prior",), seed=seed))
            table = build_table(labels, records)
            human = consensus(table.ratings)
            absolute, _ = paired_errors(human, table.judge)
            observed.append(np.nanmean(absolute[0, :, 0]))
            if expected is None:
                expected = prior_expected_mae(human, table.notebooks, table.dimensions,
                                              run.priors)[DIM]
        standard_error = np.std(observed, ddof=1) / np.sqrt(len(observed))
        assert abs(np.mean(observed) - expected) < 4 * standard_error
        # and the stats stage reports that number
        result = analyze_experiment(labels, records, StatsConfig(reference="prior"),
                                    priors=run.priors)
        assert result.metrics["mae"]["prior"][DIM]["expected"] == pytest.approx(expected)


class TestCalibration:
    def test_judge_one_point_too_high_maps_onto_the_humans(self):
        human = [1, 2, 1, 2, 2, 1]
        mapping = fit_calibration([h + 1 for h in human], human, fallback=2)
        assert mapping["2"] == 1 and mapping["3"] == 2
        assert mapping["1"] == 1  # below anything seen: the fit's lowest level

    def test_na_is_its_own_category(self):
        # The judge says 3 where humans say N/A (no missing values), N/A where humans say 1.
        mapping = fit_calibration([3, 3, 3, 0, 0, 1, 2], [0, 0, 0, 1, 1, 1, 2], fallback=2)
        assert mapping["3"] == "N/A"
        assert mapping["N/A"] == 1
        assert mapping["1"] == 1 and mapping["2"] == 2

    def test_no_numeric_pair_falls_back(self):
        mapping = fit_calibration([0, 0, 0], [2, 2, 3], fallback=2)
        assert mapping == {"N/A": 2, "1": 2, "2": 2, "3": 2}

    def test_out_of_fold_calibration_reproduces_the_humans_exactly(self):
        notebooks = [f"nb{i}" for i in range(8)]
        human = dict(zip(notebooks, [1, 2, 2, 1, 1, 2, 2, 1], strict=True))
        labels = [label(n, s) for n, s in human.items()]
        baseline = [judged(n, s + 1) for n, s in human.items()]
        assignment = folds({n: i % 2 for i, n in enumerate(notebooks)})
        records, run = run_controls(labels, baseline, [assignment],
                                    ControlSettings(variants=("calibrated", "majority")))
        calibrated = by_key(records, "calibrated")
        assert {n: calibrated[(n, DIM, 0)].score for n in notebooks} == human
        assert all(calibrated[(n, DIM, 0)].fold == assignment.fold_of(n) for n in notebooks)
        assert {m.fold for m in run.calibrations} == {0, 1}
        assert all(m.mapping["2"] == 1 and m.mapping["3"] == 2 for m in run.calibrations)
        result = analyze_experiment(labels, [*baseline, *records], StatsConfig())
        assert result.metrics["mae"]["calibrated"][DIM]["value"] == 0.0
        assert result.metrics["mae"]["baseline"][DIM]["value"] == 1.0
        assert "calibrated" not in result.metrics["improvement"]  # a control: contrasts only

    def test_calibrated_full_uses_the_full_judgments_of_its_repeat(self):
        notebooks = [f"nb{i}" for i in range(6)]
        labels = [label(n, 2) for n in notebooks]
        assignments = [folds({n: i % 2 for i, n in enumerate(notebooks)}, repeat=r)
                       for r in (0, 1)]
        full = [judged(n, 3 if r == 0 else 1, variant="full", fold=i % 2, repeat=r)
                for r in (0, 1) for i, n in enumerate(notebooks)]
        records, run = run_controls(labels, full, assignments,
                                    ControlSettings(variants=("calibrated", "calibrated_full")))
        assert run.variants == ["calibrated_full"]
        assert run.skipped == ["calibrated: no judgments of baseline to calibrate"]
        got = by_key(records, "calibrated_full")
        assert len(got) == 12
        assert all(j.score == 2 for j in got.values())
        assert {(m.repeat, m.mapping["3" if m.repeat == 0 else "1"]) for m in run.calibrations} \
            == {(0, 2), (1, 2)}

    def test_a_failed_judgment_stays_failed(self):
        notebooks = [f"nb{i}" for i in range(4)]
        labels = [label(n, 2) for n in notebooks]
        baseline = [judged(n, None if n == "nb0" else 2) for n in notebooks]
        records, _ = run_controls(labels, baseline, [folds({n: i % 2 for i, n in
                                                            enumerate(notebooks)})],
                                  ControlSettings(variants=("calibrated",)))
        failed = [j for j in records if j.status == "failed"]
        assert [j.notebook_id for j in failed] == ["nb0"]
        assert "baseline judgment failed" in failed[0].error


class TestNoLeakage:
    """No control sees a held-out label: changing every label of a fold changes nothing
    that fold receives, while it does change what the other folds learn."""

    @pytest.fixture
    def setting(self):
        rng = np.random.default_rng(3)
        notebooks = [f"nb{i:02d}" for i in range(24)]
        dims = ("data_imputation", "model_training")
        scores = {(n, d): rng.choice(["N/A", 1, 2, 3]) for n in notebooks for d in dims}
        judge = {(n, d): rng.choice(["N/A", 1, 2, 3]) for n in notebooks for d in dims}
        labels = [label(n, scores[(n, d)], dimension=d) for n, d in scores]
        baseline = [judged(n, judge[(n, d)], dimension=d) for n, d in judge]
        assignment = folds({n: i % 3 for i, n in enumerate(notebooks)}, k=3)
        return labels, baseline, assignment

    def test_held_out_labels_never_reach_their_fold(self, setting):
        labels, baseline, assignment = setting
        settings = ControlSettings(variants=("majority", "prior", "calibrated"), seed=5)
        before, _ = run_controls(labels, baseline, [assignment], settings)
        held_out = set(assignment.test_ids(0))
        flipped = [label(x.notebook_id, {"N/A": 3, 1: 3, 2: "N/A", 3: 1}[x.score],
                         dimension=x.dimension) if x.notebook_id in held_out else x
                   for x in labels]
        after, _ = run_controls(flipped, baseline, [assignment], settings)
        key = {(j.variant, j.notebook_id, j.dimension): j for j in before}
        changed_elsewhere = False
        for j in after:
            old = key[(j.variant, j.notebook_id, j.dimension)]
            if j.fold == 0:
                assert j.score == old.score, (j.variant, j.notebook_id, j.dimension)
            else:
                changed_elsewhere |= j.score != old.score
        assert changed_elsewhere, "the flipped labels teach the other folds"
