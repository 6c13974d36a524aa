"""Execute every notebook of the index, in parallel, resumable; or keep the outputs
a notebook came with.

``execute.mode`` decides per notebook (:class:`OutputPolicy`): ``run``
re-executes it in the sandbox, ``keep`` judges the outputs it came with and runs
nothing, ``auto`` runs only notebooks that have no outputs; unset, imported
notebooks are kept and generated ones run. A run whose failure is the
environment's (a module, data file, network or kernel this machine lacks: see
:func:`~nbjudge.notebooks.execute.classify_failure`) keeps the notebook's
original outputs instead when it came with some (``execute.on_environment_failure:
keep_original``, the default then), so judges grade the notebook, not this
machine. A run stopped by a limit of this machine (``timeout``, or
``resource_limit``: memory, total memory, CPU, processes, disk, wall time) is not
such a failure by default: the judged notebook is the run up to where it stopped,
with a marker there, since a notebook can reach a limit on purpose (sleep past the
timeout, allocate past the memory limit) after printing invented results
(``execute.keep_original_on_limit`` opts out: :class:`OutputPolicy`). The index
records, per notebook, the mode applied and where the judged outputs come from.

A finished run is cached under a key made of the notebook's bytes, its
tables' bytes, the timeout, the sandbox settings (mode and limits) and the
code that runs it, so an interrupted stage picks up where it stopped, an
unchanged notebook never runs twice, and a change of limits reruns it.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from tqdm import tqdm

from nbjudge.errors import ConfigError, InputError, NbjudgeError
from nbjudge.notebooks.execute import (
    SandboxSettings,
    check_sandbox,
    encodable,
    execute_notebook,
    printable,
)
from nbjudge.schemas import Case, Execution, Notebook

__all__ = ["Engine", "ExecutionClusterError", "NotebookJob", "OutputPolicy", "execute_index",
           "has_outputs", "plan_jobs", "run_task"]

MODES = ("keep", "run", "auto")
ENGINES = ("local", "dask")
ENVIRONMENT_FAILURE_POLICIES = ("keep_original", "judge_run")
LIMIT_STATUSES = ("timeout", "resource_limit")   # the run stopped at one of this machine's limits


@dataclass(frozen=True)
class OutputPolicy:
    """Whose outputs the judges read (``execute.mode``, ``execute.on_environment_failure``,
    ``execute.keep_original_on_limit``).

    ``mode`` None: ``keep`` for imported notebooks (they come executed, often on a
    platform this machine is not), ``run`` for generated ones. ``on_environment_failure``
    None: ``keep_original`` when the notebook came with outputs, else the run is judged.

    ``keep_original_on_limit`` (default False): whether a run this machine stopped at one
    of its limits (status ``timeout`` or ``resource_limit``) also gives way to the outputs
    the notebook came with. Off, the run up to where it stopped is judged: a limit is the
    one failure a notebook can always cause on purpose (``time.sleep`` past the cell
    timeout, an allocation past ``execute.limits.memory_mb``), after cells that printed
    whatever it wants judged, and nothing on this side tells that apart from an honest
    notebook too heavy for the machine. A notebook's own record of its run cannot either:
    Jupyter records no memory use at all, and cell timings only when asked (JupyterLab's
    ``recordTiming``, off by default; nbclient's and papermill's timings; Colab's
    ``executionInfo``), all of them plain JSON the notebook's author can write. So heavy
    honest notebooks are an explicit choice of the operator, not the notebook's: raise
    ``execute.timeout``/``execute.limits``, or set this on, knowing that any notebook
    can then choose its judged outputs by hitting a limit; the report names every
    notebook judged that way. Printing past ``execute.limits.output_mb`` is the
    notebook's failure either way (:func:`~nbjudge.notebooks.execute.classify_failure`).
    """

    mode: str | None = None
    on_environment_failure: str | None = None
    keep_original_on_limit: bool = False

    def __post_init__(self) -> None:
        if self.mode is not None and self.mode not in MODES:
            raise ValueError(f"execute.mode must be one of {', '.join(MODES)} or null (keep "
                             f"imported notebooks, run generated ones); got {self.mode!r}")
        if not isinstance(self.keep_original_on_limit, bool):
            raise ValueError("execute.keep_original_on_limit must be true or false; got "
                             f"{self.keep_original_on_limit!r}")
        if (self.on_environment_failure is not None
                and self.on_environment_failure not in ENVIRONMENT_FAILURE_POLICIES):
            raise ValueError("execute.on_environment_failure must be one of "
                             f"{', '.join(ENVIRONMENT_FAILURE_POLICIES)} or null (keep_original "
                             "when the notebook came with outputs); got "
                             f"{self.on_environment_failure!r}")

    def mode_for(self, entry: Notebook, came_with_outputs: bool) -> str:
        """``run`` or ``keep`` for this notebook."""
        mode = self.mode or ("keep" if entry.origin == "import" else "run")
        if mode == "auto":
            return "keep" if came_with_outputs else "run"
        return mode

    def keeps_original(self, came_with_outputs: bool, status: str = "error") -> bool:
        """Whether an environment failure that ended the run with ``status`` gives way to
        the outputs the notebook came with."""
        if status in LIMIT_STATUSES and not self.keep_original_on_limit:
            return False
        return came_with_outputs and self.on_environment_failure != "judge_run"


def has_outputs(notebook: nbformat.NotebookNode) -> bool:
    """Whether any code cell of ``notebook`` holds an output."""
    return any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")


def _came_with_outputs(job: NotebookJob) -> bool:
    """Whether the job's notebook holds outputs; False when it cannot be read at all (its
    run then fails on its own, recorded as the notebook's failure)."""
    try:
        return has_outputs(nbformat.read(job.source, as_version=4))
    except _NOTEBOOK_CONTENT_ERRORS:
        return False


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
    return b"".join(p.read_bytes() for p in (here / "execute.py", here / "seccomp.py",
                                             *sorted((here / "sandbox_site").glob("*.py"))))


@dataclass(frozen=True)
class _Task:
    """What a worker needs to run one notebook, as bytes: it runs on any machine of a
    cluster, whether or not it shares this machine's files."""

    source: bytes
    data: tuple[tuple[str, bytes], ...]   # (path relative to the tables' folder, bytes)


def _read_task(job: NotebookJob) -> _Task:
    data: list[tuple[str, bytes]] = []
    if job.data_dir is not None:
        data = [(path.relative_to(job.data_dir).as_posix(), path.read_bytes())
                for path in sorted(p for p in job.data_dir.rglob("*") if p.is_file())]
    return _Task(job.source.read_bytes(), tuple(data))


def _cache_key(task: _Task, timeout: int, sandbox: SandboxSettings) -> str:
    digest = hashlib.sha256(f"{_CACHE_FORMAT}:{timeout}:{sandbox.fingerprint()}:".encode())
    digest.update(_sandbox_fingerprint())
    digest.update(task.source)
    for name, content in task.data:
        digest.update(name.encode())
        digest.update(content)
    return digest.hexdigest()


def run_task(task: _Task, timeout: int, sandbox: SandboxSettings) -> tuple[str, dict[str, Any]]:
    """Run one notebook on a worker (a local process or a Dask worker); returns the
    executed notebook's text and the run's fields of ``Execution``."""
    with tempfile.TemporaryDirectory(prefix="nbjudge-tables-") as folder:
        data_dir = None
        if task.data:
            data_dir = Path(folder)
            data_dir.chmod(0o755)   # the sandbox's user (nobody) reads the tables
            for name, content in task.data:
                (data_dir / name).parent.mkdir(parents=True, exist_ok=True)
                (data_dir / name).write_bytes(content)
        notebook = nbformat.reads(task.source.decode("utf-8"), as_version=4)
        result = execute_notebook(notebook, data_dir, timeout=timeout, sandbox=sandbox)
    info = {"status": result.status, "seconds": result.seconds, "error": result.error,
            "limit": result.limit, "cell": result.cell, "sandbox": result.sandbox,
            "failure": result.failure}
    return nbformat.writes(result.notebook) + "\n", info


def _cached(cache_dir: Path | None, key: str | None) -> tuple[str, dict[str, Any]] | None:
    if cache_dir is None or key is None:
        return None
    notebook, record = cache_dir / f"{key}.ipynb", cache_dir / f"{key}.json"
    if notebook.exists() and record.exists():
        return notebook.read_text(encoding="utf-8"), json.loads(record.read_text())
    return None


def _store(cache_dir: Path | None, key: str | None, text: str, info: dict[str, Any]) -> None:
    """Notebook first, record last, each by an atomic rename: a reader (another
    experiment of a queued sweep) sees a whole entry or none."""
    if cache_dir is None or key is None:
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    _write_atomic(cache_dir / f"{key}.ipynb", text)
    _write_atomic(cache_dir / f"{key}.json", json.dumps(info))


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


# What a notebook's content can make the host side of its run raise (text that is no
# UTF-8, JSON nested past the recursion limit, a notebook nbformat rejects).
_NOTEBOOK_CONTENT_ERRORS = (UnicodeError, RecursionError, ValueError, nbformat.ValidationError)


def _unprocessed(job: NotebookJob, exc: BaseException | None) -> tuple[str, dict[str, Any]]:
    """The record of a run whose result could not be processed (``exc``), or whose Dask
    worker died running it as often as Dask allows (None): failed, by the notebook, judged
    as a notebook of empty code cells (its sources kept where they can be read)."""
    try:
        notebook = nbformat.reads(job.source.read_text(encoding="utf-8"), as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
                cell.metadata["nbjudge"] = {"not_run": True}
        text = nbformat.writes(encodable(notebook))
    except _NOTEBOOK_CONTENT_ERRORS:
        text = nbformat.writes(nbformat.v4.new_notebook())
    error = ("its Dask worker died while running it, as often as Dask allows "
             "(distributed.scheduler.allowed-failures); no result" if exc is None
             else printable(f"nbjudge could not process this notebook's run: "
                            f"{type(exc).__name__}: {str(exc)[:300]}"))
    return text + "\n", {"status": "error", "seconds": 0.0, "error": error, "limit": None,
                         "cell": None, "sandbox": None, "failure": "notebook"}


class ExecutionClusterError(NbjudgeError):
    """The Dask cluster running the notebooks had no worker for too long; finished runs
    are kept in the execution cache, so a rerun picks up where this one stopped."""


@dataclass(frozen=True)
class Pool:
    """Where :func:`run_task` runs: the executor, how many workers it has now, and the
    errors that say a task's worker was lost rather than that the notebook failed."""

    executor: Executor
    workers: Callable[[], int]
    lost: tuple[type[BaseException], ...] = ()


_POLL_SECONDS = 5


@dataclass(frozen=True)
class Engine:
    """Where notebooks run (``execute.engine``, ``execute.address``).

    ``local``: a pool of ``execute.workers`` processes on this machine. ``dask``:
    the Dask cluster whose scheduler is at ``address`` (``tcp://host:8786``); each
    task is the same sandboxed run, shipped with its notebook and tables as bytes,
    so workers need nbjudge and bubblewrap installed but no shared files; results
    and the cache stay on this machine. ``dask`` without an address starts a local
    Dask cluster of ``execute.workers`` processes. A notebook whose worker Dask gave up
    on (it died running it as often as Dask allows) is recorded failed with its id; a
    cluster with no worker for ``no_worker_seconds`` ends the stage
    (:class:`ExecutionClusterError`), finished runs kept.
    """

    name: str = "local"
    address: str | None = None
    no_worker_seconds: float = 300.0

    def __post_init__(self) -> None:
        if self.name not in ENGINES:
            raise ValueError(f"execute.engine must be one of {', '.join(ENGINES)}; "
                             f"got {self.name!r}")
        if self.name == "local" and self.address:
            raise ValueError("execute.address is the Dask scheduler's address: set "
                             "execute.engine=dask with it, or leave it null")

    @contextmanager
    def executor(self, workers: int, sandbox: SandboxSettings) -> Iterator[Pool]:
        """A pool for :func:`run_task`; on a cluster, every worker first checks that its
        sandbox starts (:func:`~nbjudge.notebooks.execute.check_sandbox`)."""
        if self.name == "local":
            with ProcessPoolExecutor(max_workers=workers) as pool:
                yield Pool(pool, lambda: workers)
            return
        from distributed import Client, KilledWorker, LocalCluster

        with ExitStack() as stack:
            if self.address:
                try:
                    client = stack.enter_context(Client(self.address, timeout="30s"))
                except OSError as exc:
                    raise ConfigError(
                        f"cannot reach the Dask scheduler at {self.address} ({exc}): start "
                        "it (`dask scheduler`, then `dask worker <address>` on each machine) "
                        "or fix execute.address") from None
            else:
                cluster = stack.enter_context(LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True,
                    dashboard_address=None))
                client = stack.enter_context(Client(cluster))
            client.run(check_sandbox, sandbox)
            yield Pool(client.get_executor(pure=False),
                       lambda: len(client.scheduler_info()["workers"]), (KilledWorker,))


def plan_jobs(
    index: list[Notebook], cases: list[Case], datasets_dir: Path, out_dir: Path, root: Path
) -> list[NotebookJob]:
    """Pair every notebook with its case's tables and its output path."""
    by_case = {case.case_id: case for case in cases}
    jobs = []
    for entry in index:
        case = by_case.get(entry.case_id)
        if case is None:
            raise InputError(f"notebook {entry.notebook_id} belongs to case {entry.case_id!r}, "
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
    policy: OutputPolicy | None = None,
    engine: Engine | None = None,
) -> list[Notebook]:
    """Run (or keep, by ``policy``) all jobs; return the index entries with their
    execution recorded.

    ``sandbox`` defaults to bubblewrap with the default limits; a machine where
    it cannot start raises :class:`~nbjudge.notebooks.execute.SandboxError`
    before any notebook runs.
    """
    sandbox = sandbox or SandboxSettings()
    policy = policy or OutputPolicy()
    engine = engine or Engine()
    if workers < 1:
        raise ValueError(f"execute.workers must be at least 1, got {workers}")
    if timeout < 1:
        raise ValueError(f"execute.timeout must be at least 1 second, got {timeout}")
    came_with = {job.entry.notebook_id: _came_with_outputs(job) for job in jobs}
    modes = {job.entry.notebook_id: policy.mode_for(job.entry, came_with[job.entry.notebook_id])
             for job in jobs}
    to_run = [job for job in jobs if modes[job.entry.notebook_id] == "run"]
    if to_run and engine.name == "local":
        check_sandbox(sandbox)   # a cluster's workers check their own (Engine.executor)
    for job in jobs:
        job.target.parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    for job in jobs:
        if modes[job.entry.notebook_id] == "keep":
            job.target.write_bytes(job.source.read_bytes())
            results[job.entry.notebook_id] = {
                "status": "not_run", "seconds": 0.0, "mode": "keep",
                "outputs": "original" if came_with[job.entry.notebook_id] else "none"}

    def finish(job: NotebookJob, text: str, info: dict[str, Any]) -> None:
        job.target.write_text(text, encoding="utf-8")
        info = {**info, "mode": "run", "outputs": "run"}
        if (info.get("failure") == "environment"
                and policy.keeps_original(came_with[job.entry.notebook_id], info["status"])):
            job.target.write_bytes(job.source.read_bytes())
            info["outputs"] = "original"
        results[job.entry.notebook_id] = info
        bar.set_postfix_str(f"{job.entry.notebook_id}: {info['status']}")
        bar.update()

    bar = tqdm(total=len(to_run), desc="execute", unit="notebook",
               disable=not progress or not to_run)
    pending = []
    for job in to_run:
        task = _read_task(job)
        key = _cache_key(task, timeout, sandbox) if cache_dir else None
        hit = _cached(cache_dir, key)
        if hit is not None:
            finish(job, *hit)
        else:
            pending.append((job, task, key))
    if pending:
        with engine.executor(workers, sandbox) as pool:
            futures = {pool.executor.submit(run_task, task, timeout, sandbox): (job, key)
                       for job, task, key in pending}
            waiting: set[Future[tuple[str, dict[str, Any]]]] = set(futures)
            no_worker_since: float | None = None
            while waiting:
                done, waiting = wait(waiting, timeout=_POLL_SECONDS,
                                     return_when=FIRST_COMPLETED)
                for future in done:
                    job, key = futures[future]
                    try:
                        text, info = future.result()
                    except _NOTEBOOK_CONTENT_ERRORS as exc:
                        # This notebook's content broke the host side of its run; the
                        # others' results stand, and nothing is cached, so a fixed nbjudge
                        # reruns it.
                        text, info = _unprocessed(job, exc)
                    except pool.lost:
                        text, info = _unprocessed(job, None)
                    else:
                        _store(cache_dir, key, text, info)
                    finish(job, text, info)
                if done or not waiting or pool.workers() > 0:
                    no_worker_since = None
                    continue
                no_worker_since = no_worker_since or time.monotonic()
                if time.monotonic() - no_worker_since >= engine.no_worker_seconds:
                    for future in waiting:
                        future.cancel()
                    unfinished = sorted(futures[f][0].entry.notebook_id for f in waiting)
                    raise ExecutionClusterError(
                        f"the Dask cluster at {engine.address or '(local cluster)'} has had "
                        f"no worker for {engine.no_worker_seconds:.0f} s, with "
                        f"{len(unfinished)} notebook(s) unfinished ({', '.join(unfinished[:5])}"
                        f"{', ...' if len(unfinished) > 5 else ''}); the "
                        f"{len(futures) - len(unfinished)} finished run(s) are kept in the "
                        "execution cache: start workers (`dask worker <address>`) and rerun")
    bar.close()
    executed = []
    for job in jobs:
        path = job.target.resolve().relative_to(root.resolve()).as_posix()
        info = dict(results[job.entry.notebook_id])
        if info.get("cell") is not None:   # the run's index -> the record's number from 1
            info["cell"] += 1
        executed.append(job.entry.model_copy(update={
            "execution": Execution(**info, path=path)}))
    return executed
