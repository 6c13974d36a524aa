"""Run notebooks in a sandboxed kernel so judges see real outputs.

Each notebook runs in its own temporary working folder that holds only the
case's tables, with a per-cell timeout, MLflow pointed at a throwaway sqlite
store inside that folder, pip unable to reach an index, and outbound network
connections refused (a ``sitecustomize`` module loaded by the kernel allows
loopback only, which the kernel's own channels use).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

__all__ = ["ExecutionResult", "execute_notebook", "sandbox_env"]

_SANDBOX_SITE = Path(__file__).with_name("sandbox_site")


@dataclass(frozen=True)
class ExecutionResult:
    """The executed notebook and how the run went."""

    notebook: nbformat.NotebookNode
    status: str  # ok | error | timeout
    seconds: float
    error: str | None


def sandbox_env(workdir: Path) -> dict[str, str]:
    """Environment of the kernel: no network, MLflow inside ``workdir``."""
    # Secrets stay out, and so does every MLflow setting of the caller (an experiment
    # id or run id from the parent would point into a store the kernel never sees).
    env = {k: v for k, v in os.environ.items()
           if not _is_secret(k) and not k.startswith("MLFLOW_")}
    env.update(
        {
            "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
            "MLFLOW_REGISTRY_URI": f"sqlite:///{workdir / 'mlflow.db'}",
            "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
            "MLFLOW_MODEL_CATALOG_URI": "",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
            "PIP_NO_INDEX": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "NBJUDGE_SANDBOX": "1",
            "PYTHONPATH": os.pathsep.join(
                [str(_SANDBOX_SITE), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            "PYTHONHASHSEED": "0",
            "OMP_NUM_THREADS": "1",
            "GIT_PYTHON_REFRESH": "quiet",
        }
    )
    return env


def _is_secret(name: str) -> bool:
    upper = name.upper()
    return any(part in upper for part in ("KEY", "TOKEN", "SECRET", "PASSWORD"))


def _error_summary(exc: BaseException) -> str:
    if isinstance(exc, CellExecutionError):
        return f"{exc.ename}: {exc.evalue}".strip()
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"


def execute_notebook(
    notebook: nbformat.NotebookNode,
    data_dir: Path | None,
    timeout: int = 300,
    kernel_name: str = "python3",
) -> ExecutionResult:
    """Execute ``notebook`` in a fresh folder holding a copy of ``data_dir``."""
    notebook = nbformat.from_dict(notebook)  # never mutate the caller's notebook
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nbjudge-run-") as tmp:
        workdir = Path(tmp)
        if data_dir is not None:
            shutil.copytree(data_dir, workdir, dirs_exist_ok=True)
        client = NotebookClient(
            notebook,
            timeout=timeout,
            kernel_name=kernel_name,
            allow_errors=False,
            record_timing=False,
            # The kernel's start-up warnings (TCP transport on loopback) are noise here.
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
            resources={"metadata": {"path": str(workdir)}},
        )
        status, error = "ok", None
        try:
            client.execute(env=sandbox_env(workdir), cwd=str(workdir))
        except CellTimeoutError as exc:
            status, error = "timeout", f"a cell ran longer than {timeout} s: {_error_summary(exc)}"
        except CellExecutionError as exc:
            status, error = "error", _error_summary(exc)
        except DeadKernelError as exc:
            status, error = "error", f"the kernel died: {_error_summary(exc)}"
    _strip_volatile(notebook)
    return ExecutionResult(notebook, status, round(time.perf_counter() - started, 3), error)


def _strip_volatile(notebook: nbformat.NotebookNode) -> None:
    """Replace machine-specific paths in outputs so judges see the same text anywhere."""
    for cell in notebook.cells:
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


_MACHINE_PATHS = [
    (re.compile(re.escape(tempfile.gettempdir()) + r"/nbjudge-run-[^/\s'\"]+"), "<workdir>"),
    (re.compile(re.escape(sys.prefix)), "<python-env>"),
    (re.compile(re.escape(sys.base_prefix)), "<python>"),
]


def _scrub(text: str) -> str:
    for pattern, replacement in _MACHINE_PATHS:
        text = pattern.sub(replacement, text)
    return text
