"""`compare.judges=calibrated|calibrated_full`: the judges' scores through the calibration
learned on every expert label of the experiment, stated in each record."""

from __future__ import annotations

import pytest

from nbjudge.compare.calibrated import apply_calibration, fit_all_labels
from nbjudge.compare.judging import load_calibration
from nbjudge.config import compose_params
from nbjudge.controls import ControlSettings
from nbjudge.errors import InputError
from nbjudge.params import load_params
from nbjudge.schemas import DIMENSIONS, Judgment, Label, write_records
from testing.stage_runs import ROOT

DIMENSION = "model_training"


def _labels(truth: dict[str, int]) -> list[Label]:
    return [Label(notebook_id=n, dimension=d, score=s, rationale="seen", rater_id=r,
                  source="human")
            for n, s in truth.items() for d in DIMENSIONS for r in ("a", "b")]


def _judgment(notebook: str, score: int | str | None, variant: str = "baseline",
              fold: int | None = None, dimension: str = DIMENSION) -> Judgment:
    return Judgment(notebook_id=notebook, dimension=dimension, variant=variant, fold=fold,
                    status="failed" if score is None else "ok", score=score,
                    rationale=None if score is None else "it fits a model",
                    error="timeout" if score is None else None, model="local:judge")


# the experts' scores of 12 labelled notebooks; the judge says one point more, capped at 3
TRUTH = {f"nb{i:02d}": 1 + i % 3 for i in range(12)}
KIND = {n: min(s + 1, 3) for n, s in TRUTH.items()}
SETTINGS = ControlSettings(variants=("calibrated",))


def _scores(variant: str, scores: dict[str, int], fold: int | None) -> list[Judgment]:
    return [_judgment(n, s, variant, fold, d) for n, s in scores.items() for d in DIMENSIONS]


def test_calibrated_learns_on_every_label_and_maps_the_baseline_scores():
    calibration = fit_all_labels("calibrated", _labels(TRUTH), _scores("baseline", KIND, None),
                                 SETTINGS, DIMENSIONS)
    assert calibration.source == "baseline"
    assert calibration.n_training == dict.fromkeys(DIMENSIONS, 12)
    # judge 2 was always human 1; judge 3 was human 2 or 3 (mean 2.5, rounded half up)
    assert calibration.maps[DIMENSION]["2"] == 1
    assert calibration.maps[DIMENSION]["3"] == 3

    compared = [_judgment("armA__c1__01", 2), _judgment("armB__c1__01", 3),
                _judgment("armB__c2__01", None)]
    mapped = apply_calibration(compared, calibration)
    assert [j.score for j in mapped] == [1, 3, None]
    assert mapped[2] == compared[2]            # a failure stays a failure, nothing invented
    assert mapped[0].rationale.startswith("the judge said 2; calibrated: isotonic map fit on "
                                          "the baseline scores of 12 labelled notebooks")
    assert mapped[0].rationale.endswith("it fits a model")
    assert mapped[0].variant == "baseline" and mapped[0].model == "local:judge"


def test_calibrated_full_learns_from_out_of_fold_scores_only():
    # the aligned judges' in-sample scores (fold None: a judge that holds the label) are
    # exact; out of fold they are one point too kind. The map must learn the latter.
    judgments = (_scores("full", TRUTH, None) + _scores("full", KIND, 0)
                 + _scores("baseline", TRUTH, None))
    calibration = fit_all_labels("calibrated_full", _labels(TRUTH), judgments,
                                 ControlSettings(variants=("calibrated_full",)), DIMENSIONS)
    assert calibration.source == "full"
    assert calibration.maps[DIMENSION]["2"] == 1
    assert "each judged out of its own fold" in calibration.describe(DIMENSION)
    with pytest.raises(InputError, match=r"no labelled notebook with a full score on "
                                         r"library_installation.*dvc repro align"):
        fit_all_labels("calibrated_full", _labels(TRUTH), _scores("full", TRUTH, None),
                       ControlSettings(variants=("calibrated_full",)), DIMENSIONS)


def test_load_calibration_reads_the_experiment_and_names_what_is_missing(tmp_path):
    compose_params(tmp_path / "params.yaml", ["compare=demo", "compare.judges=calibrated"],
                   ROOT / "conf")
    params = load_params(tmp_path / "params.yaml")
    labels, judgments = tmp_path / "labels.jsonl", tmp_path / "judgments"
    with pytest.raises(InputError, match=r"labels.jsonl: no expert labels; "
                                         r"compare.judges=calibrated .*dvc repro judge"):
        load_calibration(params, labels, judgments)
    write_records(labels, _labels(TRUTH))
    with pytest.raises(InputError, match=r"baseline.jsonl: no judgments of the baseline judges"):
        load_calibration(params, labels, judgments)
    judgments.mkdir()
    write_records(judgments / "baseline.jsonl", _scores("baseline", KIND, None))
    calibration = load_calibration(params, labels, judgments)
    assert calibration.variant == "calibrated" and calibration.maps[DIMENSION]["2"] == 1
