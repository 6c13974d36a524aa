import json
from collections import Counter

import numpy as np
import pytest
from sklearn.model_selection import GroupKFold

from nbjudge.alignment import FoldAssignment, assign_folds, read_folds, write_folds
from nbjudge.alignment.folds import fold_seed
from nbjudge.errors import ConfigError
from nbjudge.schemas import RecordError

from ._inputs import TYPES, notebooks

SEEDS = range(20)


def worst_type_share_gap(rows, fold_of):
    """The largest gap between a fold's share of a task type and the overall share."""
    overall = Counter(t for _, _, t in rows)
    gaps = []
    for fold in set(fold_of.values()):
        held = [t for n, _, t in rows if fold_of[n] == fold]
        counts = Counter(held)
        gaps += [abs(counts[t] / len(held) - overall[t] / len(rows)) for t in TYPES]
    return max(gaps)


@pytest.mark.parametrize("seed", SEEDS)
def test_cases_stay_whole_and_every_notebook_is_held_out_once(seed):
    rows = notebooks(seed)
    folds = assign_folds(rows, k=4, seed=seed)
    held_out = [n for fold in range(4) for n in folds.test_ids(fold)]
    assert sorted(held_out) == sorted(n for n, _, _ in rows)
    for fold in range(4):
        assert folds.test_ids(fold), f"fold {fold} is empty"
        assert set(folds.test_ids(fold)).isdisjoint(folds.train_ids(fold))
        assert sorted(folds.test_ids(fold) + folds.train_ids(fold)) == folds.notebook_ids
    for case in {c for _, c, _ in rows}:
        assert len({folds.fold_of(n) for n, c, _ in rows if c == case}) == 1, case
    assert sum(len(folds.cases_of(f)) for f in range(4)) == 12


@pytest.mark.parametrize("seed", SEEDS)
def test_task_types_spread_over_folds(seed):
    rows = notebooks(seed)
    folds = assign_folds(rows, k=4, seed=seed)
    for task_type in TYPES:
        cases = {c for _, c, t in rows if t == task_type}
        reached = {folds.fold_of(n) for n, _, t in rows if t == task_type}
        # Three cases of each type: at least two folds see the type.
        assert len(reached) >= min(4, len(cases)) - 1, task_type
    assert worst_type_share_gap(rows, folds.folds) <= 0.6


def test_stratified_folds_mix_task_types_better_than_plain_grouped_folds():
    stratified, grouped = [], []
    for seed in range(50):
        rows = notebooks(seed)
        stratified.append(worst_type_share_gap(rows, assign_folds(rows, seed=seed).folds))
        splitter = GroupKFold(n_splits=4, shuffle=True, random_state=seed)
        plain = {}
        for fold, (_, test) in enumerate(splitter.split(rows, groups=[c for _, c, _ in rows])):
            plain.update({rows[i][0]: fold for i in test})
        grouped.append(worst_type_share_gap(rows, plain))
    assert np.mean(stratified) < np.mean(grouped) - 0.05


def test_many_cases_put_every_task_type_in_every_fold():
    for seed in range(10):
        rows = notebooks(seed, n_cases=24)
        folds = assign_folds(rows, seed=seed)
        for fold in range(4):
            assert {t for n, _, t in rows if folds.fold_of(n) == fold} == set(TYPES)
        assert worst_type_share_gap(rows, folds.folds) <= 0.25


def test_as_many_cases_as_folds_gives_one_case_per_fold():
    # StratifiedGroupKFold alone leaves a fold empty for some seeds here.
    sizes, types = [7, 6, 3, 2, 7], ["regression", "regression", "binary", "binary", "regression"]
    rows = [(f"nb-{c}-{j}", f"case-{c}", types[c]) for c in range(5) for j in range(sizes[c])]
    for seed in range(50):
        folds = assign_folds(rows, k=5, seed=seed)
        assert [len(folds.cases_of(f)) for f in range(5)] == [1] * 5


def test_too_few_notebooks_per_type_to_stratify_still_folds():
    rows = [(f"nb-{c}", f"case-{c}", TYPES[c]) for c in range(4)]
    folds = assign_folds(rows, k=4, seed=0)
    assert sorted(len(folds.test_ids(f)) for f in range(4)) == [1, 1, 1, 1]


def test_same_seed_same_folds_regardless_of_input_order():
    rows = notebooks(3)
    first = assign_folds(rows, seed=42)
    again = assign_folds(list(reversed(rows)), seed=42)
    assert first == again


def test_another_repeat_or_seed_draws_other_folds():
    rows = notebooks(3)
    base = assign_folds(rows, seed=42, repeat=0)
    other_repeat = assign_folds(rows, seed=42, repeat=1)
    other_seed = assign_folds(rows, seed=43, repeat=0)
    assert other_repeat.repeat == 1
    assert base.fold_seed != other_repeat.fold_seed != other_seed.fold_seed
    assert base.folds != other_repeat.folds
    assert base.folds != other_seed.folds
    assert fold_seed(42, 1) == other_repeat.fold_seed


@pytest.mark.parametrize(
    ("rows", "kwargs", "message"),
    [
        (notebooks(0), {"k": 1}, r"k must be an integer of at least 2"),
        (
            [("nb-1", "c1", "binary"), ("nb-1", "c2", "binary"), ("nb-2", "c3", "binary")],
            {"k": 2},
            r"duplicate notebook ids: nb-1; each notebook must be listed once",
        ),
        ([("nb-1", "c1", "ranking"), ("nb-2", "c2", "binary")], {"k": 2}, "unknown task type"),
        (
            [("nb-1", "c1", "binary"), ("nb-2", "c1", "regression"), ("nb-3", "c2", "binary")],
            {"k": 2},
            r"cases with more than one task type: \['c1'\]",
        ),
        ([("nb-1", "c1")], {"k": 2}, r"expected \(notebook_id, case_id, task_type\)"),
        ([], {"k": 2}, "no notebooks"),
        (notebooks(0), {"k": 4, "repeat": -1}, "repeat must be a non-negative integer"),
    ],
)
def test_invalid_input_is_refused_with_the_fix(rows, kwargs, message):
    kwargs.setdefault("seed", 0)
    with pytest.raises(ValueError, match=message):
        assign_folds(rows, **kwargs)


def test_too_few_cases_for_k_is_a_configuration_error():
    with pytest.raises(ConfigError, match=r"only 3 cases for k=4 folds.*lower k to 3"):
        assign_folds(notebooks(0, n_cases=3), k=4, seed=0)


def test_accessors_check_their_arguments():
    folds = assign_folds(notebooks(0), seed=0)
    with pytest.raises(ValueError, match=r"fold must be an integer in 0\.\.3 \(got 4\)"):
        folds.test_ids(4)
    with pytest.raises(KeyError, match="'nb-missing' is not in the fold assignment"):
        folds.fold_of("nb-missing")


def test_assignment_refuses_split_cases_and_empty_folds():
    base = {"k": 2, "seed": 0, "repeat": 0, "fold_seed": 1}
    with pytest.raises(ValueError, match=r"split across folds: \['c1'\]"):
        FoldAssignment(**base, folds={"a": 0, "b": 1}, cases={"a": "c1", "b": "c1"})
    with pytest.raises(ValueError, match=r"empty folds: \[1\]"):
        FoldAssignment(**base, folds={"a": 0, "b": 0}, cases={"a": "c1", "b": "c2"})
    with pytest.raises(ValueError, match=r"folds must lie in 0\.\.1"):
        FoldAssignment(**base, folds={"a": 0, "b": 2}, cases={"a": "c1", "b": "c2"})


def test_folds_file_round_trip(tmp_path):
    rows = notebooks(5)
    assignments = [assign_folds(rows, seed=42, repeat=r) for r in (1, 0, 2)]
    path = tmp_path / "data" / "folds.json"
    write_folds(path, assignments)
    data = json.loads(path.read_text())
    assert (data["schema_version"], data["k"], data["seed"]) == (1, 4, 42)
    assert [r["repeat"] for r in data["repeats"]] == [0, 1, 2]
    assert data["repeats"][0]["seed"] == fold_seed(42, 0)
    assert data["repeats"][0]["folds"] == assignments[1].folds
    assert read_folds(path) == sorted(assignments, key=lambda a: a.repeat)
    assert [p.name for p in path.parent.iterdir()] == ["folds.json"]


def test_write_folds_refuses_disagreeing_repeats(tmp_path):
    rows = notebooks(5)
    path = tmp_path / "folds.json"
    with pytest.raises(ValueError, match="repeats disagree on k/seed"):
        write_folds(path, [assign_folds(rows, seed=1), assign_folds(rows, seed=2, repeat=1)])
    with pytest.raises(ValueError, match=r"duplicated: \[0\]"):
        write_folds(path, [assign_folds(rows, seed=1), assign_folds(rows, seed=1)])
    with pytest.raises(ValueError, match="hold different notebooks: nb-11-"):
        write_folds(path, [assign_folds(rows, seed=1), assign_folds(rows[:-1], seed=1, repeat=1)])
    with pytest.raises(ValueError, match="no fold assignments"):
        write_folds(path, [])
    assert not path.exists()


def valid_file():
    return {
        "schema_version": 1,
        "k": 2,
        "seed": 42,
        "repeats": [
            {
                "repeat": 0,
                "seed": 7,
                "folds": {"nb-1": 0, "nb-2": 1, "nb-3": 1},
                "cases": {"nb-1": "c1", "nb-2": "c2", "nb-3": "c2"},
            }
        ],
    }


def break_version(d):
    d["schema_version"] = 2


def break_repeats(d):
    d["repeats"] = []


def break_fold_type(d):
    d["repeats"][0]["folds"]["nb-1"] = "zero"


def split_a_case(d):
    d["repeats"][0]["folds"]["nb-3"] = 0


def drop_a_case(d):
    del d["repeats"][0]["cases"]["nb-3"]


def add_a_field(d):
    d["folds"] = {}


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (break_version, r"field 'schema_version'"),
        (break_repeats, r"field 'repeats'"),
        (break_fold_type, r"field 'repeats\.0\.folds\.nb-1'"),
        (split_a_case, r"repeats\.0: .*split across folds: \['c2'\]"),
        (drop_a_case, r"repeats\.0: .*differing: nb-3"),
        (add_a_field, r"field 'folds': Extra inputs are not permitted"),
    ],
)
def test_malformed_folds_file_names_the_field(tmp_path, corrupt, message):
    data = valid_file()
    corrupt(data)
    path = tmp_path / "folds.json"
    path.write_text(json.dumps(data))
    with pytest.raises(RecordError, match=message) as info:
        read_folds(path)
    assert str(path) in str(info.value)


def test_valid_hand_written_file_reads(tmp_path):
    path = tmp_path / "folds.json"
    path.write_text(json.dumps(valid_file()))
    (folds,) = read_folds(path)
    assert folds.test_ids(1) == ["nb-2", "nb-3"]
    assert folds.cases_of(1) == ["c2"]
    assert folds.fold_seed == 7


def test_missing_and_unparsable_folds_file(tmp_path):
    with pytest.raises(RecordError, match="fold file not found"):
        read_folds(tmp_path / "folds.json")
    path = tmp_path / "folds.json"
    path.write_text("{not json")
    with pytest.raises(RecordError, match="not valid JSON"):
        read_folds(path)
