"""A real HTTP server on loopback that speaks OpenAI's chat-completions API.

For tests and benchmarks: the backend under test talks HTTP to it exactly as it would
to api.openai.com, vLLM or Ollama, and the server can be told how to misbehave.

    with FakeOpenAI(api_key="sk-test") as server:
        server.enqueue("429", "429", "ok")  # the next three chat requests, in order
        backend = OpenAIBackend(server.base_url, "sk-test")
        ...
        assert len(server.requests) == 3
        assert server.arrivals[1] - server.arrivals[0] >= 0.9 * server.retry_after_s

`requests` holds the chat requests' bodies; `received` every HTTP request of any
kind, path or outcome (method, path, `Authorization` header), so a test can say that
a server was sent nothing at all, or which key it was shown.

Behaviours (queued ones first, then `default`):

- "ok": a caption echoing the request's text, usage numbers, finish_reason "stop"
- "no_usage": as "ok" without the `usage` object (some local servers)
- "429": rate limited, with `Retry-After: <retry_after_s>`; "429_quota": the 429 of
  an account without quota (`insufficient_quota`, no Retry-After)
- "500", "503": server errors; "400", "401", "403", "404" (model not found): client
  errors with OpenAI's JSON error body
- "slow": answers only after `slow_s` (past any client timeout)
- "drop": closes the connection without answering
- "malformed": a truncated JSON body; "no_choices": valid JSON without `choices`
- "empty": whitespace content; "length": a cut-off text with finish_reason "length"
- "refusal": `message.refusal` set; "content_filter": finish_reason "content_filter"

Every answer waits `latency_s` first (the server answers many requests at once).
A wrong `Authorization` header gets OpenAI's 401 whatever the behaviour; with
`api_key=None` the server checks none, like Ollama.
"""

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

BEHAVIOURS = (
    "ok",
    "no_usage",
    "429",
    "429_quota",
    "500",
    "503",
    "400",
    "401",
    "403",
    "404",
    "slow",
    "drop",
    "malformed",
    "no_choices",
    "empty",
    "length",
    "refusal",
    "content_filter",
)

_ERRORS: dict[str, tuple[int, str, str | None, str]] = {
    # behaviour: (status, error type, error code, message)
    "400": (400, "invalid_request_error", None, "Invalid value for 'max_tokens'."),
    "401": (
        401,
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided.",
    ),
    "403": (
        403,
        "invalid_request_error",
        None,
        "You are not allowed to sample from this model.",
    ),
    "404": (
        404,
        "invalid_request_error",
        "model_not_found",
        "The model does not exist or you do not have access to it.",
    ),
    "429": (429, "requests", "rate_limit_exceeded", "Rate limit reached."),
    "429_quota": (
        429,
        "insufficient_quota",
        "insufficient_quota",
        "You exceeded your current quota.",
    ),
    "500": (500, "server_error", None, "The server had an error."),
    "503": (503, "server_error", None, "The engine is currently overloaded."),
}


class Received(NamedTuple):
    """An HTTP request as it reached the server, before any check."""

    method: str
    path: str
    authorization: str | None


def max_in_any_window(times: Iterable[float], window_s: float) -> int:
    """The most events that fall in any half-open span [t, t + window_s)."""
    ordered = sorted(times)
    most, first = 0, 0
    for last, time_s in enumerate(ordered):
        while ordered[first] <= time_s - window_s:
            first += 1
        most = max(most, last - first + 1)
    return most


class FakeOpenAI:
    def __init__(
        self,
        *,
        api_key: str | None = "sk-fake",
        default: str = "ok",
        latency_s: float = 0.0,
        retry_after_s: float = 1.0,
        slow_s: float = 30.0,
        models: tuple[str, ...] = ("fake-model",),
        serve_models: bool = True,
    ) -> None:
        _check_behaviour(default)
        self.api_key = api_key
        self.default = default
        self.latency_s = latency_s
        self.retry_after_s = retry_after_s
        self.slow_s = slow_s
        self.models = models
        self.serve_models = serve_models
        self.requests: list[dict[str, Any]] = []  # chat request bodies, in order
        self.arrivals: list[float] = []  # time.monotonic() of each chat request
        self.model_list_requests = 0
        self.received: list[Received] = []  # every HTTP request, in order
        self.in_flight = 0
        self.max_in_flight = 0
        self._queue: deque[str] = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-openai",
            daemon=True,
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> "FakeOpenAI":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._closing.set()  # wakes "slow" and latency waits
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def enqueue(self, *behaviours: str) -> None:
        """Answer the next chat requests with these behaviours, in order."""
        for behaviour in behaviours:
            _check_behaviour(behaviour)
        with self._lock:
            self._queue.extend(behaviours)

    def max_requests_per_window(self, window_s: float = 60.0) -> int:
        """The most chat requests that arrived in any `window_s`-long span."""
        with self._lock:
            return max_in_any_window(self.arrivals, window_s)

    def _receive(self, method: str, path: str, authorization: str | None) -> None:
        with self._lock:
            self.received.append(Received(method, path, authorization))

    def _arrive(self, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(body)
            self.arrivals.append(time.monotonic())
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _next_behaviour(self) -> str:
        with self._lock:
            return self._queue.popleft() if self._queue else self.default


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a "slow" answer must not hold up close()
    request_queue_size = 512  # the listen backlog: bursts of 64+ connections at once
    fake: FakeOpenAI

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that give up (timeouts, "slow") are expected here


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
    # Headers and body go out in two writes: with Nagle's algorithm the body waits
    # for the client's delayed ACK, 40 ms per answer.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def parse_request(self) -> bool:
        # Every request is recorded as soon as its line and headers are read,
        # whatever its method or path, before any check.
        parsed = super().parse_request()
        if parsed:
            self.server.fake._receive(
                self.command, self.path, self.headers.get("Authorization")
            )
        return parsed

    def do_GET(self) -> None:
        fake = self.server.fake
        if self.path.rstrip("/") != "/v1/models" or not fake.serve_models:
            self._send_error(404, "invalid_request_error", None, "Not found.")
            return
        with fake._lock:
            fake.model_list_requests += 1
        if not self._authorized():
            return
        models = [
            {"id": name, "object": "model", "created": 0, "owned_by": "fake"}
            for name in fake.models
        ]
        self._send_json(200, {"object": "list", "data": models})

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send_error(404, "invalid_request_error", None, "Not found.")
            return
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"unparsable": raw.decode("utf-8", "replace")}
        fake._arrive(body)
        try:
            self._answer_chat(fake, body)
        finally:
            fake._leave()

    def _answer_chat(self, fake: FakeOpenAI, body: dict[str, Any]) -> None:
        if not self._authorized():
            return
        behaviour = fake._next_behaviour()
        if fake._closing.wait(fake.latency_s):
            return
        if behaviour == "slow" and fake._closing.wait(fake.slow_s):
            return
        if behaviour == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if behaviour in _ERRORS:
            headers = {}
            if behaviour == "429":
                headers["Retry-After"] = f"{fake.retry_after_s:g}"
            self._send_error(*_ERRORS[behaviour], headers=headers)
            return
        if behaviour == "malformed":
            self._send_raw(200, b'{"id": "chatcmpl-fake", "choices": [{"mess')
            return
        self._send_json(200, _completion(behaviour, body))

    def _authorized(self) -> bool:
        expected = self.server.fake.api_key
        if (
            expected is None
            or self.headers.get("Authorization") == f"Bearer {expected}"
        ):
            return True
        self._send_error(*_ERRORS["401"])
        return False

    def _send_error(
        self,
        status: int,
        kind: str,
        code: str | None,
        message: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        error = {"message": message, "type": kind, "param": None, "code": code}
        self._send_json(status, {"error": error}, headers=headers)

    def _send_json(
        self, status: int, payload: dict, *, headers: dict[str, str] | None = None
    ) -> None:
        self._send_raw(status, json.dumps(payload).encode(), headers=headers)

    def _send_raw(
        self, status: int, content: bytes, *, headers: dict[str, str] | None = None
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(content)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(content)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up first


def _completion(behaviour: str, body: dict[str, Any]) -> dict[str, Any]:
    caption = f"A patch seen by {body.get('model')}: {_request_text(body)}"
    message: dict[str, Any] = {"role": "assistant", "content": caption, "refusal": None}
    finish_reason = "stop"
    if behaviour == "empty":
        message["content"] = "  \n"
    elif behaviour == "length":
        message["content"] = caption[: len(caption) // 2]
        finish_reason = "length"
    elif behaviour == "refusal":
        message["content"] = None
        message["refusal"] = "I can't help with that request."
    elif behaviour == "content_filter":
        message["content"] = None
        finish_reason = "content_filter"
    reply: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": f"{body.get('model')}-2025-01-01",
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
    }
    if behaviour == "no_choices":
        del reply["choices"]
    if behaviour != "no_usage":
        prompt_tokens = len(json.dumps(body.get("messages"))) // 4
        completion_tokens = len(caption.split())
        reply["usage"] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
    return reply


def _request_text(body: dict[str, Any]) -> str:
    """The text of the last user message (its text parts, in vision mode)."""
    users = [m for m in body.get("messages") or [] if m.get("role") == "user"]
    if not users:
        return ""
    content = users[-1].get("content")
    if isinstance(content, list):
        return " ".join(
            part.get("text", "") for part in content if part.get("type") == "text"
        )
    return str(content)


def _check_behaviour(behaviour: str) -> None:
    if behaviour not in BEHAVIOURS:
        raise ValueError(
            f"unknown behaviour {behaviour!r}; choose from {', '.join(BEHAVIOURS)}"
        )
