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


@dataclass(frozen=True)
class ModelInfo:
    price_in: float  # USD per million input tokens (a job can override it)
    price_out: float  # USD per million output tokens
    reads_images: bool  # may be given a vision template (the map as an image)


# The models the product knows. gpt-3.5-turbo, ChatEarthNet's model, reads text only.
# The offline writer reads the statistics whatever the template, so it takes both.
KNOWN_MODELS = {
    "gpt-3.5-turbo": ModelInfo(0.50, 1.50, reads_images=False),
    "gpt-4o-mini": ModelInfo(0.15, 0.60, reads_images=True),
    "gpt-4o": ModelInfo(2.50, 10.00, reads_images=True),
    "gpt-4.1-mini": ModelInfo(0.40, 1.60, reads_images=True),
    "gpt-4.1": ModelInfo(2.00, 8.00, reads_images=True),
    "offline-1": ModelInfo(0.0, 0.0, reads_images=True),
}
KNOWN_PRICES = {
    name: (info.price_in, info.price_out) for name, info in KNOWN_MODELS.items()
}


class GenerationError(Exception):
    """A job that cannot be launched or changed; the message says why."""


def model_or_default(*, backend: str, model: str | None) -> str:
    """The model a launch asks for: an empty one means the backend's default."""
    return (model or "").strip() or DEFAULT_MODELS.get(backend, "")


MAX_CAPTIONS_CHOSEN = 10_000  # captions one regeneration may name


def parse_caption_ids(text: str) -> tuple[int, ...]:
    """Comma-separated caption ids (the admin's field, `--captions`), each once in
    the order given; `GenerationError` for anything else or too many."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not all(part.isdigit() and len(part) <= 12 for part in parts):
        raise GenerationError("give caption ids separated by commas")
    if len(parts) > MAX_CAPTIONS_CHOSEN:
        raise GenerationError(f"at most {MAX_CAPTIONS_CHOSEN:,} captions at once")
    return tuple(dict.fromkeys(int(part) for part in parts))


@dataclass(frozen=True)
class Selection:
    scene_ids: tuple[int, ...] = ()
    splits: tuple[str, ...] = ()
    only_uncaptioned: bool = True
    limit: int | None = None
    # Regenerate: the patches with a rejected caption that nothing replaces yet; each
    # new caption replaces it, its prompt carrying the reject reason (captions
    # generation/regeneration.py). `only_uncaptioned` does not apply then.
    rejected_only: bool = False
    # Regenerate these captions (a curator's choice, whatever their status): their
    # patches are captioned again, each new caption replacing the chosen one.
    caption_ids: tuple[int, ...] = ()

    def as_json(self) -> dict:
        return {
            "scene_ids": list(self.scene_ids),
            "splits": list(self.splits),
            "only_uncaptioned": self.only_uncaptioned,
            "limit": self.limit,
            "rejected_only": self.rejected_only,
            "caption_ids": list(self.caption_ids),
        }

    @property
    def regenerates(self) -> bool:
        return self.rejected_only or bool(self.caption_ids)


@dataclass(frozen=True)
class ABTest:
    """The second arm of an A/B job: `share` of the patches, drawn at random,
    captioned with `template` and `model` instead of the job's own."""

    template: str
    model: str
    share: float = 0.5

    def check(self) -> None:
        if not 0.0 < self.share < 1.0:
            raise GenerationError(
                f"the A/B share {self.share} must lie strictly between 0 and 1"
            )
        if not self.model.strip():
            raise GenerationError("the A/B test needs a model for its second arm")


def ab_test_for(
    *, template: str | None, model: str | None, model_a: str | None, backend: str,
    share: float,
) -> ABTest | None:  # fmt: skip
    """The A/B test a launch asks for: None without a template B; model B defaults
    to A's (and that to the backend's default)."""
    template = (template or "").strip()
    if not template:
        return None
    model_b = model_or_default(backend=backend, model=model or model_a)
    return ABTest(template, model_b, share)


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
    # The launcher's word that a model missing from KNOWN_MODELS reads images.
    model_reads_images: bool = False
    # Through OpenAI's Batch API (captions/generation/batches.py): at half the price,
    # answered within 24 hours instead of at once.
    batch: bool = False

    def as_json(self) -> dict:
        return {key: getattr(self, key) for key in self.__dataclass_fields__}

    @classmethod
    def from_json(cls, values: dict) -> "JobOptions":
        """A job's stored options; keys this version does not know are left out."""
        known = cls.__dataclass_fields__
        return cls(**{key: value for key, value in values.items() if key in known})


def check_model_for_template(
    model: str, template_kind: str, options: JobOptions
) -> None:
    """A vision template sends the land-cover map as an image: refuse a model known
    to read text only, and one not in KNOWN_MODELS unless the launcher confirms it
    reads images (`model_reads_images`); a text template takes any model."""
    if template_kind != "vision":
        return
    known = KNOWN_MODELS.get(model)
    readers = ", ".join(
        name for name, info in KNOWN_MODELS.items() if info.reads_images
    )
    if known is not None and not known.reads_images:
        raise GenerationError(
            f"{model} reads text only, and a vision template sends the land-cover map "
            f"as an image: choose a model that reads images ({readers}) or a text "
            "template"
        )
    if known is None and not options.model_reads_images:
        raise GenerationError(
            f"whether {model!r} reads images is not known, and a vision template sends "
            "the land-cover map as one: confirm that it does (model_reads_images), or "
            f"choose one known to ({readers})"
        )


# OpenAI's Batch API charges half the price per token of the same online request
# (https://openai.com/api/pricing/): a batch's tokens cost the job's prices (its own,
# else the model's known online ones) times this.
BATCH_PRICE_FACTOR = 0.5


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
