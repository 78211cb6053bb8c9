"""Caption generation jobs: launch, cancel, retry, fail, finish (services).

A job fans out into chunks of patch ids (`JobChunk`); each chunk is one Celery task,
run by captions/generation/runner.py. Every change of a job's status is made here,
each with a guarded update, so the admin, the API, the command and the workers can
act on one job at the same moment. A job ends once none of its chunks is left to
run: each is done, or failed for good.
"""

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from captions.generation.backends import job_backend
from captions.generation.options import (
    DEFAULT_CHUNK_SIZE,
    ABTest,
    GenerationError,
    JobOptions,
    Selection,
    job_endpoint,
    launch_endpoint,
)
from captions.generation.plans import ab_template, job_plan, selected_patches
from captions.llm.base import BackendError
from captions.llm.openai_batches import MAX_REQUESTS_PER_BATCH
from captions.llm.registry import BATCH_BACKENDS
from captions.models import GenerationJob, JobChunk, LLMBatch

# A chunk whose run breaks on something unexpected (a bug, an SDK surprise, a lost
# database connection) is run again, up to this many runs in all; then its job fails
# with the error, instead of retrying a chunk that breaks every time.
MAX_CHUNK_ATTEMPTS = 3
# The statuses in which a job's chunks send requests.
_RUNNABLE = (GenerationJob.Status.QUEUED, GenerationJob.Status.RUNNING)


def job_launch(
    *, selection: Selection, backend: str, model: str, template: str,
    endpoint: str = "", options: JobOptions | None = None, user=None,
    ab: ABTest | None = None, qa_rate: float | None = None,
) -> GenerationJob:  # fmt: skip
    """Check the backend, plan, write the job and its chunks, queue them on commit.

    Everything that can be known before queueing is checked first (template, backend,
    endpoint, its key, its server answering, a non-empty selection, an A/B test's
    second arm), so a bad launch queues nothing. `endpoint` names one of
    LLM_ENDPOINTS (empty: the first); the offline backend needs none. `qa_rate`: the
    share of its verified captions a second annotator reviews blind (None: the
    global rate)."""
    options = options or JobOptions()
    plan = job_plan(
        selection=selection, backend=backend, model=model, template=template,
        options=options, endpoint=endpoint, ab=ab,
    )  # fmt: skip
    second = ab_template(ab, options, first=(plan.template, model)) if ab else None
    chosen = launch_endpoint(backend, endpoint)
    try:
        job_backend(backend, chosen, options).check()
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
            template_b=second,
            model_b=ab.model.strip() if ab else "",
            b_share=ab.share if ab else 0.0,
            qa_rate=qa_rate,
            options=options.as_json(),
            total=len(patch_ids),
            estimated_cost=plan.estimated_cost,
        )
        if options.batch:
            _queue_batches(job, patch_ids)
        else:
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
    _enqueue_on_commit(job.pk, [chunk.index for chunk in chunks])


def _queue_batches(job: GenerationJob, patch_ids: list[int]) -> None:
    """Plan a batch job's patches as batches (captions/generation/batches.py), each
    within the provider's limit of requests, submitted by workers once committed."""
    last_index = job.batches.aggregate(last=Max("index"))["last"]
    first_index = 0 if last_index is None else last_index + 1
    size = MAX_REQUESTS_PER_BATCH
    batches = LLMBatch.objects.bulk_create(
        LLMBatch(
            job=job,
            index=first_index + number,
            patch_ids=patch_ids[start : start + size],
            requests=len(patch_ids[start : start + size]),
            endpoint=job.endpoint,
        )
        for number, start in enumerate(range(0, len(patch_ids), size))
    )
    if any(batch.pk is None for batch in batches):  # backends without RETURNING
        batches = list(job.batches.filter(index__gte=first_index))
    enqueue_batch_submissions([batch.pk for batch in batches])


def send_on_commit(task_name: str, calls: list[tuple]) -> None:
    """Queue the task `captions.tasks.<task_name>` once per argument tuple of
    `calls`, once the transaction commits (none if it rolls back)."""

    def enqueue() -> None:
        from captions import tasks  # tasks import the stages, which import this

        task = getattr(tasks, task_name)
        for arguments in calls:
            task.delay(*arguments)

    if calls:
        transaction.on_commit(enqueue)


def enqueue_batch_submissions(batch_ids: list[int]) -> None:
    """Queue the submission of these batches once the transaction commits."""
    send_on_commit("submit_batch", [(batch_id,) for batch_id in batch_ids])


def _enqueue_on_commit(job_id: int, indexes: list[int]) -> None:
    send_on_commit("generate_chunk", [(job_id, index) for index in indexes])


def job_cancel(*, job_id: int) -> bool:
    """Ask a running job to stop: workers send no new request once they see it, and
    a batch job's batches are cancelled at the provider by the next poll, queued at
    once (what they finished is still ingested)."""
    changed = GenerationJob.objects.filter(
        pk=job_id,
        status__in=[GenerationJob.Status.QUEUED, GenerationJob.Status.RUNNING],
    ).update(status=GenerationJob.Status.CANCELLING, updated_at=timezone.now())
    if changed:
        # Chunks no worker has started yet are done by definition: nothing to send.
        job_finish_if_done(job_id=job_id)
        if LLMBatch.objects.filter(job_id=job_id).exists():
            send_on_commit("poll_batches", [()])
    return bool(changed)


def job_retry_failed(*, job_id: int, as_batch: bool = False) -> int:
    """Queue again the patches of an ended job that have no caption; returns how many.

    That is the failed patches, and also those a failed or cancelled job never got
    to, or whose chunk or batch failed: retrying a job that stopped on a wrong key or
    a broken chunk finishes all of it. Online by default, whatever the job was;
    `as_batch`: in new batches (captions/generation/batches.py).
    """
    with transaction.atomic():
        job = GenerationJob.objects.select_for_update().get(pk=job_id)
        if job.status in GenerationJob.ACTIVE:
            raise GenerationError("the job is still running; retry when it has ended")
        job_endpoint(job)  # a job whose endpoint is gone would only fail again
        if as_batch and job.backend not in BATCH_BACKENDS:
            raise GenerationError(
                f"the {job.backend} backend has no batches: retry online instead"
            )
        planned = {
            patch_id
            for model in (JobChunk, LLMBatch)
            for ids in model.objects.filter(job=job).values_list("patch_ids", flat=True)
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
        if as_batch:
            _queue_batches(job, patch_ids)
        else:
            _queue_chunks(
                job, patch_ids, job.options.get("chunk_size", DEFAULT_CHUNK_SIZE),
                first_index=next_index,
            )  # fmt: skip
    return len(patch_ids)


def job_fail(*, job_id: int, reason: str) -> None:
    """End an active job as failed with `reason` (shown on its page and in the API)."""
    GenerationJob.objects.filter(pk=job_id, status__in=GenerationJob.ACTIVE).update(
        status=GenerationJob.Status.FAILED,
        error=reason[:2000],
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )


def job_chunk_failed(*, chunk_id: int, error: str) -> None:
    """A chunk's run broke on something unexpected: mark it failed with `error`,
    then queue it again, or, after `MAX_CHUNK_ATTEMPTS` runs, fail its job."""
    with transaction.atomic():
        chunk = JobChunk.objects.select_for_update().get(pk=chunk_id)
        if chunk.status != JobChunk.Status.RUNNING:
            return  # another worker took it over and has ended it
        chunk.error = error[:2000]
        running = GenerationJob.objects.filter(
            pk=chunk.job_id, status__in=_RUNNABLE
        ).exists()
        if running and chunk.attempts < MAX_CHUNK_ATTEMPTS:
            chunk.status = JobChunk.Status.PENDING
            chunk.save(update_fields=["status", "error", "updated_at"])
            _enqueue_on_commit(chunk.job_id, [chunk.index])
            return
        chunk.status = JobChunk.Status.FAILED
        chunk.save(update_fields=["status", "error", "updated_at"])
        if running:
            reason = f"chunk {chunk.index} failed {chunk.attempts} times; last: {error}"
            job_fail(job_id=chunk.job_id, reason=reason)
    job_finish_if_done(job_id=chunk.job_id)


def job_finish_if_done(*, job_id: int) -> None:
    """End the job once no chunk is left to run (idempotent).

    A failed chunk is finished work: no worker will run it again, so a job whose
    chunks are all done or failed ends, as failed if one of them failed it.
    """
    job = GenerationJob.objects.get(pk=job_id)
    if job.status == GenerationJob.Status.CANCELLING:
        # Chunks that never started have nothing in flight: mark them done.
        JobChunk.objects.filter(job_id=job_id, status=JobChunk.Status.PENDING).update(
            status=JobChunk.Status.DONE
        )
    left = JobChunk.objects.filter(job_id=job_id).exclude(
        status__in=[JobChunk.Status.DONE, JobChunk.Status.FAILED]
    )
    if left.exists():
        return
    # A batch is finished work once its results are ingested (batches.py).
    if LLMBatch.objects.filter(job_id=job_id, ingested_at__isnull=True).exists():
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
