"""Running one chunk of a generation job: claim it, send its requests, write results.

Safe to run twice. A worker claims the chunk with one guarded update
(captions/claims.py), so of two deliveries of a chunk at once only one sends requests;
the other is told the chunk is busy and tries again later, and takes it over only
once the holder has stopped beating (`chunk_stale_after`: its worker died). Within
a job a patch is captioned at most once (a database constraint), a chunk run again
skips what is done, and the job's counts move in the same transaction as the rows
they count. No transaction is held open across an LLM call: requests run in
threads, and their results are written in short batches by the task's own thread.
"""

import contextvars
import datetime as dt
import logging
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from captions.claims import Claim, claim, heartbeat
from captions.generation.backends import job_backend
from captions.generation.jobs import job_chunk_failed, job_fail, job_finish_if_done
from captions.generation.options import GenerationError, job_endpoint
from captions.generation.recording import JobPrompts, write_rows
from captions.llm.base import Backend, BackendError, ChatResult
from captions.log_context import log_ids
from captions.models import Caption, GenerationFailure, GenerationJob, JobChunk, Patch

logger = logging.getLogger(__name__)

# A provider that fails this many requests in a row, with no success between, is down
# or misconfigured: the job ends as failed instead of failing every patch.
MAX_CONSECUTIVE_FAILURES = 25
WRITE_EVERY_S = 0.5
CANCEL_POLL_S = 1.0
# A running chunk's worker beats at least this often, whatever its requests do (one
# can wait minutes on a slow provider's retries): the loop that waits for them wakes
# every CANCEL_POLL_S, and each write of results beats too. Capped at a tenth of the
# stale time (`chunk_stale_after`), so a live worker is never taken for dead.
HEARTBEAT_EVERY_S = 15.0
_TAKEN_OVER = "taken over"  # `_ChunkRun.stopped` when another worker has the chunk


@dataclass
class _Outcome:
    patch: Patch
    messages: list[dict]
    result: ChatResult | None = None
    error: BackendError | None = None


@dataclass
class _ChunkRun:
    job: GenerationJob
    chunk: JobChunk
    prompts: JobPrompts
    backend: Backend
    pending_captions: list[Caption] = field(default_factory=list)
    pending_failures: list[GenerationFailure] = field(default_factory=list)
    consecutive_failures: int = 0
    # Why no more requests are sent: "cancelled", _TAKEN_OVER or a failure.
    stopped: str = ""
    crash: Exception | None = None  # what broke a request unexpectedly
    last_beat: float = field(default_factory=time.monotonic)


def chunk_stale_after() -> dt.timedelta:
    """How long a running chunk may go without a heartbeat before its worker is taken
    for dead and the next delivery of its task takes it over (a setting: tests that
    kill a worker shorten it)."""
    return dt.timedelta(seconds=settings.GENERATION_CHUNK_STALE_AFTER_S)


def job_run_chunk(*, job_id: int, index: int) -> Claim:
    """Claim one chunk and caption its patches that this job has not captioned yet.

    Returns the claim: TAKEN when this call ran the chunk, BUSY when another worker
    runs it and is alive (try again later), NOT_CLAIMABLE when it has ended. A run
    that breaks on anything unexpected marks the chunk failed with the error, and
    `job_chunk_failed` queues it again or fails the job.
    """
    chunk = JobChunk.objects.get(job_id=job_id, index=index)
    # Every line logged while the chunk runs says which it is, the lines of the HTTP
    # client and the SDK in the request threads too (`_run_concurrently`).
    with log_ids(job_id=job_id, chunk_id=chunk.pk, chunk_index=index):
        return _claim_and_run(chunk)


def _claim_and_run(chunk: JobChunk) -> Claim:
    claimed = claim(
        JobChunk, chunk.pk, ready=(JobChunk.Status.PENDING,),
        working=JobChunk.Status.RUNNING, stale_after=chunk_stale_after(),
        attempts=F("attempts") + 1,
    )  # fmt: skip
    if claimed is not Claim.TAKEN:
        return claimed
    # The attempt this claim counted tells this worker's hold from a later take-over.
    chunk.refresh_from_db(fields=["attempts"])
    logger.info(
        "job %s chunk %s taken (attempt %s)", chunk.job_id, chunk.index, chunk.attempts
    )
    try:
        _run_claimed(chunk)
    except Exception as error:
        logger.exception("job %s chunk %s broke", chunk.job_id, chunk.index)
        job_chunk_failed(chunk_id=chunk.pk, error=f"{type(error).__name__}: {error}")
    return Claim.TAKEN


def _run_claimed(chunk: JobChunk) -> None:
    job = GenerationJob.objects.select_related("template", "template_b").get(
        pk=chunk.job_id
    )
    if job.status not in GenerationJob.RUNNABLE:
        _chunk_done(chunk)
        return
    GenerationJob.objects.filter(pk=job.pk, status=GenerationJob.Status.QUEUED).update(
        status=GenerationJob.Status.RUNNING, started_at=timezone.now()
    )
    prompts = JobPrompts.of(job)
    try:
        backend = job_backend(
            job.backend, job_endpoint(job), prompts.options, job.model,
            int(prompts.spec.parameters.get("max_tokens", 300)),
        )  # fmt: skip
    except (GenerationError, BackendError) as error:
        # This worker does not know the job's endpoint, or has no key for it: no
        # request of the job can be sent from here, so it stops with the reason.
        message = error.message if isinstance(error, BackendError) else str(error)
        job_fail(job_id=job.pk, reason=f"config: {message}")
        _chunk_done(chunk)
        return
    run = _ChunkRun(job=job, chunk=chunk, prompts=prompts, backend=backend)
    _send_requests(run)
    if run.stopped == _TAKEN_OVER:
        return  # the worker that has the chunk now ends it
    if run.stopped and run.stopped != "cancelled":
        job_fail(job_id=job.pk, reason=run.stopped)
    _chunk_done(chunk)


def _send_requests(run: _ChunkRun) -> None:
    """Caption the chunk's patches still to do; what is gathered is written even if
    a request breaks the run."""
    todo = _patches_to_do(run.job, run.chunk)
    run.prompts.load_corrections(patch.pk for patch in todo)
    try:
        if run.job.backend == "offline":
            _run_inline(run, todo)
        else:
            _run_concurrently(run, todo)
    finally:
        _flush(run)
    if run.crash is not None:
        raise run.crash


def _patches_to_do(job: GenerationJob, chunk: JobChunk) -> list[Patch]:
    ids = set(chunk.patch_ids)
    ids -= set(job.captions.filter(patch_id__in=ids).values_list("patch_id", flat=True))
    ids -= set(job.failures.filter(patch_id__in=ids).values_list("patch_id", flat=True))
    return list(Patch.objects.filter(id__in=ids).order_by("id"))


def _chunk_done(chunk: JobChunk) -> None:
    JobChunk.objects.filter(pk=chunk.pk, status=JobChunk.Status.RUNNING).update(
        status=JobChunk.Status.DONE, updated_at=timezone.now()
    )
    job_finish_if_done(job_id=chunk.job_id)


def _run_inline(run: _ChunkRun, patches: list[Patch]) -> None:
    """The offline backend answers at once: no threads, one write per chunk."""
    last_poll = time.monotonic()
    for patch in patches:
        if time.monotonic() - last_poll > CANCEL_POLL_S:
            last_poll = time.monotonic()
            _poll(run)
            if run.stopped:
                return
        request = run.prompts.request_for(patch)
        outcome = _Outcome(patch, request.messages)
        try:
            outcome.result = run.backend.complete(request)
        except BackendError as error:
            outcome.error = error
        _record(run, outcome)


def _run_concurrently(run: _ChunkRun, patches: list[Patch]) -> None:
    """Keep `in_flight_per_worker` requests going; write results in short batches."""
    in_flight = run.prompts.options.in_flight_per_worker
    queue: Iterator[Patch] = iter(patches)
    running: dict[Future, _Outcome] = {}
    last_write = last_poll = time.monotonic()
    with ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="llm") as pool:
        while True:
            while not run.stopped and len(running) < in_flight:
                patch = next(queue, None)
                if patch is None:
                    break
                request = run.prompts.request_for(patch)
                # A copy of this thread's context each: the request's log lines
                # carry the chunk's ids (a context runs in one thread at a time).
                context = contextvars.copy_context()
                future = pool.submit(context.run, run.backend.complete, request)
                running[future] = _Outcome(patch, request.messages)
            if not running:
                break
            finished, _ = wait(
                running, timeout=CANCEL_POLL_S, return_when=FIRST_COMPLETED
            )
            for future in finished:
                _collect(run, future, running.pop(future))
            now = time.monotonic()
            if now - last_write > WRITE_EVERY_S:
                _flush(run)
                last_write = now
            if now - last_poll > CANCEL_POLL_S:
                last_poll = now
                _poll(run)


def _collect(run: _ChunkRun, future: Future, outcome: _Outcome) -> None:
    try:
        outcome.result = future.result()
    except BackendError as error:
        outcome.error = error
    except Exception as error:  # a bug or an SDK surprise: the chunk fails with it
        run.crash = run.crash or error
        run.stopped = run.stopped or f"{type(error).__name__}: {error}"
        return
    _record(run, outcome)


def _poll(run: _ChunkRun) -> None:
    """Beat when due, and stop sending if the job is no longer running or the chunk
    is no longer ours."""
    every_s = min(HEARTBEAT_EVERY_S, chunk_stale_after().total_seconds() / 10)
    if time.monotonic() - run.last_beat > every_s:
        _beat(run)
    if (
        not run.stopped
        and not GenerationJob.objects.filter(
            pk=run.job.pk, status=GenerationJob.Status.RUNNING
        ).exists()
    ):
        run.stopped = "cancelled"


def _beat(run: _ChunkRun) -> None:
    run.last_beat = time.monotonic()
    held = {"attempts": run.chunk.attempts}
    if not heartbeat(
        JobChunk, run.chunk.pk, working=JobChunk.Status.RUNNING, holder=held
    ):
        run.stopped = _TAKEN_OVER


def _record(run: _ChunkRun, outcome: _Outcome) -> None:
    if outcome.result is not None:
        run.consecutive_failures = 0
        run.pending_captions.append(
            run.prompts.caption_from(outcome.patch, outcome.messages, outcome.result)
        )
        return
    error = outcome.error
    assert error is not None
    run.consecutive_failures += 1
    run.pending_failures.append(run.prompts.failure_from(outcome.patch, error))
    if error.fatal and not run.stopped:
        run.stopped = f"{error.reason}: {error.message}"
    elif run.consecutive_failures >= MAX_CONSECUTIVE_FAILURES and not run.stopped:
        run.stopped = (
            f"the provider failed {run.consecutive_failures} requests in a row; "
            f"last: {error.reason}: {error.message}"
        )


def _flush(run: _ChunkRun) -> None:
    """Write the results gathered so far, move the job's counts with them, and beat:
    a worker that writes is alive."""
    captions, failures = run.pending_captions, run.pending_failures
    run.pending_captions, run.pending_failures = [], []
    write_rows(run.job, run.prompts.options, captions)
    write_rows(run.job, run.prompts.options, failures)
    if captions or failures:
        _beat(run)
