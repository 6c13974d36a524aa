"""Imports of the notebooks people actually have: every shape written here, by the test.

Each fixture is built with nbformat (or as raw JSON where nbformat would refuse to
write it); none is a third-party notebook.
"""

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from nbjudge.__main__ import main
from nbjudge.benchmark.importer import NotebookImportError, check_folder, read_notebook_folder
from nbjudge.notebooks.render import RenderOptions, render

TASK = "Predict which customers churn next month."


def v3_notebook() -> dict:
    """nbformat 3: worksheets, ``input`` and ``prompt_number``, a Python 2 kernel."""
    return {"nbformat": 3, "nbformat_minor": 0,
            "metadata": {"name": "old", "kernelspec": {"name": "python2"}},
            "worksheets": [{"cells": [
                {"cell_type": "markdown", "source": [TASK]},
                {"cell_type": "code", "language": "python", "input": ["print 'hi'"],
                 "prompt_number": 1,
                 "outputs": [{"output_type": "stream", "stream": "stdout", "text": ["hi\n"]}]},
            ]}]}


SHAPES = {
    "nbformat3": lambda: json.dumps(v3_notebook()),
    "nbformat40": lambda: nbformat.writes(new_notebook(cells=[
        new_markdown_cell(TASK), new_code_cell("x = 1")]), version=4).replace(
        '"nbformat_minor": 5', '"nbformat_minor": 0'),
    "r_kernel": lambda: nbformat.writes(new_notebook(
        cells=[new_markdown_cell(TASK), new_code_cell("library(dplyr)")],
        metadata={"kernelspec": {"name": "ir", "language": "R", "display_name": "R"}})),
    "no_outputs_field": lambda: json.dumps({
        "nbformat": 4, "nbformat_minor": 4, "metadata": {},
        "cells": [{"cell_type": "markdown", "metadata": {}, "source": TASK},
                  {"cell_type": "code", "metadata": {}, "source": "x = 1"}]}),
    "rich_outputs": lambda: nbformat.writes(new_notebook(cells=[
        new_markdown_cell(TASK, attachments={"a.png": {"image/png": "AAAA"}}),
        new_code_cell("df.head()", execution_count=1, outputs=[
            new_output("execute_result", data={"text/html": "<table></table>"},
                       execution_count=1),
            new_output("display_data", data={"image/png": "AAAA", "text/plain": "<Figure>"}),
            new_output("display_data", data={
                "application/vnd.jupyter.widget-view+json": {"model_id": "x"}})])])),
    "one_cell": lambda: nbformat.writes(new_notebook(cells=[new_markdown_cell(TASK)])),
    "huge": lambda: nbformat.writes(new_notebook(cells=[new_markdown_cell(TASK)] + [
        new_code_cell(f"step_{i} = {i}", execution_count=i + 1, outputs=[
            new_output("stream", name="stdout", text="0123456789" * 2000)])
        for i in range(500)])),
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("shapes")
    for name, write in SHAPES.items():
        (folder / f"{name}.ipynb").write_text(write(), encoding="utf-8")
    (folder / "sub").mkdir()
    (folder / "sub" / "one_cell.ipynb").write_text(SHAPES["one_cell"](), encoding="utf-8")
    return folder


def test_every_shape_imports_and_renders(folder):
    assert (folder / "huge.ipynb").stat().st_size > 10_000_000
    imported = read_notebook_folder(folder)
    assert sorted(imported.sources.values()) == sorted(f"{n}.ipynb" for n in SHAPES)
    for notebook_id, file in imported.sources.items():
        rendered = render(nbformat.read(folder / file, as_version=4),
                          RenderOptions(max_tokens=6000))
        assert rendered.tokens <= 6000, notebook_id
    old = render(nbformat.read(folder / "nbformat3.ipynb", as_version=4)).text
    assert "print 'hi'" in old and "hi" in old
    rich = render(nbformat.read(folder / "rich_outputs.ipynb", as_version=4)).text
    assert "[html output]" in rich and "[image]" in rich and "[widget]" in rich


def test_import_check_reports_outputs_tokens_and_cuts(folder):
    checked, warnings = check_folder(folder, RenderOptions(max_tokens=6000))
    rows = {r.file: r for r in checked}
    assert warnings == []
    assert rows["huge.ipynb"].cuts and rows["huge.ipynb"].judged_tokens <= 6000
    assert rows["huge.ipynb"].tokens > 100_000
    assert rows["no_outputs_field.ipynb"].cells_with_outputs == 0
    assert {r.prompt_source for r in rows.values()} == {"markdown cell"}
    assert {r.prompt for r in rows.values()} == {TASK}


def test_import_check_command_prints_a_row_per_notebook(folder, capsys):
    assert main(["import-check", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"{len(SHAPES)} notebook(s) in {folder}" in out
    assert "huge.ipynb" in out and "cells " in out and "omitted" in out


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", r"bad\.ipynb: not JSON \(Expecting property name"),
    (json.dumps({"hello": "world"}), r"bad\.ipynb: not a notebook \(JSON without an 'nbforma"),
    (b"\x89PNG\r\n\x1a\n\xff\xfe", r"bad\.ipynb: not UTF-8 text"),
])
def test_broken_files_are_named_and_nothing_is_half_imported(tmp_path, content, message):
    (tmp_path / "good.ipynb").write_text(SHAPES["one_cell"](), encoding="utf-8")
    bad = tmp_path / "bad.ipynb"
    if isinstance(content, bytes):
        bad.write_bytes(content)
    else:
        bad.write_text(content, encoding="utf-8")
    with pytest.raises(NotebookImportError, match=message) as raised:
        read_notebook_folder(tmp_path)
    assert "good.ipynb" not in str(raised.value)   # the problem is the bad file alone


def test_a_repaired_notebook_is_imported_as_repaired(folder, tmp_path):
    from nbjudge.benchmark.importer import copy_notebooks

    imported = read_notebook_folder(folder, notebooks_dir=tmp_path)
    copy_notebooks(imported, tmp_path)
    by_file = {file: n for n, file in imported.sources.items()}
    copied = tmp_path / f"{by_file['no_outputs_field.ipynb']}.ipynb"
    notebook = nbformat.read(copied, as_version=4)   # valid now
    assert notebook.cells[1].outputs == [] and notebook.cells[1].source == "x = 1"
    untouched = tmp_path / f"{by_file['one_cell.ipynb']}.ipynb"
    assert untouched.read_bytes() == (folder / "one_cell.ipynb").read_bytes()


@pytest.mark.slow
def test_every_shape_is_executed_in_every_mode(folder, tmp_path):
    from nbjudge.benchmark.importer import copy_notebooks
    from nbjudge.notebooks.batch import NotebookJob, OutputPolicy, execute_index

    imported = read_notebook_folder(folder, notebooks_dir="in")
    copy_notebooks(imported, tmp_path / "in")
    cache = tmp_path / "cache"
    runs = {}
    for mode in ("keep", "run", "auto"):
        jobs = [NotebookJob(n, tmp_path / n.path, None, tmp_path / mode / f"{n.notebook_id}.ipynb")
                for n in imported.notebooks]
        executed = execute_index(jobs, timeout=120, workers=2, cache_dir=cache, root=tmp_path,
                                 progress=False, policy=OutputPolicy(mode=mode))
        runs[mode] = {imported.sources[e.notebook_id]: e.execution for e in executed}
        for entry in executed:   # every executed notebook renders within the budget
            text = render(nbformat.read(tmp_path / entry.execution.path, as_version=4),
                          RenderOptions(max_tokens=6000))
            assert text.tokens <= 6000
    assert {run.status for run in runs["keep"].values()} == {"not_run"}
    assert runs["keep"]["rich_outputs.ipynb"].outputs == "original"
    assert runs["keep"]["one_cell.ipynb"].outputs == "none"
    ran = runs["run"]
    assert ran["nbformat40.ipynb"].status == "ok" and ran["huge.ipynb"].status == "ok"
    assert ran["no_outputs_field.ipynb"].status == "ok"
    # Python 2 and R notebooks fail for want of their kernel: the environment's failure,
    # and those that came with outputs keep them.
    for name in ("nbformat3.ipynb", "r_kernel.ipynb"):
        assert (ran[name].status, ran[name].failure) == ("error", "environment")
    assert ran["nbformat3.ipynb"].outputs == "original" and ran["r_kernel.ipynb"].outputs == "run"
    # `df` is undefined in rich_outputs: the notebook's own error, judged as it happened.
    assert (ran["rich_outputs.ipynb"].failure, ran["rich_outputs.ipynb"].outputs) == (
        "notebook", "run")
    auto = runs["auto"]
    assert {name for name, run in auto.items() if run.mode == "keep"} == {
        "nbformat3.ipynb", "rich_outputs.ipynb", "huge.ipynb"}
    assert auto["nbformat40.ipynb"].status == "ok"
