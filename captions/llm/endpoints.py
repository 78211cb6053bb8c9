"""Where remote backends send requests: endpoints the operator configured, by name.

Plain Python, no Django. An endpoint pairs a base URL with the name of the variable
that holds its key (`LLM_ENDPOINTS`, docs/generation.md), so a key only ever goes to
the URL it was configured for: a curator picks an endpoint by name, never a URL.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from captions.llm.base import BackendError

# What an endpoint without a key variable sends: local servers that check no key
# (Ollama, LM Studio, vLLM without --api-key) take any value, and the SDK wants one.
NO_KEY = "none"


@dataclass(frozen=True)
class Endpoint:
    name: str
    base_url: str
    key_variable: str = ""  # "" for a server that checks no key


def endpoint_api_key(endpoint: Endpoint, environ: Mapping[str, str]) -> str:
    """The endpoint's key: `environ[key_variable]`, else the contents of the file
    named by `environ[key_variable + "_FILE"]` (a Docker or Kubernetes secret).

    Raises a fatal "config" `BackendError` naming the variable (never the key) when
    the endpoint has a key variable and neither gives a key.
    """
    variable = endpoint.key_variable
    if not variable:
        return NO_KEY
    key = environ.get(variable, "").strip()
    if key:
        return key
    file_variable = f"{variable}_FILE"
    key_file = environ.get(file_variable, "").strip()
    if key_file:
        try:
            key = Path(key_file).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise BackendError(
                "config",
                f"{file_variable}={key_file} cannot be read: {error.strerror}",
                fatal=True,
            ) from None
        if key:
            return key
        raise BackendError(
            "config", f"{file_variable}={key_file} is an empty file", fatal=True
        )
    raise BackendError(
        "config",
        f"no API key for the endpoint {endpoint.name!r}: set {variable} or "
        f"{file_variable} (an endpoint whose server checks no key names no key "
        "variable in LLM_ENDPOINTS)",
        fatal=True,
    )


def same_url(first: str, second: str) -> bool:
    """Two spellings of one base URL: equal but for surrounding space and a
    trailing slash (`…/v1` and `…/v1/`). Nothing looser: a URL that is not exactly a
    configured one must never be taken for it."""
    return first.strip().rstrip("/") == second.strip().rstrip("/")
