import json

import pytest

from nbjudge.schemas import (
    AlignmentAudit,
    Guideline,
    RecordError,
    read_json_record,
    write_json_record,
)


def audit(**changes):
    fields = {
        "variant": "full",
        "fold": 2,
        "repeat": 0,
        "dimension": "data_imputation",
        "guidelines": [
            Guideline(text="Fit the imputer on training rows only.", source_ids=["nb-1", "nb-4"]),
            Guideline(text="N/A when no column has missing values.", source_ids=["nb-2"]),
        ],
        "episodic_ids": ["nb-4", "nb-7"],
        "retrievals": {"nb-3": ["nb-4", "nb-7"], "nb-9": ["nb-1"]},
        "seconds": 12.5,
        "tokens": {"input": 5300, "output": 410},
        "reflection_model": "openai:/gpt-4o-mini",
        "embedding_model": "openai:/text-embedding-3-small",
        "retrieval_k": 2,
    }
    fields.update(changes)
    return AlignmentAudit(**fields)


def test_round_trip(tmp_path):
    path = tmp_path / "alignment" / "full" / "fold2" / "data_imputation.json"
    original = audit()
    write_json_record(path, original)
    assert read_json_record(path, AlignmentAudit) == original
    data = json.loads(path.read_text())
    assert data["schema_version"] == 1
    assert data["guidelines"][0] == {
        "text": "Fit the imputer on training rows only.",
        "source_ids": ["nb-1", "nb-4"],
    }
    assert [p.name for p in path.parent.iterdir()] == ["data_imputation.json"]


def test_final_judge_has_no_fold(tmp_path):
    path = tmp_path / "final.json"
    write_json_record(path, audit(fold=None, tokens=None, embedding_model=None))
    assert json.loads(path.read_text())["fold"] is None
    assert read_json_record(path, AlignmentAudit).fold is None
    data = json.loads(path.read_text())
    data["fold"] = "all"
    path.write_text(json.dumps(data))
    assert read_json_record(path, AlignmentAudit).fold is None


def test_memory_ids_join_guideline_sources_and_episodes():
    assert audit().memory_ids() == ["nb-1", "nb-2", "nb-4", "nb-7"]
    assert audit(guidelines=[], episodic_ids=[]).memory_ids() == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"dimension": "imputation"}, "unknown dimension 'imputation'"),
        ({"fold": -1}, "fold"),
        ({"seconds": -0.1}, "seconds"),
        ({"retrieval_k": 1}, "retrievals longer than retrieval_k=1 for: nb-3"),
        ({"guidelines": [{"text": "  ", "source_ids": []}]}, "guidelines.0.text"),
        ({"episodic_ids": [""]}, "episodic_ids.0"),
        ({"tokens": {"input": -3}}, "tokens.input"),
    ],
)
def test_invalid_audit_is_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        audit(**changes)


def corrupted(tmp_path, change):
    path = tmp_path / "audit.json"
    write_json_record(path, audit())
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("reflection_model"), r"field 'reflection_model': Field required"),
        (lambda d: d.update(retrievals={"nb-3": "nb-4"}), r"field 'retrievals\.nb-3'"),
        (lambda d: d.update(schema_version=2), r"field 'schema_version'"),
        (lambda d: d.update(memory=[]), r"field 'memory': Extra inputs are not permitted"),
        (lambda d: d["guidelines"][1].pop("text"), r"field 'guidelines\.1\.text'"),
    ],
)
def test_malformed_audit_file_names_file_and_field(tmp_path, change, message):
    path = corrupted(tmp_path, change)
    with pytest.raises(RecordError, match=message) as info:
        read_json_record(path, AlignmentAudit)
    assert str(path) in str(info.value)


def test_missing_and_unparsable_audit_file(tmp_path):
    with pytest.raises(RecordError, match="alignment audit not found"):
        read_json_record(tmp_path / "nope.json", AlignmentAudit)
    path = tmp_path / "broken.json"
    path.write_text('{"variant": ')
    with pytest.raises(RecordError, match="not valid JSON"):
        read_json_record(path, AlignmentAudit)


def test_write_refuses_an_audit_made_invalid_after_construction(tmp_path):
    bad = audit().model_copy(update={"dimension": "nonsense"})
    path = tmp_path / "audit.json"
    with pytest.raises(RecordError, match="unknown dimension 'nonsense'"):
        write_json_record(path, bad)
    assert not path.exists()
