"""Alignment audits: reading them, their cost, and guidelines that recur across folds."""

import json

import numpy as np
import pytest

from nbjudge.report.alignment import alignment_costs, group_guidelines, token_jaccard
from nbjudge.report.inputs import read_alignment
from nbjudge.schemas import AlignmentAudit, Guideline, RecordError, write_json_record


def run(fold, texts, variant="full", dimension="data_imputation", repeat=0):
    return AlignmentAudit(variant=variant, fold=fold, dimension=dimension,
                          guidelines=[Guideline(text=t, source_ids=[f"nb-{fold}"]) for t in texts],
                          seconds=1.0, reflection_model="m", retrieval_k=1, repeat=repeat)


class TestTokenJaccard:
    def test_shared_words_over_all_words(self):
        # {fit, imputer, on, train} vs {fit, imputer, on, test}: 3 shared of 5.
        similarity = token_jaccard(["Fit imputer on train", "fit the imputer on test"])
        # "the" is a token too: {fit, the, imputer, on, test} -> 3 of 6.
        assert similarity[0, 1] == pytest.approx(3 / 6)
        assert similarity[1, 0] == similarity[0, 1]
        np.testing.assert_array_equal(np.diag(similarity), [1.0, 1.0])

    def test_case_and_repetition_do_not_matter(self):
        assert token_jaccard(["Leak LEAK leak split", "leak split"])[0, 1] == 1.0

    def test_texts_without_tokens_match_nothing(self):
        similarity = token_jaccard(["!!", "a", "real words"])
        assert similarity[0, 1] == 0 and similarity[0, 2] == 0
        assert token_jaccard([]).shape == (0, 0)


class TestGroupGuidelines:
    def test_counts_the_folds_that_found_a_similar_guideline(self):
        runs = [run(0, ["Score 1 when the imputer is fit before the split", "Unique zero"]),
                run(1, ["score 1 when the imputer is fit before the train split"]),
                run(2, ["Reward pinned package versions"])]
        groups = group_guidelines(runs)
        assert [(g.text, g.folds, g.n_folds) for g in groups] == [
            ("Score 1 when the imputer is fit before the split", ((0, 0), (0, 1)), 3),
            ("Unique zero", ((0, 0),), 3),
            ("Reward pinned package versions", ((0, 2),), 3),
        ]
        assert groups[0].source_ids == ("nb-0", "nb-1")
        assert groups[0].n_members == 2

    def test_repeats_count_as_separate_folds(self):
        runs = [run(0, ["same words here"]), run(0, ["same words here"], repeat=1),
                run(1, ["other text entirely"], repeat=1)]
        (same, other) = group_guidelines(runs)
        assert same.folds == ((0, 0), (1, 0)) and same.n_folds == 3
        assert other.folds == ((1, 1),)

    def test_variants_and_dimensions_are_grouped_apart(self):
        runs = [run(0, ["same words here"]), run(0, ["same words here"], variant="semantic_only"),
                run(0, ["same words here"], dimension="model_use")]
        assert len(group_guidelines(runs)) == 3

    def test_on_the_fabricated_audits(self, experiment):
        groups = [g for g in group_guidelines(experiment.alignment)
                  if g.variant == "full" and g.dimension == "data_imputation"]
        assert [len(g.folds) for g in groups] == [3, 3, 2, 1, 1, 1, 1]
        assert all(g.n_folds == 4 for g in groups)

    def test_threshold_is_checked(self):
        with pytest.raises(ValueError, match=r"threshold must lie in \(0, 1\]"):
            group_guidelines([], threshold=0)


class TestReadAlignment:
    def test_absent_folder_is_no_audit(self, tmp_path):
        assert read_alignment(tmp_path / "nothing") == ()

    def test_reads_repeats_and_skips_final_judges(self, tmp_path):
        for folder, fold, repeat in (("full/fold0", 0, 0), ("full/repeat2/fold1", 1, 2),
                                     ("full/final", None, 0), ("full/repeatx/fold0", 0, 0)):
            write_json_record(tmp_path / folder / "model_use.json",
                              run(fold, ["a rule"], dimension="model_use", repeat=repeat))
        runs = read_alignment(tmp_path)
        assert [(r.variant, r.repeat, r.fold) for r in runs] == [("full", 0, 0), ("full", 2, 1)]

    def test_total_tokens_are_prompt_and_completion(self):
        tokens = {"calls": 3, "prompt": 90, "completion": 9}
        audit = run(0, []).model_copy(update={"tokens": tokens})
        assert audit.total_tokens == 99
        assert run(0, []).total_tokens is None

    def test_a_malformed_audit_names_the_file_and_field(self, tmp_path):
        (tmp_path / "full/fold0").mkdir(parents=True)
        (tmp_path / "full/fold0/model_use.json").write_text("{not json")
        with pytest.raises(RecordError, match=r"model_use\.json: alignment audit is not valid"):
            read_alignment(tmp_path)
        (tmp_path / "full/fold0/model_use.json").write_text(json.dumps({"seconds": 1}))
        with pytest.raises(RecordError, match=r"model_use\.json: invalid AlignmentAudit: "
                                              r"field 'variant'"):
            read_alignment(tmp_path)


def test_costs_have_one_row_per_alignment(experiment):
    costs = alignment_costs(experiment.alignment)
    assert len(costs) == 2 * 4 * 9
    assert list(costs.columns) == ["variant", "repeat", "fold", "dimension", "seconds",
                                   "tokens", "n_guidelines", "n_episodic", "n_retrievals"]
    assert costs.tokens.notna().all() and (costs.n_retrievals == 1).all()
    assert (costs[costs.variant == "semantic_only"].n_episodic == 0).all()
    assert alignment_costs([]).empty
