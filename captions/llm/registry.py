"""Pick a caption backend by name."""

from typing import Any

from captions.llm.base import Backend, BackendError

BACKENDS = ("offline", "openai")


def get_backend(
    name: str,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    **options: Any,
) -> Backend:
    """The backend called `name`, configured for a job.

    `base_url`, `api_key` and `options` (`timeout_s`, `max_retries`, ...) configure a
    remote backend; the offline backend needs none and ignores them, so one call site
    serves both.
    """
    # Imported here: a process that only writes offline captions never loads the SDK.
    if name == "offline":
        from captions.llm.offline import OfflineBackend

        return OfflineBackend()
    if name == "openai":
        from captions.llm.openai_backend import OpenAIBackend

        return OpenAIBackend(base_url, api_key, **options)
    raise BackendError(
        "config", f"unknown backend {name!r}; choose {' or '.join(BACKENDS)}"
    )
