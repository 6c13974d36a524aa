"""A scripted stand-in for an OpenAI-compatible chat server, for tests and benchmarks.

:class:`FaultServer` listens on a free 127.0.0.1 port and answers
``POST /v1/chat/completions`` (and Anthropic's ``POST /v1/messages``) with
the next behaviour of its script: a reply, an HTTP error, a hang. It counts
requests and keeps every request body, so a test can assert how many requests
a run sent and what they carried::

    with FaultServer([rate_limited(), reply('{"result": 2, "rationale": "x"}')]) as server:
        ...  # point a judge at server.chat_url
        assert server.count == 2

The script is a list (consumed one behaviour per request; ``default`` once it
runs out) or a function ``(index, body) -> Behaviour`` of the request's
0-based index and its parsed JSON body.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "CONTEXT_ERROR",
    "Behaviour",
    "FakeClock",
    "FaultServer",
    "context_error",
    "hang",
    "not_json",
    "rate_limited",
    "reply",
    "score",
    "server_error",
    "status",
]

# What llama-server answers when a prompt does not fit a slot.
CONTEXT_ERROR = {"error": {
    "code": 400,
    "message": "the request exceeds the available context size, try increasing it",
    "type": "exceed_context_size_error",
}}


@dataclass(frozen=True)
class Behaviour:
    """How to answer one request."""

    status: int = 200
    content: str | None = None       # the assistant message's content (status 200)
    body: Any = None                 # the JSON error body (other statuses)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0               # seconds before answering
    hang: bool = False               # never answer (until the server closes)


def reply(content: str, *, delay: float = 0.0) -> Behaviour:
    """HTTP 200 with ``content`` as the model's message."""
    return Behaviour(content=content, delay=delay)


def score(value: Any, rationale: str = "scripted", *, delay: float = 0.0) -> Behaviour:
    """HTTP 200 with the JSON judgment ``{"result": value, "rationale": rationale}``."""
    return reply(json.dumps({"result": value, "rationale": rationale}), delay=delay)


def not_json(text: str = "not json") -> Behaviour:
    """HTTP 200 whose content is not the JSON a judge must answer with."""
    return reply(text)


def status(code: int, body: Any = None, *, headers: dict[str, str] | None = None,
           delay: float = 0.0) -> Behaviour:
    """HTTP ``code`` with an OpenAI-style error body."""
    if body is None:
        body = {"error": {"code": code, "message": f"scripted HTTP {code}", "type": "scripted"}}
    return Behaviour(status=code, body=body, headers=dict(headers or {}), delay=delay)


def rate_limited(retry_after: float | None = None) -> Behaviour:
    """HTTP 429, with a ``Retry-After`` header when given."""
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
    return status(429, {"error": {"code": 429, "message": "rate limit reached",
                                  "type": "rate_limit_error"}}, headers=headers)


def server_error() -> Behaviour:
    """HTTP 500."""
    return status(500, {"error": {"code": 500, "message": "internal error",
                                  "type": "server_error"}})


def context_error() -> Behaviour:
    """llama-server's HTTP 400 for a prompt longer than its context."""
    return status(400, CONTEXT_ERROR)


def hang() -> Behaviour:
    """Accept the request and never answer (the client's timeout must end it)."""
    return Behaviour(hang=True)


Script = Sequence[Behaviour] | Callable[[int, dict[str, Any]], Behaviour]


class FakeClock:
    """A clock whose ``sleep`` returns at once and moves time on (an
    :class:`nbjudge.llm.limits.Clock`): waits are timed, not slept.

    A sleep counts from the time its thread last read (``monotonic``), so sleeps
    that overlap in several threads end where the latest ends, as they would in
    real time. ``sleeps`` lists every wait asked for, in order.
    """

    def __init__(self, wall: float = 1_800_000_000.0) -> None:
        self.now = 0.0
        self.wall = wall            # ``time()`` at ``now == 0``; a whole second
        self.sleeps: list[float] = []
        self._seen: dict[int, float] = {}
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            self._seen[threading.get_ident()] = self.now
            return self.now

    def time(self) -> float:
        with self._lock:
            return self.wall + self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            since = self._seen.pop(threading.get_ident(), self.now)
            self.now = max(self.now, since + max(0.0, seconds))


def _estimate_tokens(body: dict[str, Any]) -> int:
    text = "".join(str(m.get("content", "")) for m in body.get("messages", []))
    return max(1, len(text) // 4)


class FaultServer:
    """A threaded HTTP server on 127.0.0.1 that follows a script; use as a context manager."""

    def __init__(self, script: Script = (), *,
                 default: Behaviour | None = None, model: str = "fault-model") -> None:
        self.script = script
        self.default = default or score(2)
        self.model = model
        self.bodies: list[dict[str, Any]] = []
        self.answered = 0          # replies fully written (status 200 or an error status)
        self.in_flight = 0         # requests received and not yet answered
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- what tests read ---------------------------------------------------------
    @property
    def count(self) -> int:
        """Requests received so far (hung ones included)."""
        with self._lock:
            return len(self.bodies)

    @property
    def port(self) -> int:
        assert self._httpd is not None, "the server is not started"
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, ending in ``/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def chat_url(self) -> str:
        """The full chat-completions URL (what ``make_judge(base_url=...)`` takes)."""
        return f"{self.base_url}/chat/completions"

    # -- lifecycle ----------------------------------------------------------------
    def start(self) -> FaultServer:
        handler = _handler(self)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="fault-server", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()   # releases hung handlers
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the script -----------------------------------------------------------------
    def _next(self, body: dict[str, Any]) -> Behaviour:
        with self._lock:
            index = len(self.bodies)
            self.bodies.append(body)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if callable(self.script):
            return self.script(index, body)
        return self.script[index] if index < len(self.script) else self.default

    def _answered(self) -> None:
        with self._lock:
            self.answered += 1

    def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` (forever if negative); False when the server is closing."""
        return not self._closing.wait(None if seconds < 0 else seconds)


def _handler(server: FaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _send(self, code: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

        def do_GET(self) -> None:
            if self.path.rstrip("/") in ("/health", "/v1/models"):
                self._send(200, {"status": "ok", "data": [{"id": server.model}]})
            else:
                self._send(404, {"error": {"code": 404, "message": "not found"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            route = self.path.rstrip("/")
            if not route.endswith(("/chat/completions", "/messages")):
                self._send(404, {"error": {"code": 404, "message": f"no route {self.path}"}})
                return
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                body = {"unparsable": raw.decode("utf-8", "replace")}
            behaviour = server._next(body)
            try:
                self._behave(behaviour, body, anthropic=route.endswith("/messages"))
            finally:
                with server._lock:
                    server.in_flight -= 1

        def _behave(self, behaviour: Behaviour, body: dict[str, Any], *,
                    anthropic: bool = False) -> None:
            try:
                if behaviour.hang:
                    server._wait(-1)
                    return
                if behaviour.delay and not server._wait(behaviour.delay):
                    return
                if behaviour.status != 200:
                    self._send(behaviour.status, behaviour.body, behaviour.headers)
                else:
                    answer = _message if anthropic else _completion
                    self._send(200, answer(body, behaviour.content or "", server.model))
                server._answered()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its timeout) before the answer

    return Handler


def _completion(body: dict[str, Any], content: str, model: str) -> dict[str, Any]:
    prompt_tokens = _estimate_tokens(body)
    completion_tokens = max(1, len(content) // 4)
    return {
        "id": f"chatcmpl-fault-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", model),
        "choices": [{
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": content},
        }],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def _message(body: dict[str, Any], content: str, model: str) -> dict[str, Any]:
    """The answer of Anthropic's Messages API (``POST /v1/messages``)."""
    return {
        "id": f"msg_fault_{time.monotonic_ns()}",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", model),
        "content": [{"type": "text", "text": content}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": _estimate_tokens(body),
                  "output_tokens": max(1, len(content) // 4)},
    }
