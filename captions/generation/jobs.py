"""Caption generation jobs: launch, run a chunk, cancel, retry, finish (services).

A job fans out into chunks of patch ids (`JobChunk`); each chunk is one Celery task.
Everything here is safe to run twice: a patch is captioned at most once per job (a
database constraint), a redelivered chunk skips what is done, and the job's counts
move in the same transaction as the rows they count. No transaction is held open
across an LLM call: requests run in threads, and their results are written in short
batches by the task's own thread.
"""

import hashlib
import logging
import os
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils import timezone

from captions.generation.checks import check_caption
from captions.generation.prompts import (
    BUILTIN_TEMPLATES,
    PromptSpec,
    estimate_tokens,
    render_messages,
    validate_spec,
    vision_map_png,
)
from captions.llm.base import Backend, BackendError, ChatRequest, ChatResult
from captions.llm.endpoints import Endpoint, same_url
from captions.llm.ratelimit import rate_limiter_for
from captions.llm.registry import BACKENDS, REMOTE_BACKENDS, get_backend
from captions.models import (
    Caption,
    GenerationFailure,
    GenerationJob,
    JobChunk,
    Patch,
    PromptTemplate,
)

logger = logging.getLogger(__name__)

DEFAULT_MODELS = {"offline": "offline-1", "openai": "gpt-3.5-turbo"}
DEFAULT_CHUNK_SIZE = 256
DEFAULT_IN_FLIGHT = 32
# A provider that fails this many requests in a row, with no success between, is down
# or misconfigured: the job ends as failed instead of failing every patch.
MAX_CONSECUTIVE_FAILURES = 25
WRITE_EVERY_S = 0.5
# The limiter counts a request when it leaves the worker; the provider counts it when
# it arrives, after connecting and queueing (measured here: up to ~1 s for the first
# requests of a job on cold connections). A window a little longer than the minute
# keeps the provider's count under the limit in every 60 s window.
RATE_WINDOW_S = 62.0
CANCEL_POLL_S = 1.0
EXPECTED_OUTPUT_TOKENS = 220  # a ChatEarthNet caption: about 150-250 tokens

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


# --- Templates ---------------------------------------------------------------------


def templates_ensure_builtin() -> None:
    """Create the built-in ChatEarthNet templates that are not in the database yet."""
    for spec in BUILTIN_TEMPLATES:
        PromptTemplate.objects.get_or_create(
            name=spec.name,
            version=spec.version,
            defaults={
                "kind": spec.kind,
                "system_template": spec.system_template,
                "user_template": spec.user_template,
                "parameters": spec.parameters,
                "is_builtin": True,
            },
        )


def template_get(reference: str) -> PromptTemplate:
    """`name` (newest version) or `name:version`; raises `GenerationError`."""
    templates_ensure_builtin()
    name, _, version = reference.partition(":")
    templates = PromptTemplate.objects.filter(name=name)
    if version:
        if not version.isdigit():
            raise GenerationError(f"template version {version!r} is not a number")
        templates = templates.filter(version=int(version))
    template = templates.order_by("-version").first()
    if template is None:
        known = sorted(set(PromptTemplate.objects.values_list("name", flat=True)))
        raise GenerationError(
            f"unknown template {reference!r}; known: {', '.join(known)}"
        )
    return template


def template_new_version(
    *, template: PromptTemplate, system_template: str, user_template: str,
    parameters: dict, user=None,
) -> PromptTemplate:  # fmt: skip
    """Save an edited template as the next version; the old one stays as it was."""
    spec = PromptSpec(
        name=template.name, version=template.version + 1, kind=template.kind,  # type: ignore[arg-type]
        system_template=system_template, user_template=user_template,
        parameters=parameters,
    )  # fmt: skip
    try:
        validate_spec(spec)
    except ValueError as error:
        raise GenerationError(str(error)) from None
    latest = PromptTemplate.objects.filter(name=template.name).aggregate(
        last=Max("version")
    )["last"]
    try:
        with transaction.atomic():
            return PromptTemplate.objects.create(
                name=template.name,
                version=(latest or 0) + 1,
                kind=template.kind,
                system_template=system_template,
                user_template=user_template,
                parameters=parameters,
                created_by=user,
            )
    except IntegrityError:
        raise GenerationError(
            f"someone saved a new version of {template.name} at the same moment; "
            "reload and try again"
        ) from None


def spec_of(template: PromptTemplate) -> PromptSpec:
    return PromptSpec(
        name=template.name,
        version=template.version,
        kind=template.kind,  # type: ignore[arg-type]
        system_template=template.system_template,
        user_template=template.user_template,
        parameters=dict(template.parameters),
    )


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


def _launch_endpoint(backend: str, endpoint: str) -> Endpoint | None:
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


# --- Selection and launch ----------------------------------------------------------


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


def selected_patches(selection: Selection):  # -> QuerySet[Patch]
    patches = Patch.objects.filter(scene__status="ready")
    if selection.scene_ids:
        patches = patches.filter(scene_id__in=selection.scene_ids)
    if selection.splits:
        patches = patches.filter(split__in=selection.splits)
    if selection.only_uncaptioned:
        patches = patches.exclude(captions__isnull=False)
    patches = patches.order_by("id")
    if selection.limit is not None:
        patches = patches[: selection.limit]
    return patches


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


@dataclass(frozen=True)
class JobPlan:
    """What a launch would do: shown before launching, used by `job_launch`."""

    template: PromptTemplate
    patch_count: int
    example_messages: list[dict]
    estimated_tokens_in: int
    estimated_tokens_out: int
    estimated_cost: float | None


def job_plan(
    *, selection: Selection, backend: str, model: str, template: str,
    options: JobOptions, endpoint: str = "",
) -> JobPlan:  # fmt: skip
    """Validate a launch and estimate its tokens and cost, without writing a job.

    Nothing is sent anywhere: the endpoint is only looked up by name.
    """
    if backend not in BACKENDS:
        raise GenerationError(
            f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}"
        )
    _launch_endpoint(backend, endpoint)
    if not model.strip():
        raise GenerationError("a model name is needed")
    if options.in_flight_per_worker < 1 or options.chunk_size < 1:
        raise GenerationError("in-flight requests and chunk size must be at least 1")
    prompt_template = template_get(template)
    patches = selected_patches(selection)
    count = patches.count()
    if count == 0:
        raise GenerationError("the selection holds no patches to caption")
    example = patches.first()
    assert example is not None
    messages = _messages_for(spec_of(prompt_template), example, options)
    tokens_in = estimate_tokens(messages) * count
    max_tokens = int(prompt_template.parameters.get("max_tokens", 300))
    tokens_out = min(EXPECTED_OUTPUT_TOKENS, max_tokens) * count
    prices = _prices(model, options)
    cost = None
    if prices is not None:
        cost = (tokens_in * prices[0] + tokens_out * prices[1]) / 1e6
    return JobPlan(prompt_template, count, messages, tokens_in, tokens_out, cost)


def _prices(model: str, options: JobOptions) -> tuple[float, float] | None:
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


def job_launch(
    *, selection: Selection, backend: str, model: str, template: str,
    endpoint: str = "", options: JobOptions | None = None, user=None,
) -> GenerationJob:  # fmt: skip
    """Check the backend, plan, write the job and its chunks, queue them on commit.

    Everything that can be known before queueing is checked first (template, backend,
    endpoint, its key, its server answering, a non-empty selection), so a bad launch
    queues nothing. `endpoint` names one of LLM_ENDPOINTS (empty: the first); the
    offline backend needs none.
    """
    options = options or JobOptions()
    plan = job_plan(
        selection=selection, backend=backend, model=model, template=template,
        options=options, endpoint=endpoint,
    )  # fmt: skip
    chosen = _launch_endpoint(backend, endpoint)
    try:
        _backend_for(backend, chosen, options).check()
    except BackendError as error:
        raise GenerationError(error.message) from None
    patch_ids = list(selected_patches(selection).values_list("id", flat=True))
    with transaction.atomic():
        job = GenerationJob.objects.create(
            created_by=user,
            selection=selection.as_json(),
            backend=backend,
            endpoint=chosen.name if chosen else "",
            # Provenance: where the requests went when the job was launched.
            base_url=chosen.base_url if chosen else "",
            model=model,
            template=plan.template,
            options=options.as_json(),
            total=len(patch_ids),
            estimated_cost=plan.estimated_cost,
        )
        _queue_chunks(job, patch_ids, options.chunk_size, first_index=0)
    return job


def _queue_chunks(
    job: GenerationJob, patch_ids: list[int], chunk_size: int, *, first_index: int
) -> None:
    chunks = [
        JobChunk(
            job=job,
            index=first_index + number,
            patch_ids=patch_ids[start : start + chunk_size],
        )
        for number, start in enumerate(range(0, len(patch_ids), chunk_size))
    ]
    JobChunk.objects.bulk_create(chunks)
    indexes = [chunk.index for chunk in chunks]

    def enqueue() -> None:
        from captions import tasks  # tasks import this module

        for index in indexes:
            tasks.generate_chunk.delay(job.pk, index)

    transaction.on_commit(enqueue)


def job_cancel(*, job_id: int) -> bool:
    """Ask a running job to stop: workers send no new request once they see it."""
    changed = GenerationJob.objects.filter(
        pk=job_id,
        status__in=[GenerationJob.Status.QUEUED, GenerationJob.Status.RUNNING],
    ).update(status=GenerationJob.Status.CANCELLING, updated_at=timezone.now())
    if changed:
        # Chunks no worker has started yet are done by definition: nothing to send.
        job_finish_if_done(job_id=job_id)
    return bool(changed)


def job_retry_failed(*, job_id: int) -> int:
    """Queue again the patches of an ended job that have no caption; returns how many.

    That is the failed patches, and also those a failed or cancelled job never got
    to: retrying a job that stopped on a wrong key finishes all of it.
    """
    with transaction.atomic():
        job = GenerationJob.objects.select_for_update().get(pk=job_id)
        if job.status in GenerationJob.ACTIVE:
            raise GenerationError("the job is still running; retry when it has ended")
        _job_endpoint(job)  # a job whose endpoint is gone would only fail again
        planned = {
            patch_id
            for ids in job.chunks.values_list("patch_ids", flat=True)
            for patch_id in ids
        }
        captioned = set(job.captions.values_list("patch_id", flat=True))
        patch_ids = sorted(planned - captioned)
        if not patch_ids:
            return 0
        job.failures.all().delete()
        last_index = job.chunks.aggregate(last=Max("index"))["last"]
        next_index = 0 if last_index is None else last_index + 1
        job.status = GenerationJob.Status.RUNNING
        job.failed = 0
        job.error = ""
        job.finished_at = None
        job.save(
            update_fields=["status", "failed", "error", "finished_at", "updated_at"]
        )
        _queue_chunks(
            job, patch_ids, job.options.get("chunk_size", DEFAULT_CHUNK_SIZE),
            first_index=next_index,
        )  # fmt: skip
    return len(patch_ids)


def job_fail(*, job_id: int, reason: str) -> None:
    GenerationJob.objects.filter(pk=job_id, status__in=GenerationJob.ACTIVE).update(
        status=GenerationJob.Status.FAILED,
        error=reason[:2000],
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )


def job_finish_if_done(*, job_id: int) -> None:
    """End the job once no chunk is left to run (idempotent)."""
    job = GenerationJob.objects.get(pk=job_id)
    if job.status == GenerationJob.Status.CANCELLING:
        # Chunks that never started have nothing in flight: mark them done.
        JobChunk.objects.filter(job_id=job_id, status=JobChunk.Status.PENDING).update(
            status=JobChunk.Status.DONE
        )
    if (
        JobChunk.objects.filter(job_id=job_id)
        .exclude(status=JobChunk.Status.DONE)
        .exists()
    ):
        return
    final = {
        GenerationJob.Status.CANCELLING: GenerationJob.Status.CANCELLED,
        GenerationJob.Status.RUNNING: GenerationJob.Status.FINISHED,
        GenerationJob.Status.QUEUED: GenerationJob.Status.FINISHED,
    }
    for current, ended in final.items():
        GenerationJob.objects.filter(pk=job_id, status=current).update(
            status=ended, finished_at=timezone.now(), updated_at=timezone.now()
        )


# --- Running a chunk ---------------------------------------------------------------


def _job_endpoint(job: GenerationJob) -> Endpoint | None:
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


def _backend_for(
    backend: str, endpoint: Endpoint | None, options: JobOptions | dict,
    model: str = "", max_tokens: int = 300,
) -> Backend:  # fmt: skip
    """The job's backend; its key is read from this process's environment.

    Raises `BackendError` ("config") when the endpoint's key is missing.
    """
    values = options if isinstance(options, dict) else options.as_json()
    if backend not in REMOTE_BACKENDS:
        return get_backend(backend)
    if endpoint is None:
        raise BackendError("config", f"the {backend} backend needs an endpoint")
    limiter = rate_limiter_for(
        settings.CELERY_BROKER_URL,
        f"llm:{endpoint.name}:{model}",
        values.get("requests_per_minute"),
        values.get("tokens_per_minute"),
        window_s=RATE_WINDOW_S,
    )

    def acquire(request: ChatRequest) -> None:
        limiter.acquire(estimate_tokens(request.messages) + max_tokens)

    return get_backend(
        backend,
        endpoint=endpoint,
        environ=os.environ,
        timeout_s=values.get("timeout_s", 60.0),
        max_retries=values.get("max_retries", 4),
        before_attempt=acquire,
    )


def _messages_for(
    spec: PromptSpec, patch: Patch, options: JobOptions | dict
) -> list[dict]:
    if spec.kind != "vision":
        return render_messages(spec, patch.landcover)
    include_rgb = (
        options.get("include_rgb", False)
        if isinstance(options, dict)
        else options.include_rgb
    )
    rgb_png = None
    if include_rgb:
        with patch.rgb_preview.open("rb") as handle:
            rgb_png = handle.read()
    return render_messages(
        spec, patch.landcover,
        landcover_png=vision_map_png(patch.label_codes()), rgb_png=rgb_png,
    )  # fmt: skip


def _seed_for(job_id: int, patch_id: int) -> int:
    digest = hashlib.blake2b(f"{job_id}:{patch_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@dataclass
class _Outcome:
    patch: Patch
    messages: list[dict]
    result: ChatResult | None = None
    error: BackendError | None = None


@dataclass
class _ChunkRun:
    job: GenerationJob
    spec: PromptSpec
    backend: Backend
    pending_captions: list[Caption] = field(default_factory=list)
    pending_failures: list[GenerationFailure] = field(default_factory=list)
    consecutive_failures: int = 0
    stopped: str = ""  # why no more requests are sent: "cancelled" or a failure


def job_run_chunk(*, job_id: int, index: int) -> None:
    """Caption the patches of one chunk that this job has not captioned yet."""
    job = GenerationJob.objects.select_related("template").get(pk=job_id)
    chunk = JobChunk.objects.get(job_id=job_id, index=index)
    if job.status not in (GenerationJob.Status.QUEUED, GenerationJob.Status.RUNNING):
        _chunk_done(chunk)
        return
    GenerationJob.objects.filter(pk=job_id, status=GenerationJob.Status.QUEUED).update(
        status=GenerationJob.Status.RUNNING, started_at=timezone.now()
    )
    JobChunk.objects.filter(pk=chunk.pk).update(
        status=JobChunk.Status.RUNNING, attempts=F("attempts") + 1
    )
    spec = spec_of(job.template)
    try:
        backend = _backend_for(
            job.backend, _job_endpoint(job), job.options, job.model,
            int(spec.parameters.get("max_tokens", 300)),
        )  # fmt: skip
    except (GenerationError, BackendError) as error:
        # This worker does not know the job's endpoint, or has no key for it: no
        # request of the job can be sent from here, so it stops with the reason.
        message = error.message if isinstance(error, BackendError) else str(error)
        job_fail(job_id=job_id, reason=f"config: {message}")
        _chunk_done(chunk)
        return
    todo = _patches_to_do(job, chunk)
    run = _ChunkRun(job=job, spec=spec, backend=backend)
    try:
        if job.backend == "offline":
            _run_inline(run, todo)
        else:
            _run_concurrently(run, todo)
    finally:
        _flush(run)
    if run.stopped and run.stopped != "cancelled":
        job_fail(job_id=job_id, reason=run.stopped)
    _chunk_done(chunk)


def _patches_to_do(job: GenerationJob, chunk: JobChunk) -> list[Patch]:
    ids = set(chunk.patch_ids)
    ids -= set(job.captions.filter(patch_id__in=ids).values_list("patch_id", flat=True))
    ids -= set(job.failures.filter(patch_id__in=ids).values_list("patch_id", flat=True))
    return list(Patch.objects.filter(id__in=ids).order_by("id"))


def _chunk_done(chunk: JobChunk) -> None:
    JobChunk.objects.filter(pk=chunk.pk).update(status=JobChunk.Status.DONE)
    job_finish_if_done(job_id=chunk.job_id)


def _request_for(run: _ChunkRun, patch: Patch) -> ChatRequest:
    return ChatRequest(
        messages=_messages_for(run.spec, patch, run.job.options),
        model=run.job.model,
        parameters=run.spec.parameters,
        landcover=patch.landcover,
        seed=_seed_for(run.job.pk, patch.pk),
    )


def _run_inline(run: _ChunkRun, patches: list[Patch]) -> None:
    """The offline backend answers at once: no threads, one write per chunk."""
    last_poll = time.monotonic()
    for patch in patches:
        if time.monotonic() - last_poll > CANCEL_POLL_S:
            last_poll = time.monotonic()
            if _job_stopping(run.job.pk):
                run.stopped = "cancelled"
                return
        request = _request_for(run, patch)
        outcome = _Outcome(patch, request.messages)
        try:
            outcome.result = run.backend.complete(request)
        except BackendError as error:
            outcome.error = error
        _record(run, outcome)


def _run_concurrently(run: _ChunkRun, patches: list[Patch]) -> None:
    """Keep `in_flight_per_worker` requests going; write results in short batches."""
    in_flight = int(run.job.options.get("in_flight_per_worker", DEFAULT_IN_FLIGHT))
    call = run.backend.complete
    queue: Iterator[Patch] = iter(patches)
    running: dict[Future, _Outcome] = {}
    last_write = last_poll = time.monotonic()
    with ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="llm") as pool:
        while True:
            while not run.stopped and len(running) < in_flight:
                patch = next(queue, None)
                if patch is None:
                    break
                request = _request_for(run, patch)
                running[pool.submit(call, request)] = _Outcome(patch, request.messages)
            if not running:
                break
            finished, _ = wait(
                running, timeout=CANCEL_POLL_S, return_when=FIRST_COMPLETED
            )
            for future in finished:
                outcome = running.pop(future)
                try:
                    outcome.result = future.result()
                except BackendError as error:
                    outcome.error = error
                except Exception as error:  # a bug or an SDK surprise: keep the reason
                    outcome.error = BackendError(
                        "error", f"{type(error).__name__}: {error}"
                    )
                _record(run, outcome)
            now = time.monotonic()
            if now - last_write > WRITE_EVERY_S:
                _flush(run)
                last_write = now
            if now - last_poll > CANCEL_POLL_S:
                last_poll = now
                if not run.stopped and _job_stopping(run.job.pk):
                    run.stopped = "cancelled"


def _job_stopping(job_id: int) -> bool:
    return not GenerationJob.objects.filter(
        pk=job_id, status=GenerationJob.Status.RUNNING
    ).exists()


def _record(run: _ChunkRun, outcome: _Outcome) -> None:
    if outcome.result is not None:
        run.consecutive_failures = 0
        run.pending_captions.append(_caption_from(run, outcome.patch, outcome))
        return
    error = outcome.error
    assert error is not None
    run.consecutive_failures += 1
    run.pending_failures.append(
        GenerationFailure(
            job=run.job,
            patch=outcome.patch,
            reason=error.reason,
            message=error.message[:2000],
        )
    )
    if error.fatal and not run.stopped:
        run.stopped = f"{error.reason}: {error.message}"
    elif run.consecutive_failures >= MAX_CONSECUTIVE_FAILURES and not run.stopped:
        run.stopped = (
            f"the provider failed {run.consecutive_failures} requests in a row; "
            f"last: {error.reason}: {error.message}"
        )


def _caption_from(run: _ChunkRun, patch: Patch, outcome: _Outcome) -> Caption:
    result = outcome.result
    assert result is not None
    findings = check_caption(
        result.text, patch.landcover, finish_reason=result.finish_reason
    )
    return Caption(
        patch=patch,
        job=run.job,
        source="job",
        template=run.job.template,
        generated_text=result.text,
        text=result.text,
        messages=outcome.messages,
        model=result.model or run.job.model,
        parameters=run.spec.parameters,
        finish_reason=result.finish_reason,
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        latency_ms=round(result.latency_s * 1000),
        checks=findings,
        failed_checks=len(findings),
    )


def _flush(run: _ChunkRun) -> None:
    """Write the results gathered so far, and move the job's counts with them."""
    captions, failures = run.pending_captions, run.pending_failures
    run.pending_captions, run.pending_failures = [], []
    if captions:
        _write_rows(run.job, captions)
    if failures:
        _write_rows(run.job, failures)


def _write_rows(job: GenerationJob, rows: list) -> None:
    try:
        with transaction.atomic():
            model = type(rows[0])
            model.objects.bulk_create(rows)
            _count(job, rows)
    except IntegrityError:
        # Another run of this chunk (a redelivery) wrote some of these first: write
        # the rest one by one, each with its own count.
        for row in rows:
            try:
                with transaction.atomic():
                    row.pk = None
                    type(row).objects.bulk_create([row])
                    _count(job, [row])
            except IntegrityError:
                continue


def _count(job: GenerationJob, rows: list) -> None:
    if isinstance(rows[0], GenerationFailure):
        GenerationJob.objects.filter(pk=job.pk).update(failed=F("failed") + len(rows))
        return
    tokens_in = sum(row.prompt_tokens for row in rows)
    tokens_out = sum(row.completion_tokens for row in rows)
    prices = _prices(job.model, JobOptions(**_known_options(job.options))) or (0.0, 0.0)
    GenerationJob.objects.filter(pk=job.pk).update(
        done=F("done") + len(rows),
        tokens_in=F("tokens_in") + tokens_in,
        tokens_out=F("tokens_out") + tokens_out,
        actual_cost=F("actual_cost")
        + (tokens_in * prices[0] + tokens_out * prices[1]) / 1e6,
        updated_at=timezone.now(),
    )


def _known_options(values: dict) -> dict:
    return {
        key: value
        for key, value in values.items()
        if key in JobOptions.__dataclass_fields__
    }


__all__ = [
    "GenerationError",
    "JobOptions",
    "Selection",
    "endpoint_name_from",
    "endpoint_named",
    "endpoint_names",
    "job_cancel",
    "job_launch",
    "job_plan",
    "job_retry_failed",
    "job_run_chunk",
    "template_get",
    "templates_ensure_builtin",
]
