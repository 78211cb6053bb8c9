"""Batch jobs: a job's requests through OpenAI's Batch API (docs/generation.md).

A batch job is planned as `LLMBatch` rows (jobs.py, at launch or retry), at most
`MAX_REQUESTS_PER_BATCH` patches each. Then, each step safe to run twice and run by
whichever worker gets to it, with all state in the database:

1. `batch_submit` (a task per batch): writes the requests as JSONL, at most
   `MAX_BYTES_PER_FILE` (the rest goes to a new batch), uploads the file and creates
   the batch. A worker that died after creating it is not followed by a second
   batch: the next one finds it by its input file.
2. `batches_poll` (Celery beat, every GENERATION_BATCH_POLL_S): asks the provider
   about open batches, cancels those of cancelled jobs, and queues the ingest of
   ended ones (and the submission of planned ones whose task was lost).
3. `batch_ingest`: reads the output and error files line by line into captions and
   failures, with the same checks, provenance and counts as an online job
   (recording.py) at the batch price; every planned patch without a usable line is
   a failure with the reason. Claimed with a guarded update, and the one-caption-
   per-patch-per-job constraint makes a second ingest write nothing.

No transaction is held across a call to the provider.
"""

import datetime as dt
import logging
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from captions.claims import Claim, claim
from captions.generation.jobs import (
    enqueue_batch_submissions,
    job_fail,
    job_finish_if_done,
    send_on_commit,
)
from captions.generation.options import BATCH_PRICE_FACTOR, GenerationError
from captions.generation.recording import JobPrompts, write_rows
from captions.llm.base import BackendError
from captions.llm.endpoints import Endpoint
from captions.llm.openai_backend import result_from_completion
from captions.llm.openai_batches import (
    MAX_BYTES_PER_FILE,
    BatchState,
    OpenAIBatches,
    ResultLine,
    parse_result_line,
    request_line,
)
from captions.llm.registry import get_batch_client
from captions.models import GenerationJob, LLMBatch, Patch

logger = logging.getLogger(__name__)

# A submission or an ingest whose worker has not moved it for this long belonged to
# a worker that died: the next try takes it over.
STALE_AFTER = dt.timedelta(minutes=10)
WRITE_EVERY = 1000  # result lines per transaction
IDS_PER_QUERY = 5000  # patch ids per `IN (…)`: SQLite takes at most 32,766
MAX_PROBLEMS_KEPT = 5  # unreadable lines described in the batch's error
_CUSTOM_ID = re.compile(r"job-(\d{1,12})-batch-(\d{1,12})-patch-(\d{1,12})")
_PROVIDER_STATUSES = {value for value, _ in LLMBatch.Status.choices} - {
    LLMBatch.Status.PLANNED,
    LLMBatch.Status.SUBMITTING,
}
# What a planned patch without a result line failed of, by how its batch ended.
_UNANSWERED = {
    LLMBatch.Status.EXPIRED: (
        "expired",
        "the batch expired (its 24 h window ended) before this request ran",
    ),
    LLMBatch.Status.CANCELLED: (
        "cancelled",
        "the batch was cancelled before this request ran",
    ),
    LLMBatch.Status.FAILED: ("batch_failed", "the batch failed"),
    LLMBatch.Status.COMPLETED: (
        "missing",
        "the batch's results have no usable line for this request",
    ),
}


def custom_id_for(batch: LLMBatch, patch_id: int) -> str:
    """A request's id in the batch: which job, batch and patch it is for (the arm of
    an A/B job follows from job and patch)."""
    return f"job-{batch.job_id}-batch-{batch.pk}-patch-{patch_id}"


def _batch_client(batch: LLMBatch) -> OpenAIBatches:
    """The Batch API of the batch's endpoint, with this process's key for it."""
    configured = settings.LLM_ENDPOINTS.get(batch.endpoint)
    if configured is None:
        raise GenerationError(
            f"unknown endpoint {batch.endpoint!r}; configured (LLM_ENDPOINTS): "
            f"{', '.join(settings.LLM_ENDPOINTS) or 'none'}"
        )
    endpoint = Endpoint(
        batch.endpoint, configured["base_url"], configured.get("key_variable", "")
    )
    return get_batch_client(endpoint)


# --- 1. submit ---------------------------------------------------------------------


def batch_submit(*, batch_id: int) -> Claim:
    """Write, upload and create one planned batch; TAKEN when this call did."""
    claimed = claim(
        LLMBatch, batch_id, ready=(LLMBatch.Status.PLANNED,),
        working=LLMBatch.Status.SUBMITTING, stale_after=STALE_AFTER,
    )  # fmt: skip
    if claimed is not Claim.TAKEN:
        return claimed
    batch = LLMBatch.objects.select_related(
        "job", "job__template", "job__template_b"
    ).get(pk=batch_id)
    if batch.job.status not in GenerationJob.RUNNABLE:
        _end_unsent(batch, f"the job was {batch.job.status} before this batch was sent")
        return Claim.TAKEN
    try:
        state = _send(batch)
    except (BackendError, GenerationError) as error:
        message = error.message if isinstance(error, BackendError) else str(error)
        logger.warning("job %s batch %s not sent: %s", batch.job_id, batch.pk, message)
        _end_unsent(batch, f"not sent: {message}", status=LLMBatch.Status.FAILED)
        return Claim.TAKEN
    now = timezone.now()
    LLMBatch.objects.filter(pk=batch.pk, status=LLMBatch.Status.SUBMITTING).update(
        batch_id=state.batch_id, submitted_at=now, polled_at=now, updated_at=now,
        **_state_fields(state),
    )  # fmt: skip
    GenerationJob.objects.filter(
        pk=batch.job_id, status=GenerationJob.Status.QUEUED
    ).update(status=GenerationJob.Status.RUNNING, started_at=now, updated_at=now)
    logger.info("job %s batch %s sent as %s", batch.job_id, batch.pk, state.batch_id)
    return Claim.TAKEN


def _send(batch: LLMBatch) -> BatchState:
    client = _batch_client(batch)
    if batch.input_file_id:
        # Taken over from a worker that uploaded the file and died: the batch may
        # exist already, and a second one would be paid for twice.
        found = client.find(batch.input_file_id)
        if found is not None:
            return found
    else:
        with tempfile.TemporaryFile() as requests_file:
            size = _write_requests(batch, requests_file)
            requests_file.seek(0)
            name = f"job-{batch.job_id}-batch-{batch.index}.jsonl"
            batch.input_file_id = client.upload(requests_file, name)
        LLMBatch.objects.filter(pk=batch.pk).update(
            input_file_id=batch.input_file_id, input_bytes=size,
            updated_at=timezone.now(),
        )  # fmt: skip
    metadata = {"job": str(batch.job_id), "batch": str(batch.pk)}
    return client.create(batch.input_file_id, metadata)


def _write_requests(batch: LLMBatch, out: IO[bytes]) -> int:
    """Write the batch's requests, in patch order; a batch whose file would pass
    MAX_BYTES_PER_FILE keeps what fits and hands the rest to a new batch."""
    prompts = JobPrompts.of(batch.job)
    prompts.load_corrections(batch.patch_ids)
    size = 0
    written: list[int] = []
    for patch in _patches(batch.patch_ids):
        request = prompts.request_for(patch)
        line = request_line(
            custom_id_for(batch, patch.pk), request.model, request.messages,
            request.parameters,
        )  # fmt: skip
        if size + len(line) > MAX_BYTES_PER_FILE and written:
            _split(batch, written)
            break
        out.write(line)
        size += len(line)
        written.append(patch.pk)
    return size


def _split(batch: LLMBatch, kept: list[int]) -> None:
    rest = sorted(set(batch.patch_ids) - set(kept))
    with transaction.atomic():
        last = LLMBatch.objects.filter(job_id=batch.job_id).aggregate(Max("index"))
        new = LLMBatch.objects.create(
            job_id=batch.job_id, index=last["index__max"] + 1, patch_ids=rest,
            requests=len(rest), endpoint=batch.endpoint,
        )  # fmt: skip
        LLMBatch.objects.filter(pk=batch.pk).update(patch_ids=kept, requests=len(kept))
        enqueue_batch_submissions([new.pk])
    batch.patch_ids = kept


def _patches(patch_ids: list[int]) -> Iterator[Patch]:
    ordered = sorted(patch_ids)
    for start in range(0, len(ordered), IDS_PER_QUERY):
        part = ordered[start : start + IDS_PER_QUERY]
        yield from Patch.objects.filter(id__in=part).order_by("id")


def _end_unsent(
    batch: LLMBatch, reason: str, *, status: str = LLMBatch.Status.CANCELLED
) -> None:
    """A batch that never reached the provider ends here; its ingest lists every
    patch as failed with the reason."""
    LLMBatch.objects.filter(pk=batch.pk, status=LLMBatch.Status.SUBMITTING).update(
        status=status, error=reason[:2000], updated_at=timezone.now()
    )
    _queue_ingest([batch.pk])


def _state_fields(state: BatchState) -> dict:
    fields: dict = {
        "output_file_id": state.output_file_id[:100],
        "error_file_id": state.error_file_id[:100],
        "requests_total": max(state.total, 0),
        "requests_completed": max(state.completed, 0),
        "requests_failed": max(state.failed, 0),
    }
    if state.status in _PROVIDER_STATUSES:
        fields["status"] = state.status
    else:
        fields["error"] = (
            f"the provider answered an unknown status {state.status!r:.50}"
        )
    if state.errors:
        fields["error"] = state.errors[:2000]
    return fields


# --- 2. poll -----------------------------------------------------------------------


def batches_poll(*, min_interval_s: float | None = None) -> int:
    """One round of the periodic poll; returns how many batches it asked about.

    Two pollers at once ask about each batch once: each takes a batch by moving its
    `polled_at` from the value it read (a compare-and-set), which only one can do.
    """
    if min_interval_s is None:
        min_interval_s = settings.GENERATION_BATCH_POLL_S / 2
    for job_id in (
        GenerationJob.objects.filter(
            status=GenerationJob.Status.CANCELLING, batches__isnull=False
        )
        .values_list("pk", flat=True)
        .distinct()
    ):
        _cancel_batches(job_id)
    now = timezone.now()
    due = LLMBatch.objects.filter(status__in=LLMBatch.OPEN).exclude(batch_id="")
    due = due.filter(
        Q(polled_at__isnull=True)
        | Q(polled_at__lt=now - dt.timedelta(seconds=min_interval_s))
    )
    asked = 0
    for batch in due.only("pk", "job_id", "endpoint", "batch_id", "polled_at"):
        taken = LLMBatch.objects.filter(
            pk=batch.pk, polled_at=batch.polled_at, status__in=LLMBatch.OPEN
        ).update(polled_at=timezone.now())
        if taken:
            asked += 1
            _poll_one(batch)
    _queue_left_behind()
    return asked


def _poll_one(batch: LLMBatch) -> None:
    try:
        state = _batch_client(batch).retrieve(batch.batch_id)
    except (BackendError, GenerationError) as error:
        message = error.message if isinstance(error, BackendError) else str(error)
        LLMBatch.objects.filter(pk=batch.pk).update(error=f"poll: {message}"[:2000])
        return
    LLMBatch.objects.filter(pk=batch.pk, status__in=LLMBatch.OPEN).update(
        updated_at=timezone.now(), **_state_fields(state)
    )


def _queue_left_behind() -> None:
    """Ingest ended batches not ingested yet, and submit planned batches whose task
    was lost (a purged queue): each step claims its batch, so a second is harmless."""
    _queue_ingest(
        list(
            LLMBatch.objects.filter(
                status__in=LLMBatch.ENDED, ingested_at__isnull=True
            ).values_list("pk", flat=True)
        )
    )
    stale = timezone.now() - STALE_AFTER
    enqueue_batch_submissions(
        list(
            LLMBatch.objects.filter(
                Q(status=LLMBatch.Status.PLANNED, updated_at__lt=stale)
                | Q(status=LLMBatch.Status.SUBMITTING, updated_at__lt=stale)
            ).values_list("pk", flat=True)
        )
    )


def _queue_ingest(batch_ids: list[int]) -> None:
    send_on_commit("ingest_batch", [(batch_id,) for batch_id in batch_ids])


def _cancel_batches(job_id: int) -> None:
    """Cancel a cancelled job's batches: those not sent end here, those at the
    provider are asked to stop (what they finished is still ingested)."""
    unsent = LLMBatch.objects.filter(job_id=job_id, status=LLMBatch.Status.PLANNED)
    unsent_ids = list(unsent.values_list("pk", flat=True))
    unsent.filter(pk__in=unsent_ids).update(
        status=LLMBatch.Status.CANCELLED,
        error="the job was cancelled before this batch was sent",
        updated_at=timezone.now(),
    )
    _queue_ingest(unsent_ids)
    asking = LLMBatch.objects.filter(
        job_id=job_id, status__in=LLMBatch.OPEN, cancel_requested_at__isnull=True
    ).exclude(batch_id="")
    for batch in asking.only("pk", "job_id", "endpoint", "batch_id"):
        if not LLMBatch.objects.filter(
            pk=batch.pk, cancel_requested_at__isnull=True
        ).update(cancel_requested_at=timezone.now()):
            continue  # another poller asked
        try:
            state = _batch_client(batch).cancel(batch.batch_id)
        except (BackendError, GenerationError) as error:
            message = error.message if isinstance(error, BackendError) else str(error)
            LLMBatch.objects.filter(pk=batch.pk).update(
                error=f"cancel: {message}"[:2000], cancel_requested_at=None
            )
            continue
        LLMBatch.objects.filter(pk=batch.pk, status__in=LLMBatch.OPEN).update(
            updated_at=timezone.now(), **_state_fields(state)
        )


# --- 3. ingest ---------------------------------------------------------------------


@dataclass
class _Ingest:
    batch: LLMBatch
    prompts: JobPrompts
    planned: set[int]
    seen: set[int] = field(default_factory=set)
    pending: list[tuple[int, ResultLine]] = field(default_factory=list)
    captions: int = 0
    failures: int = 0
    unreadable: int = 0
    problems: list[str] = field(default_factory=list)

    def take(self, raw: str, number: int, file_kind: str) -> None:
        line = parse_result_line(raw)
        patch_id = self._patch_of(line)
        if patch_id is None:
            self.unreadable += 1
            if len(self.problems) < MAX_PROBLEMS_KEPT:
                problem = line.problem or f"unknown custom_id {line.custom_id!r:.120}"
                self.problems.append(f"{file_kind} line {number}: {problem}")
            return
        if patch_id in self.seen:
            self.unreadable += 1
            if len(self.problems) < MAX_PROBLEMS_KEPT:
                self.problems.append(
                    f"{file_kind} line {number}: a second line for {line.custom_id}"
                )
            return
        self.seen.add(patch_id)
        self.pending.append((patch_id, line))
        if len(self.pending) >= WRITE_EVERY:
            self.flush()

    def _patch_of(self, line: ResultLine) -> int | None:
        if line.custom_id is None:
            return None
        match = _CUSTOM_ID.fullmatch(line.custom_id)
        if match is None:
            return None
        job_id, batch_pk, patch_id = (int(part) for part in match.groups())
        if (job_id, batch_pk) != (self.batch.job_id, self.batch.pk):
            return None
        return patch_id if patch_id in self.planned else None

    def flush(self) -> None:
        pending, self.pending = self.pending, []
        patches = Patch.objects.in_bulk([patch_id for patch_id, _ in pending])
        captions, failures = [], []
        for patch_id, line in pending:
            patch = patches.get(patch_id)
            if patch is None:
                continue  # deleted since: nothing to caption
            error = line.error
            if line.completion is not None:
                _, model, _ = self.prompts.arm(self.prompts.arm_of(patch))
                try:
                    result = result_from_completion(line.completion, model)
                except BackendError as refused:
                    error = refused
                else:
                    messages = self.prompts.request_for(patch).messages
                    captions.append(self.prompts.caption_from(patch, messages, result))
                    continue
            assert error is not None
            failures.append(self.prompts.failure_from(patch, error))
        job, options = self.prompts.job, self.prompts.options
        self.captions += write_rows(
            job, options, captions, price_factor=BATCH_PRICE_FACTOR
        )
        self.failures += write_rows(job, options, failures)
        LLMBatch.objects.filter(pk=self.batch.pk).update(ingest_beat_at=timezone.now())


def batch_ingest(*, batch_id: int) -> Claim:
    """Turn an ended batch's results into captions and failures; TAKEN when this
    call did, BUSY while another worker does."""
    now = timezone.now()
    claimable = LLMBatch.objects.filter(
        pk=batch_id, status__in=LLMBatch.ENDED, ingested_at__isnull=True
    )
    taken = claimable.filter(
        Q(ingest_beat_at__isnull=True) | Q(ingest_beat_at__lt=now - STALE_AFTER)
    ).update(ingest_beat_at=now)
    if not taken:
        return Claim.BUSY if claimable.exists() else Claim.NOT_CLAIMABLE
    batch = LLMBatch.objects.select_related(
        "job", "job__template", "job__template_b"
    ).get(pk=batch_id)
    prompts = JobPrompts.of(batch.job)
    prompts.load_corrections(batch.patch_ids)
    ingest = _Ingest(batch, prompts, planned=set(batch.patch_ids))
    for file_kind, file_id in (
        ("output", batch.output_file_id),
        ("error", batch.error_file_id),
    ):
        if file_id and not _read_file(ingest, file_kind, file_id):
            return Claim.TAKEN  # the provider did not answer: the next poll retries
    ingest.flush()
    _fail_unanswered(ingest)
    _ingested(ingest)
    return Claim.TAKEN


def _read_file(ingest: _Ingest, file_kind: str, file_id: str) -> bool:
    """Ingest one result file; False when it could not be read but may be later."""
    try:
        with _batch_client(ingest.batch).lines(file_id) as lines:
            for number, raw in enumerate(lines, start=1):
                ingest.take(raw, number, file_kind)
    except (BackendError, GenerationError) as error:
        retryable = isinstance(error, BackendError) and error.retryable
        message = error.message if isinstance(error, BackendError) else str(error)
        if retryable:
            LLMBatch.objects.filter(pk=ingest.batch.pk).update(
                ingest_beat_at=None, error=f"ingest: {message}"[:2000]
            )
            return False
        ingest.problems.append(f"the {file_kind} file could not be read: {message}")
    return True


def _fail_unanswered(ingest: _Ingest) -> None:
    batch = ingest.batch
    reason, message = _UNANSWERED[LLMBatch.Status(batch.status)]
    if batch.status == LLMBatch.Status.FAILED and batch.error:
        message = f"{message}: {batch.error}"
    if ingest.unreadable:
        message += (
            f" ({ingest.unreadable} result lines could not be used; first: "
            f"{ingest.problems[0]})"
        )
    elif ingest.problems:
        message += f" ({ingest.problems[0]})"
    unanswered = sorted(ingest.planned - ingest.seen)
    job = batch.job
    for start in range(0, len(unanswered), IDS_PER_QUERY):
        part = unanswered[start : start + IDS_PER_QUERY]
        done = set(
            job.captions.filter(patch_id__in=part).values_list("patch_id", flat=True)
        )
        patches = Patch.objects.filter(id__in=set(part) - done).order_by("id")
        failures = [
            ingest.prompts.failure_from(patch, BackendError(reason, message))
            for patch in patches
        ]
        ingest.failures += write_rows(job, ingest.prompts.options, failures)


def _ingested(ingest: _Ingest) -> None:
    batch = ingest.batch
    error = batch.error
    if ingest.problems:
        error = "; ".join(filter(None, [error, *ingest.problems]))
    LLMBatch.objects.filter(pk=batch.pk).update(
        ingested_at=timezone.now(),
        captions_written=ingest.captions,
        failures_written=ingest.failures,
        unreadable_lines=ingest.unreadable,
        error=error[:2000],
        updated_at=timezone.now(),
    )
    logger.info(
        "job %s batch %s ingested: %s captions, %s failures, %s unusable lines",
        batch.job_id, batch.pk, ingest.captions, ingest.failures, ingest.unreadable,
    )  # fmt: skip
    if batch.status == LLMBatch.Status.FAILED:
        job_fail(
            job_id=batch.job_id,
            reason=f"batch {batch.index} failed: {batch.error or 'no reason given'}",
        )
    job_finish_if_done(job_id=batch.job_id)
