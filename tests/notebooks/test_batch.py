import time
from types import SimpleNamespace

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from nbjudge.errors import InputError
from nbjudge.notebooks.batch import NotebookJob, execute_index, plan_jobs
from nbjudge.schemas import Notebook


def make_job(tmp_path, name, source):
    path = tmp_path / "gen" / f"{name}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(new_notebook(cells=[new_code_cell(source, id="c0")]), path)
    entry = Notebook(notebook_id=name, case_id="case", path=f"gen/{name}.ipynb", sha256="0" * 64,
                     origin="procedural")
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
    with pytest.raises(InputError, match="not in the cases file"):
        plan_jobs([job.entry], [], tmp_path, tmp_path, tmp_path)


def test_bad_engine_settings():
    from nbjudge.notebooks.batch import Engine

    with pytest.raises(ValueError, match=r"execute\.engine must be one of local, dask"):
        Engine("ray")
    with pytest.raises(ValueError, match=r"execute\.address is the Dask scheduler's address"):
        Engine("local", "tcp://127.0.0.1:8786")


@pytest.mark.slow
def test_a_dask_cluster_gives_the_records_and_notebooks_of_a_local_run(tmp_path):
    """The same notebooks on a local pool and on a Dask cluster (started here, as a
    user's would be: a scheduler at an address, worker processes): identical records
    but for the seconds, byte-identical executed notebooks, and a cache either reuses."""
    from distributed import LocalCluster

    from nbjudge.notebooks.batch import Engine

    sources = {"good": "print('hello')", "bad": "1/0", "table": "print(open('t.csv').read())"}
    runs = {}
    for name in ("local", "dask"):
        folder = tmp_path / name
        jobs = [make_job(folder, key, source) for key, source in sources.items()]
        tables = folder / "tables"
        tables.mkdir()
        (tables / "t.csv").write_text("a,b\n1,2\n")
        jobs[2] = NotebookJob(jobs[2].entry, jobs[2].source, tables, jobs[2].target)
        if name == "local":
            runs[name] = execute_index(jobs, timeout=60, workers=2, cache_dir=folder / "cache",
                                       root=folder, progress=False)
        else:
            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                              dashboard_address=None) as cluster:
                runs[name] = execute_index(jobs, timeout=60, workers=2,
                                           cache_dir=folder / "cache", root=folder,
                                           progress=False,
                                           engine=Engine("dask", cluster.scheduler_address))
    local, dask = ([e.execution.model_copy(update={"seconds": 0.0}) for e in runs[name]]
                   for name in ("local", "dask"))
    assert local == dask
    assert [run.status for run in local] == ["ok", "error", "ok"]
    for key in sources:
        assert ((tmp_path / "local" / "exec" / f"{key}.ipynb").read_bytes()
                == (tmp_path / "dask" / "exec" / f"{key}.ipynb").read_bytes())
    assert "a,b" in (tmp_path / "dask" / "exec" / "table.ipynb").read_text()
    # Cache entries are the same files: a run on either engine reuses the other's.
    assert (sorted(p.name for p in (tmp_path / "local" / "cache").iterdir())
            == sorted(p.name for p in (tmp_path / "dask" / "cache").iterdir()))


def _write_entries(cache, rounds=200):
    from nbjudge.notebooks.batch import _store

    for i in range(rounds):
        # One entry every writer shares (two queued experiments running one notebook),
        # and one of its own.
        _store(cache, "shared", "x" * 50_000, {"status": "ok", "seconds": 1.0})
        _store(cache, f"own-{id(cache)}-{i % 5}", "y" * 1000, {"status": "ok", "seconds": 2.0})


def _read_entries(cache, rounds=400):
    from nbjudge.notebooks.batch import _cached

    seen = 0
    for _ in range(rounds):
        hit = _cached(cache, "shared")
        if hit is not None:
            text, info = hit
            assert text == "x" * 50_000 and info["status"] == "ok"
            seen += 1
    return seen


@pytest.mark.slow
def test_processes_sharing_the_execution_cache_never_see_a_partial_entry(tmp_path):
    from concurrent.futures import ProcessPoolExecutor

    cache = tmp_path / "cache"
    with ProcessPoolExecutor(4) as pool:
        writers = [pool.submit(_write_entries, cache) for _ in range(2)]
        readers = [pool.submit(_read_entries, cache) for _ in range(2)]
        for future in writers + readers:
            future.result()   # a reader that saw a torn entry raises here
    assert not list(cache.glob("*.tmp")) and not list(cache.glob(".*.tmp"))
    assert (cache / "shared.ipynb").read_text() == "x" * 50_000


def test_a_lost_dask_worker_costs_its_notebook_only_and_no_worker_ends_the_stage(
        tmp_path, monkeypatch):
    """A task Dask gave up on (KilledWorker) is recorded failed under its notebook's id, the
    other notebook's result kept; a cluster with no worker stops the stage with a message
    instead of waiting for ever."""
    from distributed import KilledWorker, LocalCluster

    from nbjudge.notebooks import batch
    from nbjudge.notebooks.batch import Engine, ExecutionClusterError

    real = batch.run_task

    def dies_on_lost(task, timeout, sandbox):
        if b"lost" in task.source:
            raise KilledWorker("run_task-0123abcd", SimpleNamespace(address="tcp://10.0.0.9:1"), 3)
        return real(task, timeout, sandbox)

    monkeypatch.setattr(batch, "run_task", dies_on_lost)
    jobs = [make_job(tmp_path, "lost", "print('lost')"), make_job(tmp_path, "kept", "print(1)")]
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        lost, kept = execute_index(jobs, timeout=60, workers=1, cache_dir=tmp_path / "cache",
                                   root=tmp_path, progress=False,
                                   engine=Engine("dask", cluster.scheduler_address))
    assert (lost.notebook_id, lost.execution.status, lost.execution.failure) == (
        "lost", "error", "notebook")
    assert lost.execution.error.startswith("its Dask worker died while running it")
    assert kept.execution.status == "ok"
    with LocalCluster(n_workers=0, dashboard_address=None) as cluster:
        started = time.monotonic()
        with pytest.raises(ExecutionClusterError, match=(
                r"has had no worker for 1 s, with 1 notebook\(s\) unfinished \(lost\); the 0 "
                r"finished run\(s\) are kept in the execution cache: start workers")):
            execute_index(jobs[:1], timeout=60, workers=1, root=tmp_path, progress=False,
                          engine=Engine("dask", cluster.scheduler_address,
                                        no_worker_seconds=1))
        assert time.monotonic() - started < 30
