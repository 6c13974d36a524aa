"""Execute every notebook of the index, in parallel, resumable.

A finished run is cached under a key made of the notebook's bytes, its
tables' bytes, the timeout, the sandbox settings (mode and limits) and the
code that runs it, so an interrupted stage picks up where it stopped, an
unchanged notebook never runs twice, and a change of limits reruns it.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import nbformat
from tqdm import tqdm

from nbjudge.notebooks.execute import SandboxSettings, check_sandbox, execute_notebook
from nbjudge.schemas import Case, Execution, Notebook

__all__ = ["NotebookJob", "execute_index", "plan_jobs"]

_CACHE_FORMAT = 2


@dataclass(frozen=True)
class NotebookJob:
    """One notebook to run and the data its working folder needs."""

    entry: Notebook
    source: Path
    data_dir: Path | None  # copied into the notebook's working folder
    target: Path


def _sandbox_fingerprint() -> bytes:
    """The code that shapes a run: a change to it invalidates cached runs."""
    here = Path(__file__).parent
    return b"".join(p.read_bytes() for p in (here / "execute.py",
                                             *sorted((here / "sandbox_site").glob("*.py"))))


def _cache_key(job: NotebookJob, timeout: int, sandbox: SandboxSettings) -> str:
    digest = hashlib.sha256(f"{_CACHE_FORMAT}:{timeout}:{sandbox.fingerprint()}:".encode())
    digest.update(_sandbox_fingerprint())
    digest.update(job.source.read_bytes())
    if job.data_dir is not None:
        for path in sorted(p for p in job.data_dir.rglob("*") if p.is_file()):
            digest.update(path.relative_to(job.data_dir).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _run(job: NotebookJob, timeout: int, cache_dir: Path | None,
         sandbox: SandboxSettings) -> dict:
    """Run one job (in a worker process); returns the run's fields of ``Execution``."""
    key = _cache_key(job, timeout, sandbox) if cache_dir else None
    if cache_dir and key:
        cached = cache_dir / f"{key}.ipynb"
        meta = cache_dir / f"{key}.json"
        if cached.exists() and meta.exists():
            job.target.write_bytes(cached.read_bytes())
            return json.loads(meta.read_text())
    notebook = nbformat.read(job.source, as_version=4)
    result = execute_notebook(notebook, job.data_dir, timeout=timeout, sandbox=sandbox)
    text = nbformat.writes(result.notebook) + "\n"
    job.target.write_text(text, encoding="utf-8")
    info = {"status": result.status, "seconds": result.seconds, "error": result.error,
            "limit": result.limit, "cell": result.cell, "sandbox": result.sandbox}
    if cache_dir and key:
        cache_dir.mkdir(parents=True, exist_ok=True)
        (cache_dir / f"{key}.ipynb").write_text(text, encoding="utf-8")
        (cache_dir / f"{key}.json").write_text(json.dumps(info))
    return info


def plan_jobs(
    index: list[Notebook], cases: list[Case], datasets_dir: Path, out_dir: Path, root: Path
) -> list[NotebookJob]:
    """Pair every notebook with its case's tables and its output path."""
    by_case = {case.case_id: case for case in cases}
    jobs = []
    for entry in index:
        case = by_case.get(entry.case_id)
        if case is None:
            raise ValueError(f"notebook {entry.notebook_id} belongs to case {entry.case_id!r}, "
                             "which is not in the cases file: rerun the cases stage")
        data_dir = datasets_dir / case.case_id
        jobs.append(NotebookJob(entry, root / entry.path, data_dir if data_dir.is_dir() else None,
                                out_dir / f"{entry.notebook_id}.ipynb"))
    return jobs


def execute_index(
    jobs: list[NotebookJob],
    timeout: int = 300,
    workers: int = 2,
    cache_dir: Path | None = None,
    root: Path = Path("."),
    progress: bool = True,
    sandbox: SandboxSettings | None = None,
) -> list[Notebook]:
    """Run all jobs; return the index entries with their execution recorded.

    ``sandbox`` defaults to bubblewrap with the default limits; a machine where
    it cannot start raises :class:`~nbjudge.notebooks.execute.SandboxError`
    before any notebook runs.
    """
    sandbox = sandbox or SandboxSettings()
    if workers < 1:
        raise ValueError(f"execute.workers must be at least 1, got {workers}")
    if timeout < 1:
        raise ValueError(f"execute.timeout must be at least 1 second, got {timeout}")
    if jobs:
        check_sandbox(sandbox)
    for job in jobs:
        job.target.parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    bar = tqdm(total=len(jobs), desc="execute", unit="notebook", disable=not progress)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(_run, job, timeout, cache_dir, sandbox): job for job in jobs}
        for future in as_completed(futures):
            job = futures[future]
            results[job.entry.notebook_id] = future.result()
            status = results[job.entry.notebook_id]["status"]
            bar.set_postfix_str(f"{job.entry.notebook_id}: {status}")
            bar.update()
    bar.close()
    executed = []
    for job in jobs:
        path = job.target.resolve().relative_to(root.resolve()).as_posix()
        executed.append(job.entry.model_copy(update={
            "execution": Execution(**results[job.entry.notebook_id], path=path)}))
    return executed
