import pytest

from nbjudge.alignment import LeakageError, assert_no_leakage, assign_folds, check_leakage
from nbjudge.alignment.leakage import Leak
from nbjudge.errors import NbjudgeError

from ._inputs import notebooks

FOLD = 1


@pytest.fixture
def folds():
    return assign_folds(notebooks(7), k=4, seed=42)


@pytest.fixture
def case_of(folds):
    return dict(folds.cases)


def clean_inputs(folds):
    """The memory a correct fold has: training notebooks only, retrieved from it."""
    train = folds.train_ids(FOLD)
    memory = train[::2]
    retrievals = {n: memory[:3] for n in folds.test_ids(FOLD)}
    return memory, retrievals


def held_out_case_with_two_notebooks(folds):
    for case in folds.cases_of(FOLD):
        members = [n for n in folds.test_ids(FOLD) if folds.cases[n] == case]
        if len(members) >= 2:
            return case, members
    raise AssertionError("the test input needs a held-out case with two notebooks")


def test_a_clean_fold_passes(folds, case_of):
    memory, retrievals = clean_inputs(folds)
    assert check_leakage(folds, FOLD, case_of, memory, retrievals) == []
    assert_no_leakage(folds, FOLD, case_of, memory, retrievals)


def test_planted_leaks_are_named_with_the_fold(folds, case_of):
    memory, retrievals = clean_inputs(folds)
    case, (planted, sibling, *_) = held_out_case_with_two_notebooks(folds)
    judged = next(n for n in folds.test_ids(FOLD) if folds.cases[n] != case)
    memory = [*memory, planted]
    retrievals[judged] = [*retrievals[judged], sibling]

    with pytest.raises(LeakageError) as info:
        assert_no_leakage(folds, FOLD, case_of, memory, retrievals)

    message = str(info.value)
    assert f"fold {FOLD} (repeat 0)" in message
    assert f"{planted} in memory (held out, case {case})" in message
    assert f"{sibling} in retrieval for {judged} (held out, case {case})" in message
    assert info.value.fold == FOLD
    assert isinstance(info.value, NbjudgeError)  # a stage prints it as one line
    assert info.value.leaks == [
        Leak(planted, "memory", None, "held_out", planted, case),
        Leak(sibling, "retrieval", judged, "held_out", sibling, case),
    ]


def test_a_notebook_of_a_held_out_case_unknown_to_the_folds_is_a_leak(folds, case_of):
    memory, retrievals = clean_inputs(folds)
    held_out = folds.test_ids(FOLD)[0]
    case = folds.cases[held_out]
    first_of_case = min(n for n in folds.test_ids(FOLD) if folds.cases[n] == case)
    # A notebook added to the case after the folds were drawn.
    case_of = {**case_of, "nb-late": case}
    judged = folds.test_ids(FOLD)[-1]
    retrievals[judged] = ["nb-late"]

    leaks = check_leakage(folds, FOLD, case_of, memory, retrievals)

    assert leaks == [Leak("nb-late", "retrieval", judged, "same_case", first_of_case, case)]
    assert leaks[0].describe() == (
        f"nb-late in retrieval for {judged} (same case {case} as held-out {first_of_case})"
    )
    with pytest.raises(LeakageError, match=f"nb-late .*held-out {first_of_case}"):
        assert_no_leakage(folds, FOLD, case_of, memory, retrievals)


def test_a_fold_may_remember_what_other_folds_hold_out(folds, case_of):
    held_out = folds.test_ids(FOLD)
    other = (FOLD + 1) % 4
    assert check_leakage(folds, other, case_of, held_out, {}) == []
    assert check_leakage(folds, other, case_of, folds.train_ids(other), {}) == []
    leaks = check_leakage(folds, FOLD, case_of, held_out, {})
    assert [leak.notebook_id for leak in leaks] == held_out
    assert {leak.reason for leak in leaks} == {"held_out"}


def test_repeated_ids_are_reported_once_per_place(folds, case_of):
    planted = folds.test_ids(FOLD)[0]
    leaks = check_leakage(folds, FOLD, case_of, [planted, planted], {planted: [planted] * 2})
    assert [(leak.location, leak.retrieved_for) for leak in leaks] == [
        ("memory", None),
        ("retrieval", planted),
    ]


def test_unmapped_trace_ids_are_refused(folds, case_of):
    with pytest.raises(ValueError, match=r"'tr-0a1b' in memory is not a known notebook id; map"):
        check_leakage(folds, FOLD, case_of, ["tr-0a1b"], {})
    judged = folds.test_ids(FOLD)[0]
    with pytest.raises(ValueError, match=f"'tr-9' in retrieval for {judged} is not a known"):
        check_leakage(folds, FOLD, case_of, [], {judged: ["tr-9"]})
    with pytest.raises(ValueError, match="'tr-9' in retrievals"):
        check_leakage(folds, FOLD, case_of, [], {"tr-9": []})


def test_case_of_must_agree_with_the_folds(folds, case_of):
    notebook = folds.notebook_ids[0]
    with pytest.raises(ValueError, match=f"contradicts the fold assignment for {notebook}"):
        check_leakage(folds, FOLD, {**case_of, notebook: "case-other"}, [], {})


def test_fold_out_of_range(folds, case_of):
    with pytest.raises(ValueError, match=r"fold must be an integer in 0\.\.3"):
        check_leakage(folds, 4, case_of, [], {})


def test_a_single_string_is_not_taken_for_a_list_of_ids(folds, case_of):
    with pytest.raises(TypeError, match="collections of ids, not one string"):
        check_leakage(folds, FOLD, case_of, "nb-00-0", {})
    with pytest.raises(TypeError, match="collections of ids"):
        check_leakage(folds, FOLD, case_of, [], {"nb-00-0": "nb-00-1"})
