"""One cell numbering everywhere: from 1, as Jupyter shows cells. The judge's text, the
index record's ``execution.cell``, the execute stage's message and the grading
instructions agree; index records written before (counted from 0) still read."""

from __future__ import annotations

import json
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from pydantic import ValidationError

from nbjudge.grading.traces import how_to_grade
from nbjudge.notebooks.batch import NotebookJob, OutputPolicy, execute_index
from nbjudge.notebooks.render import render
from nbjudge.schemas import Execution, Notebook, read_records, write_records

ENTRY = {"notebook_id": "nb", "case_id": "case", "path": "in/nb.ipynb", "sha256": "0" * 64,
         "origin": "import"}
RUN = {"status": "error", "error": "ZeroDivisionError", "path": "out/nb.ipynb",
       "sandbox": "bwrap", "failure": "notebook"}


def test_version_1_index_records_read_with_cells_counted_from_1(tmp_path):
    path = tmp_path / "index.jsonl"
    path.write_text(json.dumps({"schema_version": 1, **ENTRY,
                                "execution": {**RUN, "cell": 0}}) + "\n"
                    + json.dumps({"schema_version": 1, **ENTRY, "notebook_id": "kept"}) + "\n")
    first, kept = read_records(path, Notebook)
    assert first.schema_version == 2 and first.execution.cell == 1
    assert kept.execution is None
    write_records(path, [first])
    again = json.loads(path.read_text())
    assert again["schema_version"] == 2 and again["execution"]["cell"] == 1
    assert read_records(path, Notebook) == [first]     # version 2 is read as written


def test_a_cell_number_is_never_0():
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        Execution(**RUN, cell=0)


def test_the_grading_instructions_say_how_cells_are_numbered():
    assert "numbered from 1" in how_to_grade() and "[cell 3: code]" in how_to_grade()


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="bubblewrap is Linux only")
def test_the_record_and_the_judges_text_name_the_same_cell(tmp_path):
    notebook = new_notebook(cells=[new_markdown_cell("# Task"),
                                   new_code_cell("x = 1"),
                                   new_code_cell("1 / 0"),
                                   new_code_cell("print('never')")])
    source = tmp_path / "in" / "nb.ipynb"
    source.parent.mkdir()
    nbformat.write(notebook, source)
    job = NotebookJob(Notebook(**ENTRY), source, None, tmp_path / "out" / "nb.ipynb")
    [record] = execute_index([job], timeout=60, root=tmp_path, progress=False,
                             policy=OutputPolicy(mode="run"))
    run = record.execution
    assert (run.status, run.cell) == ("error", 3)
    text = render(nbformat.read(tmp_path / run.path, as_version=4)).text
    stopped = text.split(f"[cell {run.cell}: code]")[1].split("[cell ")[0]
    assert "1 / 0" in stopped and "ZeroDivisionError" in stopped
    after = text.split(f"[cell {run.cell + 1}: code]")[1]
    assert "(not run: the notebook stopped before this cell)" in after
