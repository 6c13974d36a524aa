"""The largest judge-human disagreements and the notebook excerpts shown with them."""

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from nbjudge.report.disagreements import largest_disagreements, notebook_excerpt
from nbjudge.schemas import Judgment, Label


def label(notebook, score, rater="expert_1", dimension="data_imputation"):
    return Label(notebook_id=notebook, dimension=dimension, score=score, rationale="why",
                 rater_id=rater, source="human")


def judgment(notebook, score, variant="baseline", dimension="data_imputation", repeat=0):
    if score is None:
        return Judgment(notebook_id=notebook, dimension=dimension, variant=variant,
                        status="failed", error="timeout", model="m", repeat=repeat)
    return Judgment(notebook_id=notebook, dimension=dimension, variant=variant, status="ok",
                    score=score, rationale=f"{variant} thinks {score}", model="m",
                    repeat=repeat)


class TestLargestDisagreements:
    def test_ranks_pairs_by_distance_with_their_farthest_judgment(self):
        labels = [label("a", 3), label("b", 1), label("b", 2, rater="expert_2"), label("c", 2)]
        judgments = [judgment("a", 2), judgment("a", 1, variant="full"),
                     judgment("b", 3), judgment("c", 2), judgment("c", None, variant="full")]
        found = largest_disagreements(labels, judgments, variants=["baseline", "full"])
        assert [(d.notebook_id, d.variant, d.distance) for d in found] == [
            ("a", "full", 2.0), ("b", "baseline", 1.5)]
        assert found[1].human_score == 1.5
        assert [(r.rater_id, r.score) for r in found[1].ratings] == [("expert_1", 1),
                                                                     ("expert_2", 2)]
        assert found[0].judge_rationale == "full thinks 1"

    def test_na_counts_as_zero_or_is_excluded(self):
        labels = [label("a", "N/A"), label("b", 2)]
        judgments = [judgment("a", 3), judgment("b", 1)]
        assert [d.distance for d in largest_disagreements(labels, judgments)] == [3.0, 1.0]
        assert [d.notebook_id for d in largest_disagreements(
            labels, judgments, na_policy="exclude")] == ["b"]

    def test_ties_go_to_the_variant_listed_first_and_n_limits(self):
        labels = [label("a", 3), label("b", 3)]
        judgments = [judgment("a", 1, variant="full"), judgment("a", 1),
                     judgment("b", 1), judgment("b", 1, variant="full")]
        found = largest_disagreements(labels, judgments, variants=["full", "baseline"], n=1)
        assert [(d.notebook_id, d.variant) for d in found] == [("a", "full")]

    def test_unlabelled_and_failed_judgments_are_not_disagreements(self):
        assert largest_disagreements([label("a", 2)], [judgment("a", None),
                                                       judgment("z", 1)]) == []

    def test_arguments_are_checked(self):
        with pytest.raises(ValueError, match="na_policy"):
            largest_disagreements([], [], na_policy="drop")
        with pytest.raises(ValueError, match="non-negative"):
            largest_disagreements([], [], n=-1)


@pytest.fixture
def notebook_path(tmp_path):
    error = new_output("error", ename="KeyError", evalue="'price'", traceback=[])
    notebook = new_notebook(cells=[
        new_markdown_cell("# Title"),
        new_code_cell("import pandas as pd\ndf = pd.read_csv('x.csv')"),
        new_code_cell("\n".join(f"df['c{i}'] = df['c{i}'].fillna(0)" for i in range(30)),
                      outputs=[error]),
        new_code_cell("imputer = SimpleImputer()"),
    ])
    path = tmp_path / "nb.ipynb"
    nbformat.write(notebook, path)
    return path


class TestNotebookExcerpt:
    def test_picks_the_cell_most_about_the_dimension_and_cuts_it(self, notebook_path):
        excerpt = notebook_excerpt(notebook_path, "data_imputation", max_lines=4)
        assert excerpt.cell == 3
        assert excerpt.text.splitlines() == [
            "df['c0'] = df['c0'].fillna(0)", "df['c1'] = df['c1'].fillna(0)",
            "df['c2'] = df['c2'].fillna(0)", "df['c3'] = df['c3'].fillna(0)", "…"]
        assert excerpt.error == "KeyError: 'price'"

    def test_characters_are_capped_too(self, notebook_path):
        excerpt = notebook_excerpt(notebook_path, "data_imputation", max_chars=40)
        assert len(excerpt.text) <= 42 and excerpt.text.endswith("…")

    def test_first_code_cell_when_no_keyword_matches(self, notebook_path):
        excerpt = notebook_excerpt(notebook_path, "mlflow_logging")
        assert (excerpt.cell, excerpt.error) == (2, None)

    def test_unreadable_notebook_gives_none(self, tmp_path):
        assert notebook_excerpt(tmp_path / "missing.ipynb", "model_use") is None
        (tmp_path / "bad.ipynb").write_text("not json")
        assert notebook_excerpt(tmp_path / "bad.ipynb", "model_use") is None
