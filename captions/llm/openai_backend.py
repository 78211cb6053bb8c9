"""Captions from any server that speaks OpenAI's chat-completions API.

The only module of the project that imports the `openai` SDK.

Where the backend sends requests: the `base_url` and `api_key` it is given, and
nowhere else. It reads no environment variable: a key goes only to the URL of the
endpoint it was configured with (`captions/llm/endpoints.py`, and `get_backend`,
which pairs the two). vLLM: http://host:8000/v1, Ollama: http://host:11434/v1, LM
Studio: http://host:1234/v1. Azure OpenAI:
https://<resource>.openai.azure.com/openai/v1/ with the resource's key as the key and
the deployment's name as the model. Local servers that check no key take any value,
e.g. "none".

Retries are ours, not the SDK's (it is built with `max_retries=0`). The SDK retries
429, 408, 409, 5xx, timeouts and dropped connections, but it sleeps exactly the
`Retry-After` it is given (so workers told the same instant all come back together)
and it retries any 429 (unless the server adds `x-should-retry: false`), even one
that means the account has no quota left, which can never succeed. Here a 429 waits
`Retry-After` (or `retry-after-ms`) plus up to 10%, other transient failures back
off exponentially with jitter, and an exhausted quota stops the job at once.
"""

import email.utils
import json
import math
import random
import time
from collections.abc import Callable
from typing import Any

import openai

from captions.llm.base import BackendError, ChatRequest, ChatResult

# `check()` must answer before a person waiting on a form gives up.
CHECK_TIMEOUT_S = 5.0
# A server asking for a longer pause is better served by retrying the patch later
# than by a worker thread asleep for minutes (the SDK draws the line at the same place).
MAX_RETRY_AFTER_S = 120.0
MAX_BACKOFF_S = 8.0
_DETAIL_CHARS = 300


class OpenAIBackend:
    """A `Backend` over one shared OpenAI client: safe to call from many threads."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_s: float = 60,
        max_retries: int = 4,
        backoff_s: float = 0.5,
        name: str = "openai",
        before_attempt: Callable[[ChatRequest], None] | None = None,
    ) -> None:
        if not base_url.strip():
            raise ValueError("base_url is required: the backend has no default")
        if not api_key.strip():
            raise ValueError('api_key is required ("none" for a server without one)')
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, not {timeout_s}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, not {max_retries}")
        self.name = name
        self.base_url = base_url
        self.timeout_s = float(timeout_s)
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        # Called before every attempt, retries included: a rate limiter placed here
        # counts every request the server sees, not only the first of each caption.
        self.before_attempt = before_attempt
        self._client = openai.OpenAI(
            api_key=api_key.strip(),
            base_url=base_url,
            timeout=self.timeout_s,
            max_retries=0,
        )
        self._create = self._client.chat.completions.with_raw_response.create

    def check(self) -> None:
        quick = self._client.with_options(
            timeout=min(CHECK_TIMEOUT_S, self.timeout_s), max_retries=0
        )
        try:
            quick.models.with_raw_response.list()
        except (openai.AuthenticationError, openai.PermissionDeniedError) as error:
            raise _auth_error(error, self.base_url) from None
        except openai.NotFoundError:
            return  # some servers have no /models; the base URL answered all the same
        except openai.APIStatusError as error:
            if error.status_code >= 500:
                raise BackendError(
                    "connection",
                    f"{self.base_url} answered {error.status_code}: {_detail(error)}",
                    retryable=True,
                ) from None
        except openai.APIConnectionError as error:
            raise BackendError(
                "connection",
                f"{self.base_url} does not answer: {_cause(error)}",
                retryable=True,
            ) from None

    def complete(self, request: ChatRequest) -> ChatResult:
        for attempt in range(self.max_retries + 1):
            if self.before_attempt is not None:
                self.before_attempt(request)
            started = time.monotonic()
            try:
                reply = self._create(
                    model=request.model,
                    messages=request.messages,  # type: ignore[arg-type]
                    # As given: newer OpenAI models want `max_completion_tokens`,
                    # vLLM takes `top_k`; the SDK's typed arguments would refuse some.
                    extra_body=dict(request.parameters) or None,
                )
                body = reply.text
            except openai.APIStatusError as error:
                failure = _status_error(error, request.model, self.base_url)
                delay = self._delay(attempt, failure, error.response.headers)
            except openai.APITimeoutError:
                failure = BackendError(
                    "timeout",
                    f"no answer from {self.base_url} within {self.timeout_s:g} s",
                    retryable=True,
                )
                delay = self._delay(attempt, failure, None)
            except openai.APIConnectionError as error:
                failure = BackendError(
                    "connection",
                    f"connection to {self.base_url} failed: {_cause(error)}",
                    retryable=True,
                )
                delay = self._delay(attempt, failure, None)
            else:
                return _result_from_reply(
                    body, request.model, time.monotonic() - started
                )
            if delay is None or attempt == self.max_retries:
                raise failure
            time.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _delay(
        self, attempt: int, failure: BackendError, headers: Any | None
    ) -> float | None:
        """Seconds until the next attempt; None when retrying cannot help."""
        if not failure.retryable:
            return None
        retry_after = retry_after_s(headers) if headers is not None else None
        if retry_after is not None:
            if retry_after > MAX_RETRY_AFTER_S:
                return None
            return retry_after * (1 + 0.1 * random.random())
        # "Equal jitter": the wait still doubles, yet workers that failed together
        # spread out instead of retrying in lockstep.
        ceiling = min(MAX_BACKOFF_S, self.backoff_s * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)


def retry_after_s(headers: Any) -> float | None:
    """The pause a server asks for: `retry-after-ms`, or `Retry-After` in seconds or
    as an HTTP date. None when absent, unreadable or not in the future."""
    for header, divisor in (("retry-after-ms", 1000), ("retry-after", 1)):
        raw = headers.get(header)
        if raw is None:
            continue
        try:
            seconds = float(raw) / divisor
        except ValueError:
            continue
        return seconds if math.isfinite(seconds) and seconds > 0 else None
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    seconds = when.timestamp() - time.time()
    return seconds if seconds > 0 else None


def _status_error(
    error: openai.APIStatusError, model: str, base_url: str
) -> BackendError:
    status, detail = error.status_code, _detail(error)
    if status in (401, 403):
        return _auth_error(error, base_url)
    if status == 404:
        return BackendError(
            "not_found",
            f"model {model!r} or its endpoint not found at {base_url} (404): {detail}. "
            "Check the model name and that the base URL ends in /v1.",
            fatal=True,
        )
    if status == 429 and error.code == "insufficient_quota":
        return BackendError(
            "rate_limited", f"the account has no quota left (429): {detail}", fatal=True
        )
    if status == 429:
        return BackendError(
            "rate_limited", f"rate limited (429): {detail}", retryable=True
        )
    if status == 408:
        return BackendError(
            "timeout", f"request timeout (408): {detail}", retryable=True
        )
    if status >= 500:
        return BackendError(
            "server_error", f"server error ({status}): {detail}", retryable=True
        )
    return BackendError("bad_request", f"request refused ({status}): {detail}")


def _auth_error(error: openai.APIStatusError, base_url: str) -> BackendError:
    what = "refused the API key" if error.status_code == 401 else "denied access"
    return BackendError(
        "auth",
        f"{base_url} {what} ({error.status_code}): {_detail(error)}",
        fatal=True,
    )


def _result_from_reply(body: str, requested_model: str, latency_s: float) -> ChatResult:
    try:
        reply = json.loads(body)
    except ValueError:
        raise _malformed(f"the reply is not JSON: {body[:_DETAIL_CHARS]!r}") from None
    return result_from_completion(reply, requested_model, latency_s, body=body)


def result_from_completion(
    reply: object, requested_model: str, latency_s: float = 0.0, *, body: str = ""
) -> ChatResult:
    """The caption in a chat completion (parsed JSON), or the `BackendError` that
    says why there is none: the same reading for an answer and for a line of a
    batch's results (captions/llm/openai_batches.py). `body` is the raw text, for
    the messages."""

    def shown() -> str:  # only for a reply refused: the text is not made otherwise
        return repr((body or json.dumps(reply))[:_DETAIL_CHARS])

    if not isinstance(reply, dict):
        raise _malformed(f"the reply has no choices: {shown()}")
    choices = reply.get("choices")
    if not isinstance(choices, list) or not choices:
        raise _malformed(f"the reply has no choices: {shown()}")
    choice = choices[0]
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message, dict):
        raise _malformed(f"the reply's choice has no message: {shown()}")
    finish_reason = choice.get("finish_reason") or ""
    if message.get("refusal") or finish_reason == "content_filter":
        reason = message.get("refusal") or "stopped by the content filter"
        raise BackendError("refused", f"the model refused: {reason}")
    if finish_reason == "length":
        # A caption cut off mid-sentence is never stored, however long it is.
        raise BackendError(
            "length", "the reply hit the token limit (finish_reason 'length')"
        )
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise _malformed(f"the reply's content is not text: {content!r:.300}")
    if not (content and content.strip()):
        raise BackendError("empty", "the reply has no text", retryable=True)
    usage = reply.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    model = reply.get("model")
    return ChatResult(
        text=content.strip(),
        finish_reason=finish_reason,
        prompt_tokens=_count(usage.get("prompt_tokens")),
        completion_tokens=_count(usage.get("completion_tokens")),
        latency_s=latency_s,
        model=model if isinstance(model, str) and model else requested_model,
    )


def _malformed(message: str) -> BackendError:
    # A proxy's hiccup more often than a model's habit: the same request may work.
    return BackendError("malformed", message, retryable=True)


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return max(value, 0)


def _detail(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"][:_DETAIL_CHARS]
    return str(error.message)[:_DETAIL_CHARS]


def _cause(error: BaseException) -> str:
    """The socket-level reason ("Connection refused") under the SDK's generic words."""
    cause = error.__cause__ or error.__context__
    return f"{error} ({cause})" if cause else str(error)
