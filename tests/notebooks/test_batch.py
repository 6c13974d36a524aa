import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from nbjudge.notebooks.batch import NotebookJob, execute_index, plan_jobs
from nbjudge.schemas import Notebook


def make_job(tmp_path, name, source):
    path = tmp_path / "gen" / f"{name}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(new_notebook(cells=[new_code_cell(source, id="c0")]), path)
    entry = Notebook(notebook_id=name, case_id="case", path=f"gen/{name}.ipynb", sha256="0" * 64,
                     origin="import")
    return NotebookJob(entry, path, None, tmp_path / "exec" / f"{name}.ipynb")


@pytest.mark.slow
def test_runs_all_records_status_and_resumes_from_cache(tmp_path):
    jobs = [make_job(tmp_path, "good", "print('hello')"),
            make_job(tmp_path, "bad", "1/0")]
    cache = tmp_path / "cache"
    first = execute_index(jobs, timeout=60, workers=2, cache_dir=cache, root=tmp_path,
                          progress=False)
    assert [e.execution.status for e in first] == ["ok", "error"]
    assert first[1].execution.error.startswith("ZeroDivisionError")
    assert first[0].execution.path == "exec/good.ipynb"
    # A rerun reuses the cached runs: same records, same executed bytes.
    executed = (tmp_path / "exec" / "good.ipynb").read_bytes()
    (tmp_path / "exec" / "good.ipynb").unlink()
    second = execute_index(jobs, timeout=60, workers=1, cache_dir=cache, root=tmp_path,
                           progress=False)
    assert second == first
    assert (tmp_path / "exec" / "good.ipynb").read_bytes() == executed


def test_bad_settings_and_unknown_case(tmp_path):
    job = make_job(tmp_path, "x", "1")
    with pytest.raises(ValueError, match="workers must be at least 1"):
        execute_index([job], workers=0)
    with pytest.raises(ValueError, match="timeout must be at least 1"):
        execute_index([job], timeout=0)
    with pytest.raises(ValueError, match="not in the cases file"):
        plan_jobs([job.entry], [], tmp_path, tmp_path, tmp_path)
