"""Run notebooks in a sandbox so judges see real outputs.

Notebooks come from models (``generate=llm``) and from other people's agents
(``generate=import``), so each runs inside bubblewrap (``execute.sandbox:
bwrap``, the default): new user, network (loopback only), PID, IPC and UTS
namespaces; an unprivileged uid/gid; /usr and the Python environment
read-only; no home folder, repository, cache or other notebook; a private
tmpfs /tmp of bounded size, which holds the notebook's working folder (a copy
of its case's tables and a throwaway MLflow sqlite store) and is the only
writable place. The notebook's kernel and its client (nbclient) run together
in the sandbox (``sandbox_site/runner.py``), under per-process limits on
address space, CPU seconds, processes, file size and open files, with a
per-cell timeout and a wall-clock limit for the whole notebook. pip has no
index. A seccomp filter (:mod:`nbjudge.notebooks.seccomp`) denies the system
calls and socket families a notebook never needs. The host trusts only a result
line that carries a per-run secret, reads at most ``execute.limits.output_mb``
of outputs (plus the notebook itself), and ends a sandbox whose runner stops
sending heartbeats (a notebook that stopped its runner), so the per-cell timeout
holds. Without cgroups, the sandbox's total memory is measured from outside it
every half second (:func:`sandbox_memory`: all its processes, its tmpfs, the
memfds they hold) and the sandbox is killed past ``execute.limits.total_memory_mb``.
``execute.sandbox: none`` runs the same runner without bubblewrap; it
must be asked for, and the report then says that notebooks ran unsandboxed.
"""

from __future__ import annotations

import functools
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack, suppress
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import nbformat

from nbjudge.errors import NbjudgeError
from nbjudge.notebooks.seccomp import compiled_filter
from nbjudge.params import LimitParams

__all__ = [
    "ExecutionResult",
    "MemoryUse",
    "SandboxError",
    "SandboxLimits",
    "SandboxSettings",
    "check_sandbox",
    "classify_failure",
    "encodable",
    "execute_notebook",
    "kernel_language",
    "printable",
    "sandbox_env",
    "sandbox_memory",
]

_SANDBOX_SITE = Path(__file__).with_name("sandbox_site")
_RUNNER = _SANDBOX_SITE / "runner.py"
_STAGER = _SANDBOX_SITE / "stager.py"
_STARTED = "nbjudge-runner-started"  # the runner's first line (runner.STARTED)
_SANDBOX_UID = 65534  # nobody: the sandbox's user inside, and outside when run as root
_SANDBOX_SITE_INSIDE = "/nbjudge/runner"
_DATA_INSIDE = "/nbjudge/data"
_WALL_GRACE = 60  # seconds past the wall-clock limit before the parent kills the sandbox
_MODES = ("bwrap", "none")


class SandboxError(NbjudgeError):
    """The sandbox cannot run notebooks here; the message says why and how to fix it."""


_DEFAULTS = LimitParams()   # one source of truth for the defaults: params.LimitParams


@dataclass(frozen=True)
class SandboxLimits:
    """Per-notebook resource limits (``execute.limits``); None: no limit.

    Memory, CPU seconds, file size and open files are per process (RLIMIT_AS,
    RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_NOFILE), inherited by everything the
    kernel starts; processes counts processes and threads of the notebook
    together (RLIMIT_NPROC, per sandbox: bwrap only); tmp_mb is the size of
    the sandbox's private /tmp (working folder included) and of its /dev/shm
    (bwrap only); wall_seconds bounds the whole notebook, kernel start-up
    included; output_mb bounds all the notebook's outputs together (as JSON): past
    it the runner drops them before storing them, marks the cell, and the run is
    recorded as ``resource_limit``/``output`` (the host reads no more than that).
    total_memory_mb bounds the whole sandbox, measured from outside it every
    ``_MEMORY_SECONDS`` (:func:`sandbox_memory`): the proportional set size of all
    its processes, its tmpfs (/tmp, /dev/shm) and the memfds they hold; past it the
    sandbox is killed and the run is ``resource_limit``/``total_memory``. The
    defaults are :class:`nbjudge.params.LimitParams`'s.
    """

    wall_seconds: int | None = _DEFAULTS.wall_seconds
    memory_mb: int | None = _DEFAULTS.memory_mb
    total_memory_mb: int | None = _DEFAULTS.total_memory_mb
    cpu_seconds: int | None = _DEFAULTS.cpu_seconds
    processes: int | None = _DEFAULTS.processes
    file_size_mb: int | None = _DEFAULTS.file_size_mb
    open_files: int | None = _DEFAULTS.open_files
    tmp_mb: int | None = _DEFAULTS.tmp_mb
    output_mb: int | None = _DEFAULTS.output_mb

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise ValueError(f"execute.limits.{item.name} must be a positive whole number "
                                 f"or null (no limit); got {value!r}")


@dataclass(frozen=True)
class SandboxSettings:
    """How notebooks are isolated: ``mode`` (``bwrap`` or ``none``) and the limits."""

    mode: str = "bwrap"
    limits: SandboxLimits = field(default_factory=SandboxLimits)

    def __post_init__(self) -> None:
        if self.mode not in _MODES:
            raise ValueError(f"execute.sandbox must be one of {', '.join(_MODES)}; "
                             f"got {self.mode!r}")

    def fingerprint(self) -> str:
        """The settings as text, for the execution cache key."""
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True)
class ExecutionResult:
    """The executed notebook and how the run went."""

    notebook: nbformat.NotebookNode
    status: str  # ok | error | timeout | resource_limit
    seconds: float
    error: str | None
    limit: str | None = None  # with resource_limit: memory, cpu, processes, output, ...
    cell: int | None = None   # index of the cell the run stopped at
    sandbox: str = "bwrap"
    failure: str | None = None  # environment | notebook (a failed run only): classify_failure
    peak_memory_mb: int | None = None  # the most the sandbox held (MemoryUse.total), as seen


def sandbox_env(workdir: Path | str, home: Path | str) -> dict[str, str]:
    """Environment of the runner and the kernel: built from scratch, nothing of the caller's.

    No secrets and no setting of the caller's (an MLflow experiment id, a pip
    index, PYTHONPATH) reach the notebook; MLflow writes inside ``workdir``.
    """
    store = f"sqlite:///{Path(workdir) / 'mlflow.db'}"
    env = {
        "PATH": os.pathsep.join([str(Path(sys.prefix) / "bin"), "/usr/local/bin", "/usr/bin",
                                 "/bin"]),
        "HOME": str(home),
        "USER": "nobody",
        "LOGNAME": "nobody",
        "LANG": "C.UTF-8",
        "MLFLOW_TRACKING_URI": store,
        "MLFLOW_REGISTRY_URI": store,
        "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
        "MLFLOW_MODEL_CATALOG_URI": "",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "PIP_NO_INDEX": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1",
        "GIT_PYTHON_REFRESH": "quiet",
    }
    if os.environ.get("TZ"):
        env["TZ"] = os.environ["TZ"]
    return env


# --- the sandbox's command line ---------------------------------------------------------


@dataclass
class _Launch:
    argv: list[str]
    env: dict[str, str]
    workdir: str
    data: str | None
    pass_fds: list[int] = field(default_factory=list)
    cwd: str = "/"


def _python_trees() -> list[tuple[str, str]]:
    """The Python environment as (host folder, path inside): the venv (``sys.prefix``)
    and the installation it points to (``sys.base_prefix``), unless /usr holds them."""
    trees: list[Path] = []
    for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
        path = Path(prefix)
        if path.is_relative_to("/usr") or any(path.is_relative_to(t) for t in trees):
            continue
        trees = [t for t in trees if not t.is_relative_to(path)] + [path]
    return [(str(tree.resolve()), str(tree)) for tree in trees]


@functools.cache
def _seccomp_filter() -> bytes:
    """The compiled filter (:mod:`nbjudge.notebooks.seccomp`), built once per process."""
    return compiled_filter()


def _data_fd(stack: ExitStack, data: bytes) -> int:
    """A pipe holding ``data`` for bwrap's --ro-bind-data or --seccomp (small only)."""
    read, write = os.pipe()
    os.write(write, data)
    os.close(write)
    stack.callback(os.close, read)
    return read


_PASSWD = ("root:x:0:0:root:/nonexistent:/usr/sbin/nologin\n"
           "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
_GROUP = "root:x:0:\nnogroup:x:65534:\n"
_HOSTS = "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n"


def _bwrap_launch(settings: SandboxSettings, data_dir: Path | None, command: list[str],
                  stack: ExitStack) -> _Launch:
    """bwrap's command line, and under root the stager that starts it as nobody."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxError(
            "bwrap (bubblewrap) is not installed, and execute.sandbox=bwrap runs every "
            "notebook inside it: install it (`apt-get install bubblewrap`; `make setup` runs "
            "scripts/bootstrap-system.sh, which does), or set execute.sandbox=none to run "
            "notebooks unsandboxed (only notebooks you trust; the report will say so)")
    workdir = f"/tmp/nbjudge-run-{secrets.token_hex(4)}"
    home = f"/tmp/nbjudge-home-{secrets.token_hex(4)}"
    limits = settings.limits
    # Host folders the sandbox sees, read-only: the Python environment (the venv may lie
    # inside the repository: only the venv is bound, never its parent), the runner, and
    # the case's tables.
    binds = _python_trees()
    binds.append((str(_SANDBOX_SITE.resolve()), _SANDBOX_SITE_INSIDE))
    if data_dir is not None:
        binds.append((str(Path(data_dir).resolve()), _DATA_INSIDE))
    args = [
        bwrap,
        "--unshare-all", "--unshare-user",  # user, network, PID, IPC, UTS, cgroup
        "--disable-userns",                 # and no nested user namespace inside
        "--uid", str(_SANDBOX_UID), "--gid", str(_SANDBOX_UID),
        "--hostname", "nbjudge",
        "--die-with-parent", "--new-session",
        "--ro-bind", "/usr", "/usr",
    ]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    # System settings the interpreter and its libraries read (the loader's cache, time
    # zone, MIME types, fontconfig); nothing else of /etc.
    for setting in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
                    "/etc/localtime", "/etc/mime.types", "/etc/fonts"):
        args += ["--ro-bind-try", setting, setting]
    pass_fds = []
    for text, target in ((_PASSWD, "/etc/passwd"), (_GROUP, "/etc/group"),
                         (_HOSTS, "/etc/hosts")):
        fd = _data_fd(stack, text.encode())
        pass_fds.append(fd)
        args += ["--ro-bind-data", str(fd), target]
    try:
        seccomp = _data_fd(stack, _seccomp_filter())
    except OSError as exc:
        raise SandboxError(
            f"the sandbox's seccomp filter cannot be built ({exc}): install libseccomp "
            "(`apt-get install libseccomp2`), or set execute.sandbox=none to run notebooks "
            "unsandboxed (only notebooks you trust; the report will say so)") from None
    pass_fds.append(seccomp)
    args += ["--seccomp", str(seccomp)]
    args += ["--proc", "/proc", "--dev", "/dev"]
    size = ["--size", str(limits.tmp_mb * 1024 * 1024)] if limits.tmp_mb else []
    args += [*size, "--tmpfs", "/tmp", *size, "--tmpfs", "/dev/shm"]
    sources = [source for source, _ in binds]
    if os.geteuid() == 0:
        # bwrap as root would map the sandbox's user to root, whose processes RLIMIT_NPROC
        # does not count; the stager starts it as nobody, with the binds staged where
        # nobody can reach them.
        stage = tempfile.mkdtemp(prefix="nbjudge-stage-")
        os.chmod(stage, 0o755)
        stack.callback(_remove_stage, stage)
        sources = [f"{stage}/{i}" for i in range(len(binds))]
    for source, (_, target) in zip(sources, binds, strict=True):
        args += ["--ro-bind", source, target]
    args += ["--remount-ro", "/", "--remount-ro", "/dev", "--chdir", "/tmp", "--", *command]
    if os.geteuid() == 0:
        spec = {"stage": stage, "sources": [source for source, _ in binds],
                "uid": _SANDBOX_UID, "gid": _SANDBOX_UID, "argv": args}
        args = [sys.executable, "-I", "-S", str(_STAGER), json.dumps(spec)]
    data = _DATA_INSIDE if data_dir is not None else None
    return _Launch(args, sandbox_env(workdir, home), workdir, data, pass_fds)


def _remove_stage(stage: str) -> None:
    """The stager's mount point: an empty folder on the host (never rmtree: see stager)."""
    with suppress(OSError):
        os.rmdir(stage)


def _none_launch(data_dir: Path | None, command: list[str], stack: ExitStack) -> _Launch:
    workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="nbjudge-run-"))
    home = stack.enter_context(tempfile.TemporaryDirectory(prefix="nbjudge-home-"))
    data = str(Path(data_dir).resolve()) if data_dir is not None else None
    return _Launch(command, sandbox_env(workdir, home), workdir, data, cwd=workdir)


def _launch(settings: SandboxSettings, data_dir: Path | None, command: list[str],
            stack: ExitStack) -> _Launch:
    if settings.mode == "none":
        return _none_launch(data_dir, command, stack)
    return _bwrap_launch(settings, data_dir, command, stack)


def _runner_command(settings: SandboxSettings) -> list[str]:
    runner = (f"{_SANDBOX_SITE_INSIDE}/runner.py" if settings.mode == "bwrap"
              else str(_RUNNER.resolve()))
    return [sys.executable, "-I", runner]


def _popen(launch: _Launch, **kwargs: Any) -> subprocess.Popen[Any]:
    return subprocess.Popen(launch.argv, env=launch.env, cwd=launch.cwd,
                            pass_fds=launch.pass_fds, start_new_session=True, **kwargs)


def _kill(process: subprocess.Popen[Any]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()


def check_sandbox(settings: SandboxSettings) -> None:
    """Start one empty sandbox; raise :class:`SandboxError` saying why it cannot start.

    Called once before a batch, so a machine without bubblewrap or user
    namespaces stops the stage at once instead of failing every notebook (and
    never falls back to running them unsandboxed).
    """
    if settings.mode == "none":
        return
    with ExitStack() as stack:
        launch = _bwrap_launch(settings, None, [sys.executable, "-I", "-S", "-c", "pass"], stack)
        process = _popen(launch, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
        try:
            _, err = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            _kill(process)
            process.communicate()
            raise SandboxError("bwrap did not start a sandbox within 60 s") from None
    if process.returncode != 0:
        raise SandboxError(_diagnose(err.decode(errors="replace"), process.returncode))


def _diagnose(stderr: str, code: int) -> str:
    said = " ".join(stderr.strip().splitlines()[-3:]) or f"exit status {code}"
    fix = ("or set execute.sandbox=none to run notebooks unsandboxed (only notebooks you "
           "trust; the report will say so)")
    if re.search(r"namespace|uid map|unshare|Operation not permitted", stderr, re.IGNORECASE):
        return (f"bubblewrap cannot create a sandbox here ({said}). It needs user "
                "namespaces: allow them (`sysctl -w user.max_user_namespaces=15000`; Debian: "
                "`sysctl -w kernel.unprivileged_userns_clone=1`; Ubuntu 23.10+: "
                "`sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` or an AppArmor "
                "profile for bwrap; in a container: a seccomp profile that allows "
                f"unshare/clone and, when running as root, CAP_SYS_ADMIN), {fix}")
    return f"bubblewrap failed to start a sandbox ({said}); {fix}"


# --- one notebook -----------------------------------------------------------------------


def execute_notebook(
    notebook: nbformat.NotebookNode,
    data_dir: Path | None,
    timeout: int = 300,
    kernel_name: str = "python3",
    sandbox: SandboxSettings | None = None,
) -> ExecutionResult:
    """Execute ``notebook`` in a sandbox whose working folder holds a copy of ``data_dir``.

    Every output the notebook came with is cleared before the run, so the result
    never mixes two runs: cells the run did not reach are empty and marked as not
    run (``metadata.nbjudge.not_run``). A notebook for another language's kernel is
    not started; it fails as an ``environment`` failure.
    """
    settings = sandbox or SandboxSettings()
    limits = settings.limits
    notebook = nbformat.from_dict(notebook)  # never mutate the caller's notebook
    _clear_outputs(notebook)
    language = kernel_language(notebook)
    if language != "python":
        _mark_not_run(notebook, 0)
        _strip_volatile(notebook)
        return ExecutionResult(
            notebook, "error", 0.0,
            f"the notebook is written for another language's kernel ({printable(language)}); "
            "this machine runs Python notebooks only (execute.mode keep judges it with the "
            "outputs it came with)",
            None, 0, settings.mode, "environment")
    started = time.perf_counter()
    run_limits = {"memory_mb": limits.memory_mb, "cpu_seconds": limits.cpu_seconds,
                  "file_size_mb": limits.file_size_mb, "open_files": limits.open_files,
                  # Without its own user namespace RLIMIT_NPROC would count every process
                  # of the user on the machine, so the limit holds in the sandbox only.
                  "processes": limits.processes if settings.mode == "bwrap" else None,
                  "output_mb": limits.output_mb}
    wall = limits.wall_seconds or 10 ** 7
    with ExitStack() as stack:
        launch = _launch(settings, data_dir, _runner_command(settings), stack)
        # The runner's result must carry this token: a line the notebook writes cannot.
        secret = secrets.token_hex(16)
        request = {"notebook": notebook, "workdir": launch.workdir, "data": launch.data,
                   "timeout": timeout, "wall_seconds": wall, "kernel_name": kernel_name,
                   "limits": run_limits, "secret": secret,
                   "sandboxed": settings.mode == "bwrap",
                   "heartbeat_seconds": _HEARTBEAT_SECONDS}
        process = _popen(launch, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
        data = json.dumps(request).encode()
        # The result holds the notebook as sent and at most output_mb of outputs; more
        # is a runner the notebook has subverted, and is never read into memory.
        cap = (len(data) + limits.output_mb * 1024 * 1024 + _RESULT_SLACK
               if limits.output_mb else None)
        # total_memory_mb null: nothing is measured (and no peak is known).
        watch = _MemoryWatch(limits.total_memory_mb) if limits.total_memory_mb else None
        out, err, backstop, overflow, silent = _communicate(
            process, data, wall + _WALL_GRACE, cap, f"{secret} alive".encode(), watch)
    exceeded = watch.exceeded if watch is not None else None
    peak = round(watch.peak.total / _MB) if watch is not None else None
    seconds = round(time.perf_counter() - started, 3)
    lines = out.decode(errors="replace").splitlines()
    stderr = err.decode(errors="replace")
    if not lines or lines[0] != _STARTED:
        if backstop:
            raise SandboxError(f"the sandbox did not start within {wall + _WALL_GRACE} s")
        if settings.mode == "bwrap":
            raise SandboxError(_diagnose(stderr, process.returncode))
        raise SandboxError(f"the notebook runner did not start: {_last_line(stderr)}")
    signed = [line for line in lines[1:]
              if line.startswith(f"{secret} ") and line != f"{secret} alive"]
    result = (_parse(signed[-1][len(secret) + 1:])
              if signed and not (overflow or silent or exceeded) else None)
    status: str
    limit: str | None
    error: str | None
    if result is None:
        _clear_outputs(notebook)
        _mark_not_run(notebook, 0)
        if exceeded is not None:
            status, limit, error = ("resource_limit", "total_memory",
                                    f"the sandbox held {exceeded}, past "
                                    f"execute.limits.total_memory_mb = "
                                    f"{limits.total_memory_mb}, and was killed")
        elif backstop:
            status, limit, error = ("resource_limit", "wall_time",
                                    f"the notebook ran longer than {wall} s "
                                    "(execute.limits.wall_seconds) and its sandbox was killed")
        elif silent:
            status, limit, error = ("error", None,
                                    f"the notebook's runner said nothing for {_SILENCE_SECONDS} "
                                    "s (the notebook stopped or froze it) and its sandbox was "
                                    "killed")
        elif overflow:
            status, limit, error = ("resource_limit", "output",
                                    f"the sandbox wrote more than {cap:,} bytes, past "
                                    f"execute.limits.output_mb = {limits.output_mb}, and was "
                                    "killed")
        else:
            code = process.returncode
            how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
            status, limit, error = ("error", None,
                                    f"the sandbox ended without a result ({how}): the "
                                    "notebook killed its runner, or the runner failed"
                                    + (f": {_last_line(stderr)}" if stderr.strip() else ""))
        _strip_volatile(notebook)
        if status == "resource_limit":
            _mark_limit(notebook, None, _limit_marker(limit, timeout, limits, killed=True))
        # Flooding the result channel or stopping the runner is the notebook's doing.
        failure = "notebook" if overflow or silent else classify_failure(status, outcome={})
        return ExecutionResult(notebook, status, seconds, printable(error), limit, None,
                               settings.mode, failure, peak)
    executed = nbformat.from_dict(result["notebook"])
    outcome = result["outcome"]
    status, limit, error = _classify(outcome, timeout, limits)
    cell = outcome.get("cell") if status != "ok" else None
    if status != "ok":
        _mark_not_run(executed, 0 if cell is None else cell + 1)
    if outcome.get("output_cut") is not None:
        cut = (f"outputs past execute.limits.output_mb = {limits.output_mb} were cut from "
               f"cell {outcome['output_cut'] + 1} on (marked in the notebook)")
        if status == "ok":
            status, limit, error, cell = "resource_limit", "output", cut, outcome["output_cut"]
        else:
            error = f"{error}; {cut}"
    _strip_volatile(executed)
    if (status == "timeout" or status == "resource_limit") and limit != "output":
        _mark_limit(executed, cell, _limit_marker(limit, timeout, limits, killed=False))
    # The error's text is the notebook's to choose: it reaches logs and the report escaped.
    return ExecutionResult(executed, status, seconds, error and printable(error), limit, cell,
                           settings.mode,
                           classify_failure(status, outcome, python2=_is_python2(notebook),
                                            earlier=_output_text(executed, cell)), peak)


_RESULT_SLACK = 16 * 1024 * 1024   # the result's own fields, and JSON's escapes
_STDERR_KEPT = 64 * 1024            # the runner's stderr: only its end is ever shown
_HEARTBEAT_SECONDS = 5              # the runner says it is alive this often
_SILENCE_SECONDS = 60               # and is ended after this long without a word
_MEMORY_SECONDS = 0.5               # the sandbox's memory is measured this often
_MB = 1024 * 1024


@dataclass(frozen=True)
class MemoryUse:
    """What a sandbox holds in memory, in bytes, measured from outside it."""

    processes: int = 0   # proportional set size (PSS) of all its processes together
    shared: int = 0      # its tmpfs (/tmp, /dev/shm) and the memfds its processes hold
    count: int = 0       # processes measured

    @property
    def total(self) -> int:
        return self.processes + self.shared

    def __str__(self) -> str:
        return (f"{self.total / _MB:,.0f} MB ({self.count} processes {self.processes / _MB:,.0f}"
                f" MB, shared memory {self.shared / _MB:,.0f} MB)")


def _descendants(root: int) -> list[int]:
    """``root`` and every process below it, from one pass over /proc. In a sandbox (its own
    PID namespace) nothing can leave this tree: an orphan goes to the sandbox's init."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": the command may hold spaces and parentheses.
        ppid = int(stat[stat.rindex(b")") + 2:].split(maxsplit=2)[1])
        children.setdefault(ppid, []).append(int(name))
    found, queue = [], [root]
    while queue:
        pid = queue.pop()
        found.append(pid)
        queue.extend(children.get(pid, ()))
    return found


_PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss(pid: int) -> int:
    """The process's resident set size in bytes (cheap: no page walk; pages it shares are
    counted whole, so a sum over processes errs high); 0 for a process that is gone."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def _pss(pid: int) -> int:
    """The process's proportional set size in bytes (its resident memory, pages it shares
    divided among their sharers); its resident set size where smaps cannot be read; 0 for
    a process that is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
            for line in handle:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return _rss(pid)


# Shared memory no mount of the sandbox shows: memfds, System V segments.
_SHARED_OBJECTS = (b"/memfd:", b"/SYSV")


def _held_open(pid: int, seen: dict[tuple[int, int], int]) -> None:
    """Add to ``seen`` (by device and inode: each once) the memfds and System V segments
    the process holds open, with the memory each holds (its allocated blocks, whether or
    not a process has them resident)."""
    with suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            path = f"/proc/{pid}/fd/{fd}"
            with suppress(OSError):
                if os.readlink(path).encode().startswith(_SHARED_OBJECTS):
                    info = os.stat(path)
                    seen[(info.st_dev, info.st_ino)] = info.st_blocks * 512


def _held_mapped(pid: int, seen: dict[tuple[int, int], int]) -> None:
    """As :func:`_held_open`, for the memfds and segments the process maps (a memfd whose
    descriptor is closed lives on while mapped). Read through /proc/<pid>/map_files, which
    only root may read: for other users only the pages mapped in are counted (in PSS)."""
    with suppress(OSError), open(f"/proc/{pid}/maps", "rb") as handle:
        for line in handle:
            parts = line.split(maxsplit=5)
            if len(parts) == 6 and parts[5].startswith(_SHARED_OBJECTS):
                with suppress(OSError):
                    info = os.stat(f"/proc/{pid}/map_files/{parts[0].decode()}")
                    seen[(info.st_dev, info.st_ino)] = info.st_blocks * 512


def _tmpfs_used(pids: list[int]) -> int:
    """Bytes used on the sandbox's own /tmp and /dev/shm (tmpfs: memory), seen through
    /proc/<pid>/root of its processes; mounts this process shares (an unsandboxed run's
    /tmp) are not the sandbox's and are not counted."""
    ours = set()
    for folder in ("/", "/tmp", "/dev/shm"):
        with suppress(OSError):
            ours.add(os.stat(folder).st_dev)
    used: dict[int, int] = {}
    for pid in pids:
        for folder in ("tmp", "dev/shm"):
            path = f"/proc/{pid}/root/{folder}"
            with suppress(OSError):
                device = os.stat(path).st_dev
                if device not in ours and device not in used:
                    info = os.statvfs(path)
                    used[device] = (info.f_blocks - info.f_bfree) * info.f_frsize
        if len(used) >= 2:
            break
    return sum(used.values())


def _measure(pids: list[int], exact: bool,
             mapped: dict[tuple[int, int], int] | None = None) -> MemoryUse:
    """PSS (``exact``) or RSS (an upper bound of it, far cheaper) of ``pids``, and the shared
    memory they hold: open memfds and segments, ``mapped`` ones (found by
    :func:`_held_mapped`; looked for here when None) and the sandbox's tmpfs."""
    held: dict[tuple[int, int], int] = {}
    if mapped is None:
        mapped = {}
        for pid in pids:
            _held_mapped(pid, mapped)
    processes = 0
    for pid in pids:
        processes += _pss(pid) if exact else _rss(pid)
        _held_open(pid, held)
    held.update(mapped)
    return MemoryUse(processes, sum(held.values()) + _tmpfs_used(pids), len(pids))


def sandbox_memory(root: int) -> MemoryUse:
    """The memory held by the process ``root`` and everything below it (a sandbox), as
    the host sees it: the PSS of every process, plus the sandbox's tmpfs and the memfds
    and System V segments its processes hold open or map. Shared memory that is also
    mapped is counted in both, so the total errs high. Kernel memory (page tables, pipe
    and socket buffers) is not counted."""
    return _measure(_descendants(root), exact=True)


_MAPS_EVERY = 4   # mapped shared memory is looked for at every 4th measurement (2 s)


@dataclass
class _MemoryWatch:
    """The host's watchdog of a sandbox's total memory (``execute.limits.total_memory_mb``):
    the largest use seen, and the use that ended the sandbox, if one did.

    Each measurement sums the cheap RSS of the sandbox's processes, an upper bound of
    their PSS; only past the limit is the exact PSS (a page walk of every process) taken,
    and the sandbox killed if that too is past it. So ``peak``, the largest total
    measured, counts pages that processes share once per process (it errs high) unless
    it is the measurement that ended the sandbox."""

    limit_mb: int
    peak: MemoryUse = field(default_factory=MemoryUse)
    exceeded: MemoryUse | None = None
    measured: int = 0
    mapped: dict[tuple[int, int], int] = field(default_factory=dict)

    def past_limit(self, root: int) -> bool:
        pids = _descendants(root)
        if self.measured % _MAPS_EVERY == 0:
            self.mapped = {}
            for pid in pids:
                _held_mapped(pid, self.mapped)
        self.measured += 1
        use = _measure(pids, exact=False, mapped=self.mapped)
        if use.total > self.limit_mb * _MB:
            use = _measure(pids, exact=True)
        if use.total > self.peak.total:
            self.peak = use
        if use.total > self.limit_mb * _MB:
            self.exceeded = use
            return True
        return False


def _communicate(process: subprocess.Popen[bytes], data: bytes, timeout: float,
                 cap: int | None, heartbeat: bytes, watch: _MemoryWatch | None = None
                 ) -> tuple[bytes, bytes, bool, bool, bool]:
    """Send ``data`` and read stdout (at most ``cap`` bytes) and the end of stderr, within
    ``timeout`` seconds; returns (stdout, stderr, timed out, stdout passed ``cap``, the
    runner went silent). Past the cap, the timeout, ``_SILENCE_SECONDS`` without a
    ``heartbeat`` line, or (``watch``) past the sandbox's total memory limit, the sandbox
    is killed; ``watch.exceeded`` then says how much it held."""
    stdin, stdout, stderr = process.stdin, process.stdout, process.stderr
    if stdin is None or stdout is None or stderr is None:
        raise ValueError("_communicate needs a process started with three pipes")
    out, err = bytearray(), bytearray()
    overflow = threading.Event()
    last_beat = [time.monotonic()]

    def send() -> None:
        with suppress(OSError):   # a runner that died early closed its end
            stdin.write(data)
            stdin.close()

    def read_out() -> None:
        while chunk := os.read(stdout.fileno(), 1024 * 1024):
            if cap is not None and len(out) + len(chunk) > cap:
                overflow.set()
                _kill(process)
                return
            # A beat split between two chunks is found in the overlap.
            if heartbeat in out[-len(heartbeat):] + chunk or not out:
                last_beat[0] = time.monotonic()
            out.extend(chunk)

    def read_err() -> None:
        while chunk := os.read(stderr.fileno(), 1024 * 1024):
            err.extend(chunk)
            del err[:-_STDERR_KEPT]

    threads = [threading.Thread(target=target, daemon=True)
               for target in (send, read_out, read_err)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    timed_out = silent = False
    step = _MEMORY_SECONDS if watch is not None else 1.0
    while process.poll() is None:
        now = time.monotonic()
        if now >= deadline or now - last_beat[0] > _SILENCE_SECONDS:
            timed_out, silent = now >= deadline, now < deadline
            _kill(process)
            break
        if watch is not None and watch.past_limit(process.pid):
            _kill(process)
            break
        with suppress(subprocess.TimeoutExpired):
            process.wait(max(0.0, min(step, deadline - time.monotonic())))
    process.wait()
    for thread in threads:
        thread.join()
    for stream in (stdout, stderr):
        stream.close()
    return bytes(out), bytes(err), timed_out, overflow.is_set(), silent


def _output_text(notebook: nbformat.NotebookNode, last: int | None) -> str:
    """The text of the notebook's outputs up to cell ``last`` (all when None)."""
    parts = []
    for cell in notebook.cells[: None if last is None else last + 1]:
        for output in cell.get("outputs", []):
            parts.append(str(output.get("text", "")))
            parts.append(f"{output.get('ename', '')}: {output.get('evalue', '')}")
    return "\n".join(parts)


def _parse(line: str) -> dict[str, Any] | None:
    try:
        result = json.loads(line)
    except ValueError:
        return None
    return result if isinstance(result, dict) and "outcome" in result else None


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _clear_outputs(notebook: nbformat.NotebookNode) -> None:
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("nbjudge", None)


def _mark_not_run(notebook: nbformat.NotebookNode, first: int) -> None:
    """Mark the code cells from index ``first`` on as not reached by the run (the
    renderer shows them as not run)."""
    for cell in notebook.cells[first:]:
        if cell.cell_type == "code" and not cell.get("outputs"):
            cell.metadata["nbjudge"] = {"not_run": True}


# Each limit's setting (``execute.limits.<setting>``) and unit, for the marker of a run
# stopped at it; ``output`` has the runner's own marker where the outputs were cut.
_LIMIT_SETTINGS = {"memory": ("memory_mb", "MB"), "total_memory": ("total_memory_mb", "MB"),
                   "cpu": ("cpu_seconds", "s"), "processes": ("processes", ""),
                   "file_size": ("file_size_mb", "MB"), "open_files": ("open_files", ""),
                   "disk": ("tmp_mb", "MB"), "wall_time": ("wall_seconds", "s"),
                   "output": ("output_mb", "MB")}


def _limit_marker(limit: str | None, timeout: int, limits: SandboxLimits,
                  killed: bool) -> str:
    """The line a run stopped at a limit of this machine gets where it stopped: made by
    nbjudge from the settings alone, never from the notebook's text."""
    if limit is None:
        what = f"the per-cell time limit of this machine (execute.timeout = {timeout} s)"
    else:
        setting, unit = _LIMIT_SETTINGS.get(limit, (limit, ""))
        value = getattr(limits, setting, None)
        what = (f"the {limit.replace('_', ' ')} limit of this machine (execute.limits."
                f"{setting} = {value}{f' {unit}' if unit and value is not None else ''})")
    if killed:
        return (f"[nbjudge: the run was stopped at {what} and its sandbox killed; no output "
                "of this run was kept]\n")
    return f"[nbjudge: the run was stopped here, at {what}]\n"


def _mark_limit(notebook: nbformat.NotebookNode, cell: int | None, marker: str) -> None:
    """Put ``marker`` in the cell the run stopped at (the first code cell when the run left
    no notebook), so that whoever reads the run sees that it was cut short, and where."""
    if cell is None or not 0 <= cell < len(notebook.cells) \
            or notebook.cells[cell].cell_type != "code":
        cell = next((i for i, c in enumerate(notebook.cells) if c.cell_type == "code"), None)
        if cell is None:
            return
    target = notebook.cells[cell]
    target.metadata.pop("nbjudge", None)   # it holds an output now: not "not run"
    target.outputs.append(nbformat.v4.new_output("stream", name="stderr", text=marker))


def kernel_language(notebook: nbformat.NotebookNode) -> str:
    """The language the notebook's kernel speaks, lower case (``python`` when unsaid)."""
    metadata = notebook.get("metadata", {})
    spec = metadata.get("kernelspec") or {}
    language = (spec.get("language") or (metadata.get("language_info") or {}).get("name")
                or "").strip().lower()
    if not language:
        name = str(spec.get("name") or "").lower()
        language = "python" if not name or name.startswith(("python", "py")) else name
    return "python" if language.startswith("python") else language


def _is_python2(notebook: nbformat.NotebookNode) -> bool:
    metadata = notebook.get("metadata", {})
    name = str((metadata.get("kernelspec") or {}).get("name") or "")
    version = str((metadata.get("language_info") or {}).get("version") or "")
    return name == "python2" or version.startswith("2.")


# Errors that say this machine lacks something the notebook's own environment had (its
# platform's modules, its data, the network, a platform's globals), not that the code is
# wrong: (pattern over "ename: evalue", what is missing).
_ENVIRONMENT_ERRORS = [
    (re.compile(r"^(ModuleNotFoundError|ImportError)\b"), "a module"),
    (re.compile(r"^(FileNotFoundError|IsADirectoryError)\b|No such file or directory"),
     "a data file"),
    (re.compile(r"URLError|ConnectionError|ConnectionRefused|NewConnectionError|"
                r"MaxRetryError|gaierror|Temporary failure in name resolution|"
                r"Name or service not known|Network is unreachable|Connection refused|"
                r"nodename nor servname"), "the network"),
    (re.compile(r"^NameError: name '(spark|sc|sqlContext|dbutils|display|displayHTML|"
                r"spark_session)' is not defined"), "a platform's globals"),
    (re.compile(r"JAVA_HOME|Java gateway process exited|NoSuchKernel"), "a runtime"),
]


_CONFIRMED_BY = {"a module": "module_missing", "a data file": "file_absent",
                 "the network": "network_failed"}


def classify_failure(status: str, outcome: Mapping[str, Any], python2: bool = False,
                     earlier: str = "") -> str | None:
    """``environment`` or ``notebook`` for a failed run, None for a finished one.

    Environment: a module or a data file this machine lacks, or the network (the sandbox
    has none), as the runner confirmed in the sandbox (``outcome["confirmed"]``: the
    module is not importable, the file is absent, the kernel counted a failed network
    attempt since the first cell); a network error also counts when ``earlier``, the
    outputs up to the failing cell, shows one the notebook caught before it crashed, and
    the kernel counted the attempt; a platform's globals (``spark``, ``dbutils``) or a
    runtime this machine lacks; Python 2 syntax; a time or resource limit (the limits are
    this machine's settings, not the notebook's; but a notebook can reach one on purpose,
    so a limit gives way to its original outputs only when ``execute.keep_original_on_limit``
    says so: :class:`~nbjudge.notebooks.batch.OutputPolicy`). Notebook: any other error
    the code raises, an environment error the runner could not confirm (raised or printed
    by the notebook itself), or a kernel that died without reaching a limit.
    """
    if status == "ok":
        return None
    if status == "resource_limit" and outcome.get("output_cut") is not None:
        return "notebook"   # printing past output_mb is the notebook's doing, not the machine's
    if status in ("timeout", "resource_limit"):
        return "environment"
    ename = str(outcome.get("ename") or "")
    error = f"{ename}: {outcome.get('evalue') or ''}" if ename else str(outcome.get("error") or "")
    if python2 and ename == "SyntaxError":
        return "environment"
    confirmed = outcome.get("confirmed") or {}
    for pattern, missing in _ENVIRONMENT_ERRORS:
        if pattern.search(error):
            # The runner checked these in the sandbox: raising the error is not enough.
            fact = _CONFIRMED_BY.get(missing)
            return "environment" if fact is None or confirmed.get(fact) else "notebook"
    # A download the notebook caught (its message printed) and a crash after it; printing
    # such a message without a failed attempt is not enough.
    if confirmed.get("network_failed") and any(
            pattern.search(earlier) for pattern, missing in _ENVIRONMENT_ERRORS
            if missing == "the network"):
        return "environment"
    return "notebook"


# What a notebook sees when it reaches a limit: (limit, the setting, how it shows).
_LIMIT_ERRORS: list[tuple[str, str, Callable[[str, str], bool]]] = [
    ("memory", "memory_mb", lambda ename, evalue: ename in ("MemoryError", "_ArrayMemoryError")
     or "Unable to allocate" in evalue or "std::bad_alloc" in evalue),
    ("file_size", "file_size_mb", lambda ename, evalue: "[Errno 27]" in evalue),
    ("open_files", "open_files", lambda ename, evalue: "[Errno 24]" in evalue),
    ("disk", "tmp_mb", lambda ename, evalue: "[Errno 28]" in evalue),
    ("processes", "processes", lambda ename, evalue:
     (ename == "BlockingIOError" and "[Errno 11]" in evalue)
     or "can't start new thread" in evalue),
]


def _classify(outcome: Mapping[str, Any], timeout: int,
              limits: SandboxLimits) -> tuple[str, str | None, str | None]:
    """The runner's facts as (status, limit, error)."""
    kind = outcome.get("status")
    error = outcome.get("error")
    if kind == "ok":
        return "ok", None, None
    if kind == "timeout":
        return "timeout", None, f"a cell ran longer than {timeout} s: {error}"
    if kind == "wall_time":
        return ("resource_limit", "wall_time",
                f"the notebook ran longer than {limits.wall_seconds} s "
                "(execute.limits.wall_seconds)")
    if kind == "dead_kernel":
        died = outcome.get("kernel_signal")
        cpu = outcome.get("children_cpu_seconds") or 0
        if died == "SIGXCPU" or (died == "SIGKILL" and limits.cpu_seconds
                                 and cpu >= limits.cpu_seconds):
            return ("resource_limit", "cpu",
                    f"the kernel used {limits.cpu_seconds} s of CPU "
                    "(execute.limits.cpu_seconds) and was stopped")
        return "error", None, f"the kernel died{f' ({died})' if died else ''}: {error}"
    ename, evalue = outcome.get("ename") or "", outcome.get("evalue") or ""
    for limit, setting, matches in _LIMIT_ERRORS:
        if (ename or evalue) and matches(ename, evalue):
            value = getattr(limits, setting)
            return ("resource_limit", limit,
                    f"{limit.replace('_', ' ')} limit reached (execute.limits.{setting} = "
                    f"{value}): {(error or '').rstrip(': ')}")
    return "error", None, error


def _strip_volatile(notebook: nbformat.NotebookNode) -> None:
    """Replace machine-specific paths and the run's clock times in outputs, and join the
    stream chunks between two other outputs (:func:`_joined_streams`), so that judges see
    the same text anywhere and a rerun writes the same bytes."""
    for cell in notebook.cells:
        if "outputs" in cell:
            cell["outputs"] = _joined_streams(cell["outputs"])
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = _scrub(output["text"])
            data = output.get("data", {})
            if "text/plain" in data:
                data["text/plain"] = _scrub(data["text/plain"])
            if "traceback" in output:
                output["traceback"] = [_scrub(line) for line in output["traceback"]]
    notebook.metadata.pop("widgets", None)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    notebook.metadata["language_info"] = {"name": "python",
                                          "version": ".".join(map(str, sys.version_info[:2]))}
    encodable(notebook)


_TEMP_DIRS = "|".join(sorted({re.escape(tempfile.gettempdir()), "/tmp"}))
_MACHINE_PATHS = [
    (re.compile(rf"(?:{_TEMP_DIRS})/nbjudge-run-[^/\s'\"]+"), "<workdir>"),
    (re.compile(rf"(?:{_TEMP_DIRS})/nbjudge-home-[^/\s'\"]+"), "<home>"),
    (re.compile(re.escape(sys.prefix)), "<python-env>"),
    (re.compile(re.escape(sys.base_prefix)), "<python>"),
]


# Log lines of the run itself: MLflow's "2026/12/06 13:15:25 INFO ..." and the logging
# module's default "2026-12-06 13:15:25,123". Data shows dates, rarely in these forms.
_CLOCK_TIMES = re.compile(r"\b\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}\b"
                          r"|\b\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3}\b")


def _scrub(text: str) -> str:
    for pattern, replacement in _MACHINE_PATHS:
        text = pattern.sub(replacement, text)
    return _CLOCK_TIMES.sub("<time>", text)


def _joined_streams(outputs: list[Any]) -> list[Any]:
    """Each run of stream outputs as at most two: all of its stdout, then all its stderr.

    The kernel sends stdout and stderr on separate buffers flushed on a timer, so where
    it splits a stream, and how the two interleave, changes from run to run.
    """
    joined: list[Any] = []
    run: dict[str, Any] = {}  # the current run of stream outputs, by stream name
    for output in [*outputs, None]:
        if output is not None and output.get("output_type") == "stream":
            if output.get("name") in run:
                run[output["name"]]["text"] += output["text"]
            else:
                run[output.get("name")] = output
            continue
        joined += [run[name] for name in sorted(run, key=lambda n: (n != "stdout", n))]
        run = {}
        if output is not None:
            joined.append(output)
    return joined


# C0 and C1 control characters (escape sequences move the cursor, erase lines, set the
# window title), the bidirectional overrides that reorder what a reader sees, and lone
# surrogates, which no terminal, file or API can carry as UTF-8.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069"
                          "\ud800-\udfff]")


def printable(text: str) -> str:
    """``text`` as one line safe to print: every control character, bidirectional override
    and lone surrogate escaped as Python would spell it (``\\x1b``, ``\\n``, ``\\ud800``)."""
    return _UNPRINTABLE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return {9: "\\t", 10: "\\n", 13: "\\r"}.get(code) or (
        f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def encodable(node: Any) -> Any:
    """``node`` with every lone surrogate in its text spelt out (``\\ud800``), so that the
    executed notebook can be written as UTF-8; text without one is returned as it is."""
    if isinstance(node, str):
        try:
            node.encode("utf-8")
        except UnicodeEncodeError:
            return node.encode("utf-8", "backslashreplace").decode("utf-8")
        return node
    if isinstance(node, dict):
        for key, value in node.items():
            node[key] = encodable(value)
    elif isinstance(node, list):
        node[:] = [encodable(item) for item in node]
    return node
