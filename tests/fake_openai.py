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

Files and batches (OpenAI's Batch API): `POST /v1/files` (multipart upload),
`GET /v1/files/{id}` and `/content`; `POST /v1/batches`, `GET /v1/batches/{id}`,
`POST /v1/batches/{id}/cancel`, `GET /v1/batches`. A batch runs its requests with the
chat behaviours above when it ends, which a `BatchScript` decides (queued with
`script_batches`, else `batch_default`): after how many polls, completed, expired or
failed, and which result lines are in the error file, garbled, missing, doubled or
about requests that do not exist:

    server.script_batches(BatchScript(polls=2, errors={3}, missing={5}))
"""

import itertools
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class BatchScript:
    """How one batch behaves. Indexes are of its requests, in the input file's order.

    - `polls`: retrieves that find it in progress; the next one finds it ended.
    - `end`: "completed", "expired" (the 24 h window ran out after `ran` requests),
      or "failed" (the input refused at validation, nothing run).
    - `ran`: requests run before it expired or was cancelled (None: all).
    - `errors`: requests answered in the error file, with a 500.
    - `behaviours`: a chat behaviour per request ("refusal", "length", "400", ...).
    - `malformed`: output lines cut off mid-JSON; `missing`: no line at all;
      `duplicated`: the line written twice; `unknown`: that many extra lines with
      custom ids of no request.
    """

    polls: int = 1
    end: str = "completed"
    ran: int | None = None
    errors: frozenset[int] | set[int] = frozenset()
    behaviours: dict[int, str] = field(default_factory=dict)
    malformed: frozenset[int] | set[int] = frozenset()
    missing: frozenset[int] | set[int] = frozenset()
    duplicated: frozenset[int] | set[int] = frozenset()
    unknown: int = 0


@dataclass
class _Batch:
    id: str
    input_file_id: str
    requests: list[dict[str, Any]]
    script: BatchScript
    metadata: dict[str, Any]
    created_at: int
    status: str = "validating"
    polls: int = 0
    output_file_id: str | None = None
    error_file_id: str | None = None
    completed: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "errors": {"object": "list", "data": self.errors} if self.errors else None,
            "input_file_id": self.input_file_id,
            "completion_window": "24h",
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "request_counts": {
                "total": len(self.requests),
                "completed": self.completed,
                "failed": self.failed,
            },
            "metadata": self.metadata,
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
        # Files and batches (the Batch API).
        self.files: dict[str, tuple[str, str, bytes]] = {}  # id: purpose, name, data
        self.batches: dict[str, _Batch] = {}
        self.batch_default = BatchScript()
        self._batch_scripts: deque[BatchScript] = deque()
        # Seconds this server spent answering file and batch requests (parsing an
        # upload, running a batch's requests): what a benchmark takes off its own.
        self.batch_api_s = 0.0
        self._ids = itertools.count(1)
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

    def script_batches(self, *scripts: BatchScript) -> None:
        """The next batches created behave as these, in order."""
        with self._lock:
            self._batch_scripts.extend(scripts)

    def file_lines(self, file_id: str) -> list[dict[str, Any]]:
        """The JSON lines of a stored file (a batch's input, say)."""
        return [json.loads(line) for line in self.files[file_id][2].splitlines()]

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

    def _spent(self, seconds: float) -> None:
        with self._lock:
            self.batch_api_s += seconds

    def _next_behaviour(self) -> str:
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    # --- the Batch API: every method holds the lock ---------------------------------

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}-fake{next(self._ids)}"

    def _store_file(self, purpose: str, name: str, data: bytes) -> dict[str, Any]:
        with self._lock:
            file_id = self._new_id("file")
            self.files[file_id] = (purpose, name, data)
        return _file_json(file_id, purpose, name, data)

    def _create_batch(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            stored = self.files.get(str(body.get("input_file_id")))
            if stored is None or stored[0] != "batch":
                return 400, _error_json("invalid_request_error", "No such input file.")
            if body.get("endpoint") != "/v1/chat/completions":
                return 400, _error_json("invalid_request_error", "Unknown endpoint.")
            requests = [json.loads(line) for line in stored[2].splitlines() if line]
            script = (
                self._batch_scripts.popleft()
                if self._batch_scripts
                else self.batch_default
            )
            batch = _Batch(
                id=self._new_id("batch"),
                input_file_id=str(body["input_file_id"]),
                requests=requests,
                script=script,
                metadata=body.get("metadata") or {},
                created_at=int(time.time()),
            )
            self.batches[batch.id] = batch
            return 200, batch.as_json()

    def _retrieve_batch(self, batch_id: str) -> dict[str, Any] | None:
        with self._lock:
            batch = self.batches.get(batch_id)
            if batch is None:
                return None
            if batch.status in ("validating", "in_progress", "cancelling"):
                batch.polls += 1
                if batch.status == "cancelling":
                    self._end_batch(batch, "cancelled")
                elif batch.polls > batch.script.polls:
                    self._end_batch(batch, batch.script.end)
                else:
                    batch.status = "in_progress"
            return batch.as_json()

    def _cancel_batch(self, batch_id: str) -> dict[str, Any] | None:
        with self._lock:
            batch = self.batches.get(batch_id)
            if batch is None:
                return None
            if batch.status in ("validating", "in_progress", "finalizing"):
                batch.status = "cancelling"
            return batch.as_json()

    def _end_batch(self, batch: _Batch, end: str) -> None:
        script = batch.script
        if end == "failed":
            batch.status = "failed"
            batch.errors = [
                {"code": "invalid_request", "message": "The model does not exist.",
                 "param": "body.model", "line": 1}
            ]  # fmt: skip
            return
        ran = len(batch.requests)
        if end in ("expired", "cancelled") and script.ran is not None:
            ran = min(script.ran, ran)
        elif end == "cancelled":
            ran = 0
        output: list[bytes] = []
        errors: list[bytes] = []
        for index, request in enumerate(batch.requests):
            custom_id = request.get("custom_id")
            if index >= ran:
                ended = "batch_expired" if end == "expired" else "batch_cancelled"
                why = f"This request could not be executed before the {end}."
                errors.append(_result_line(custom_id, None, error=(ended, why)))
                batch.failed += 1
                continue
            if index in script.missing:
                continue
            behaviour = script.behaviours.get(index, "ok")
            if index in script.errors:
                behaviour = "500"
            if behaviour in _ERRORS:
                status, kind, code, message = _ERRORS[behaviour]
                body = _error_json(kind, message, code)
                line = _result_line(custom_id, (status, body))
                errors.append(line)
                batch.failed += 1
            else:
                completion = _completion(behaviour, request.get("body") or {})
                line = _result_line(custom_id, (200, completion))
                if index in script.malformed:
                    line = line[: len(line) // 2] + b"\n"
                output.append(line)
                batch.completed += 1
            if index in script.duplicated:
                (errors if behaviour in _ERRORS else output).append(line)
        for number in range(script.unknown):
            completion = _completion("ok", {"model": "fake-model", "messages": []})
            output.append(
                _result_line(f"job-0-batch-0-patch-{number}", (200, completion))
            )
        batch.status = end
        if output:
            batch.output_file_id = self._new_id("file")
            self.files[batch.output_file_id] = (
                "batch_output",
                f"{batch.id}_output.jsonl",
                b"".join(output),
            )
        if errors:
            batch.error_file_id = self._new_id("file")
            self.files[batch.error_file_id] = (
                "batch_output",
                f"{batch.id}_error.jsonl",
                b"".join(errors),
            )

    def _list_batches(self) -> dict[str, Any]:
        with self._lock:
            data = [batch.as_json() for batch in reversed(self.batches.values())]
        return {"object": "list", "data": data, "has_more": False}


def _file_json(file_id: str, purpose: str, name: str, data: bytes) -> dict[str, Any]:
    return {
        "id": file_id, "object": "file", "bytes": len(data), "created_at": 0,
        "filename": name, "purpose": purpose, "status": "processed",
    }  # fmt: skip


def _error_json(kind: str, message: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _result_line(
    custom_id: Any,
    response: tuple[int, dict[str, Any]] | None,
    *,
    error: tuple[str, str] | None = None,
) -> bytes:
    line = {
        "id": f"batch_req_{custom_id}",
        "custom_id": custom_id,
        "response": (
            {"status_code": response[0], "request_id": "req-fake", "body": response[1]}
            if response
            else None
        ),
        "error": {"code": error[0], "message": error[1]} if error else None,
    }
    return json.dumps(line).encode() + b"\n"


_FILE_PATH = re.compile(r"/v1/files/([\w-]+)(/content)?")
_BATCH_PATH = re.compile(r"/v1/batches/([\w-]+)(/cancel)?")


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
        path = self.path.split("?")[0].rstrip("/")
        if path.startswith(("/v1/files", "/v1/batches")):
            started = time.perf_counter()
            if self._authorized():
                self._batch_api_get(path)
            if not path.endswith("/content"):  # a download is the reader's time too
                fake._spent(time.perf_counter() - started)
            return
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
        started = time.perf_counter()
        raw = self._read_body()
        path = self.path.split("?")[0].rstrip("/")
        if path.startswith(("/v1/files", "/v1/batches")):
            if self._authorized():
                self._batch_api_post(path, raw)
            fake._spent(time.perf_counter() - started)
            return
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

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _batch_api_get(self, path: str) -> None:
        fake = self.server.fake
        if path == "/v1/batches":
            self._send_json(200, fake._list_batches())
            return
        found = _FILE_PATH.fullmatch(path)
        if found:
            with fake._lock:
                stored = fake.files.get(found.group(1))
            if stored is None:
                self._send_error(404, "invalid_request_error", None, "No such file.")
            elif found.group(2):
                self._send_raw(200, stored[2], content_type="application/octet-stream")
            else:
                self._send_json(200, _file_json(found.group(1), *stored))
            return
        found = _BATCH_PATH.fullmatch(path)
        batch = (
            fake._retrieve_batch(found.group(1))
            if found and not found.group(2)
            else None
        )
        if batch is None:
            self._send_error(404, "invalid_request_error", None, "No such batch.")
            return
        self._send_json(200, batch)

    def _batch_api_post(self, path: str, raw: bytes) -> None:
        fake = self.server.fake
        if path == "/v1/files":
            fields = _multipart(self.headers.get("Content-Type", ""), raw)
            if (
                "file" not in fields
                or fields.get("purpose", (None, b""))[1] != b"batch"
            ):
                self._send_error(400, "invalid_request_error", None, "Bad upload.")
                return
            name, data = fields["file"]
            self._send_json(200, fake._store_file("batch", name or "upload", data))
            return
        if path == "/v1/batches":
            try:
                body = json.loads(raw)
            except ValueError:
                body = {}
            self._send_json(*fake._create_batch(body if isinstance(body, dict) else {}))
            return
        found = _BATCH_PATH.fullmatch(path)
        batch = fake._cancel_batch(found.group(1)) if found and found.group(2) else None
        if batch is None:
            self._send_error(404, "invalid_request_error", None, "No such batch.")
            return
        self._send_json(200, batch)

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
        self, status: int, content: bytes, *, headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:  # fmt: skip
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(content)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(content)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up first


def _multipart(content_type: str, raw: bytes) -> dict[str, tuple[str, bytes]]:
    """The fields of a multipart/form-data body: name -> (file name, data)."""
    boundary = re.search(r'boundary="?([^";]+)"?', content_type)
    if boundary is None:
        return {}
    fields = {}
    for part in raw.split(b"--" + boundary.group(1).encode())[1:-1]:
        part = part.removeprefix(b"\r\n").removesuffix(b"\r\n")
        head, _, data = part.partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]*)"', head)
        filename = re.search(rb'filename="([^"]*)"', head)
        if name:
            fields[name.group(1).decode()] = (
                filename.group(1).decode() if filename else "",
                data,
            )
    return fields


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
