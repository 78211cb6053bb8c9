"""What a launch chooses: the patches, the model, the endpoint, the job's options.

The admin's launch form, the API and `manage.py generate_captions` read and complete
these the same way, here: an empty model is the backend's default, a legacy base URL
stands for the endpoint with that URL, a price not given is the model's known one.
"""

from dataclasses import dataclass

from django.conf import settings

from captions.llm.endpoints import Endpoint, same_url
from captions.llm.registry import REMOTE_BACKENDS
from captions.models import GenerationJob

DEFAULT_MODELS = {"offline": "offline-1", "openai": "gpt-3.5-turbo"}
DEFAULT_CHUNK_SIZE = 256
DEFAULT_IN_FLIGHT = 32

# USD per million tokens (input, output); a job can override both.
KNOWN_PRICES = {
    "gpt-3.5-turbo": (0.50, 1.50),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "offline-1": (0.0, 0.0),
}


class GenerationError(Exception):
    """A job that cannot be launched or changed; the message says why."""


def model_or_default(*, backend: str, model: str | None) -> str:
    """The model a launch asks for: an empty one means the backend's default."""
    return (model or "").strip() or DEFAULT_MODELS.get(backend, "")


@dataclass(frozen=True)
class Selection:
    scene_ids: tuple[int, ...] = ()
    splits: tuple[str, ...] = ()
    only_uncaptioned: bool = True
    limit: int | None = None

    def as_json(self) -> dict:
        return {
            "scene_ids": list(self.scene_ids),
            "splits": list(self.splits),
            "only_uncaptioned": self.only_uncaptioned,
            "limit": self.limit,
        }


@dataclass(frozen=True)
class JobOptions:
    in_flight_per_worker: int = DEFAULT_IN_FLIGHT
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    price_in_per_million: float | None = None
    price_out_per_million: float | None = None
    include_rgb: bool = False
    chunk_size: int = DEFAULT_CHUNK_SIZE
    timeout_s: float = 60.0
    max_retries: int = 4

    def as_json(self) -> dict:
        return {key: getattr(self, key) for key in self.__dataclass_fields__}

    @classmethod
    def from_json(cls, values: dict) -> "JobOptions":
        """A job's stored options; keys this version does not know are left out."""
        known = cls.__dataclass_fields__
        return cls(**{key: value for key, value in values.items() if key in known})


def prices(model: str, options: JobOptions) -> tuple[float, float] | None:
    """USD per million tokens (in, out): the job's own, else the model's known
    price; None when neither says."""
    known = KNOWN_PRICES.get(model)
    price_in = options.price_in_per_million
    price_out = options.price_out_per_million
    if price_in is None and known:
        price_in = known[0]
    if price_out is None and known:
        price_out = known[1]
    if price_in is None or price_out is None:
        return None
    return price_in, price_out


# --- Endpoints ---------------------------------------------------------------------
# Where a remote backend sends requests is the operator's configuration
# (settings.LLM_ENDPOINTS); a launch names an endpoint, never a URL, so no one can
# send the server's key to a URL of their choosing, or make the server probe one.


def endpoint_names() -> list[str]:
    """The configured endpoints' names, in the order of LLM_ENDPOINTS (the first is
    the default)."""
    return list(settings.LLM_ENDPOINTS)


def endpoint_named(name: str) -> Endpoint:
    """The configured endpoint called `name`; raises `GenerationError`.

    Read at call time, so a worker resolves a job's endpoint with its own settings
    and environment, which hold the key.
    """
    configured = settings.LLM_ENDPOINTS
    if name not in configured:
        raise GenerationError(
            f"unknown endpoint {name!r}; configured (LLM_ENDPOINTS): "
            f"{', '.join(configured) or 'none'}"
        )
    entry = configured[name]
    return Endpoint(
        name=name,
        base_url=entry["base_url"],
        key_variable=entry.get("key_variable", ""),
    )


def endpoint_name_from(*, endpoint: str = "", base_url: str = "") -> str:
    """The endpoint a launch names, taking the legacy `base_url` as an alias.

    A base URL is accepted only when it is a configured endpoint's URL (up to a
    trailing slash), and stands for that endpoint; any other URL is refused before
    anything is sent to it. "" when neither is given (the default endpoint).
    """
    if not base_url.strip():
        return endpoint
    for name in endpoint_names():
        if same_url(base_url, settings.LLM_ENDPOINTS[name]["base_url"]):
            if endpoint and endpoint != name:
                raise GenerationError(
                    f"base_url is the URL of the endpoint {name!r}, not of "
                    f"{endpoint!r}; give only the endpoint"
                )
            return name
    raise GenerationError(
        "base_url is not the URL of a configured endpoint; choose an endpoint by "
        f"name: {', '.join(endpoint_names())} (LLM_ENDPOINTS, set by the operator)"
    )


def launch_endpoint(backend: str, endpoint: str) -> Endpoint | None:
    """The endpoint a job of `backend` sends to: None for the offline backend, the
    named one, or the first configured one when none is named."""
    if backend not in REMOTE_BACKENDS:
        return None
    if not endpoint:
        names = endpoint_names()
        if not names:
            raise GenerationError("no LLM endpoint is configured (LLM_ENDPOINTS)")
        endpoint = names[0]
    return endpoint_named(endpoint)


def job_endpoint(job: GenerationJob) -> Endpoint | None:
    """The endpoint of a job, looked up by name in this process's settings."""
    if job.backend not in REMOTE_BACKENDS:
        return None
    if not job.endpoint:
        raise GenerationError(
            f"job {job.pk} was launched before endpoints had names (base URL "
            f"{job.base_url or 'the default'}); launch a new job choosing an "
            f"endpoint: {', '.join(endpoint_names())}"
        )
    return endpoint_named(job.endpoint)
