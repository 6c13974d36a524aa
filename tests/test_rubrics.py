import shutil
from pathlib import Path

import pytest
import yaml

import nbjudge.rubrics
from nbjudge.rubrics import Rubric, RubricError, load_rubric, load_rubrics, render_rubric
from nbjudge.schemas import DIMENSIONS, TASK_TYPES

ROOT = Path(__file__).resolve().parents[1]

# Dimensions whose entry in notes/defects.md carries [F] (forecasting) or
# [I] (imbalanced classification) items: their rubrics must spell those out.
FORECASTING_DIMENSIONS = (
    "data_exploration",
    "data_imputation",
    "feature_engineering",
    "model_training",
    "model_use",
    "metrics_evaluation",
)
IMBALANCED_DIMENSIONS = ("data_exploration", "model_training", "metrics_evaluation")
# Sections that run after the first cells of the notebook, so an earlier crash can skip them.
AFTER_EXPLORATION = DIMENSIONS[2:-1]


@pytest.fixture(scope="module")
def rubrics():
    return load_rubrics()


@pytest.fixture
def repo(tmp_path):
    """A copy of the repository's rubrics that a test may break."""
    shutil.copytree(ROOT / "rubrics", tmp_path / "rubrics")
    return tmp_path


def edit(repo, dimension, change):
    """Load ``rubrics/<dimension>.yaml`` of ``repo``, apply ``change`` to the data, write it."""
    path = repo / "rubrics" / f"{dimension}.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_public_names_exist():
    for name in nbjudge.rubrics.__all__:
        assert hasattr(nbjudge.rubrics, name)


def test_all_nine_load_in_dimension_order(rubrics):
    assert tuple(rubrics) == DIMENSIONS
    assert all(isinstance(rubric, Rubric) for rubric in rubrics.values())


def test_folder_holds_exactly_the_nine_rubrics():
    names = sorted(path.name for path in (ROOT / "rubrics").iterdir())
    assert names == sorted(f"{dimension}.yaml" for dimension in DIMENSIONS)


def test_explicit_root_reads_the_same_rubrics(rubrics):
    assert load_rubrics(root=ROOT) == rubrics


@pytest.mark.parametrize("dimension", DIMENSIONS)
def test_dimension_field_matches_file_name(dimension):
    data = yaml.safe_load((ROOT / "rubrics" / f"{dimension}.yaml").read_text())
    assert data["dimension"] == dimension
    assert load_rubric(dimension).dimension == dimension


@pytest.mark.parametrize("dimension", DIMENSIONS)
def test_every_level_has_a_summary_and_two_anchors(rubrics, dimension):
    levels = rubrics[dimension].levels()
    assert [score for score, _ in levels] == [3, 2, 1, "N/A"]
    for _, level in levels:
        assert level.summary
        assert len(level.anchors) >= 2
        assert all(anchor for anchor in level.anchors)


def texts(rubric):
    """Every piece of prose in a rubric."""
    found = [rubric.title, rubric.covers, rubric.crashes]
    for _, level in rubric.levels():
        found += [level.summary, *level.anchors]
    for notes in rubric.task_types.values():
        found += notes
    return found


@pytest.mark.parametrize("dimension", DIMENSIONS)
def test_text_is_one_line_per_field(rubrics, dimension):
    assert all(text == " ".join(text.split()) for text in texts(rubrics[dimension]))


@pytest.mark.parametrize("dimension", DIMENSIONS)
def test_code_spans_are_closed(rubrics, dimension):
    # An unquoted " #" in YAML starts a comment and cuts an anchor short mid-code.
    for text in texts(rubrics[dimension]):
        assert text.count("`") % 2 == 0, text


def test_only_imputation_can_be_not_applicable(rubrics):
    na = rubrics["data_imputation"].scores.not_applicable
    assert "no missing values" in na.summary.lower()
    for dimension, rubric in rubrics.items():
        if dimension != "data_imputation":
            assert rubric.scores.not_applicable.summary.startswith("Never N/A"), dimension


@pytest.mark.parametrize("dimension", DIMENSIONS)
def test_crashes_are_addressed(rubrics, dimension):
    crashes = rubrics[dimension].crashes
    assert "crash" in crashes
    if dimension != "cell_organization":
        # Code of this dimension that raises is its own defect.
        assert "this dimension's defect and scores 1" in crashes
    if dimension in AFTER_EXPLORATION:
        # A section that never ran because of an earlier crash is graded as written.
        assert "earlier section crashed" in crashes
        assert "as written" in crashes


@pytest.mark.parametrize("dimension", FORECASTING_DIMENSIONS)
def test_forecasting_notes_where_defects_have_forecasting_items(rubrics, dimension):
    assert len(rubrics[dimension].task_types.get("forecasting", ())) >= 1


@pytest.mark.parametrize("dimension", IMBALANCED_DIMENSIONS)
def test_imbalanced_notes_where_defects_have_imbalanced_items(rubrics, dimension):
    assert len(rubrics[dimension].task_types.get("binary_imbalanced", ())) >= 1


@pytest.mark.parametrize("dimension", DIMENSIONS)
def test_render_contains_every_text_in_order(rubrics, dimension):
    rubric = rubrics[dimension]
    text = render_rubric(rubric)
    assert text.startswith(f"# {rubric.title} ({dimension})\n")
    assert text.endswith("\n")
    assert rubric.covers in text
    assert rubric.crashes in text
    for _, level in rubric.levels():
        assert level.summary in text
        for anchor in level.anchors:
            assert f"- {anchor}\n" in text
    for notes in rubric.task_types.values():
        for note in notes:
            assert f"- {note}\n" in text
    headings = ["### 3 (good)", "### 2 (average)", "### 1 (bad)", "### N/A (not applicable)",
                "## Crashes", "## Task types"]
    positions = [text.index(heading) for heading in headings]
    assert positions == sorted(positions)


@pytest.mark.parametrize("dimension", DIMENSIONS)
def test_render_is_deterministic(rubrics, dimension, repo):
    first = render_rubric(rubrics[dimension])
    assert render_rubric(rubrics[dimension]) == first
    assert render_rubric(load_rubric(dimension, root=repo)) == first


def test_render_orders_task_types_as_schemas_does(repo):
    edit(repo, "model_training",
         lambda data: data.update(task_types=dict(reversed(data["task_types"].items()))))
    reordered = load_rubric("model_training", root=repo)
    assert list(reordered.task_types) == [t for t in TASK_TYPES if t in reordered.task_types]
    assert render_rubric(reordered) == render_rubric(load_rubric("model_training"))


def test_render_without_task_types_says_so(rubrics):
    assert rubrics["cell_organization"].task_types == {}
    assert "grade every task type alike" in render_rubric(rubrics["cell_organization"])


def test_unquoted_level_keys_are_accepted(repo):
    path = repo / "rubrics" / "model_use.yaml"
    path.write_text(path.read_text().replace('  "3":', "  3:").replace('  "1":', "  1:"))
    assert load_rubric("model_use", root=repo) == load_rubric("model_use")


def test_missing_level_is_named(repo):
    edit(repo, "data_imputation", lambda data: data["scores"].pop("1"))
    with pytest.raises(RubricError,
                       match=r"data_imputation\.yaml: invalid rubric: field 'scores\.1': "
                             r"Field required"):
        load_rubric("data_imputation", root=repo)


def test_unknown_key_is_named(repo):
    edit(repo, "data_imputation", lambda data: data.update(notes="extra"))
    with pytest.raises(RubricError,
                       match=r"data_imputation\.yaml: invalid rubric: field 'notes': "
                             r"Extra inputs are not permitted"):
        load_rubric("data_imputation", root=repo)


def test_unknown_level_is_named(repo):
    edit(repo, "data_imputation", lambda data: data["scores"].update({"4": data["scores"]["3"]}))
    with pytest.raises(RubricError, match=r"field 'scores\.4': Extra inputs are not permitted"):
        load_rubric("data_imputation", root=repo)


def test_wrong_dimension_is_named(repo):
    edit(repo, "data_imputation", lambda data: data.update(dimension="model_use"))
    with pytest.raises(RubricError,
                       match=r"data_imputation\.yaml: field 'dimension': 'model_use' does not "
                             r"match the file name \(expected 'data_imputation'\)"):
        load_rubric("data_imputation", root=repo)


def test_unknown_dimension_in_file_is_named(repo):
    edit(repo, "data_imputation", lambda data: data.update(dimension="imputation"))
    with pytest.raises(RubricError,
                       match=r"field 'dimension': Value error, unknown dimension 'imputation'"):
        load_rubric("data_imputation", root=repo)


def test_single_anchor_is_named(repo):
    edit(repo, "metrics_evaluation",
         lambda data: data["scores"]["2"].update(anchors=data["scores"]["2"]["anchors"][:1]))
    with pytest.raises(RubricError,
                       match=r"metrics_evaluation\.yaml: invalid rubric: "
                             r"field 'scores\.2\.anchors': Tuple should have at least 2 items"):
        load_rubric("metrics_evaluation", root=repo)


def test_blank_summary_is_named(repo):
    edit(repo, "model_use", lambda data: data["scores"]["N/A"].update(summary="   "))
    with pytest.raises(RubricError,
                       match=r"field 'scores\.N/A\.summary': Value error, must not be empty"):
        load_rubric("model_use", root=repo)


def test_anchor_parsed_as_mapping_is_named(repo):
    # An unquoted "text: more" in YAML is a mapping, not the anchor its author meant.
    edit(repo, "model_use",
         lambda data: data["scores"]["3"]["anchors"].append({"Predictions": "saved"}))
    with pytest.raises(RubricError,
                       match=r"field 'scores\.3\.anchors\.4': Input should be a valid string"):
        load_rubric("model_use", root=repo)


def test_unknown_task_type_is_named(repo):
    edit(repo, "model_training",
         lambda data: data["task_types"].update(classification=["stratify"]))
    with pytest.raises(RubricError,
                       match=r"field 'task_types': Value error, unknown task type "
                             r"'classification'"):
        load_rubric("model_training", root=repo)


def test_task_type_without_notes_is_named(repo):
    edit(repo, "model_training", lambda data: data["task_types"].update(regression=[]))
    with pytest.raises(RubricError, match=r"task type 'regression' has no notes"):
        load_rubric("model_training", root=repo)


def test_wrong_schema_version_is_named(repo):
    edit(repo, "model_training", lambda data: data.update(schema_version=2))
    with pytest.raises(RubricError, match=r"field 'schema_version': Input should be 1"):
        load_rubric("model_training", root=repo)


def test_invalid_yaml_is_named(repo):
    (repo / "rubrics" / "model_use.yaml").write_text("scores: [unclosed\n")
    with pytest.raises(RubricError, match=r"model_use\.yaml: not valid YAML"):
        load_rubric("model_use", root=repo)


def test_non_mapping_file_is_named(repo):
    (repo / "rubrics" / "model_use.yaml").write_text("- a list\n")
    with pytest.raises(RubricError,
                       match=r"model_use\.yaml: expected a mapping of rubric fields, got list"):
        load_rubric("model_use", root=repo)


def test_missing_files_are_all_named(repo):
    (repo / "rubrics" / "model_use.yaml").unlink()
    (repo / "rubrics" / "cell_organization.yaml").unlink()
    with pytest.raises(RubricError,
                       match=r"missing rubric files: model_use\.yaml, cell_organization\.yaml"):
        load_rubrics(root=repo)
    with pytest.raises(RubricError, match=r"model_use\.yaml: rubric file not found"):
        load_rubric("model_use", root=repo)


def test_unknown_dimension_argument():
    with pytest.raises(RubricError, match=r"unknown dimension 'imputation'; valid: "
                                          r"library_installation, "):
        load_rubric("imputation")


def test_root_without_rubrics_folder(tmp_path):
    with pytest.raises(RubricError, match=r"no rubrics folder \(root must be the repository "
                                          r"root\)"):
        load_rubrics(root=tmp_path)
