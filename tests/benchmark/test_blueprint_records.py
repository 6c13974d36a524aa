"""Blueprint records: version 2 names the generator's code ``template`` (a
variant is a judge configuration); blueprint files of version 1 still read."""

import json

import pytest

from nbjudge.benchmark.procedural.templates import CodeTemplate, TemplateRegistry
from nbjudge.schemas import BlueprintEntry, RecordError, read_records, write_records

FIELDS = dict(notebook_id="nb", case_id="c", dimension="model_use", level=2,
              defects=["in-memory model only"], description="predicts with the in-memory model")


def test_written_records_are_version_2_with_a_template(tmp_path):
    path = tmp_path / "blueprint.jsonl"
    write_records(path, [BlueprintEntry(template="use_in_memory", **FIELDS)])
    record = json.loads(path.read_text(encoding="utf-8"))
    assert record["schema_version"] == 2
    assert record["template"] == "use_in_memory"
    assert "variant" not in record


def test_version_1_files_read_their_variant_as_template(tmp_path):
    path = tmp_path / "blueprint.jsonl"
    old = {"schema_version": 1, "variant": "use_in_memory", "crash": False, **FIELDS}
    path.write_text(json.dumps(old) + "\n", encoding="utf-8")
    [entry] = read_records(path, BlueprintEntry)
    assert entry == BlueprintEntry(template="use_in_memory", **FIELDS)
    assert entry.schema_version == 2


def test_version_2_records_have_no_variant(tmp_path):
    path = tmp_path / "blueprint.jsonl"
    record = {"schema_version": 2, "variant": "use_in_memory", **FIELDS}
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    with pytest.raises(RecordError, match="variant"):
        read_records(path, BlueprintEntry)


def test_template_names_are_unique():
    template = CodeTemplate("model_use", 1, "use_none", "never predicts", (), lambda ctx: None)
    with pytest.raises(ValueError, match="duplicate template name 'use_none'"):
        TemplateRegistry([template, template])
