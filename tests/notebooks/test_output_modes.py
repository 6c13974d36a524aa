"""Whose outputs the judges read: execute.mode keep / run / auto, failures classified as
the environment's or the notebook's, and keep_original after an environment failure.

Every fixture notebook is written here, by the test.
"""

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from nbjudge.notebooks import batch
from nbjudge.notebooks.batch import NotebookJob, OutputPolicy, execute_index, has_outputs
from nbjudge.notebooks.execute import classify_failure, kernel_language
from nbjudge.notebooks.render import render
from nbjudge.schemas import Execution, Notebook


def came_executed() -> nbformat.NotebookNode:
    """A notebook executed elsewhere: its second cell needs a module this machine lacks."""
    return new_notebook(cells=[
        new_markdown_cell("Predict churn."),
        new_code_cell("print('loaded')", execution_count=1, outputs=[
            new_output("stream", name="stdout", text="loaded on the cluster\n")]),
        new_code_cell("import nbjudge_missing_module_xyz", execution_count=2, outputs=[]),
        new_code_cell("print('accuracy')", execution_count=3,
                      outputs=[new_output("stream", name="stdout", text="accuracy 0.91\n")]),
    ])


def job(tmp_path, name, notebook, origin="import") -> NotebookJob:
    path = tmp_path / "in" / f"{name}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    entry = Notebook(notebook_id=name, case_id="case", path=f"in/{name}.ipynb",
                     sha256="0" * 64, origin=origin)
    return NotebookJob(entry, path, None, tmp_path / "out" / f"{name}.ipynb")


def judged_text(tmp_path, entry: Notebook) -> str:
    return render(nbformat.read(tmp_path / entry.execution.path, as_version=4)).text


@pytest.mark.parametrize(("status", "outcome", "python2", "expected"), [
    ("ok", {}, False, None),
    ("error", {"ename": "ModuleNotFoundError", "evalue": "No module named 'seaborn'",
               "confirmed": {"module_missing": True}}, False, "environment"),
    ("error", {"ename": "ImportError", "evalue": "cannot import name 'x' from 'y'",
               "confirmed": {"module_missing": True}}, False, "environment"),
    ("error", {"ename": "FileNotFoundError",
               "evalue": "[Errno 2] No such file or directory: '../../data/US-pumpkins.csv'",
               "confirmed": {"file_absent": True}}, False, "environment"),
    # Raised by the notebook itself: the module is importable, the file is there.
    ("error", {"ename": "ModuleNotFoundError", "evalue": "No module named 'json'",
               "confirmed": {"module_missing": False}}, False, "notebook"),
    ("error", {"ename": "FileNotFoundError", "evalue": "No such file or directory: 'a.csv'",
               "confirmed": {"file_absent": False}}, False, "notebook"),
    ("error", {"ename": "ModuleNotFoundError", "evalue": "No module named 'x'"}, False,
     "notebook"),
    ("error", {"ename": "URLError", "evalue": "<urlopen error [Errno -3] Temporary failure in "
               "name resolution>", "confirmed": {"network_failed": True}}, False, "environment"),
    # Raised without a network attempt (the kernel counted no failed one): the notebook's.
    ("error", {"ename": "URLError", "evalue": "<urlopen error no network>",
               "confirmed": {"network_failed": False}}, False, "notebook"),
    ("error", {"ename": "ConnectionError", "evalue": "Max retries exceeded"}, False, "notebook"),
    ("error", {"ename": "NameError", "evalue": "name 'spark' is not defined"}, False,
     "environment"),
    ("error", {"ename": "NameError", "evalue": "name 'modle' is not defined"}, False, "notebook"),
    ("error", {"ename": "ValueError", "evalue": "Input contains NaN"}, False, "notebook"),
    ("error", {"ename": "SyntaxError", "evalue": "Missing parentheses in call to 'print'"},
     True, "environment"),
    ("error", {"ename": "SyntaxError", "evalue": "invalid syntax"}, False, "notebook"),
    ("timeout", {}, False, "environment"),
    ("resource_limit", {}, False, "environment"),
    ("error", {"error": "the sandbox ended without a result"}, False, "notebook"),
])
def test_failures_are_the_environments_or_the_notebooks(status, outcome, python2, expected):
    assert classify_failure(status, outcome, python2=python2) == expected


def test_a_caught_download_error_before_the_crash_is_the_environments_when_confirmed():
    crash = {"ename": "UnboundLocalError", "evalue": "cannot access local variable 'data'",
             "confirmed": {"network_failed": True}}
    caught = "download failed: <urlopen error [Errno 101] Network is unreachable>"
    assert classify_failure("error", crash, earlier=caught) == "environment"
    assert classify_failure("error", crash, earlier="loaded 891 rows") == "notebook"
    # The message printed, no attempt failed: a notebook choosing its outputs.
    printed = {**crash, "confirmed": {"network_failed": False}}
    assert classify_failure("error", printed, earlier=caught) == "notebook"
    assert classify_failure("error", {**crash, "confirmed": {}}, earlier=caught) == "notebook"


def with_kernel(**spec) -> nbformat.NotebookNode:
    notebook = new_notebook()
    notebook.metadata["kernelspec"] = spec   # as imported files have it, valid or not
    return notebook


def test_kernel_language():
    assert kernel_language(new_notebook()) == "python"
    assert kernel_language(with_kernel(name="python2")) == "python"
    assert kernel_language(with_kernel(name="ir", language="R")) == "r"
    assert kernel_language(with_kernel(name="scala")) == "scala"


def test_mode_by_origin_auto_and_bad_settings():
    imported = Notebook(notebook_id="a", case_id="c", path="a.ipynb", sha256="0" * 64,
                        origin="import")
    generated = imported.model_copy(update={"origin": "procedural"})
    default = OutputPolicy()
    assert default.mode_for(imported, True) == "keep"
    assert default.mode_for(generated, False) == "run"
    auto = OutputPolicy(mode="auto")
    assert auto.mode_for(imported, True) == "keep" and auto.mode_for(imported, False) == "run"
    assert OutputPolicy(mode="run").mode_for(imported, True) == "run"
    assert default.keeps_original(True) and not default.keeps_original(False)
    assert not OutputPolicy(on_environment_failure="judge_run").keeps_original(True)
    with pytest.raises(ValueError, match=r"execute\.mode must be one of keep, run, auto"):
        OutputPolicy(mode="rerun")
    with pytest.raises(ValueError, match="on_environment_failure must be one of"):
        OutputPolicy(on_environment_failure="keep")
    with pytest.raises(ValueError, match="keep_original_on_limit must be true or false"):
        OutputPolicy(keep_original_on_limit="yes")


def test_a_limit_keeps_the_original_outputs_only_when_asked():
    """A notebook can reach a time or resource limit on purpose: by default the run up to
    where it stopped is judged; execute.keep_original_on_limit opts back in."""
    default, opted = OutputPolicy(), OutputPolicy(keep_original_on_limit=True)
    for status in ("timeout", "resource_limit"):
        assert not default.keeps_original(True, status)
        assert opted.keeps_original(True, status) and not opted.keeps_original(False, status)
        assert not OutputPolicy(on_environment_failure="judge_run",
                                keep_original_on_limit=True).keeps_original(True, status)
    assert default.keeps_original(True, "error") and opted.keeps_original(True, "error")


def test_the_params_carry_the_limit_choice_to_the_policy():
    from nbjudge.params import ExecuteParams

    assert ExecuteParams().keep_original_on_limit is False
    assert ExecuteParams(keep_original_on_limit=True).keep_original_on_limit is True
    with pytest.raises(ValueError, match="keep_original_on_limit"):
        ExecuteParams(keep_original_on_limit="sometimes")


def test_keep_runs_nothing_and_judges_the_outputs_as_they_came(tmp_path, monkeypatch):
    def no_sandbox(settings):
        raise AssertionError("keep must not start a sandbox")

    monkeypatch.setattr(batch, "check_sandbox", no_sandbox)
    bare = new_notebook(cells=[new_code_cell("x = 1")])
    jobs = [job(tmp_path, "executed", came_executed()), job(tmp_path, "bare", bare)]
    executed = execute_index(jobs, root=tmp_path, progress=False, policy=OutputPolicy("keep"))
    first, second = (entry.execution for entry in executed)
    assert (first.status, first.mode, first.outputs, first.failure) == (
        "not_run", "keep", "original", None)
    assert second.outputs == "none"
    assert (tmp_path / first.path).read_bytes() == jobs[0].source.read_bytes()
    assert "accuracy 0.91" in judged_text(tmp_path, executed[0])


def test_execution_records_stay_consistent():
    with pytest.raises(ValueError, match="not_run exactly when"):
        Execution(status="not_run", seconds=0, path="a", mode="run")
    with pytest.raises(ValueError, match="has no failure"):
        Execution(status="ok", seconds=1, path="a", failure="notebook")
    old = Execution.model_validate({"status": "ok", "seconds": 1.0, "path": "a"})
    assert (old.mode, old.outputs) == ("run", "run")   # records of earlier runs still read


def test_has_outputs():
    assert has_outputs(came_executed())
    assert not has_outputs(new_notebook(cells=[new_markdown_cell("x"), new_code_cell("1")]))


@pytest.mark.slow
def test_an_environment_failure_keeps_the_original_outputs_or_shows_the_crash(tmp_path):
    imported = job(tmp_path, "imported", came_executed())
    generated = came_executed()
    for cell in generated.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    procedural = job(tmp_path, "procedural", generated, origin="procedural")
    crash = job(tmp_path, "crash", came_executed())
    jobs = [imported, procedural, crash]
    cache = tmp_path / "cache"
    # imported with its outputs: keep_original (the default); procedural: run, crash shown;
    # crash: the same imported notebook with judge_run.
    kept, shown = (execute_index(jobs[:2], timeout=60, workers=2, cache_dir=cache,
                                 root=tmp_path, progress=False,
                                 policy=OutputPolicy(mode="run")))
    assert (kept.execution.status, kept.execution.failure, kept.execution.outputs) == (
        "error", "environment", "original")
    assert judged_text(tmp_path, kept) == render(came_executed()).text
    run = shown.execution
    assert (run.status, run.failure, run.outputs, run.cell) == ("error", "environment", "run", 3)
    text = judged_text(tmp_path, shown)
    assert "ModuleNotFoundError" in text and "loaded\n" in text
    assert text.rstrip().endswith("(not run: the notebook stopped before this cell)")
    [crashed] = execute_index([crash], timeout=60, workers=1, cache_dir=cache, root=tmp_path,
                              progress=False,
                              policy=OutputPolicy(mode="run", on_environment_failure="judge_run"))
    text = judged_text(tmp_path, crashed)
    # Nothing of the original run survives the re-run: no stale output below the crash.
    assert "accuracy 0.91" not in text and "on the cluster" not in text
    assert "ModuleNotFoundError" in text and "(not run: the notebook stopped" in text
    assert crashed.execution.outputs == "run"


@pytest.mark.slow
def test_a_notebook_error_is_judged_as_it_happened(tmp_path):
    notebook = came_executed()
    notebook.cells[2].source = "raise ValueError('bad split')"
    [entry] = execute_index([job(tmp_path, "buggy", notebook)], timeout=60, workers=1,
                            root=tmp_path, progress=False, policy=OutputPolicy(mode="run"))
    assert (entry.execution.failure, entry.execution.outputs) == ("notebook", "run")
    assert "ValueError: bad split" in judged_text(tmp_path, entry)


@pytest.mark.slow
def test_a_notebook_for_another_kernel_is_not_started(tmp_path):
    notebook = new_notebook(cells=[new_code_cell("library(dplyr)")], metadata={"kernelspec": {
        "name": "ir", "language": "R", "display_name": "R"}})
    [entry] = execute_index([job(tmp_path, "r", notebook)], timeout=60, workers=1,
                            root=tmp_path, progress=False,
                            policy=OutputPolicy(mode="run", on_environment_failure="judge_run"))
    run = entry.execution
    assert (run.status, run.failure, run.seconds) == ("error", "environment", 0.0)
    assert "another language's kernel (r)" in run.error
    assert "(not run" in judged_text(tmp_path, entry)
