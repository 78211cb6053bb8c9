"""OpenAI's Batch API: upload a file of requests, create a batch, poll it, cancel it,
and read its results line by line.

Plain Python, no Django; with captions/llm/openai_backend.py the only modules that
import the `openai` SDK. A batch's requests are the chat requests an online job sends
(`request_line`), and a result line's answer is read by the same function as an online
answer (`result_from_completion`), so a caption passes the same checks either way.

What the provider sends back is hostile input: `parse_result_line` never raises, it
says what is wrong with a line instead.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

import openai

from captions.llm.base import BackendError
from captions.llm.openai_backend import _auth_error, _cause, _status_error

# OpenAI's limits per batch (https://platform.openai.com/docs/guides/batch): a larger
# job is split into several batches.
MAX_REQUESTS_PER_BATCH = 50_000
MAX_BYTES_PER_FILE = 200 * 1024 * 1024
CHAT_URL = "/v1/chat/completions"
COMPLETION_WINDOW = "24h"
# A result line longer than this is not a caption's answer: it is refused unread.
MAX_LINE_CHARS = 1_000_000
_DETAIL_CHARS = 300


@dataclass(frozen=True)
class BatchState:
    """A batch as the provider last described it."""

    batch_id: str
    status: str
    input_file_id: str
    output_file_id: str
    error_file_id: str
    total: int
    completed: int
    failed: int
    errors: str  # the provider's reasons for a failed batch, "" when none


@dataclass(frozen=True)
class ResultLine:
    """One line of a batch's output or error file.

    `custom_id` is None when the line says nothing usable about which request it
    answers; then `problem` says why. Otherwise exactly one of `completion` (the
    chat completion's JSON, to be read by `result_from_completion`) and `error`.
    """

    custom_id: str | None
    completion: dict[str, Any] | None = None
    error: BackendError | None = None
    problem: str = ""


def request_line(
    custom_id: str, model: str, messages: list[dict], parameters: dict
) -> bytes:
    """One line of a batch's input file: the body an online request sends (the
    template's parameters as given, as `OpenAIBackend.complete` sends them)."""
    body = {"model": model, "messages": messages, **parameters}
    line = {"custom_id": custom_id, "method": "POST", "url": CHAT_URL, "body": body}
    return json.dumps(line, separators=(",", ":")).encode() + b"\n"


def parse_result_line(raw: str) -> ResultLine:
    """Read one result line; never raises."""
    if len(raw) > MAX_LINE_CHARS:
        return ResultLine(None, problem=f"a line of {len(raw):,} characters")
    try:
        line = json.loads(raw)
    except ValueError:
        return ResultLine(None, problem=f"not JSON: {raw[:_DETAIL_CHARS]!r}")
    custom_id = line.get("custom_id") if isinstance(line, dict) else None
    if not isinstance(custom_id, str) or not custom_id:
        return ResultLine(None, problem=f"no custom_id: {raw[:_DETAIL_CHARS]!r}")
    error = line.get("error")
    if isinstance(error, dict) and error:
        return ResultLine(custom_id, error=_line_error(error))
    response = line.get("response")
    if not isinstance(response, dict):
        return ResultLine(custom_id, error=_malformed(f"no response: {raw!r:.300}"))
    status = response.get("status_code")
    body = response.get("body")
    if status != 200:
        return ResultLine(custom_id, error=_response_error(status, body))
    if not isinstance(body, dict):
        return ResultLine(custom_id, error=_malformed(f"no body: {raw!r:.300}"))
    return ResultLine(custom_id, completion=body)


def _line_error(error: dict) -> BackendError:
    code = str(error.get("code") or "")
    message = str(error.get("message") or "")[:_DETAIL_CHARS]
    if code == "batch_expired":
        return BackendError(
            "expired", f"the batch expired before this request ran: {message}"
        )
    if code == "batch_cancelled":
        return BackendError(
            "cancelled", f"the batch was cancelled before this request ran: {message}"
        )
    return BackendError("batch_error", f"{code or 'error'}: {message}")


def _response_error(status: object, body: object) -> BackendError:
    error = body.get("error") if isinstance(body, dict) else None
    message = ""
    if isinstance(error, dict):
        message = str(error.get("message") or "")[:_DETAIL_CHARS]
    if not isinstance(status, int):
        return _malformed(f"a response without a status code: {body!r:.300}")
    if status == 429:
        return BackendError("rate_limited", f"rate limited (429): {message}")
    if status in (401, 403):
        return BackendError("auth", f"refused ({status}): {message}")
    if status == 404:
        return BackendError("not_found", f"model or endpoint not found: {message}")
    if status >= 500:
        return BackendError("server_error", f"server error ({status}): {message}")
    return BackendError("bad_request", f"request refused ({status}): {message}")


def _malformed(message: str) -> BackendError:
    return BackendError("malformed", message)


class OpenAIBatches:
    """The Batch API of one endpoint. Every call raises `BackendError` on failure."""

    def __init__(self, base_url: str, api_key: str, *, timeout_s: float = 60) -> None:
        if not base_url.strip():
            raise ValueError("base_url is required: the batch client has no default")
        self.base_url = base_url
        self._client = openai.OpenAI(
            api_key=api_key.strip(),
            base_url=base_url,
            timeout=timeout_s,
            # Uploads and polls are repeated by the poll's next round, not here.
            max_retries=2,
        )

    def upload(self, file: IO[bytes], name: str) -> str:
        """Upload a JSONL file of requests (purpose "batch"); returns its id."""
        uploaded = self._call(
            self._client.files.create,
            file=(name, file, "application/jsonl"),
            purpose="batch",
        )
        return str(uploaded.id)

    def create(self, input_file_id: str, metadata: dict[str, str]) -> BatchState:
        return _state(
            self._call(
                self._client.batches.create,
                input_file_id=input_file_id,
                endpoint=CHAT_URL,
                completion_window=COMPLETION_WINDOW,
                metadata=metadata,
            )
        )

    def find(self, input_file_id: str) -> BatchState | None:
        """The batch made from `input_file_id`, if one was: a worker that died
        between creating a batch and saving its id must not create a second one."""
        for batch in self._call(self._client.batches.list, limit=100):
            if batch.input_file_id == input_file_id:
                return _state(batch)
        return None

    def retrieve(self, batch_id: str) -> BatchState:
        return _state(self._call(self._client.batches.retrieve, batch_id))

    def cancel(self, batch_id: str) -> BatchState:
        return _state(self._call(self._client.batches.cancel, batch_id))

    @contextmanager
    def lines(self, file_id: str) -> Iterator[Iterator[str]]:
        """The lines of a result file, streamed: never the whole file in memory."""
        try:
            with self._client.files.with_streaming_response.content(file_id) as reply:
                yield (line for line in reply.iter_lines() if line.strip())
        except openai.APIError as error:
            raise _api_error(error, self.base_url) from None

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except openai.APIError as error:
            raise _api_error(error, self.base_url) from None


def _api_error(error: openai.APIError, base_url: str) -> BackendError:
    if isinstance(error, openai.APIStatusError):
        if error.status_code in (401, 403):
            return _auth_error(error, base_url)
        return _status_error(error, "", base_url)
    if isinstance(error, openai.APITimeoutError):
        return BackendError(
            "timeout", f"no answer from {base_url} in time", retryable=True
        )
    if isinstance(error, openai.APIConnectionError):
        return BackendError(
            "connection",
            f"connection to {base_url} failed: {_cause(error)}",
            retryable=True,
        )
    return BackendError("malformed", f"{base_url}: {error}", retryable=True)


def _state(batch: Any) -> BatchState:
    counts = batch.request_counts
    errors = batch.errors.data if batch.errors and batch.errors.data else []
    return BatchState(
        batch_id=batch.id,
        status=batch.status,
        input_file_id=batch.input_file_id or "",
        output_file_id=batch.output_file_id or "",
        error_file_id=batch.error_file_id or "",
        total=counts.total if counts else 0,
        completed=counts.completed if counts else 0,
        failed=counts.failed if counts else 0,
        errors="; ".join(
            f"{error.code or 'error'}: {error.message or ''}" for error in errors[:5]
        ),
    )
