"""Label-file import: every error named by file and line, nothing half-imported; the stage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from nbjudge.benchmark.labels import (
    LabelFileError,
    import_labels,
    read_label_file,
    summarize_labels,
)
from nbjudge.schemas import (
    DIMENSIONS,
    BlueprintEntry,
    Label,
    Notebook,
    RecordError,
    read_records,
    write_records,
)

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = ["titanic_1", "titanic_2", "churn_1"]
HEADER = "notebook_id,dimension,score,rationale,rater_id"


def label(**changes) -> dict:
    row = {
        "notebook_id": "titanic_1",
        "dimension": "data_imputation",
        "score": 3,
        "rationale": "Median imputer inside the cross-validated pipeline.",
        "rater_id": "alice",
    }
    return {**row, **changes}


def jsonl(tmp_path: Path, *rows, name: str = "labels.jsonl") -> Path:
    path = tmp_path / name
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def csv_file(tmp_path: Path, text: str, name: str = "labels.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def read(path: Path) -> list[Label]:
    return read_label_file(path, NOTEBOOKS, index_path="data/notebooks/index.jsonl")


def test_jsonl_import_normalises_scores_dimensions_and_source(tmp_path):
    path = jsonl(
        tmp_path,
        label(),
        label(dimension="Data Exploration", score="2", rater_id="bob"),
        "",
        label(dimension="data-imputation", score="n/a", rater_id="carol", source="simulated"),
        label(notebook_id="churn_1", score=1.0),
    )
    labels = read(path)
    assert [(x.dimension, x.score, x.source) for x in labels] == [
        ("data_imputation", 3, "human"),
        ("data_exploration", 2, "human"),
        ("data_imputation", "N/A", "simulated"),
        ("data_imputation", 1, "human"),
    ]


def test_jsonl_with_crlf_and_a_line_separator_inside_a_rationale(tmp_path):
    path = tmp_path / "labels.jsonl"
    rows = [label(rationale="Fits on train\u2028only."), label(rater_id="bob")]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\r\n" for r in rows), "utf-8")
    assert [x.rationale for x in read(path)] == ["Fits on train\u2028only.", rows[1]["rationale"]]


def test_csv_import_with_quotes_bom_extra_columns_and_multiline_rationale(tmp_path):
    text = (
        "\ufeffNotebook_ID, dimension ,score,rationale,rater_id,notes\n"
        'titanic_1,model_training,2,"Single split, default hyperparameters.",alice,x\n'
        "\n"
        'titanic_1,model_training,NA,"Two lines\nof reasons.",bob,\n'
    )
    labels = read(csv_file(tmp_path, text))
    assert [(x.rater_id, x.score) for x in labels] == [("alice", 2), ("bob", "N/A")]
    assert labels[0].rationale == "Single split, default hyperparameters."
    assert labels[1].rationale == "Two lines\nof reasons."


def test_tsv_import(tmp_path):
    text = HEADER.replace(",", "\t") + "\ntitanic_2\tmlflow_logging\t1\tNo tracking at all.\tbob\n"
    (only,) = read(csv_file(tmp_path, text, name="labels.tsv"))
    assert (only.notebook_id, only.score) == ("titanic_2", 1)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            label(dimension="imputation"),
            r"labels.jsonl:2: unknown dimension 'imputation'; valid dimensions: "
            + ", ".join(DIMENSIONS),
        ),
        (label(score=4), r"labels.jsonl:2: score 4 is out of range; use 1, 2, 3 or N/A"),
        (label(score=0), r"labels.jsonl:2: score 0 is out of range"),
        (label(score=2.5), r"labels.jsonl:2: score 2.5 is out of range"),
        (label(score="good"), r"labels.jsonl:2: score 'good' is out of range"),
        (label(score=True), r"labels.jsonl:2: score True is out of range"),
        (label(score=""), r"labels.jsonl:2: empty score; use 1, 2, 3 or N/A"),
        (
            label(notebook_id="titanic-1"),
            r"labels.jsonl:2: unknown notebook 'titanic-1': it is not in "
            r"data/notebooks/index.jsonl; did you mean 'titanic_1'\?",
        ),
        (label(notebook_id="zzz"), r"unknown notebook 'zzz'.*use the ids listed there"),
        (label(notebook_id=""), r"labels.jsonl:2: empty notebook_id"),
        (label(rationale="   "), r"labels.jsonl:2: empty rationale; write the rater's reason"),
        (label(rationale=None), r"labels.jsonl:2: empty rationale"),
        (label(rationale=["a"]), r"labels.jsonl:2: rationale must be text, got \['a'\]"),
        (label(rater_id=""), r"labels.jsonl:2: empty rater_id; name who graded it"),
        (label(source="llm"), r"labels.jsonl:2: source 'llm' is not one of human, simulated"),
        (
            {k: v for k, v in label().items() if k not in ("rationale", "rater_id")},
            r"labels.jsonl:2: missing column\(s\) rationale, rater_id; every line needs",
        ),
        ("{not json", r"labels.jsonl:2: not valid JSON \(.* at column 2\)"),
        ("[1, 2]", r"labels.jsonl:2: expected a JSON object .* got list"),
    ],
)
def test_each_jsonl_error_names_file_and_line(tmp_path, row, message):
    path = jsonl(tmp_path, label(rater_id="first"), row)
    with pytest.raises(LabelFileError, match=message) as info:
        read(path)
    assert len(info.value.problems) == 1
    assert "no label was imported" in str(info.value)


def test_duplicate_names_both_lines(tmp_path):
    path = jsonl(tmp_path, label(), label(dimension="model_use"), label(score=2))
    with pytest.raises(
        LabelFileError,
        match=r"labels.jsonl:3: duplicate label for notebook 'titanic_1', dimension "
        r"'data_imputation', rater 'alice': line 1 grades the same; keep one of the two lines",
    ):
        read(path)


def test_duplicate_after_normalisation(tmp_path):
    path = jsonl(tmp_path, label(), label(dimension="Data Imputation"))
    with pytest.raises(LabelFileError, match=r"labels.jsonl:2: duplicate .* line 1"):
        read(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "notebook_id,dimension,score,rater_id\ntitanic_1,model_use,3,alice\n",
            r"labels.csv:1: missing column\(s\) rationale; the header must name notebook_id, "
            r"dimension, score, rationale, rater_id \(and optionally source\)",
        ),
        (HEADER + ",score\n", r"labels.csv:1: column\(s\) score appear twice"),
        (
            HEADER + "\ntitanic_1,model_use,3,Loads it back, then predicts.,alice\n",
            r"labels.csv:2: expected 5 fields as in the header, found 6; quote a rationale",
        ),
        (
            HEADER + '\ntitanic_1,model_use,3,"Good",alice\ntitanic_1,model_use,3,"Bad"x,bob\n',
            r"labels.csv:3: cannot parse the CSV \(.*\); check the quotes",
        ),
        (
            HEADER + '\ntitanic_1,model_use,3,"Two\nlines",alice\ntitanic_1,model_use,7,Ok.,bob\n',
            r"labels.csv:4: score '7' is out of range",
        ),
        (HEADER + "\ntitanic_1,model_use,,Fine.,alice\n", r"labels.csv:2: empty score"),
        (HEADER + "\ntitanic_1,model_use,3,,alice\n", r"labels.csv:2: empty rationale"),
        (HEADER + "\n", r"labels.csv: the file has a header but no labels"),
        ("", r"labels.csv: the file is empty; it needs a header"),
    ],
)
def test_each_csv_error_names_the_line_in_the_file(tmp_path, text, message):
    with pytest.raises(LabelFileError, match=message):
        read(csv_file(tmp_path, text))


def test_unreadable_files(tmp_path):
    bad = tmp_path / "labels.csv"
    bad.write_bytes(HEADER.encode() + b"\ntitanic_1,model_use,3,caf\xe9,alice\n")
    with pytest.raises(
        LabelFileError, match=r"labels.csv:2: not UTF-8 text .*save the file as UTF-8"
    ):
        read(bad)
    with pytest.raises(LabelFileError, match=r"labels.jsonl: the file is empty"):
        read(jsonl(tmp_path, ""))
    with pytest.raises(LabelFileError, match=r"labels.xlsx: unsupported file type '.xlsx'; use"):
        read(tmp_path / "labels.xlsx")
    with pytest.raises(LabelFileError, match=r"missing.jsonl: file not found; set labels.path"):
        read(tmp_path / "missing.jsonl")


def test_every_problem_is_collected_and_long_reports_are_cut(tmp_path):
    path = jsonl(tmp_path, label(score=9), label(rater_id="bob", dimension="eda"), label())
    with pytest.raises(LabelFileError) as info:
        read(path)
    assert [p.split(": ")[0] for p in info.value.problems] == [
        f"{path}:1",
        f"{path}:2",
    ]
    rows = [label(rater_id=f"r{i}", score=5) for i in range(25)]
    with pytest.raises(LabelFileError, match=r"25 problem\(s\)[\s\S]*\.\.\. and 5 more"):
        read(jsonl(tmp_path, *rows))


def test_nothing_is_written_on_error(tmp_path):
    bad = jsonl(tmp_path, label(), label(notebook_id="ghost"))
    out = tmp_path / "out" / "labels.jsonl"
    with pytest.raises(LabelFileError):
        import_labels(bad, NOTEBOOKS, out)
    assert not out.exists()
    good = jsonl(tmp_path, label(), name="good.jsonl")
    import_labels(good, NOTEBOOKS, out)
    before = out.read_bytes()
    with pytest.raises(LabelFileError):
        import_labels(bad, NOTEBOOKS, out)
    assert out.read_bytes() == before
    assert read_records(out, Label)[0].rater_id == "alice"


def test_label_file_error_is_a_record_error(tmp_path):
    with pytest.raises(RecordError):
        read(jsonl(tmp_path, label(score=7)))


def test_summary_counts_notebooks_raters_and_multi_rated_share():
    labels = [
        Label(**label(), source="human"),
        Label(**label(rater_id="bob"), source="human"),
        Label(**label(notebook_id="churn_1"), source="human"),
    ]
    summary = summarize_labels(labels)
    assert (summary.labels, summary.notebooks, summary.raters, summary.multi_rated) == (3, 2, 2, 1)
    assert summary.multi_rated_share == 0.5
    assert str(summary) == (
        "3 labels (human) on 2 notebooks by 2 raters; 1 notebook (50%) graded by two or "
        "more raters"
    )


# --- the stage -------------------------------------------------------------------------


def run_stage(tmp_path: Path, labels_section: dict) -> subprocess.CompletedProcess:
    params = tmp_path / "params.yaml"
    OmegaConf.save(OmegaConf.create({"seed": 3, "labels": labels_section}), params)
    return subprocess.run(
        [
            sys.executable, "-m", "stages.label",
            "--params", str(params),
            "--index", str(tmp_path / "index.jsonl"),
            "--out", str(tmp_path / "labels.jsonl"),
        ],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip


def panel_section(blueprint: Path) -> dict:
    option = OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "labels" / "panel.yaml"))
    return {**option, "input": str(blueprint)}


@pytest.mark.slow
def test_stage_panel_writes_labels_and_a_summary(tmp_path):
    blueprint = tmp_path / "blueprint.jsonl"
    write_records(
        blueprint,
        [
            BlueprintEntry(
                notebook_id=f"nb{i}",
                case_id="c",
                dimension=d,
                level=2,
                template="t",
                defects=["unpinned installs"],
                description="installs with %pip",
            )
            for i in range(10)
            for d in DIMENSIONS
        ],
    )
    result = run_stage(tmp_path, panel_section(blueprint))
    assert result.returncode == 0, result.stderr
    assert "on 10 notebooks" in result.stdout and "3 notebooks (30%)" in result.stdout
    labels = read_records(tmp_path / "labels.jsonl", Label)
    assert len(labels) == 13 * len(DIMENSIONS)


@pytest.mark.slow
def test_stage_panel_on_an_empty_blueprint_says_use_labels_file(tmp_path):
    blueprint = tmp_path / "blueprint.jsonl"
    write_records(blueprint, [])
    result = run_stage(tmp_path, panel_section(blueprint))
    assert result.returncode == 1
    assert "blueprint is empty" in result.stderr and "use labels=file" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "labels.jsonl").exists()


@pytest.mark.slow
def test_stage_file_imports_against_the_index_and_fails_cleanly(tmp_path):
    write_records(
        tmp_path / "index.jsonl",
        [
            Notebook(
                notebook_id=n,
                case_id="c",
                path=f"data/notebooks/generated/{n}.ipynb",
                sha256="0" * 64,
                origin="import",
            )
            for n in NOTEBOOKS
        ],
    )
    option = OmegaConf.load(REPO / "conf" / "labels" / "file.yaml")
    composed = OmegaConf.create({"labels": option})
    assert composed.labels.input == composed.labels.path == "labels/expert_labels.jsonl"
    good = jsonl(tmp_path, label(), label(rater_id="bob"))
    result = run_stage(tmp_path, {"source": "file", "path": str(good), "input": str(good)})
    assert result.returncode == 0, result.stderr
    assert "2 labels (human) on 1 notebook by 2 raters" in result.stdout
    bad = jsonl(tmp_path, label(notebook_id="ghost"), name="bad.jsonl")
    result = run_stage(tmp_path, {"source": "file", "path": str(bad), "input": str(bad)})
    assert result.returncode == 1
    assert "bad.jsonl:1: unknown notebook 'ghost'" in result.stderr
    assert len(read_records(tmp_path / "labels.jsonl", Label)) == 2


# -- the template experts fill ------------------------------------------------------
def test_label_template_lists_every_notebook_and_dimension_and_imports_once_filled(tmp_path):
    import csv

    from nbjudge.__main__ import main
    from nbjudge.benchmark.labels import LabelFileError, read_label_file
    from nbjudge.schemas import DIMENSIONS

    index = tmp_path / "index.jsonl"
    rows = [{"notebook_id": f"case_{i}__01", "case_id": f"case_{i}", "path": f"nb{i}.ipynb",
             "sha256": "0" * 64, "origin": "import"} for i in (1, 2)]
    index.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "labels.csv"
    assert main(["labels-template", str(out), "--index", str(index), "--rater", "ana"]) == 0
    with out.open(newline="") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 2 * len(DIMENSIONS)
    assert {(r["notebook_id"], r["dimension"]) for r in table} == {
        (n, d) for n in ("case_1__01", "case_2__01") for d in DIMENSIONS}
    assert {r["rater_id"] for r in table} == {"ana"}
    ids = ["case_1__01", "case_2__01"]
    with pytest.raises(LabelFileError, match=r"labels.csv:2: empty score"):
        read_label_file(out, ids)  # unfilled: not importable
    for row in table:
        row["score"], row["rationale"] = "N/A", "nothing of this kind in the notebook"
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    assert len(read_label_file(out, ids)) == 2 * len(DIMENSIONS)


def test_label_template_without_an_index_says_what_to_run(tmp_path, capsys):
    from nbjudge.__main__ import main

    assert main(["labels-template", str(tmp_path / "l.csv"),
                 "--index", str(tmp_path / "none.jsonl")]) == 1
    assert "dvc repro generate" in capsys.readouterr().err
