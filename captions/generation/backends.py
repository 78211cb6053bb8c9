"""The backend a job's requests go through, as a worker builds it.

Its key is read from this process's environment and its rate limit is shared, through
the broker's Redis, by every worker that sends to the same endpoint and model.
"""

import os

from django.conf import settings

from captions.generation.options import JobOptions
from captions.generation.prompts import estimate_tokens
from captions.llm.base import Backend, BackendError, ChatRequest
from captions.llm.endpoints import Endpoint
from captions.llm.ratelimit import rate_limiter_for
from captions.llm.registry import REMOTE_BACKENDS, get_backend

# The limiter counts a request when it leaves the worker; the provider counts it when
# it arrives, after connecting and queueing (measured here: up to ~1 s for the first
# requests of a job on cold connections). A window a little longer than the minute
# keeps the provider's count under the limit in every 60 s window.
RATE_WINDOW_S = 62.0


def job_backend(
    backend: str, endpoint: Endpoint | None, options: JobOptions,
    model: str = "", max_tokens: int = 300,
) -> Backend:  # fmt: skip
    """The job's backend; its key is read from this process's environment.

    Raises `BackendError` ("config") when the endpoint's key is missing.
    """
    if backend not in REMOTE_BACKENDS:
        return get_backend(backend)
    if endpoint is None:
        raise BackendError("config", f"the {backend} backend needs an endpoint")
    limiter = rate_limiter_for(
        settings.CELERY_BROKER_URL,
        f"llm:{endpoint.name}:{model}",
        options.requests_per_minute,
        options.tokens_per_minute,
        window_s=RATE_WINDOW_S,
    )

    def acquire(request: ChatRequest) -> None:
        limiter.acquire(estimate_tokens(request.messages) + max_tokens)

    return get_backend(
        backend,
        endpoint=endpoint,
        environ=os.environ,
        timeout_s=options.timeout_s,
        max_retries=options.max_retries,
        before_attempt=acquire,
    )
