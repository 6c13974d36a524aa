"""Import of a folder of the user's notebooks into the pipeline's records."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from nbjudge.benchmark.importer import (
    NotebookImportError,
    import_notebooks,
    notebook_ids,
    read_notebook_folder,
)
from nbjudge.schemas import Case, write_records

PROMPT = "I have passenger data in titanic_train and titanic_test. Who survived?"


def write_notebook(folder: Path, name: str, *, markdown: str | None = PROMPT, metadata=None):
    cells = [nbformat.v4.new_code_cell("import pandas as pd")]
    if markdown is not None:
        cells.insert(0, nbformat.v4.new_markdown_cell(f"# Task\n\n{markdown}"))
    notebook = nbformat.v4.new_notebook(cells=cells)
    if metadata is not None:
        notebook.metadata["nbjudge"] = metadata
    nbformat.write(notebook, folder / name)


def titanic_tables(folder: Path, rows: int = 60, prefix: str = "titanic") -> None:
    rng = np.random.default_rng(0)
    train = pd.DataFrame(
        {
            "PassengerId": range(rows),
            "Age": rng.normal(30, 10, rows),
            "Sex": rng.choice(["male", "female"], rows),
            "Survived": np.arange(rows) % 2,
        }
    )
    train.loc[:5, "Age"] = np.nan
    train.to_csv(folder / f"{prefix}_train.csv", index=False)
    train.drop(columns="Survived").head(10).to_csv(folder / f"{prefix}_test.csv", index=False)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "agent_runs"
    folder.mkdir()
    write_notebook(folder, "Run 1.ipynb")
    write_notebook(folder, "run-2.ipynb")
    titanic_tables(folder)
    return folder


def test_a_folder_becomes_cases_and_index_entries(folder, tmp_path):
    generated, datasets = tmp_path / "generated", tmp_path / "datasets"
    imported = import_notebooks(folder, generated, datasets)
    (case,) = imported.cases
    assert case.model_dump(exclude={"properties"}) == {
        "schema_version": 1,
        "case_id": "run_1",
        "suite": "import",
        "prompt": f"# Task {PROMPT}",
        "task_type": "binary",
        "dataset": "titanic",
        "tables": {"train": "titanic_train", "test": "titanic_test"},
        "target": "Survived",
        "id_column": None,
        "horizon": None,
        "notebooks": 2,
        "prompt_source": "markdown cell",
        "task_type_evidence": "data: target Survived has 2 classes, minority 50%",
    }
    assert case.properties.rows == 60
    assert case.properties.columns == ["PassengerId", "Age", "Sex", "Survived"]
    assert case.properties.missing_columns == ["Age"]
    assert case.properties.missing_rate == round(6 / 240, 4)
    assert case.properties.missing_mechanism == "MCAR"
    assert case.properties.categorical_columns == ["Sex"]
    assert case.properties.class_balance == {"0": 0.5, "1": 0.5}
    index = imported.notebooks
    assert [(n.notebook_id, n.case_id, n.origin) for n in index] == [
        ("run-2", "run_1", "import"),
        ("run_1", "run_1", "import"),
    ]
    for notebook in index:
        source = folder / imported.sources[notebook.notebook_id]
        assert notebook.path == f"{generated.as_posix()}/{notebook.notebook_id}.ipynb"
        assert Path(notebook.path).read_bytes() == source.read_bytes()
        assert notebook.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert sorted(p.name for p in (datasets / "run_1").iterdir()) == [
        "titanic_test.csv",
        "titanic_train.csv",
    ]


def test_index_paths_are_relative_to_the_repository_by_default(folder):
    imported = read_notebook_folder(folder)
    assert {n.path for n in imported.notebooks} == {
        "data/notebooks/generated/run_1.ipynb",
        "data/notebooks/generated/run-2.ipynb",
    }


def test_same_folder_same_bytes(folder, tmp_path):
    outputs = []
    for name in ("a", "b"):
        imported = read_notebook_folder(folder)
        write_records(tmp_path / name / "cases.jsonl", imported.cases)
        write_records(tmp_path / name / "index.jsonl", imported.notebooks)
        outputs.append([(tmp_path / name / f).read_bytes() for f in ("cases.jsonl", "index.jsonl")])
    assert outputs[0] == outputs[1]


def test_notebook_ids_are_sanitized_and_unique():
    assert notebook_ids(["My Run!.ipynb", "my_run.ipynb", "my-run_.ipynb", "??.ipynb"]) == {
        "??.ipynb": "notebook",
        "My Run!.ipynb": "my_run",
        "my-run_.ipynb": "my-run",
        "my_run.ipynb": "my_run_2",
    }


def test_prompt_from_metadata_then_cases_yaml_then_first_markdown(tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    write_notebook(folder, "a.ipynb", metadata={"prompt": "From metadata.", "case_id": "x"})
    write_notebook(folder, "b.ipynb")
    write_notebook(folder, "c.ipynb", markdown="Classify the wines by cultivar.")
    (folder / "cases.yaml").write_text(
        "a.ipynb: {prompt: Overridden by the metadata.}\n"
        "b.ipynb: {prompt: From cases.yaml., case_id: y}\n"
        "'*': {properties: {rows: 10, columns: [], missing_columns: [], missing_rate: 0.0,"
        " missing_mechanism: none, categorical_columns: []}}\n",
        encoding="utf-8",
    )
    cases = {c.case_id: c for c in read_notebook_folder(folder).cases}
    assert cases["x"].prompt == "From metadata."
    assert cases["y"].prompt == "From cases.yaml."
    assert cases["c"].prompt == "# Task Classify the wines by cultivar."
    assert cases["c"].task_type == "multiclass"  # from the prompt's words: no table to read


def test_cases_yaml_groups_notebooks_and_sets_what_data_cannot_tell(tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    for name in ("a.ipynb", "b.ipynb", "c.ipynb"):
        write_notebook(folder, name, markdown=f"Notebook {name}")
    titanic_tables(folder)
    titanic_tables(folder, prefix="other")
    (folder / "cases.yaml").write_text(
        "'*': {case_id: titanic, task_type: binary, target: Survived, id_column: PassengerId,"
        " data: [titanic_train.csv, titanic_test.csv],"
        " properties: {missing_mechanism: MAR}}\n"
        "a.ipynb: {prompt: 'Who survived?'}\n",
        encoding="utf-8",
    )
    imported = read_notebook_folder(folder)
    (case,) = imported.cases
    assert (case.case_id, case.prompt, case.notebooks, case.id_column) == (
        "titanic",
        "Who survived?",
        3,
        "PassengerId",
    )
    assert case.properties.missing_mechanism == "MAR"
    assert case.properties.missing_rate == round(6 / 180, 4)  # the id column is not measured
    assert imported.data == {"titanic": ["titanic_train.csv", "titanic_test.csv"]}


def test_data_keeps_relative_paths_and_skips_hidden_files(tmp_path):
    folder = tmp_path / "runs"
    (folder / "data").mkdir(parents=True)
    (folder / ".ipynb_checkpoints").mkdir()
    write_notebook(folder, "a.ipynb")
    write_notebook(folder, ".hidden.ipynb")
    (folder / ".ipynb_checkpoints" / "a-checkpoint.ipynb").write_text("{}", encoding="utf-8")
    titanic_tables(folder / "data")
    (folder / ".DS_Store").write_bytes(b"\0")
    imported = import_notebooks(folder, tmp_path / "generated", tmp_path / "datasets")
    case_id = imported.cases[0].case_id
    assert imported.data[case_id] == ["data/titanic_test.csv", "data/titanic_train.csv"]
    assert (tmp_path / "datasets" / case_id / "data/titanic_train.csv").exists()
    assert {n.notebook_id for n in imported.notebooks} == {"a"}


def test_task_types_and_properties_from_the_data(tmp_path):
    rng = np.random.default_rng(1)

    def case_for(train: pd.DataFrame, other: pd.DataFrame, other_role: str = "test") -> Case:
        folder = tmp_path / f"runs{len(list(tmp_path.iterdir()))}"
        folder.mkdir()
        write_notebook(folder, "a.ipynb", markdown="Do the task.")
        train.to_csv(folder / "shop_train.csv", index=False)
        other.to_csv(folder / f"shop_{other_role}.csv", index=False)
        return read_notebook_folder(folder).cases[0]

    x = rng.normal(size=200)
    regression = case_for(pd.DataFrame({"x": x, "price": x * 3 + 1}), pd.DataFrame({"x": x}))
    assert (regression.task_type, regression.target) == ("regression", "price")
    assert regression.properties.class_balance is None
    flags = (np.arange(200) % 10 == 0).astype(int)
    imbalanced = case_for(pd.DataFrame({"x": x, "fraud": flags}), pd.DataFrame({"x": x}))
    assert imbalanced.task_type == "binary_imbalanced"
    assert imbalanced.properties.class_balance == {"0": 0.9, "1": 0.1}
    kinds = pd.DataFrame({"x": x, "kind": np.array(["a", "b", "c", "d"])[np.arange(200) % 4]})
    assert case_for(kinds, pd.DataFrame({"x": x})).task_type == "multiclass"
    dates = pd.date_range("2024-01-01", periods=200, freq="D")
    sales = pd.DataFrame({"date": dates, "promo": np.arange(200) % 2, "sales": x + 10})
    future = pd.DataFrame({"date": pd.date_range("2024-07-19", periods=28), "promo": 0})
    forecast = case_for(sales, future, other_role="future")
    assert (forecast.task_type, forecast.target) == ("forecasting", "sales")
    assert forecast.tables == {"train": "shop_train", "future": "shop_future"}
    assert (forecast.properties.time_index, forecast.properties.frequency) == ("date", "D")
    assert forecast.properties.categorical_columns == []


def test_malformed_notebooks_are_named_with_nbformat_message_and_nothing_is_written(
    folder, tmp_path
):
    (folder / "broken.ipynb").write_text('{"cells": [', encoding="utf-8")
    invalid = json.loads((folder / "run-2.ipynb").read_text(encoding="utf-8"))
    invalid["cells"][0]["cell_type"] = "prose"
    (folder / "invalid.ipynb").write_text(json.dumps(invalid), encoding="utf-8")
    (folder / "list.ipynb").write_text("[]", encoding="utf-8")
    no_version = {"cells": [], "metadata": {}}
    (folder / "old.ipynb").write_text(json.dumps(no_version), encoding="utf-8")
    with pytest.raises(NotebookImportError) as info:
        import_notebooks(folder, tmp_path / "generated", tmp_path / "datasets")
    problems = info.value.problems
    assert len(problems) == 4
    message = str(info.value)
    assert "4 problem(s); nothing was imported" in message
    assert "broken.ipynb: not JSON (Expecting value at line 1, column 12); re-save it" in message
    assert "invalid.ipynb: not a valid notebook: nbformat says" in message
    assert "nbformat says at cells/0: {'cell_type': 'prose'" in message
    assert "is not valid under any of the given schemas" in message
    assert "list.ipynb: not a notebook (the JSON is a list)" in message
    assert "old.ipynb: not a notebook (JSON without an 'nbformat' version)" in message
    assert not (tmp_path / "generated").exists() and not (tmp_path / "datasets").exists()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (
            lambda f: write_notebook(f, "x.ipynb", metadata={"prompt": 3}),
            r"x.ipynb: the prompt must be text, got 3",
        ),
        (
            lambda f: write_notebook(f, "x.ipynb", metadata=["not", "a", "mapping"]),
            r"x.ipynb: metadata 'nbjudge' must be a mapping",
        ),
        (
            lambda f: (f / "cases.yaml").write_text("ghost.ipynb: {prompt: x}\n"),
            r"cases.yaml: 'ghost.ipynb' is not a notebook in the folder; keys are notebook file "
            r"names \(Run 1.ipynb, run-2.ipynb\) or '\*'",
        ),
        (
            lambda f: (f / "cases.yaml").write_text("run-2.ipynb: {promt: x}\n"),
            r"cases.yaml: 'run-2.ipynb': unknown key\(s\) promt; allowed: prompt, case_id",
        ),
        (
            lambda f: (f / "cases.yaml").write_text("run-2.ipynb: [\n"),
            r"cases.yaml: not valid YAML",
        ),
        (
            lambda f: (f / "cases.yaml").write_text("- a\n"),
            r"cases.yaml: expected a mapping of notebook file name -> settings",
        ),
        (
            lambda f: (f / "cases.yaml").write_text(
                "'*': {case_id: t}\nRun 1.ipynb: {target: Age}\nrun-2.ipynb: {target: Survived}\n"
            ),
            r"case 't': its notebooks disagree on target: Run 1.ipynb: 'Age'; "
            r"run-2.ipynb: 'Survived'",
        ),
        (
            lambda f: (f / "cases.yaml").write_text("'*': {case_id: a b}\n"),
            r"Run 1.ipynb: case_id 'a b' may hold only letters, digits",
        ),
        (
            lambda f: (f / "cases.yaml").write_text("'*': {task_type: clustering}\n"),
            r"case 'run_1': task_type 'clustering' is not one of binary, binary_imbalanced",
        ),
        (
            lambda f: (f / "cases.yaml").write_text(
                "'*': {case_id: t}\nRun 1.ipynb: {prompt: A}\nrun-2.ipynb: {prompt: B}\n"
            ),
            r"case 't': its notebooks were given different prompts: Run 1.ipynb: 'A'; "
            r"run-2.ipynb: 'B'",
        ),
        (
            lambda f: (f / "cases.yaml").write_text("'*': {data: {a: b}}\n"),
            r"case 'run_1': data must be a list of file names, got \{'a': 'b'\}",
        ),
        (
            lambda f: (f / "cases.yaml").write_text("'*': {tables: [a]}\n"),
            r"case 'run_1': tables must be a mapping, got \['a'\]",
        ),
        (
            lambda f: (f / "cases.yaml").write_text("'*': {data: [nope.csv]}\n"),
            r"case 'run_1': data file\(s\) nope.csv not found in the folder",
        ),
        (
            lambda f: (f / "titanic_train.csv").write_bytes(b"a,b\n1,2,3,4\n\xff\xfe\n"),
            r"titanic_train.csv: cannot read this table",
        ),
        (
            lambda f: [p.unlink() for p in f.glob("*.csv")]
            and (f / "cases.yaml").write_text("'*': {properties: {rows: 10}}\n"),
            r"case 'run_1': properties: field 'columns': Field required",
        ),
        (
            lambda f: (f / "cases.yaml").write_text("'*': {properties: {missing_rate: 2}}\n"),
            r"case 'run_1': properties: field 'missing_rate': Input should be less than or equal",
        ),
    ],
)
def test_each_import_error_is_clear(folder, setup, message):
    setup(folder)
    with pytest.raises(NotebookImportError, match=message):
        read_notebook_folder(folder)


def test_notebooks_alone_import_with_unknown_properties_and_task_type(tmp_path):
    """An agent's notebooks, executed elsewhere: no tables, no cases.yaml, no metadata."""
    folder = tmp_path / "runs"
    folder.mkdir()
    write_notebook(folder, "churn.ipynb", markdown="Build a churn prediction model.")
    write_notebook(folder, "sales.ipynb", markdown="Forecast next quarter's sales per store.")
    write_notebook(folder, "misc.ipynb", markdown="Clean up this analysis of the survey.")
    imported = read_notebook_folder(folder)
    cases = {c.case_id: c for c in imported.cases}
    assert {c: (case.task_type, case.properties) for c, case in cases.items()} == {
        "churn": ("binary_imbalanced", None), "sales": ("forecasting", None),
        "misc": ("unknown", None)}
    assert cases["misc"].prompt == "# Task Clean up this analysis of the survey."
    assert len(imported.notebooks) == 3


def test_a_folder_without_notebooks(tmp_path):
    with pytest.raises(NotebookImportError, match=r"no .ipynb notebooks at the top of the folder"):
        read_notebook_folder(tmp_path)
    with pytest.raises(NotebookImportError, match=r"missing: not a folder of notebooks"):
        read_notebook_folder(tmp_path / "missing")


# --- hostile folders: malformed notebooks, links out of the folder, permissions ----------


def _notebook_json(*cells: dict) -> dict:
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
            "cells": [{"cell_type": "markdown", "id": "m0", "metadata": {},
                       "source": "# Task\n\nWho survived?"}, *cells]}


def test_malformed_notebooks_are_refused_one_line_each_and_honest_ones_would_import(folder):
    markdown = {"cell_type": "markdown", "id": "m1", "metadata": {}, "source": "a \ud800 b"}
    # json.dumps writes the lone surrogate as the escape "\ud800", as a hostile file would.
    (folder / "surrogate.ipynb").write_text(json.dumps(_notebook_json(markdown)))
    output = {"cell_type": "code", "id": "c1", "metadata": {}, "execution_count": 1,
              "source": "x", "outputs": [{"output_type": "stream", "name": "stdout",
                                          "text": "\udcff"}]}
    (folder / "surrogate_output.ipynb").write_text(json.dumps(_notebook_json(output)))
    nested = _notebook_json()
    (folder / "nested.ipynb").write_text(
        json.dumps(nested)[:-1] + ', "deep": ' + "[" * 50_000 + "]" * 50_000 + "}")
    (folder / "nested_101.ipynb").write_text(
        json.dumps(nested)[:-1] + ', "deep": ' + "[" * 101 + "]" * 101 + "}")
    many = [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "execution_count": None,
             "source": "x = 1", "outputs": []} for i in range(5000)]
    (folder / "huge.ipynb").write_text(json.dumps(_notebook_json(*many)))
    (folder / "latin1.ipynb").write_bytes(
        json.dumps(_notebook_json()).replace("Who", "W\\u00e9").encode().replace(
            b"\\u00e9", b"\xe9"))
    with pytest.raises(NotebookImportError) as info:
        read_notebook_folder(folder)
    lines = {line.strip().split(":")[0]: line.strip() for line in info.value.problems}
    assert set(lines) == {"surrogate.ipynb", "surrogate_output.ipynb", "nested.ipynb",
                          "nested_101.ipynb", "huge.ipynb", "latin1.ipynb"}
    assert lines["surrogate.ipynb"].startswith(
        "surrogate.ipynb: cell 2 holds a lone surrogate (\\ud800), half of a character")
    assert "cell 2 holds a lone surrogate (\\udcff)" in lines["surrogate_output.ipynb"]
    for name in ("nested.ipynb", "nested_101.ipynb"):
        assert lines[name] == (f"{name}: its JSON nests deeper than 100 levels; a notebook "
                               "never does: is this really a notebook?")
    assert lines["huge.ipynb"] == ("huge.ipynb: 5,001 cells, more than the 5,000 the importer "
                                   "takes: split the notebook")
    assert lines["latin1.ipynb"].startswith("latin1.ipynb: not UTF-8 text (invalid")
    # The same folder without them imports, as the honest notebooks beside them show.
    for name in lines:
        (folder / name).unlink()
    assert len(read_notebook_folder(folder).notebooks) == 2


def test_a_lone_surrogate_in_cases_yaml_is_refused(folder):
    (folder / "cases.yaml").write_text('"*": {prompt: "a \\ud800"}\n')
    with pytest.raises(NotebookImportError, match=r"cases.yaml: holds a lone surrogate "
                                                  r"\(\\ud800\)"):
        read_notebook_folder(folder)


def test_links_out_of_the_folder_and_special_files_are_never_read(folder, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("API_KEY=do-not-leak\n")
    (folder / "notes.txt").symlink_to(secret)
    (folder / "env.txt").symlink_to("/proc/self/environ")
    (folder / "sub").mkdir()
    (folder / "sub" / "outside").symlink_to(tmp_path, target_is_directory=True)
    (folder / "linked.ipynb").symlink_to(tmp_path / "elsewhere.ipynb")
    write_notebook(tmp_path, "elsewhere.ipynb")
    os.mkfifo(folder / "pipe.csv")
    with pytest.raises(NotebookImportError) as info:
        import_notebooks(folder, tmp_path / "generated", tmp_path / "datasets")
    message = str(info.value)
    assert (f"notes.txt: a symbolic link to {secret}, outside the import folder; the importer "
            "reads only the folder's own files: copy the file into the folder") in message
    assert "env.txt: a symbolic link to /proc/self/environ, outside the import folder" in message
    assert f"sub/outside: a symbolic link to {tmp_path}, outside the import folder" in message
    assert "linked.ipynb: a symbolic link to" in message
    assert ("pipe.csv: not a regular file (a device, pipe or socket); the importer reads only "
            "regular files: remove it from the folder") in message
    assert "do-not-leak" not in message
    assert not (tmp_path / "datasets").exists()


def test_links_inside_the_folder_are_followed_and_copies_never_widen_permissions(folder,
                                                                                 tmp_path):
    (folder / "data").mkdir()
    (folder / "titanic_train.csv").rename(folder / "data" / "train.csv")
    (folder / "titanic_train.csv").symlink_to("data/train.csv")
    (folder / "titanic_test.csv").chmod(0o600)
    (folder / "run-2.ipynb").chmod(0o640)
    imported = import_notebooks(folder, tmp_path / "generated", tmp_path / "datasets")
    tables = tmp_path / "datasets" / imported.cases[0].case_id
    copied = tables / "titanic_train.csv"
    assert not copied.is_symlink()
    assert copied.read_bytes() == (folder / "data" / "train.csv").read_bytes()
    assert (tables / "titanic_test.csv").stat().st_mode & 0o777 == 0o600
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "generated" / "run-2.ipynb").stat().st_mode & 0o777 == 0o640 & ~umask


def test_control_characters_in_file_names_are_refused_and_in_prompts_escaped(folder):
    write_notebook(folder, "a\x1b[2Kb.ipynb")
    with pytest.raises(NotebookImportError) as info:
        read_notebook_folder(folder)
    assert info.value.problems == ["a\\x1b[2Kb.ipynb: the file name holds control characters "
                                   "or is not UTF-8: rename the file"]
    (folder / "a\x1b[2Kb.ipynb").unlink()
    write_notebook(folder, "title.ipynb",
                   markdown="Predict \x1b]0;pwned\x07 survival of each passenger")
    imported = read_notebook_folder(folder)
    prompts = {case.prompt for case in imported.cases}
    assert "# Task Predict \\x1b]0;pwned\\x07 survival of each passenger" in prompts
    assert f"# Task {PROMPT}" in prompts   # honest notebooks' prompts unchanged
