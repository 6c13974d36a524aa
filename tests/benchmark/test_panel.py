"""The simulated expert panel: determinism, N/A rules, noise, raters, rationales."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf
from scipy.stats import binomtest

from nbjudge.benchmark.panel import DEFAULT_NOISE, panel_config, simulate_panel
from nbjudge.schemas import DIMENSIONS, BlueprintEntry, write_records

REPO = Path(__file__).resolve().parents[2]
DESCRIPTION = "imputes with SimpleImputer(median) inside the cross-validated Pipeline"
NA_DESCRIPTION = "The data has no missing values, so nothing is imputed."
DEFECTS = {
    1: ["fillna with the full-data mean before the split", "the target imputed"],
    2: ["imputer fit outside the cross-validation pipeline"],
    3: [],
    "N/A": [],
}


def entry(notebook: str, dimension: str, level, *, crash: bool = False) -> BlueprintEntry:
    return BlueprintEntry(
        notebook_id=notebook,
        case_id="case_a",
        dimension=dimension,
        level=level,
        template=f"{dimension}_t1",
        defects=DEFECTS[level],
        description=NA_DESCRIPTION if level == "N/A" else DESCRIPTION,
        crash=crash,
    )


def blueprint(notebooks: int, level) -> list[BlueprintEntry]:
    """Every dimension of every notebook at ``level``."""
    return [entry(f"nb{i:04d}", d, level) for i in range(notebooks) for d in DIMENSIONS]


def mixed(notebooks: int) -> list[BlueprintEntry]:
    levels = [3, 2, 1, "N/A"]
    return [
        entry(f"nb{i:04d}", d, levels[(i + j) % 4])
        for i in range(notebooks)
        for j, d in enumerate(DIMENSIONS)
    ]


def simulate(entries, seed: int = 0, **settings):
    return simulate_panel(entries, panel_config(**settings), np.random.default_rng(seed))


def test_same_seed_same_bytes_and_another_seed_differs(tmp_path):
    entries = mixed(40)
    paths = []
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        paths.append(tmp_path / f"{name}.jsonl")
        write_records(paths[-1], simulate(entries, seed, multi_rated_share=0.5))
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()


def test_labels_are_simulated_ordered_and_cover_the_blueprint():
    entries = mixed(12)
    labels = simulate(entries, multi_rated_share=0.5, raters=3)
    assert {label.source for label in labels} == {"simulated"}
    assert {label.rater_id for label in labels} <= {"expert_1", "expert_2", "expert_3"}
    assert {(label.notebook_id, label.dimension) for label in labels} == {
        (e.notebook_id, e.dimension) for e in entries
    }
    order = [
        (lab.notebook_id, DIMENSIONS.index(lab.dimension), int(lab.rater_id.split("_")[1]))
        for lab in labels
    ]
    assert order == sorted(order)


def test_na_level_is_graded_na_when_no_slip():
    labels = simulate(blueprint(50, "N/A"), na_slip=0.0)
    assert {label.score for label in labels} == {"N/A"}


def test_na_slip_rate_and_slipped_score():
    labels = simulate(blueprint(400, "N/A"), na_slip=0.1)
    slipped = [label for label in labels if label.score != "N/A"]
    assert {label.score for label in slipped} == {3}
    assert binomtest(len(slipped), len(labels), 0.1).pvalue > 0.001


def test_applicable_dimension_is_never_na_unless_configured():
    for level in (1, 2, 3):
        labels = simulate(blueprint(200, level), na_slip=0.5, multi_rated_share=1.0)
        assert "N/A" not in {label.score for label in labels}
    labels = simulate(blueprint(400, 2), na_on_applicable=0.2)
    count = sum(label.score == "N/A" for label in labels)
    assert binomtest(count, len(labels), 0.2).pvalue > 0.001


def test_moves_are_one_level_and_match_the_configured_rates():
    noise = {"default": {"down": 0.1, "up": 0.05}, "data_exploration": {"down": 0.3, "up": 0.2}}
    labels = simulate(blueprint(1500, 2), noise=noise)
    for dimension, (down, up) in {
        "model_training": (0.1, 0.05),
        "data_exploration": (0.3, 0.2),
    }.items():
        scores = Counter(label.score for label in labels if label.dimension == dimension)
        total = sum(scores.values())
        assert set(scores) <= {1, 2, 3}
        assert binomtest(scores[1], total, down).pvalue > 0.001
        assert binomtest(scores[3], total, up).pvalue > 0.001


def test_scores_never_leave_the_scale():
    noise = {"default": {"down": 0.5, "up": 0.5}}
    for level in (1, 3):
        labels = simulate(blueprint(100, level), noise=noise)
        assert {label.score for label in labels} == {1, 2} if level == 1 else {2, 3}


def test_exploration_is_the_noisiest_dimension_by_default():
    others = [DEFAULT_NOISE[d].change for d in DIMENSIONS if d != "data_exploration"]
    assert DEFAULT_NOISE["data_exploration"].change > max(others)
    labels = simulate(blueprint(600, 2))
    disagreement = {
        d: np.mean([label.score != 2 for label in labels if label.dimension == d])
        for d in DIMENSIONS
    }
    assert max(disagreement, key=disagreement.get) == "data_exploration"


def test_multi_rated_share_and_raters_per_notebook():
    labels = simulate(mixed(40), multi_rated_share=0.25, raters=5, raters_per_multi_rated=3)
    raters: dict[str, set[str]] = {}
    per_notebook = Counter()
    for label in labels:
        raters.setdefault(label.notebook_id, set()).add(label.rater_id)
        per_notebook[label.notebook_id] += 1
    sizes = Counter(len(r) for r in raters.values())
    assert sizes == {1: 30, 3: 10}
    # A rater grades every dimension of the notebook they were given.
    assert all(per_notebook[n] == len(r) * len(DIMENSIONS) for n, r in raters.items())


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_share_extremes(share):
    labels = simulate(mixed(10), multi_rated_share=share)
    raters = Counter((label.notebook_id, label.dimension) for label in labels)
    assert set(raters.values()) == ({1} if share == 0 else {2})


def test_rationales_are_one_sentence_and_fit_the_score():
    noise = {"default": {"down": 0.3, "up": 0.3}}
    labels = simulate(mixed(200), noise=noise, multi_rated_share=0.5, na_slip=0.2)
    truth = {(e.notebook_id, e.dimension): e for e in mixed(200)}
    openings = {
        3: ("Good", "Solid", "Well done"),
        2: ("Average", "Adequate", "Acceptable"),
        1: ("Poor", "Weak", "Bad"),
        "N/A": ("N/A", "Not applicable"),
    }
    seen = Counter()
    for label in labels:
        true = truth[(label.notebook_id, label.dimension)]
        text = label.rationale
        assert text.endswith(".") and "\n" not in text
        assert text.split(":")[0] in openings[label.score]
        assert (NA_DESCRIPTION.rstrip(".").lower() if true.level == "N/A" else DESCRIPTION) in text
        for defect in true.defects:
            assert defect in text
        seen[(true.level, label.score)] += 1
        if true.level == 3 and label.score == 2:
            assert ", though " in text  # a reservation, not an invented defect
        if true.level == 2 and label.score == 1:
            assert "as serious" in text
        if true.level == 1 and label.score == 2:
            assert "the rest holds up" in text
        if true.level == 2 and label.score == 3:
            assert "minor" in text
        if true.level == "N/A" and label.score == 3:
            assert "nothing to fault" in text
    assert {(3, 2), (2, 1), (1, 2), (2, 3), ("N/A", 3)} <= set(seen)


def test_rationale_of_a_crash_says_so():
    labels = simulate(
        [entry("nb", "model_training", 1, crash=True)], noise={"default": {"down": 0.0, "up": 0.0}}
    )
    assert "fails with an error" in labels[0].rationale


def test_a_defect_list_left_empty_below_level_3_still_reads_right():
    bare = entry("nb", "model_use", 1).model_copy(update={"defects": []})
    (only,) = simulate([bare], noise={"default": {"down": 0.0, "up": 0.0}})
    assert only.rationale.endswith(f"{DESCRIPTION}; this is a serious flaw.")


def test_empty_blueprint_points_to_label_files():
    with pytest.raises(ValueError, match=r"blueprint is empty.*use labels=file"):
        simulate([])


def test_duplicate_blueprint_entries_are_rejected():
    entries = [entry("nb", "model_use", 2), entry("nb", "model_use", 3)]
    with pytest.raises(ValueError, match=r"two entries for notebook 'nb', dimension 'model_use'"):
        simulate(entries)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"raters": 0}, r"raters must be a positive integer, got 0"),
        ({"raters": 2.5}, r"raters must be a positive integer"),
        (
            {"multi_rated_share": 1.5},
            r"multi_rated_share must be a probability in \[0, 1\], got 1.5",
        ),
        ({"raters_per_multi_rated": 1}, r"raters_per_multi_rated must be an integer >= 2"),
        ({"raters": 2, "raters_per_multi_rated": 3}, r"exceeds the pool of raters \(2\)"),
        ({"na_slip": -0.1}, r"na_slip must be a probability"),
        ({"na_on_applicable": "often"}, r"na_on_applicable must be a probability"),
        (
            {"noise": {"exploration": {"down": 0.1, "up": 0.1}}},
            r"unknown noise key\(s\) \['exploration'\]",
        ),
        ({"noise": {"default": {"down": 0.1}}}, r"noise.default must be a mapping with exactly"),
        (
            {"noise": {"model_use": {"down": 0.7, "up": 0.6}}},
            r"noise.model_use: down \+ up must be at most 1",
        ),
        (
            {"noise": {"model_use": {"down": True, "up": 0.1}}},
            r"noise.model_use.down must be a probability",
        ),
    ],
)
def test_config_errors(settings, message):
    with pytest.raises(ValueError, match=message):
        panel_config(**settings)


def test_noise_overrides_fall_back_to_defaults():
    config = panel_config(
        noise={"default": {"down": 0.0, "up": 0.1}, "model_use": {"down": 0.2, "up": 0.0}}
    )
    assert config.noise["model_use"].down == 0.2
    assert config.noise["data_exploration"].up == 0.1
    assert panel_config().noise == DEFAULT_NOISE


def test_the_committed_panel_option_is_a_valid_config():
    option = OmegaConf.load(REPO / "conf" / "labels" / "panel.yaml")
    assert option.source == "panel" and option.input == "data/blueprint/blueprint.jsonl"
    config = panel_config(**OmegaConf.to_container(option.panel))
    assert config.noise["data_exploration"].change > config.noise["model_training"].change
