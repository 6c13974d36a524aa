"""Run one notebook and print the executed notebook as JSON; started by
``nbjudge.notebooks.execute`` inside the sandbox (or directly with
``execute.sandbox=none``).

    python -I runner.py < request.json > result.json

This file is bind-mounted read-only into the sandbox, where the repository
is not visible, so it imports nothing from nbjudge: only the standard
library, nbformat and nbclient. It owns the mechanism (working folder,
resource limits, the kernel, the wall-clock deadline) and reports facts;
``execute.py`` turns them into a status.

The request (stdin) holds ``notebook``, ``workdir``, ``data`` (a folder whose
tables are copied into the working folder, or null), ``timeout`` (per cell),
``wall_seconds``, ``kernel_name``, ``limits``, ``secret`` and ``sandboxed``.
The result is written to the original stdout only: stdout is moved off fd 1
and stdin (read whole before any notebook code runs) is closed, the kernel's
own stdout and stderr go to /dev/null, and this process is not dumpable, so
its /proc entries are closed to the kernel. That is not enough on its own:
the sandbox's first process (bubblewrap) keeps the same pipe on its stdout,
where a kernel of the same user could write. So the result line starts with
``secret``, a per-run random token that only ever exists in this process's
memory and the host's, and the host takes no other line; in a sandbox, every
other process in it is killed before the line is written, so nothing can
read it off the pipe and replay it. The first line, written before any
notebook code runs, says the runner started.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import importlib.util
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import Any, TextIO

STARTED = "nbjudge-runner-started"
_PR_SET_DUMPABLE = 4
_MB = 1024 * 1024
# Kernel messages that add to a cell's outputs (update_display_data replaces one; it is
# counted as new, which errs on the safe side).
_OUTPUT_MESSAGES = ("stream", "display_data", "update_display_data", "execute_result", "error")


def _private_stdout() -> TextIO:
    """The result channel: a copy of fd 1; fd 1 itself then points at stderr."""
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    return out


def _not_dumpable() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


def _set_limits(limits: dict[str, Any]) -> None:
    """Per-process limits, inherited by the kernel and everything it starts.

    Soft and hard are equal, so the notebook cannot raise them; the CPU hard limit
    is 5 s above the soft one, so a kernel first gets SIGXCPU (and dies of it)
    and is killed only if it ignores that.
    """
    mb = 1024 * 1024
    pairs = {
        resource.RLIMIT_AS: (limits.get("memory_mb"), mb),
        resource.RLIMIT_FSIZE: (limits.get("file_size_mb"), mb),
        resource.RLIMIT_NOFILE: (limits.get("open_files"), 1),
        resource.RLIMIT_NPROC: (limits.get("processes"), 1),
    }
    for kind, (value, unit) in pairs.items():
        if value:
            resource.setrlimit(kind, (int(value) * unit, int(value) * unit))
    if limits.get("cpu_seconds"):
        cpu = int(limits["cpu_seconds"])
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


_NO_MODULE = re.compile(r"No module named '([^']+)'")
_NO_NAME = re.compile(r"cannot import name '([^']+)' from '([^']+)'")
_NO_FILE = re.compile(r"No such file or directory: '([^']+)'")


def _confirm(evalue: str, workdir: str, network_failures: int) -> dict[str, bool]:
    """What this sandbox can confirm of an error that blames the environment: the module
    really is not importable here, the name really is not in the installed module, the
    file really is absent, a network attempt really failed since the first cell
    (``network_failures``, the kernel's count); a notebook that raises such an error
    itself, or prints one, is not believed."""
    facts: dict[str, bool] = {"network_failed": network_failures > 0}
    if match := _NO_MODULE.search(evalue):
        try:
            facts["module_missing"] = importlib.util.find_spec(match.group(1)) is None
        except (ImportError, ValueError):   # its parent package is missing
            facts["module_missing"] = True
    elif match := _NO_NAME.search(evalue):
        try:
            module = importlib.import_module(match.group(2))
            facts["module_missing"] = not hasattr(module, match.group(1))
        except Exception:   # the installed module cannot even be imported: not the code's
            facts["module_missing"] = True
    if match := _NO_FILE.search(evalue):
        facts["file_absent"] = not os.path.lexists(os.path.join(workdir, match.group(1)))
    return facts


# The kernel's own counts of failed network attempts, per network namespace (so, in a
# sandbox, the notebook's alone): no route off the machine (IPv4, IPv6), a datagram to a
# closed port (a DNS query to the resolver the sandbox lacks). Not refused TCP connections:
# the kernel's client makes some of its own on loopback (ZeroMQ retrying while the kernel
# starts), so a refused connection cannot be told from them.
_NETWORK_FAILURES = {"/proc/net/snmp": (("Ip:", "OutNoRoutes"), ("Udp:", "NoPorts")),
                     "/proc/net/snmp6": (("", "Ip6OutNoRoutes"), ("", "Udp6NoPorts"))}


def _network_failures() -> int:
    """How many network attempts have failed in this network namespace (see above)."""
    total = 0
    for path, wanted in _NETWORK_FAILURES.items():
        try:
            with open(path, encoding="ascii") as handle:
                lines = [line.split() for line in handle]
        except OSError:
            continue
        values: dict[tuple[str, str], int] = {}
        if path.endswith("6"):   # "Name value" lines
            values = {("", line[0]): int(line[1]) for line in lines if len(line) == 2}
        else:                    # a header line, then a line of values, per protocol
            for names, numbers in zip(lines[::2], lines[1::2], strict=False):
                values.update({(names[0], name): int(number)
                               for name, number in zip(names[1:], numbers[1:], strict=False)})
        total += sum(values.get(key, 0) for key in wanted)
    return total


def _summary(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}".strip()


def run(request: dict[str, Any]) -> dict[str, Any]:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    started = time.monotonic()
    deadline = started + float(request["wall_seconds"])
    workdir = request["workdir"]
    os.makedirs(workdir, exist_ok=True)
    os.makedirs(os.environ["HOME"], exist_ok=True)
    if request.get("data"):
        shutil.copytree(request["data"], workdir, dirs_exist_ok=True)
    _set_limits(request.get("limits") or {})

    notebook = nbformat.from_dict(request["notebook"])
    cell_timeout = int(request["timeout"])
    state: dict[str, Any] = {"cell": None, "wall_bound": False, "kernel": None,
                             "output_bytes": 0, "cell_bytes": {}, "cut_cells": set(),
                             "output_cut": None, "network_before": None}
    output_mb = (request.get("limits") or {}).get("output_mb")

    class BoundedClient(NotebookClient):
        """Keeps at most ``output_mb`` of outputs (as JSON) for the whole notebook: past it a
        message is dropped before it is stored, and the cell gets one marker saying so."""

        def process_message(self, msg: dict[str, Any], cell: Any, cell_index: int) -> Any:
            kind = msg.get("msg_type")
            if output_mb and kind in _OUTPUT_MESSAGES:
                size = len(json.dumps(msg.get("content")))
                if state["output_bytes"] + size > output_mb * _MB:
                    if state["output_cut"] is None:
                        state["output_cut"] = cell_index
                    if cell_index not in state["cut_cells"]:
                        state["cut_cells"].add(cell_index)
                        cell.outputs.append(nbformat.v4.new_output(
                            "stream", name="stderr",
                            text=f"[nbjudge: outputs past execute.limits.output_mb = "
                                 f"{output_mb} were cut here]\n"))
                    return None
                state["output_bytes"] += size
                state["cell_bytes"][cell_index] = state["cell_bytes"].get(cell_index, 0) + size
            elif kind == "clear_output":
                # The cell's outputs are going (now, or at its next output): so is their size.
                state["output_bytes"] -= state["cell_bytes"].pop(cell_index, 0)
                state["cut_cells"].discard(cell_index)
            return super().process_message(msg, cell, cell_index)

    def timeout_func(cell: object) -> int:
        remaining = deadline - time.monotonic()
        state["wall_bound"] = remaining < cell_timeout
        return max(1, int(min(cell_timeout, remaining) + 0.999))

    def on_cell_start(cell: object, cell_index: int) -> None:
        state["cell"] = cell_index
        if state["network_before"] is None:   # the kernel is up: its client's own connections
            state["network_before"] = _network_failures()   # are made, none fails later
        if state["kernel"] is None and client.km is not None:
            state["kernel"] = getattr(client.km.provisioner, "process", None)

    client = BoundedClient(
        notebook,
        timeout_func=timeout_func,
        startup_timeout=max(1, min(120, int(deadline - time.monotonic()))),
        kernel_name=request.get("kernel_name") or "python3",
        allow_errors=False,
        record_timing=False,
        # The notebook is done (or stopped): kill the kernel at once, its folder goes anyway.
        shutdown_kernel="immediate",
        # The kernel's start-up warnings (TCP transport on loopback) are noise here.
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
        resources={"metadata": {"path": workdir}},
        on_cell_start=on_cell_start,
    )
    outcome: dict[str, Any] = {"status": "ok", "error": None}
    try:
        client.execute(cwd=workdir, env=dict(os.environ),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except CellTimeoutError as exc:
        if state["wall_bound"]:
            outcome = {"status": "wall_time", "error": _summary(exc)}
        else:
            outcome = {"status": "timeout", "error": _summary(exc)}
    except CellExecutionError as exc:
        outcome = {"status": "error", "error": f"{exc.ename}: {exc.evalue}".strip(),
                   "ename": exc.ename, "evalue": exc.evalue,
                   "confirmed": _confirm(exc.evalue or "", workdir, _network_failures()
                                         - (state["network_before"] or 0))}
    except DeadKernelError as exc:
        outcome = {"status": "dead_kernel", "error": _summary(exc)}
    except Exception as exc:  # the kernel did not start, or nbclient failed
        outcome = {"status": "error", "error": _summary(exc)}
    kernel = state["kernel"]
    if kernel is not None:
        code = kernel.poll()
        if code is not None and code < 0:
            outcome["kernel_signal"] = _signal_name(-code)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    outcome["children_cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 3)
    outcome["cell"] = state["cell"] if outcome["status"] != "ok" else None
    outcome["output_cut"] = state["output_cut"]
    outcome["seconds"] = round(time.monotonic() - started, 3)
    return {"outcome": outcome, "notebook": notebook}


def _end_the_sandbox_but_this() -> None:
    """Kill every process of the sandbox's PID namespace but this one (and its init, which
    the kernel spares): no daemon of the notebook outlives the run or sees the result."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(-1, signal.SIGKILL)


def main() -> int:
    out = _private_stdout()
    _not_dumpable()
    request = json.load(sys.stdin)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)   # the host's pipe: nothing left to read
    secret = request.pop("secret")
    lock = threading.Lock()

    def say(line: str) -> None:
        with lock:
            out.write(line + "\n")
            out.flush()

    say(STARTED)
    # The host's watchdog: a runner the notebook stopped (SIGSTOP) or froze says nothing,
    # and the host ends the sandbox, so the per-cell timeout holds.
    done = threading.Event()

    def beat() -> None:
        while not done.wait(float(request["heartbeat_seconds"])):
            say(f"{secret} alive")

    threading.Thread(target=beat, daemon=True).start()
    result = run(request)
    done.set()
    if request.get("sandboxed"):   # own PID namespace: -1 is the sandbox, never the host
        _end_the_sandbox_but_this()
    say(f"{secret} {json.dumps(result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
