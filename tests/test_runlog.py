"""Volatile values leave the records for the side log, and nothing else changes."""

import json
import typing
from pathlib import Path

import pytest

from nbjudge.runlog import VOLATILE, log_values, runlog_path, set_aside
from nbjudge.schemas import (
    AlignmentAudit,
    ControlsRun,
    Execution,
    Judgment,
    Notebook,
    PlanLine,
    RegisteredJudge,
    Registration,
    StagePlan,
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


def test_every_volatile_field_may_be_none():
    """A record without its volatile values must still validate."""
    for model, (_, fields) in VOLATILE.items():
        assert model in (Notebook, Judgment, AlignmentAudit, ControlsRun, Registration,
                         StagePlan)
        for field in fields:
            leaf = field.split(".")[-1]
            owner = {"execution": Execution, "judges": RegisteredJudge, "lines": PlanLine}.get(
                field.split(".")[0], model)
            info = owner.model_fields[leaf]
            assert (not info.is_required()
                    or type(None) in typing.get_args(info.annotation)), field


def test_a_plan_keeps_what_it_needs_and_logs_what_was_cached(tmp_path):
    line = PlanLine(what="judge requests", model="m", requests=36, cached=30, prompt_tokens=900,
                    reply_tokens=360, send_prompt_tokens=150, send_reply_tokens=60,
                    input_price=0.0, output_price=0.0, bound="exact")
    [kept] = set_aside([StagePlan(stage="judge", tokenizer="t", lines=[line])],
                       "data/judgments/baseline.plan.json", root=tmp_path)
    assert kept.lines[0] == line.model_copy(
        update={"cached": None, "send_prompt_tokens": None, "send_reply_tokens": None})
    assert kept.lines[0].to_send is None and kept.lines[0].cost is None
    assert _lines(tmp_path / "data/judgments/baseline.plan.json.jsonl") == [
        {"stage": "judge", "lines.0.cached": 30, "lines.0.send_prompt_tokens": 150,
         "lines.0.send_reply_tokens": 60}]


def test_a_registration_logs_the_registry_version_and_keeps_the_digest(tmp_path):
    judge = RegisteredJudge(dimension="model_use", name="nbjudge_model_use", version=2,
                            digest=SHA, guidelines=1, episodic_examples=0, seconds=1.0)
    [kept] = set_aside([Registration(params={}, judges=[judge])], "judges.json", root=tmp_path)
    assert kept.judges[0].version is None and kept.judges[0].digest == SHA
    assert _lines(tmp_path / "judges.json.jsonl") == [
        {"judges.0.seconds": 1.0, "judges.0.version": 2}]


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
