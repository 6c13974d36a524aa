import json

import pytest

from nbjudge.schemas import (
    DIMENSIONS,
    BlueprintEntry,
    Judgment,
    Label,
    RecordError,
    normalize_score,
    read_records,
    write_records,
)


def label(**overrides):
    data = dict(notebook_id="nb1", dimension="model_use", score=2, rationale="uses memory model",
                rater_id="expert_1", source="human")
    data.update(overrides)
    return Label(**data)


def test_nine_dimensions_in_rubric_order():
    assert DIMENSIONS[0] == "library_installation"
    assert DIMENSIONS[-1] == "cell_organization"
    assert len(set(DIMENSIONS)) == 9


@pytest.mark.parametrize(("raw", "expected"), [
    ("2", 2), (3.0, 3), (" n/a ", "N/A"), ("NA", "N/A"), (1, 1), ("2.0", 2), ("x", "x"),
    (2.5, 2.5),
])
def test_normalize_score(raw, expected):
    assert normalize_score(raw) == expected


def test_round_trip(tmp_path):
    path = tmp_path / "labels.jsonl"
    records = [label(), label(rater_id="expert_2", score="N/A")]
    assert write_records(path, records) == 2
    assert read_records(path, Label) == records
    assert json.loads(path.read_text().splitlines()[0])["schema_version"] == 1


def test_read_error_names_file_line_and_field(tmp_path):
    path = tmp_path / "labels.jsonl"
    good = label().model_dump_json()
    bad = json.loads(good)
    bad["score"] = 4
    path.write_text(good + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(RecordError, match=r"labels\.jsonl:2: invalid Label: field 'score'"):
        read_records(path, Label)


def test_read_rejects_bad_json_and_unknown_fields(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text("{not json\n")
    with pytest.raises(RecordError, match=r"x\.jsonl:1: not valid JSON"):
        read_records(path, Label)
    data = json.loads(label().model_dump_json())
    data["surprise"] = 1
    path.write_text(json.dumps(data) + "\n")
    with pytest.raises(RecordError, match="field 'surprise'"):
        read_records(path, Label)


def test_missing_file_says_which_stage(tmp_path):
    with pytest.raises(RecordError, match="file not found"):
        read_records(tmp_path / "none.jsonl", Label)


def test_schema_version_is_checked(tmp_path):
    path = tmp_path / "labels.jsonl"
    data = json.loads(label().model_dump_json())
    data["schema_version"] = 2
    path.write_text(json.dumps(data) + "\n")
    with pytest.raises(RecordError, match="schema_version"):
        read_records(path, Label)


def test_write_is_atomic_and_validates(tmp_path):
    path = tmp_path / "labels.jsonl"
    write_records(path, [label()])
    broken = label().model_copy(update={"score": 7})  # model_copy skips validation
    with pytest.raises(RecordError, match="record 1: invalid Label"):
        write_records(path, [broken])
    assert read_records(path, Label) == [label()]  # the earlier file is intact


def test_empty_rationale_rejected():
    with pytest.raises(ValueError, match="rationale"):
        label(rationale="   ")


def test_judgment_status_rules():
    base = dict(notebook_id="nb", dimension="model_use", variant="baseline", model="m")
    assert Judgment(status="ok", score=3, **base).score == 3
    with pytest.raises(ValueError, match="needs a score"):
        Judgment(status="ok", **base)
    with pytest.raises(ValueError, match="carries no score"):
        Judgment(status="failed", score=2, error="timeout", **base)


def test_blueprint_levels():
    entry = BlueprintEntry(notebook_id="n", case_id="c", dimension="data_imputation",
                           level="n/a", template="v", defects=[], description="nothing to impute")
    assert entry.level == "N/A"


@pytest.mark.parametrize("record", ["Registration", "StagePlan"])
def test_version_1_records_read_as_version_2_and_version_3_is_refused(record):
    import pydantic

    from nbjudge import schemas

    model = getattr(schemas, record)
    fields = ({"params": {}, "judges": []} if record == "Registration"
              else {"stage": "judge", "tokenizer": "cl100k_base", "lines": []})
    assert model.model_validate({"schema_version": 1, **fields}).schema_version == 2
    assert model.model_validate(fields).schema_version == 2
    with pytest.raises(pydantic.ValidationError):
        model.model_validate({"schema_version": 3, **fields})
