"""The sandbox holds: eleven escape attempts, each contained, and honest notebooks unchanged.

Each escape attempt is a fixture notebook written here (never a third-party
notebook) that runs through ``execute_index`` next to an honest notebook, on
two workers: the index records the attempt's status, the honest notebook runs
normally beside it, and the host shows no trace. No attempt targets a real
host: the address tried is TEST-NET-1 (192.0.2.1), which the sandbox's
network namespace cannot route, so the connection fails before any packet
is built.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from nbjudge.notebooks.batch import NotebookJob, _cache_key, _read_task, execute_index
from nbjudge.notebooks.execute import (
    SandboxError,
    SandboxLimits,
    SandboxSettings,
    _bwrap_launch,
    _classify,
    check_sandbox,
)
from nbjudge.schemas import Execution, Notebook

ROOT = Path(__file__).resolve().parents[2]
README_LINE = "Do LLM judges of machine-learning notebooks grade like human experts"

# Small limits, so that each attempt reaches its limit in seconds.
LIMITS = SandboxLimits(wall_seconds=120, memory_mb=2048, cpu_seconds=60, processes=64,
                       file_size_mb=1, open_files=256, tmp_mb=64)
BWRAP = SandboxSettings("bwrap", LIMITS)
CELL_TIMEOUT = 10


def job(tmp_path: Path, name: str, *sources: str) -> NotebookJob:
    path = tmp_path / "gen" / f"{name}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(new_notebook(cells=[new_code_cell(s, id=f"c{i}")
                                       for i, s in enumerate(sources)]), path)
    entry = Notebook(notebook_id=name, case_id="case", path=f"gen/{name}.ipynb", sha256="0" * 64,
                     origin="procedural")
    return NotebookJob(entry, path, None, tmp_path / "exec" / f"{name}.ipynb")


def came_with_outputs(tmp_path: Path, name: str, *sources: str,
                      text: str = "accuracy 0.99\n") -> NotebookJob:
    """A notebook that comes executed, every code cell showing ``text`` (invented: its code
    never prints it)."""
    made = job(tmp_path, name, *sources)
    notebook = nbformat.read(made.source, as_version=4)
    for cell in notebook.cells:
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
        cell.execution_count = 1
    nbformat.write(notebook, made.source)
    return made


def run_beside_honest(tmp_path: Path, *sources: str, sandbox: SandboxSettings = BWRAP,
                      timeout: int = CELL_TIMEOUT):
    """Run the attempt and an honest notebook in parallel; return the attempt's record
    and output text, after checking that the honest one ran normally."""
    attempt = job(tmp_path, "attempt", *sources)
    honest = job(tmp_path, "honest", "print(sum(range(10)))", "print('honest done')")
    records = execute_index([attempt, honest], timeout=timeout, workers=2, root=tmp_path,
                            progress=False, sandbox=sandbox)
    neighbour = records[1].execution
    assert neighbour.status == "ok", neighbour.error
    assert "honest done" in outputs(tmp_path / neighbour.path)
    # The machine still starts processes.
    assert subprocess.run(["true"]).returncode == 0
    run = records[0].execution
    assert run.sandbox == "bwrap"
    return run, outputs(tmp_path / run.path)


def outputs(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(str(output.get("data", {}).get("text/plain", "")))
            parts.append(f"{output.get('ename', '')}: {output.get('evalue', '')}")
    return "\n".join(parts)


pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="bubblewrap is Linux only")


@pytest.fixture(scope="module")
def bwrap_works():
    try:
        check_sandbox(BWRAP)
    except SandboxError as error:
        pytest.skip(f"no sandbox on this machine: {error}")


# --- settings, classification, cache key (no kernel) ------------------------------------


def test_settings_and_their_checks():
    # Unknown keys of execute.limits are refused when params.yaml is read (test_params.py).
    settings = SandboxSettings("bwrap", SandboxLimits(memory_mb=512))
    assert settings.mode == "bwrap" and settings.limits.memory_mb == 512
    assert settings.limits.processes == SandboxLimits().processes
    assert SandboxSettings().mode == "bwrap"  # sandboxed unless asked otherwise
    with pytest.raises(ValueError, match=r"execute\.sandbox must be one of bwrap, none"):
        SandboxSettings(None)  # unsandboxed only when asked for
    with pytest.raises(ValueError, match=r"limits\.cpu_seconds must be a positive"):
        SandboxLimits(cpu_seconds=0)
    assert SandboxLimits(wall_seconds=None).wall_seconds is None


def test_the_limits_defaults_are_the_params_ones():
    from nbjudge.params import LimitParams

    assert SandboxLimits() == SandboxLimits(**LimitParams().model_dump())
    assert dataclasses.asdict(SandboxLimits()) == LimitParams().model_dump()


@pytest.mark.parametrize(("outcome", "expected"), [
    ({"status": "ok"}, ("ok", None)),
    ({"status": "timeout", "error": "x"}, ("timeout", None)),
    ({"status": "wall_time"}, ("resource_limit", "wall_time")),
    ({"status": "error", "ename": "MemoryError", "evalue": ""}, ("resource_limit", "memory")),
    ({"status": "error", "ename": "_ArrayMemoryError", "evalue": "Unable to allocate 8 GiB"},
     ("resource_limit", "memory")),
    ({"status": "error", "ename": "OSError", "evalue": "[Errno 27] File too large"},
     ("resource_limit", "file_size")),
    ({"status": "error", "ename": "OSError", "evalue": "[Errno 24] Too many open files"},
     ("resource_limit", "open_files")),
    ({"status": "error", "ename": "OSError", "evalue": "[Errno 28] No space left on device"},
     ("resource_limit", "disk")),
    ({"status": "error", "ename": "BlockingIOError",
      "evalue": "[Errno 11] Resource temporarily unavailable"}, ("resource_limit", "processes")),
    ({"status": "error", "ename": "RuntimeError", "evalue": "can't start new thread"},
     ("resource_limit", "processes")),
    ({"status": "dead_kernel", "kernel_signal": "SIGXCPU"}, ("resource_limit", "cpu")),
    ({"status": "dead_kernel", "kernel_signal": "SIGKILL", "children_cpu_seconds": 2000},
     ("resource_limit", "cpu")),
    ({"status": "dead_kernel", "kernel_signal": "SIGKILL", "children_cpu_seconds": 3},
     ("error", None)),
    ({"status": "error", "ename": "ValueError", "evalue": "boom"}, ("error", None)),
])
def test_what_a_limit_looks_like_becomes_its_status(outcome, expected):
    status, limit, error = _classify({"error": "E", **outcome}, 300, SandboxLimits())
    assert (status, limit) == expected
    if status == "resource_limit" and limit != "wall_time":
        assert "execute.limits." in error


def test_a_run_stopped_at_a_limit_is_marked_where_it_stopped():
    """The marker is nbjudge's words from the settings, never the notebook's text; a run
    that left no notebook (its sandbox killed) is marked in its first code cell."""
    from nbjudge.notebooks.execute import _limit_marker, _mark_limit

    limits = SandboxLimits(memory_mb=512)
    assert _limit_marker(None, 7, limits, killed=False) == (
        "[nbjudge: the run was stopped here, at the per-cell time limit of this machine "
        "(execute.timeout = 7 s)]\n")
    assert _limit_marker("memory", 7, limits, killed=False) == (
        "[nbjudge: the run was stopped here, at the memory limit of this machine "
        "(execute.limits.memory_mb = 512 MB)]\n")
    assert "(execute.limits.processes = 256)" in _limit_marker("processes", 7, limits, False)
    killed = _limit_marker("wall_time", 7, SandboxLimits(wall_seconds=9), killed=True)
    assert "(execute.limits.wall_seconds = 9 s) and its sandbox killed" in killed
    notebook = new_notebook(cells=[nbformat.v4.new_markdown_cell("# title"),
                                   new_code_cell("a"), new_code_cell("b")])
    for cell in notebook.cells[1:]:
        cell.outputs, cell.metadata["nbjudge"] = [], {"not_run": True}
    _mark_limit(notebook, 2, "here\n")
    assert [o["text"] for o in notebook.cells[2].outputs] == ["here\n"]
    assert "nbjudge" not in notebook.cells[2].metadata
    _mark_limit(notebook, None, "killed\n")
    assert [o["text"] for o in notebook.cells[1].outputs] == ["killed\n"]
    assert notebook.cells[0].get("outputs") is None


def test_limits_and_mode_are_part_of_the_cache_key(tmp_path):
    one = _read_task(job(tmp_path, "x", "print(1)"))
    keys = {_cache_key(one, 300, SandboxSettings()),
            _cache_key(one, 300, SandboxSettings(limits=SandboxLimits(memory_mb=1024))),
            _cache_key(one, 300, SandboxSettings("none")),
            _cache_key(one, 301, SandboxSettings())}
    assert len(keys) == 4


def test_old_execution_records_stay_readable():
    old = Execution.model_validate({"status": "ok", "seconds": 1.0, "error": None,
                                    "path": "data/notebooks/executed/a.ipynb"})
    assert old.sandbox is None and old.limit is None and old.cell is None
    new = Execution(status="resource_limit", seconds=1.0, error="memory", path="a.ipynb",
                    limit="memory", cell=3, sandbox="bwrap")
    assert Execution.model_validate_json(new.model_dump_json()) == new


def test_missing_bwrap_stops_with_how_to_fix_it(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(SandboxError, match=r"apt-get install bubblewrap.*execute\.sandbox=none"):
        check_sandbox(SandboxSettings())
    check_sandbox(SandboxSettings("none"))  # nothing to check: asked for, no fallback


def test_no_user_namespaces_stops_with_how_to_fix_it(monkeypatch):
    said = ("bwrap: No permissions to creating new namespace, likely because the kernel does "
            "not allow non-privileged user namespaces.")

    def failing(settings, data_dir, command, stack):
        from nbjudge.notebooks.execute import _Launch
        return _Launch(["sh", "-c", f"echo '{said}' >&2; exit 1"], {}, "/tmp/w", None)

    monkeypatch.setattr("nbjudge.notebooks.execute._bwrap_launch", failing)
    with pytest.raises(SandboxError) as error:
        check_sandbox(SandboxSettings())
    message = str(error.value)
    assert "No permissions to creating new namespace" in message
    assert "user namespaces" in message and "sysctl" in message
    assert "execute.sandbox=none" in message


def test_the_sandbox_binds_the_python_environment_but_not_the_repository(tmp_path):
    from contextlib import ExitStack

    data = tmp_path / "tables"
    data.mkdir()
    with ExitStack() as stack:
        launch = _bwrap_launch(BWRAP, data, ["python"], stack)
    argv = launch.argv
    if argv[0] == sys.executable:  # root: the stager's spec carries bwrap's arguments
        spec = json.loads(argv[-1])
        argv, sources = spec["argv"], spec["sources"]
    else:
        sources = [argv[i + 1] for i, a in enumerate(argv) if a == "--ro-bind"]
    for flag in ("--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
                 "--new-session"):
        assert flag in argv
    assert argv[argv.index("--uid") + 1] == "65534"
    assert str(Path(sys.prefix).resolve()) in sources
    assert str(data.resolve()) in sources
    home = str(Path.home())
    for source in sources:
        # Only the venv, the runner folder and the tables of the repository.
        assert source in ("/usr", str(data.resolve())) or not Path(source).is_relative_to(
            ROOT) or Path(source).is_relative_to(Path(sys.prefix).resolve()) or \
            source.endswith("notebooks/sandbox_site"), source
        assert source != home and source != str(ROOT)
    assert "--bind" not in argv  # nothing of the host is writable
    assert launch.env["PATH"].startswith(str(Path(sys.prefix) / "bin"))
    assert not any(k in launch.env for k in ("PYTHONPATH", "OPENAI_API_KEY", "VIRTUAL_ENV"))


def test_the_report_says_when_notebooks_ran_unsandboxed():
    from nbjudge.report.context import warning_lines
    from nbjudge.report.inputs import ReportInputs

    def inputs(sandbox):
        notebooks = tuple(
            Notebook(notebook_id=f"n{i}", case_id="c", path=f"g/n{i}.ipynb", sha256="0" * 64,
                     origin="import", execution=Execution(status="ok", seconds=1, path="e.ipynb",
                                                       sandbox=sandbox))
            for i in range(3))
        return ReportInputs(params={}, metrics={}, tables={}, labels=(), notebooks=notebooks)

    assert not any("UNSANDBOXED" in line for line in warning_lines(inputs("bwrap")))
    lines = warning_lines(inputs("none"))
    assert any(line.startswith("3 of 3 notebooks ran UNSANDBOXED") for line in lines)


# --- the eleven escape attempts -----------------------------------------------------------


@pytest.mark.slow
def test_1_cannot_read_the_repository_the_home_folder_or_other_notebooks(tmp_path, bwrap_works):
    secret = f"home-secret-{uuid.uuid4().hex}"
    marker = Path.home() / f".nbjudge-escape-test-{uuid.uuid4().hex}"
    marker.write_text(secret)
    other = tmp_path / "gen" / "honest.ipynb"  # written by run_beside_honest
    try:
        attempt = f"""
import os
for path in [{str(ROOT / 'README.md')!r}, {str(marker)!r}, {str(other)!r},
             os.path.expanduser('~/.ssh/id_rsa'), '/etc/shadow', '/etc/pip.conf']:
    try:
        print('READ', path, open(path).read()[:200])
    except OSError as exc:
        print('BLOCKED', path, type(exc).__name__)
for folder in [{str(ROOT)!r}, {str(Path.home())!r}, {str(ROOT / '.nbjudge-cache')!r},
               {str(ROOT / 'data')!r}, {str(tmp_path)!r}]:
    try:
        print('LISTED', folder, os.listdir(folder))
    except OSError as exc:
        print('BLOCKED', folder, type(exc).__name__)
"""
        run, text = run_beside_honest(tmp_path, attempt)
    finally:
        marker.unlink()
    assert run.status == "ok", run.error
    assert not any(line.startswith("READ ") for line in text.splitlines()), text
    assert README_LINE not in text
    assert secret not in text
    assert text.count("BLOCKED") >= 8, text
    # The repository and the home folder exist inside only as the mount points of the
    # Python environment (the venv, the installation it points to).
    for line in text.splitlines():
        if line.startswith("LISTED"):
            assert not {"README.md", "src", ".git", "data", ".ssh", marker.name} & set(
                re.findall(r"'([^']+)'", line.split(" ", 2)[2])), line


@pytest.mark.slow
def test_2_cannot_write_outside_its_working_folder(tmp_path, bwrap_works):
    name = f"nbjudge-escape-{uuid.uuid4().hex}"
    targets = [ROOT / name, Path.home() / name, Path("/tmp") / name, tmp_path / name,
               Path(sys.prefix) / name, Path("/usr") / name, Path("/etc") / name, Path("/") / name,
               Path("/dev") / name]
    attempt = f"""
for path in {[str(t) for t in targets]!r}:
    try:
        with open(path, 'w') as handle:
            handle.write('escaped')
        print('WROTE', path)
    except OSError as exc:
        print('BLOCKED', path, type(exc).__name__)
open('inside.txt', 'w').write('fine')  # the working folder is writable
print('inside ok')
"""
    run, text = run_beside_honest(tmp_path, attempt)
    assert run.status == "ok", run.error
    assert "inside ok" in text
    for target in targets:
        assert not target.exists(), f"{target} was written on the host"
    # /tmp inside is the sandbox's own tmpfs: writable there, invisible here. (A checkout
    # under /tmp, as CI's may be, puts the venv's mount point, and so a writable folder of
    # the same name, in that tmpfs: a write there still never reaches the host.)
    wrote = [line.split(" ", 1)[1] for line in text.splitlines() if line.startswith("WROTE")]
    assert f"/tmp/{name}" in wrote and all(path.startswith("/tmp/") for path in wrote), wrote


@pytest.mark.slow
def test_3_cannot_see_host_processes(tmp_path, bwrap_works):
    attempt = f"""
import os
pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
print('PIDS', len(pids))
for pid in pids:
    try:
        print('CMD', pid, open(f'/proc/{{pid}}/cmdline', 'rb').read().replace(b'\\0', b' ')[:80])
    except OSError as exc:
        print('CMD', pid, type(exc).__name__)
try:
    os.kill({os.getpid()}, 0)
    print('SIGNALLED the test process')
except OSError as exc:
    print('NO SUCH PROCESS', type(exc).__name__)
"""
    run, text = run_beside_honest(tmp_path, attempt)
    assert run.status == "ok", run.error
    count = int(re.search(r"PIDS (\d+)", text).group(1))
    assert count < 15, text  # bwrap's init, the runner, the kernel (and its helpers)
    assert "pytest" not in text and "SIGNALLED" not in text
    assert "ProcessLookupError" in text or os.getpid() <= count


_CONNECT = """
import _socket, socket, time
for kind in (_socket.SOCK_STREAM, _socket.SOCK_DGRAM):
    s = _socket.socket(_socket.AF_INET, kind)
    s.settimeout(5)
    started = time.monotonic()
    try:
        if kind == _socket.SOCK_STREAM:
            s.connect(('192.0.2.1', 80))
        else:
            s.sendto(b'x', ('192.0.2.1', 53))
        print('CONNECTED', kind)
    except OSError as exc:
        print('FAILED', exc.errno, exc.strerror, 'after', round(time.monotonic() - started, 3))
try:
    socket.getaddrinfo('example.com', 80)
    print('RESOLVED')
except OSError as exc:
    print('NO DNS', type(exc).__name__)
print('INTERFACES', [name for _, name in socket.if_nameindex()])
"""


def _assert_unreachable(text: str) -> None:
    assert "CONNECTED" not in text and "RESOLVED" not in text, text
    failures = re.findall(r"FAILED (\d+) .* after ([\d.]+)", text)
    assert len(failures) == 2, text
    for errno, seconds in failures:
        assert int(errno) == 101, text  # ENETUNREACH: no route, nothing sent
        assert float(seconds) < 1.0, text  # at once, not a timeout
    assert "INTERFACES ['lo']" in text


@pytest.mark.slow
def test_4_raw_socket_cannot_leave_the_machine(tmp_path, bwrap_works):
    run, text = run_beside_honest(tmp_path, _CONNECT)
    assert run.status == "ok", run.error
    _assert_unreachable(text)


@pytest.mark.slow
def test_5_isolated_subprocess_cannot_leave_the_machine(tmp_path, bwrap_works):
    attempt = f"""
import subprocess, sys
result = subprocess.run([sys.executable, '-I', '-c', {_CONNECT!r}], capture_output=True,
                        text=True, timeout=30)
print(result.stdout, result.stderr)
"""
    run, text = run_beside_honest(tmp_path, attempt)
    assert run.status == "ok", run.error
    _assert_unreachable(text)


def _sandbox_processes() -> int:
    """Live kernels of the sandbox's user (zombies excluded)."""
    sandbox_uid = 65534 if os.geteuid() == 0 else os.getuid()
    count = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        uid = re.search(r"^Uid:\s+(\d+)", status, re.M)
        state = re.search(r"^State:\s+(\w)", status, re.M)
        if uid and state and int(uid.group(1)) == sandbox_uid and \
                state.group(1) != "Z" and "ipykernel" in (entry / "cmdline").read_text(
                    errors="replace"):
            count += 1
    return count


@pytest.mark.slow
def test_6_fork_bomb_stops_at_the_process_limit(tmp_path, bwrap_works):
    before = _sandbox_processes()
    started = time.monotonic()
    # The bomb's children, stuck once fork fails, spin on the CPU and slow the kernel's
    # reply: a generous cell timeout lets the limit, not the timeout, end the run.
    run, text = run_beside_honest(tmp_path, "print('start')",
                                  "import os\nwhile True:\n    os.fork()", "print('never')",
                                  timeout=90)
    assert run.status == "resource_limit" and run.limit == "processes", run
    assert run.cell == 2
    assert "start" in text and "never" not in text
    assert time.monotonic() - started < 90  # bounded by the limit, not by a clock
    deadline = time.monotonic() + 15
    while _sandbox_processes() > before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _sandbox_processes() <= before, "the bomb's processes outlived its sandbox"


@pytest.mark.slow
def test_7_memory_beyond_the_limit(tmp_path, bwrap_works):
    run, text = run_beside_honest(tmp_path, "print('start')", "block = bytearray(3 * 1024**3)",
                                  "print('never')")
    assert run.status == "resource_limit" and run.limit == "memory", run
    assert run.cell == 2 and "memory_mb = 2048" in run.error
    assert "start" in text and "MemoryError" in text and "never" not in text


@pytest.mark.slow
def test_8_file_beyond_the_size_limit(tmp_path, bwrap_works):
    run, text = run_beside_honest(tmp_path, "open('big.bin', 'wb').write(b'0' * 2 * 1024**2)")
    assert run.status == "resource_limit" and run.limit == "file_size", run
    assert run.cell == 1 and "File too large" in text


@pytest.mark.slow
def test_9_infinite_loop_is_stopped(tmp_path, bwrap_works):
    run, _ = run_beside_honest(tmp_path, "print('start')", "while True:\n    pass")
    assert run.status == "timeout" and run.cell == 2, run
    assert f"longer than {CELL_TIMEOUT} s" in run.error


@pytest.mark.slow
def test_10_secrets_in_the_environment_are_not_visible(tmp_path, bwrap_works, monkeypatch):
    secrets = {name: f"value-{uuid.uuid4().hex}" for name in (
        "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN",
        "HF_TOKEN", "DATABRICKS_TOKEN", "DB_PASSWORD")}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    attempt = """
import os
print('ENV', {k: v for k, v in os.environ.items()})
for pid in [p for p in os.listdir('/proc') if p.isdigit()]:
    try:
        print('ENVIRON', pid, open(f'/proc/{pid}/environ', 'rb').read())
    except OSError as exc:
        print('ENVIRON', pid, type(exc).__name__)
"""
    run, text = run_beside_honest(tmp_path, attempt)
    assert run.status == "ok", run.error
    for name, value in secrets.items():
        assert value not in text and name not in text


@pytest.mark.slow
def test_11_killing_the_parent_process_group_costs_only_this_run(tmp_path, bwrap_works):
    attempt = """
import os, signal
print('start', flush=True)
for kill in (lambda: os.killpg(os.getpgid(os.getppid()), signal.SIGKILL),
             lambda: os.kill(os.getppid(), signal.SIGKILL),
             lambda: os.kill(-1, signal.SIGKILL)):
    try:
        kill()
    except OSError as exc:
        print('failed', exc)
"""
    run, _ = run_beside_honest(tmp_path, attempt, "print('never')")
    assert run.status == "error", run
    assert "without a result" in run.error


@pytest.mark.slow
@pytest.mark.parametrize(("limit", "source"), [
    ("cpu", "while True:\n    pass"),
    ("open_files", "handles = [open('/dev/null') for _ in range(1000)]"),
    ("disk", "for i in range(200):\n    open(f'part{i}', 'wb').write(bytes(512 * 1024))"),
])
def test_the_other_limits_are_recorded(tmp_path, bwrap_works, limit, source):
    settings = dataclasses.replace(BWRAP, limits=dataclasses.replace(LIMITS, cpu_seconds=4))
    run, text = run_beside_honest(tmp_path, "print('start')", source, "print('never')",
                                  sandbox=settings, timeout=30)
    assert run.status == "resource_limit" and run.limit == limit, run
    assert run.cell == 2 and "start" in text and "never" not in text


@pytest.mark.slow
def test_a_limit_reached_costs_its_own_run_only(tmp_path, bwrap_works):
    """The next notebook on the same worker runs normally (one worker, in order)."""
    jobs = [job(tmp_path, "hog", "block = bytearray(3 * 1024**3)"),
            job(tmp_path, "next", "print('next ran')")]
    first, second = execute_index(jobs, timeout=CELL_TIMEOUT, workers=1, root=tmp_path,
                                  progress=False, sandbox=BWRAP)
    assert first.execution.limit == "memory"
    assert second.execution.status == "ok"
    assert "next ran" in outputs(tmp_path / second.execution.path)


@pytest.mark.slow
def test_wall_clock_limit_stops_the_notebook_and_keeps_earlier_outputs(tmp_path, bwrap_works):
    settings = dataclasses.replace(BWRAP, limits=dataclasses.replace(LIMITS, wall_seconds=8))
    run, text = run_beside_honest(tmp_path, "print('first')", "import time\ntime.sleep(4)",
                                  "time.sleep(4)", "time.sleep(4)", "print('never')",
                                  sandbox=settings)
    assert run.status == "resource_limit" and run.limit == "wall_time", run
    assert run.cell in (3, 4) and "first" in text and "never" not in text


# --- honest notebooks are unchanged by the sandbox -----------------------------------------


_TIMESTAMP = re.compile(r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}")


def _comparable(path: Path) -> list:
    """Outputs without what varies from run to run: log timestamps, and how a stream
    happened to be split into messages."""
    nb = nbformat.read(path, as_version=4)
    cells = []
    for cell in nb.cells:
        merged: list = []
        for output in cell.get("outputs", []):
            output = dict(output)
            if output.get("output_type") == "stream":
                text = _TIMESTAMP.sub("<time>", output["text"])
                if merged and merged[-1].get("output_type") == "stream" and \
                        merged[-1]["name"] == output["name"]:
                    merged[-1]["text"] += text
                    continue
                output["text"] = text
            merged.append(output)
        cells.append((cell.get("execution_count"), merged))
    return cells


@pytest.mark.slow
def test_demo_notebooks_produce_the_same_outputs_with_and_without_the_sandbox(tmp_path,
                                                                              bwrap_works):
    from nbjudge.benchmark.procedural import generate_notebooks
    from nbjudge.benchmark.suites import build_cases
    from nbjudge.notebooks.batch import plan_jobs

    cases = build_cases("data/suites/demo.yaml", 42, tmp_path / "datasets")
    index, _ = generate_notebooks(cases, 42, tmp_path / "gen", root=tmp_path)
    runs = {}
    for mode in ("bwrap", "none"):
        jobs = plan_jobs(index, cases, tmp_path / "datasets", tmp_path / mode, tmp_path)
        runs[mode] = execute_index(jobs, timeout=300, workers=2, root=tmp_path, progress=False,
                                   sandbox=SandboxSettings(mode))
    for sandboxed, plain in zip(runs["bwrap"], runs["none"], strict=True):
        assert sandboxed.execution.sandbox == "bwrap" and plain.execution.sandbox == "none"
        assert sandboxed.execution.status == plain.execution.status == "ok", (
            f"{sandboxed.notebook_id}: sandboxed {sandboxed.execution.status} "
            f"({sandboxed.execution.error}), plain {plain.execution.status} "
            f"({plain.execution.error}) at cell {plain.execution.cell}")
        assert _comparable(tmp_path / sandboxed.execution.path) == \
            _comparable(tmp_path / plain.execution.path), sandboxed.notebook_id


# --- hostile content: what a notebook holds or writes must not break the host side --------


def raw_job(tmp_path: Path, name: str, text: str) -> NotebookJob:
    """A job whose file holds ``text`` as it is (nbformat would refuse to write it)."""
    path = tmp_path / "gen" / f"{name}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    entry = Notebook(notebook_id=name, case_id="case", path=f"gen/{name}.ipynb", sha256="0" * 64,
                     origin="procedural")
    return NotebookJob(entry, path, None, tmp_path / "exec" / f"{name}.ipynb")


def _with_markdown(*sources: str) -> str:
    """A notebook's JSON whose second cell is markdown; json.dumps spells a lone surrogate
    as the escape ``\\ud800``, as a hostile file would."""
    cells = [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "execution_count": None,
              "outputs": [], "source": source} for i, source in enumerate(sources)]
    cells.insert(1, {"cell_type": "markdown", "id": "m", "metadata": {}, "source": "a \ud800 b"})
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells})


@pytest.mark.slow
def test_12_lone_surrogates_and_unreadable_json_cost_their_own_run_only(tmp_path, bwrap_works):
    cache = tmp_path / "cache"
    jobs = [raw_job(tmp_path, "surrogate", _with_markdown("print('first')", "print('second')")),
            raw_job(tmp_path, "nested", '{"nbformat": 4, "cells": ' + "[" * 50_000
                    + "]" * 50_000 + "}"),
            job(tmp_path, "honest", "print(sum(range(10)))", "print('honest done')")]
    surrogate, nested, honest = execute_index(jobs, timeout=CELL_TIMEOUT, workers=2,
                                              root=tmp_path, progress=False, sandbox=BWRAP,
                                              cache_dir=cache)
    assert honest.execution.status == "ok"
    assert "honest done" in outputs(tmp_path / honest.execution.path)
    # The surrogate is spelt out where the executed notebook is written; the run is ok.
    assert surrogate.execution.status == "ok", surrogate.execution.error
    written = nbformat.read(tmp_path / surrogate.execution.path, as_version=4)
    assert written.cells[1].source == "a \\ud800 b"
    assert "second" in outputs(tmp_path / surrogate.execution.path)
    assert nested.execution.status == "error" and nested.execution.failure == "notebook"
    assert nested.execution.error.startswith(
        "nbjudge could not process this notebook's run: RecursionError")
    nbformat.read(tmp_path / nested.execution.path, as_version=4)
    # Whole cache entries only: no empty file, no temporary file left behind.
    assert all(path.stat().st_size > 0 and not path.name.endswith(".tmp")
               for path in cache.iterdir())
    assert len(list(cache.iterdir())) == 4   # surrogate and honest, notebook and record


@pytest.mark.slow
def test_13_control_characters_the_notebook_chooses_reach_no_terminal(tmp_path, bwrap_works):
    attempt = ("raise RuntimeError('\\x1b[2K\\r40 notebooks (40 ok)\\n\\x1b]0;pwned\\x07"
               "\\x9b31m\\u202e')")
    run, text = run_beside_honest(tmp_path, "print('start')", attempt)
    assert run.status == "error" and run.cell == 2
    assert run.error == ("RuntimeError: \\x1b[2K\\r40 notebooks (40 ok)\\n\\x1b]0;pwned\\x07"
                         "\\x9b31m\\u202e")
    assert not any(ord(char) < 32 or 0x7f <= ord(char) <= 0x9f for char in run.error)
    # The notebook's own outputs keep the text as raised: the judge reads them.
    assert "\x1b]0;pwned" in text


@pytest.mark.slow
def test_14_output_past_the_limit_is_cut_with_a_marker_and_the_status_says_so(tmp_path,
                                                                              bwrap_works):
    settings = dataclasses.replace(BWRAP, limits=dataclasses.replace(LIMITS, output_mb=1))
    run, text = run_beside_honest(
        tmp_path, "print('start')",
        "for _ in range(40):\n    print('x' * 100_000)",
        "display({'text/plain': 'y' * 3_000_000}, raw=True)", "print('later')",
        sandbox=settings)
    assert (run.status, run.limit, run.cell, run.failure) == (
        "resource_limit", "output", 2, "notebook"), run
    assert run.error == ("outputs past execute.limits.output_mb = 1 were cut from cell 2 on "
                         "(marked in the notebook)")
    # A dropped output costs nothing of the budget: the small one after it is kept.
    assert "start" in text and "y" * 1000 not in text and "later" in text
    assert text.count("[nbjudge: outputs past execute.limits.output_mb = 1 were cut here]") == 2
    assert len(text) < 1.1 * 1024 * 1024
    executed = nbformat.read(tmp_path / run.path, as_version=4)
    assert all(cell.execution_count for cell in executed.cells), "every cell ran"


def test_the_host_reads_no_more_than_the_cap_of_a_result(tmp_path):
    from nbjudge.notebooks.execute import _communicate

    flood = subprocess.Popen([sys.executable, "-c", "import sys\nwhile True:\n"
                              "    sys.stdout.write('x' * 65536)"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
    out, _, timed_out, overflow, _ = _communicate(flood, b"", 60, 4 * 1024 * 1024, b"x")
    assert overflow and not timed_out and len(out) <= 4 * 1024 * 1024
    assert flood.returncode is not None
    quiet = subprocess.Popen([sys.executable, "-c", "import sys; print(sys.stdin.read())"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    assert _communicate(quiet, b"hello", 60, 100, b"beat") == (b"hello\n", b"", False, False,
                                                               False)


_FORGE = """
import json, os, signal
forged = {"outcome": {"status": "ok", "error": None, "cell": None},
          "notebook": {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
              {"cell_type": "code", "id": "f", "metadata": {}, "execution_count": 1,
               "source": "print(1)", "outputs": [{"output_type": "stream", "name": "stdout",
                                                  "text": "FOR" + "GED"}]}]}}
wrote = []
for pid in PIDS:
    try:
        fds = os.listdir(f'/proc/{pid}/fd')
    except OSError:
        continue
    for fd in fds:
        path = f'/proc/{pid}/fd/{fd}'
        try:
            if os.readlink(path).startswith('pipe:'):
                with open(path, 'w') as channel:
                    channel.write(json.dumps(forged) + '\\n')
                wrote.append(path)
        except OSError:
            pass
print('wrote', wrote, flush=True)
os.kill(os.getppid(), signal.SIGKILL)
"""


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["bwrap", "none"])
def test_15_a_forged_result_line_is_never_taken(tmp_path, bwrap_works, mode):
    """The kernel writes a result of its own on every pipe of its runner (and, in the
    sandbox, of the sandbox's first process), then kills the runner. Unsandboxed as root
    the writes succeed (root may open a non-dumpable process's descriptors), so only the
    per-run secret stands between the forged line and an ``ok`` record."""
    pids = "[os.getppid(), 1]" if mode == "bwrap" else "[os.getppid()]"
    attempt = job(tmp_path, "attempt", "print('start')", _FORGE.replace("PIDS", pids))
    honest = job(tmp_path, "honest", "print(sum(range(10)))", "print('honest done')")
    settings = dataclasses.replace(BWRAP, mode=mode)
    run, neighbour = (record.execution for record in execute_index(
        [attempt, honest], timeout=CELL_TIMEOUT, workers=2, root=tmp_path, progress=False,
        sandbox=settings))
    assert neighbour.status == "ok" and "honest done" in outputs(tmp_path / neighbour.path)
    assert run.status == "error" and "ended without a result" in run.error, run
    assert "FORGED" not in outputs(tmp_path / run.path)


_DENIED = """
import ctypes, socket
libc = ctypes.CDLL(None, use_errno=True)
buffer = ctypes.create_string_buffer(256)
# x86_64 numbers: io_uring_setup, keyctl, ptrace, bpf, perf_event_open, mount, add_key
for name, number, args in [('io_uring_setup', 425, (8, buffer)), ('keyctl', 250, (0, 0)),
                           ('ptrace', 101, (16, 1)), ('bpf', 321, (0, buffer, 64)),
                           ('perf_event_open', 298, (buffer, 0, -1, -1, 0)),
                           ('mount', 165, (b'none', b'/tmp', b'tmpfs', 0, None)),
                           ('add_key', 248, (b'user', b'k', b'v', 1, -2))]:
    ctypes.set_errno(0)
    result = libc.syscall(number, *args)
    print(name, result, ctypes.get_errno())
for family, kind in [(40, socket.SOCK_STREAM), (17, socket.SOCK_RAW), (31, socket.SOCK_STREAM)]:
    try:
        socket.socket(family, kind)
        print('family', family, 'opened')
    except OSError as exc:
        print('family', family, exc.errno)
"""


@pytest.mark.slow
@pytest.mark.skipif(os.uname().machine != "x86_64", reason="system call numbers of x86_64")
def test_16_system_calls_and_socket_families_a_notebook_never_needs_are_denied(tmp_path,
                                                                                 bwrap_works):
    run, text = run_beside_honest(tmp_path, _DENIED)
    assert run.status == "ok", run.error
    for name in ("io_uring_setup", "keyctl", "ptrace", "bpf", "perf_event_open", "mount",
                 "add_key"):
        assert f"{name} -1 1\n" in text, (name, text)   # EPERM, from the filter
    for family in (40, 17, 31):   # AF_VSOCK, AF_PACKET, AF_BLUETOOTH: EAFNOSUPPORT
        assert f"family {family} 97\n" in text, (family, text)


def test_without_libseccomp_the_sandbox_stops_with_how_to_fix_it(monkeypatch):
    from contextlib import ExitStack

    from nbjudge.notebooks import execute

    def missing() -> bytes:
        raise OSError("libseccomp.so.2: cannot open shared object file")

    execute._seccomp_filter.cache_clear()
    monkeypatch.setattr(execute, "compiled_filter", missing)
    try:
        with ExitStack() as stack, pytest.raises(SandboxError, match=(
                r"the sandbox's seccomp filter cannot be built \(libseccomp.so.2: cannot open "
                r"shared object file\): install libseccomp \(`apt-get install libseccomp2`\)")):
            _bwrap_launch(BWRAP, None, ["python"], stack)
    finally:
        execute._seccomp_filter.cache_clear()


@pytest.mark.slow
def test_17_a_runner_the_notebook_stops_is_ended_by_the_host(tmp_path, bwrap_works,
                                                             monkeypatch):
    """The kernel stops its runner (SIGSTOP), so no per-cell timeout would fire; the host
    hears no heartbeat and ends the sandbox. An honest notebook whose cell is silent for
    longer than that limit still runs to the end: the runner's heartbeats go on."""
    from nbjudge.notebooks import execute

    monkeypatch.setattr(execute, "_HEARTBEAT_SECONDS", 1)
    monkeypatch.setattr(execute, "_SILENCE_SECONDS", 8)
    stop = new_notebook(cells=[new_code_cell("print('start')"), new_code_cell(
        "import os, signal, time\nos.kill(os.getppid(), signal.SIGSTOP)\ntime.sleep(600)")])
    started = time.monotonic()
    run = execute.execute_notebook(stop, None, timeout=CELL_TIMEOUT, sandbox=BWRAP)
    assert time.monotonic() - started < 60
    assert (run.status, run.failure) == ("error", "notebook"), run
    assert run.error == ("the notebook's runner said nothing for 8 s (the notebook stopped "
                         "or froze it) and its sandbox was killed")
    honest = new_notebook(cells=[new_code_cell("import time\ntime.sleep(12)\nprint('done')")])
    run = execute.execute_notebook(honest, None, timeout=30, sandbox=BWRAP)
    assert run.status == "ok", run.error
    assert run.notebook.cells[0].outputs[0]["text"] == "done\n"


@pytest.mark.slow
def test_18_a_notebook_cannot_choose_its_original_outputs_by_raising_the_right_error(
        tmp_path, bwrap_works):
    """Raised on purpose, ModuleNotFoundError and FileNotFoundError are the notebook's
    failures (the runner finds the module importable, the file present), so its original,
    possibly invented, outputs are not what the judges read; the genuine ones and a caught
    download error before a crash stay the environment's."""
    from nbjudge.notebooks.batch import OutputPolicy

    imported = functools.partial(came_with_outputs, tmp_path)
    tables = tmp_path / "tables"
    tables.mkdir()
    (tables / "present.csv").write_text("a\n1\n")
    jobs = [imported("module", "raise ModuleNotFoundError(\"No module named 'json'\")"),
            imported("file", "open('present.csv').close()\n"
                     "raise FileNotFoundError(2, 'No such file or directory', 'present.csv')"),
            imported("missing", "import xgboost_is_not_installed_here"),
            imported("download", "import urllib.request\ntry:\n"
                     "    data = urllib.request.urlopen('http://192.0.2.1/d.csv', timeout=5)\n"
                     "except Exception as exc:\n    print('download failed:', exc)",
                     "print(data)")]
    jobs[1] = NotebookJob(jobs[1].entry, jobs[1].source, tables, jobs[1].target)
    records = execute_index(jobs, timeout=CELL_TIMEOUT, workers=2, root=tmp_path,
                            progress=False, sandbox=BWRAP, policy=OutputPolicy(mode="run"))
    found = {r.notebook_id: (r.execution.failure, r.execution.outputs) for r in records}
    assert found == {"module": ("notebook", "run"), "file": ("notebook", "run"),
                     "missing": ("environment", "original"),
                     "download": ("environment", "original")}


# --- total memory: all of a sandbox's processes and its shared memory ----------------------


_SIX_PROCESSES = """
import subprocess, sys, time
hogs = []
for _ in range(6):   # 1.1 GB each, each under the per-process limit
    hogs.append(subprocess.Popen([sys.executable, '-c',
                                  'import time; block = b"x" * 1_100_000_000; time.sleep(120)']))
    time.sleep(1)
for hog in hogs:
    hog.wait()
print('never')
"""

_SHARED_FILLER = """
import mmap, os, time
chunk = b'x' * (64 * 1024 * 1024)
hidden = os.memfd_create('hidden')   # 512 MB in a memfd only mapped, its descriptor closed
for _ in range(8):
    os.write(hidden, chunk)
view = mmap.mmap(hidden, 4096)
os.close(hidden)
shm = os.open('/dev/shm/filler', os.O_CREAT | os.O_RDWR)   # 384 MB in a tmpfs file, unlinked
held = os.memfd_create('held')                               # 384 MB in a memfd kept open
for fd in (shm, held):
    for _ in range(6):
        os.write(fd, chunk)
os.unlink('/dev/shm/filler')
del chunk
print('filled', flush=True)
time.sleep(60)
print('never')
"""


def _held(error: str) -> tuple[int, int, int]:
    """(total, processes, shared) in MB from a total_memory error."""
    match = re.search(r"held ([\d,]+) MB \(\d+ processes ([\d,]+) MB, shared memory ([\d,]+) MB",
                      error)
    assert match, error
    return tuple(int(group.replace(",", "")) for group in match.groups())


def _sandbox_hogs() -> int:
    """Processes of this machine still holding one of the tests' 1.1 GB blocks."""
    count = 0
    for entry in Path("/proc").iterdir():
        with_block = b'block = b"x" * 1_100_000_000'
        try:
            if entry.name.isdigit() and with_block in (entry / "cmdline").read_bytes():
                count += 1
        except OSError:
            continue
    return count


@pytest.mark.slow
def test_19_six_processes_under_the_per_process_limit_stop_at_the_total(tmp_path, bwrap_works):
    """Each process stays under memory_mb (2048, RLIMIT_AS); together they pass
    total_memory_mb, which the host measures from outside the sandbox and enforces."""
    settings = dataclasses.replace(BWRAP, limits=dataclasses.replace(LIMITS,
                                                                     total_memory_mb=3000))
    started = time.monotonic()
    run, text = run_beside_honest(tmp_path, "print('start')", _SIX_PROCESSES,
                                  sandbox=settings, timeout=60)
    assert (run.status, run.limit, run.failure) == ("resource_limit", "total_memory",
                                                     "environment"), run
    assert "past execute.limits.total_memory_mb = 3000, and was killed" in run.error
    total, processes, _ = _held(run.error)
    assert 3000 < total < 5500 and processes > 3000, run.error   # two or three hogs, not six
    assert time.monotonic() - started < 45
    assert "never" not in text
    deadline = time.monotonic() + 15
    while _sandbox_hogs() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _sandbox_hogs() == 0, "a hog outlived its sandbox"


@pytest.mark.slow
def test_20_memfds_and_dev_shm_count_against_the_total(tmp_path, bwrap_works):
    """1.25 GB written with write() into a memfd only mapped (its descriptor closed), a
    /dev/shm file (unlinked) and a memfd held open: the kernel's own address space stays
    small and RLIMIT_AS sees none of it; the host counts all of it. Without the mapped
    memfd (which the host finds through /proc/<pid>/map_files, readable by root only)
    the sandbox would stay under the limit."""
    if os.geteuid() != 0:
        pytest.skip("only root may read /proc/<pid>/map_files: as another user a memfd that "
                    "is only mapped counts by its resident pages (README, sandbox section)")
    limits = dataclasses.replace(LIMITS, total_memory_mb=1200, tmp_mb=1024, file_size_mb=1024)
    run, text = run_beside_honest(tmp_path, "print('start')", _SHARED_FILLER,
                                  sandbox=dataclasses.replace(BWRAP, limits=limits), timeout=30)
    assert (run.status, run.limit) == ("resource_limit", "total_memory"), run
    total, processes, shared = _held(run.error)
    assert processes < 400, run.error            # not the processes' own memory
    assert shared > 1200 - processes and total > 1200, run.error
    assert "never" not in text


@pytest.mark.slow
def test_an_honest_notebook_is_measured_and_stays_ok(bwrap_works):
    from nbjudge.notebooks.execute import execute_notebook

    # Held for 2 s: the host measures every 0.5 s, so a block held for less than that
    # may fall between two measurements (it did once, on a loaded machine: 100 MB seen).
    notebook = new_notebook(cells=[new_code_cell(
        "import time\nimport numpy as np\nblock = np.ones(50_000_000)\ntime.sleep(2)\n"
        "print(block.sum())")])
    run = execute_notebook(notebook, None, timeout=60, sandbox=BWRAP)
    assert run.status == "ok", run.error
    assert 400 < run.peak_memory_mb < 2048, run.peak_memory_mb   # the 400 MB array and more
    unlimited = dataclasses.replace(BWRAP, limits=dataclasses.replace(LIMITS,
                                                                      total_memory_mb=None))
    run = execute_notebook(notebook, None, timeout=60, sandbox=unlimited)
    assert run.status == "ok" and run.peak_memory_mb is None   # nothing measured


def test_sandbox_memory_counts_every_process_below_and_the_memfds_they_hold():
    from nbjudge.notebooks.execute import sandbox_memory

    child = ("import os, time\nfd = os.memfd_create('m')\nos.write(fd, b'y' * 100_000_000)\n"
             "print('ready', flush=True)\ntime.sleep(60)")
    parent = (f"import subprocess, sys, time\nblock = b'x' * 200_000_000\n"
              f"child = subprocess.Popen([sys.executable, '-c', {child!r}])\n"
              "time.sleep(60)")
    process = subprocess.Popen([sys.executable, "-c", parent], start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        use = sandbox_memory(process.pid)
        while (use.count < 2 or use.shared < 100_000_000) and time.monotonic() < deadline:
            time.sleep(0.2)
            use = sandbox_memory(process.pid)
        assert use.count == 2
        assert 200_000_000 < use.processes < 400_000_000
        assert 100_000_000 <= use.shared < 110_000_000   # the memfd; no tmpfs of its own
        assert use.total == use.processes + use.shared
        assert "2 processes" in str(use)
    finally:
        os.killpg(process.pid, 9)
        process.wait()


# --- a network failure is the environment's only when the kernel counted it -----------------


@pytest.mark.slow
def test_21_a_network_failure_counts_as_the_environments_only_when_it_happened(tmp_path,
                                                                              bwrap_works):
    """The sandbox's kernel counts failed network attempts in its own network namespace
    (no route, a DNS query nobody answers); the runner reads the count. A real attempt
    (caught then a crash, or uncaught) is the environment's, and the notebook's original
    outputs are judged; the same error raised, or its message printed, without an attempt
    is the notebook's, and the run is judged. Nothing leaves the machine: example.com
    cannot be resolved in the sandbox and 192.0.2.1 has no route."""
    from nbjudge.notebooks.batch import OutputPolicy

    imported = functools.partial(came_with_outputs, tmp_path)
    download = ("import urllib.request\ntry:\n"
                "    data = urllib.request.urlopen('https://example.com/d.csv', timeout=5)\n"
                "except Exception as exc:\n    print('download failed:', exc)")
    jobs = [imported("dns", download, "print(data)"),
            imported("refused", "import socket\nsocket.create_connection(('127.0.0.1', 9), 5)"),
            imported("raised", "import urllib.error\n"
                     "raise urllib.error.URLError('[Errno 101] Network is unreachable')"),
            imported("printed", "print('download failed: <urlopen error [Errno -3] Temporary "
                     "failure in name resolution>')", "print(data)")]
    records = execute_index(jobs, timeout=CELL_TIMEOUT, workers=2, root=tmp_path,
                            progress=False, sandbox=BWRAP, policy=OutputPolicy(mode="run"))
    found = {r.notebook_id: (r.execution.status, r.execution.failure, r.execution.outputs)
             for r in records}
    # A refused connection on the sandbox's own loopback is not confirmed: the kernel's
    # client makes refused connections of its own there while the kernel starts.
    assert found == {"dns": ("error", "environment", "original"),
                     "refused": ("error", "notebook", "run"),
                     "raised": ("error", "notebook", "run"),
                     "printed": ("error", "notebook", "run")}, found
    by_id = {r.notebook_id: r for r in records}
    assert "accuracy 0.99" in outputs(tmp_path / by_id["dns"].execution.path)
    assert "accuracy 0.99" not in outputs(tmp_path / by_id["raised"].execution.path)


# --- the forge, as an ordinary user ---------------------------------------------------------


_HOST_AS_USER = """
import json, os, sys
import nbformat
from nbjudge.notebooks import execute

stdout = []
communicate = execute._communicate

def spy(*args, **kwargs):
    result = communicate(*args, **kwargs)
    stdout.append(result[0].decode(errors='replace'))
    return result

execute._communicate = spy
notebook = nbformat.reads(sys.stdin.read(), as_version=4)
limits = execute.SandboxLimits(wall_seconds=120, memory_mb=2048, cpu_seconds=60, processes=64)
run = execute.execute_notebook(notebook, None, timeout=10,
                               sandbox=execute.SandboxSettings('bwrap', limits))
texts = [str(o.get('text', '')) for c in run.notebook.cells for o in c.get('outputs', [])]
print(json.dumps({'uid': os.getuid(), 'status': run.status, 'error': run.error,
                  'outputs': texts, 'host_read': stdout}))
"""


def _as_ordinary_user(script: str, stdin: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` with this Python as an ordinary user: this user when not root; as root,
    ``nobody`` (setpriv), in a private mount namespace where the Python installation is
    reachable (it may lie under /root, which nobody cannot enter)."""
    command = [sys.executable, "-c", script]
    if os.geteuid() != 0:
        return subprocess.run(command, input=stdin, capture_output=True, text=True,
                              timeout=300, cwd="/")
    for tool in ("unshare", "setpriv", "mount"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed: cannot run nbjudge as an ordinary user")
    # Every tree of the Python installation that lies under a folder nobody cannot enter
    # is bound into a world-readable tmpfs mounted over that folder.
    binds, closed = [], set()
    for tree in sorted({str(Path(p).resolve()) for p in (sys.prefix, sys.base_prefix,
                                                         sys.exec_prefix, sys.base_exec_prefix)}):
        shut = next((parent for parent in reversed(Path(tree).parents)
                     if parent != Path("/") and not os.stat(parent).st_mode & 0o001), None)
        if shut is not None:
            binds.append(shlex.quote(tree))
            closed.add(shlex.quote(str(shut)))
    setup = ["set -e"]
    setup += [f"s{i}=$(mktemp -d /tmp/nbjudge-user-XXXXXX); mount --bind {tree} \"$s{i}\""
              for i, tree in enumerate(binds)]
    setup += [f"mount -t tmpfs -o mode=755,size=1m tmpfs {folder}" for folder in sorted(closed)]
    setup += [f"mkdir -p {tree}; mount --move \"$s{i}\" {tree}; rmdir \"$s{i}\""
              for i, tree in enumerate(binds)]
    setup.append("cd / && exec setpriv --reuid=65534 --regid=65534 --clear-groups "
                 "env -i PATH=/usr/bin:/bin HOME=/tmp \"$@\"")
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                           "\n".join(setup), "as-user", *command], input=stdin,
                          capture_output=True, text=True, timeout=300, cwd="/")


@pytest.mark.slow
def test_22_a_forged_result_line_is_never_taken_as_an_ordinary_user(bwrap_works):
    """nbjudge run by an ordinary user: the result pipe belongs to that user, and so to the
    sandbox's user, so the kernel's write of a forged result on the sandbox's first
    process's descriptors reaches the host (the host reads it, shown below); the line
    lacks the run's secret, the run is an error and no forged output is recorded."""
    notebook = new_notebook(cells=[new_code_cell("print('start')"),
                                   new_code_cell(_FORGE.replace("PIDS", "[os.getppid(), 1]"))])
    done = _as_ordinary_user(_HOST_AS_USER, nbformat.writes(notebook))
    if done.returncode != 0 and "Operation not permitted" in done.stderr:
        pytest.skip(f"cannot run as an ordinary user here: {done.stderr.strip()[-300:]}")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["uid"] != 0
    # The attack reached the result channel: the host read the forged line ...
    assert any("FORGED" in text for text in result["host_read"]), result
    # ... and did not take it.
    assert result["status"] == "error" and "ended without a result" in result["error"], result
    assert not any("FORGED" in text for text in result["outputs"]), result


# --- a limit reached on purpose does not choose the judged outputs -------------------------


@pytest.mark.slow
def test_23_a_notebook_cannot_choose_its_original_outputs_by_reaching_a_limit(tmp_path,
                                                                              bwrap_works):
    """Notebooks that come with an invented "accuracy 0.99" and then stop on purpose: a
    sleep past the cell timeout, an allocation past memory_mb, a block past
    total_memory_mb (the sandbox is killed), a print past output_mb. By default the judges
    read the real run up to where it stopped, marked there, with the limit in the record;
    with execute.keep_original_on_limit the invented outputs come back (not for the output
    cap, the notebook's own doing) and the report names them. An honest notebook that
    came executed, beside them, runs to the end either way."""
    from nbjudge.notebooks.batch import OutputPolicy
    from nbjudge.notebooks.render import render
    from nbjudge.report.inputs import ReportInputs
    from nbjudge.report.sections.original_outputs import original_outputs

    limits = dataclasses.replace(LIMITS, total_memory_mb=500, output_mb=1)
    settings = dataclasses.replace(BWRAP, limits=limits)
    imported = functools.partial(came_with_outputs, tmp_path)
    honest_start = "print('rows', 3 * 41)"
    jobs = [imported("sleeps", honest_start, "import time\ntime.sleep(600)", "print('never')"),
            imported("allocates", honest_start, "block = bytearray(3 * 1024**3)",
                     "print('never')"),
            imported("fills", honest_start, "import time\nblock = b'x' * 700_000_000\n"
                     "time.sleep(60)", "print('never')"),
            imported("floods", honest_start, "print('y' * 3_000_000)", "print('never')"),
            imported("honest", honest_start, "print('accuracy', round(2 / 3, 2))",
                     text="rows 123\naccuracy 0.67\n")]
    cache = tmp_path / "cache"

    def run(policy: OutputPolicy) -> dict[str, Notebook]:
        records = execute_index(jobs, timeout=5, workers=2, cache_dir=cache, root=tmp_path,
                                progress=False, sandbox=settings, policy=policy)
        return {r.notebook_id: r for r in records}

    def judged(record: Notebook) -> str:
        return render(nbformat.read(tmp_path / record.execution.path, as_version=4)).text

    started = time.monotonic()
    by_id = run(OutputPolicy(mode="run"))
    found = {name: (r.execution.status, r.execution.limit, r.execution.failure,
                    r.execution.outputs) for name, r in by_id.items()}
    assert found == {"sleeps": ("timeout", None, "environment", "run"),
                     "allocates": ("resource_limit", "memory", "environment", "run"),
                     "fills": ("resource_limit", "total_memory", "environment", "run"),
                     "floods": ("resource_limit", "output", "notebook", "run"),
                     "honest": ("ok", None, None, "run")}, found
    assert time.monotonic() - started < 120
    for name in ("sleeps", "allocates", "fills", "floods"):
        text = outputs(tmp_path / by_id[name].execution.path)
        assert "accuracy 0.99" not in text, text
        # Past the output cap the run goes on (its outputs dropped): the others stopped.
        assert ("never" in text) == (name == "floods"), text
    sleeps, allocates = judged(by_id["sleeps"]), judged(by_id["allocates"])
    assert "rows 123" in sleeps and "rows 123" in allocates   # the real run, up to the stop
    assert ("[nbjudge: the run was stopped here, at the per-cell time limit of this machine "
            "(execute.timeout = 5 s)]") in sleeps
    assert ("[nbjudge: the run was stopped here, at the memory limit of this machine "
            "(execute.limits.memory_mb = 2048 MB)]") in allocates and "MemoryError" in allocates
    assert by_id["sleeps"].execution.cell == by_id["allocates"].execution.cell == 2
    assert ("[nbjudge: the run was stopped at the total memory limit of this machine "
            "(execute.limits.total_memory_mb = 500 MB) and its sandbox killed; no output of "
            "this run was kept]") in judged(by_id["fills"])
    assert "execute.limits.output_mb = 1 were cut here" in judged(by_id["floods"])
    assert "accuracy 0.67" in judged(by_id["honest"])
    assert original_outputs(ReportInputs(params={}, metrics={}, tables={}, labels=(),
                                         notebooks=tuple(by_id.values()))) == ()

    # Opted in: the same runs (from the cache), their invented outputs judged and named.
    by_id = run(OutputPolicy(mode="run", keep_original_on_limit=True))
    found = {name: (r.execution.status, r.execution.outputs) for name, r in by_id.items()}
    assert found == {"sleeps": ("timeout", "original"),
                     "allocates": ("resource_limit", "original"),
                     "fills": ("resource_limit", "original"),
                     "floods": ("resource_limit", "run"), "honest": ("ok", "run")}, found
    assert all("accuracy 0.99" in judged(by_id[name])
               for name in ("sleeps", "allocates", "fills"))
    (line,) = original_outputs(ReportInputs(params={}, metrics={}, tables={}, labels=(),
                                            notebooks=tuple(by_id.values())))
    assert line.startswith("3 notebooks stopped here at a limit of this machine (cell timeout "
                           "1, memory 1, total memory 1) and were judged on the outputs they "
                           "came with"), line
    assert line.endswith("(execute.keep_original_on_limit true): allocates, fills, sleeps")
