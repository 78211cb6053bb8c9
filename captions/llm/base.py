"""The interface every caption backend implements. Plain Python, no Django."""

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class ChatRequest:
    """One caption to generate.

    `messages` are OpenAI chat-completions messages exactly as they will be sent (a
    user message's content may be a list of text and `image_url` parts in vision
    mode). `landcover` is the patch's statistics (DOMAIN.md section 4): the offline
    backend writes from it, remote backends ignore it. `seed` makes the offline
    backend's wording vary per patch yet repeat for the same patch.
    """

    messages: list[dict]
    model: str
    parameters: dict = field(default_factory=dict)  # max_tokens, temperature, ...
    landcover: dict = field(default_factory=dict)
    seed: int = 0


@dataclass(frozen=True)
class ChatResult:
    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    model: str  # as reported by the provider


class BackendError(Exception):
    """A request that did not give a usable caption.

    `reason` is a short code stored with the failure: "auth", "bad_request",
    "not_found", "rate_limited", "server_error", "timeout", "connection",
    "malformed", "empty", "length", "refused", "config". `retryable` says whether
    trying the same request later can help (the backend has already retried what it
    retries itself). `fatal` means no request of this job can succeed (a wrong key, an
    unknown model): the job stops instead of failing every patch one by one.
    """

    def __init__(
        self, reason: str, message: str, *, retryable: bool = False, fatal: bool = False
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retryable = retryable
        self.fatal = fatal


class Backend(Protocol):
    name: str

    def check(self) -> None:
        """Fail fast, before a job is queued: missing key, base URL not answering.

        Raises `BackendError` with reason "config" or "connection".
        """

    def complete(self, request: ChatRequest) -> ChatResult:
        """Generate one caption, or raise `BackendError`. Thread-safe."""
