"""Volatile values leave the records for the side log, and nothing else changes."""

import json
from pathlib import Path

import pytest

from nbjudge.runlog import VOLATILE, log_values, runlog_path, set_aside
from nbjudge.schemas import (
    AlignmentAudit,
    ControlsRun,
    Execution,
    Judgment,
    Notebook,
    RegisteredJudge,
    Registration,
)

SHA = "0" * 64


def _judgment(notebook: str, latency: float | None) -> Judgment:
    return Judgment(notebook_id=notebook, dimension="data_imputation", variant="full", fold=1,
                    status="ok", score=2, model="m", latency_s=latency, tokens_in=10)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_judgments_lose_their_latency_to_the_side_file(tmp_path):
    kept = set_aside([_judgment("a", 1.5), _judgment("b", None)], "data/judgments/full.jsonl",
                     root=tmp_path)
    assert [j.latency_s for j in kept] == [None, None]
    assert kept[0] == _judgment("a", None)  # every other field as it was
    side = tmp_path / "data/judgments/full.jsonl.jsonl"
    assert _lines(side) == [{"notebook_id": "a", "dimension": "data_imputation",
                             "variant": "full", "fold": 1, "repeat": 0, "latency_s": 1.5}]


def test_nested_and_listed_fields(tmp_path):
    run = Execution(status="ok", seconds=3.25, path="data/notebooks/executed/a.ipynb")
    notebook = Notebook(notebook_id="a", case_id="c", path="x.ipynb", sha256=SHA,
                        origin="procedural", execution=run)
    [kept] = set_aside([notebook], "index.jsonl", root=tmp_path)
    assert kept.execution == run.model_copy(update={"seconds": None})
    assert _lines(tmp_path / "index.jsonl.jsonl") == [
        {"notebook_id": "a", "execution.seconds": 3.25}]
    judges = [RegisteredJudge(dimension="model_use", name=f"n{i}", guidelines=1,
                              episodic_examples=0, seconds=s) for i, s in enumerate((1.0, 2.0))]
    [registration] = set_aside([Registration(params={}, judges=judges)], "judges.json",
                               root=tmp_path)
    assert all(j.seconds is None for j in registration.judges)
    assert _lines(tmp_path / "judges.json.jsonl") == [
        {"judges.0.seconds": 1.0, "judges.1.seconds": 2.0}]


def test_a_rerun_writes_the_same_record_bytes(tmp_path):
    first = set_aside([_judgment("a", 0.1)], "out.jsonl", root=tmp_path)
    second = set_aside([_judgment("a", 9.9)], "out.jsonl", root=tmp_path)
    assert first[0].model_dump_json() == second[0].model_dump_json()
    assert _lines(tmp_path / "out.jsonl.jsonl")[0]["latency_s"] == 9.9  # replaced, not added


def test_every_volatile_field_is_optional():
    """A record without its volatile values must still validate."""
    for model, (_, fields) in VOLATILE.items():
        assert model in (Notebook, Judgment, AlignmentAudit, ControlsRun, Registration)
        for field in fields:
            leaf = field.split(".")[-1]
            owner = {"execution": Execution, "judges": RegisteredJudge}.get(
                field.split(".")[0], model)
            assert not owner.model_fields[leaf].is_required(), field


@pytest.mark.parametrize(("output", "expected"), [
    ("data/controls/controls.json", "data/controls/controls.json.jsonl"),
    ("/elsewhere/x.jsonl", "elsewhere/x.jsonl.jsonl"),
])
def test_side_files_mirror_the_output_path(tmp_path, output, expected):
    assert runlog_path(output, tmp_path) == tmp_path / expected
    log_values(output, [{"seconds": 1.0}], root=tmp_path)
    assert _lines(tmp_path / expected) == [{"seconds": 1.0}]


def test_side_files_sit_under_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert runlog_path(tmp_path / "reports/mlflow_run.json") == Path(
        ".nbjudge-cache/runlog/reports/mlflow_run.json.jsonl")
