"""Pick a caption backend by name."""

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from captions.llm.base import Backend, BackendError
from captions.llm.endpoints import Endpoint, endpoint_api_key

if TYPE_CHECKING:
    from captions.llm.openai_batches import OpenAIBatches

BACKENDS = ("offline", "openai")
# Backends that send requests somewhere, and so need an endpoint.
REMOTE_BACKENDS = ("openai",)
# Backends with a Batch API (captions/llm/openai_batches.py).
BATCH_BACKENDS = ("openai",)


def get_backend(
    name: str,
    *,
    endpoint: Endpoint | None = None,
    environ: Mapping[str, str] = os.environ,
    **options: Any,
) -> Backend:
    """The backend called `name`, configured for a job.

    A remote backend sends its requests to `endpoint.base_url` with the key of
    `endpoint.key_variable` read from `environ`: the one place where a URL and a key
    meet, so a key never goes to a URL it was not configured for. `options`
    (`timeout_s`, `max_retries`, ...) configure it too. The offline backend needs
    none of them and ignores them, so one call site serves both.

    Raises a "config" `BackendError` for an unknown backend, a remote backend without
    an endpoint, or an endpoint whose key is missing (`endpoint_api_key`).
    """
    # Imported here: a process that only writes offline captions never loads the SDK.
    if name == "offline":
        from captions.llm.offline import OfflineBackend

        return OfflineBackend()
    if name not in BACKENDS:
        raise BackendError(
            "config", f"unknown backend {name!r}; choose {' or '.join(BACKENDS)}"
        )
    if endpoint is None:
        raise BackendError(
            "config", f"the {name} backend needs an endpoint", fatal=True
        )
    api_key = endpoint_api_key(endpoint, environ)
    from captions.llm.openai_backend import OpenAIBackend

    return OpenAIBackend(endpoint.base_url, api_key, name=name, **options)


def get_batch_client(
    endpoint: Endpoint,
    *,
    environ: Mapping[str, str] = os.environ,
    timeout_s: float = 60,
) -> "OpenAIBatches":
    """The Batch API of `endpoint`, with its key from `environ` (as `get_backend`
    pairs them). Raises a "config" `BackendError` when the key is missing."""
    api_key = endpoint_api_key(endpoint, environ)
    from captions.llm.openai_batches import OpenAIBatches

    return OpenAIBatches(endpoint.base_url, api_key, timeout_s=timeout_s)
