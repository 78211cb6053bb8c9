"""Batch jobs against the loopback server's Batch API, in this process.

The steps run here one after the other as the workers and Celery beat would run them
(captions/generation/batches.py); tests/captions/test_batch_workers.py runs them in
real worker processes.
"""

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from captions.generation import batches as batch_steps
from captions.generation import jobs as job_services
from captions.generation.batches import batch_ingest, batch_submit, batches_poll
from captions.generation.checks import check_caption
from captions.generation.jobs import job_cancel, job_launch, job_retry_failed
from captions.generation.options import (
    BATCH_PRICE_FACTOR,
    GenerationError,
    JobOptions,
    Selection,
    prices,
)
from captions.generation.plans import job_plan
from captions.generation.runner import job_run_chunk
from captions.models import Caption, GenerationFailure, GenerationJob, LLMBatch
from tests.captions.batch_fixtures import (
    MODEL,
    launch_batch_job,
    poll_until_ended,
    run_batch_job,
    submit_all,
)
from tests.captions.generation_fixtures import KEY, make_patches
from tests.fake_openai import BatchScript, FakeOpenAI

pytestmark = pytest.mark.django_db


@pytest.fixture
def server(llm_endpoint):
    with FakeOpenAI(api_key=KEY) as fake:
        llm_endpoint(fake)
        yield fake


def failures_by_reason(job: GenerationJob) -> dict[str, int]:
    found: dict[str, int] = {}
    for reason in job.failures.values_list("reason", flat=True):
        found[reason] = found.get(reason, 0) + 1
    return found


def test_a_batch_job_sends_the_online_requests_as_jsonl_and_writes_checked_captions(
    server,
):
    patches = make_patches(12)
    server.script_batches(BatchScript(polls=2))
    job = launch_batch_job()
    assert job.status == GenerationJob.Status.QUEUED
    assert job.chunks.count() == 0
    (batch,) = job.batches.all()
    assert sorted(batch.patch_ids) == sorted(p.pk for p in patches)

    submit_all(job)
    batch.refresh_from_db()
    assert batch.status == LLMBatch.Status.VALIDATING
    assert batch.batch_id and batch.input_file_id and batch.input_bytes > 0
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.RUNNING
    lines = server.file_lines(batch.input_file_id)
    assert len(lines) == 12
    assert {line["url"] for line in lines} == {"/v1/chat/completions"}
    assert len({line["custom_id"] for line in lines}) == 12

    batches_poll(min_interval_s=0)
    batch.refresh_from_db()
    assert batch.status == LLMBatch.Status.IN_PROGRESS  # the script's first poll
    poll_until_ended(job)

    assert job.status == GenerationJob.Status.FINISHED
    assert (job.done, job.failed) == (12, 0)
    batch.refresh_from_db()
    assert batch.status == LLMBatch.Status.COMPLETED
    assert batch.ingested_at is not None and batch.captions_written == 12
    bodies = {line["custom_id"]: line["body"] for line in lines}
    for caption in Caption.objects.filter(job=job).select_related("patch"):
        body = bodies[f"job-{job.pk}-batch-{batch.pk}-patch-{caption.patch_id}"]
        assert caption.messages == body["messages"]  # provenance: exactly as sent
        assert caption.model == f"{MODEL}-2025-01-01"
        findings = check_caption(caption.generated_text, caption.patch.landcover)
        assert caption.checks == findings
        assert caption.template_id == job.template_id
    price_in, price_out = prices(MODEL, JobOptions())  # type: ignore[misc]
    online_cost = (job.tokens_in * price_in + job.tokens_out * price_out) / 1e6
    assert job.tokens_in > 0
    assert job.actual_cost == pytest.approx(online_cost * BATCH_PRICE_FACTOR)


def test_a_batch_request_is_the_request_an_online_job_sends(server):
    make_patches(3)
    online = job_launch(
        selection=Selection(), backend="openai", model=MODEL,
        template="chatearthnet-text", endpoint="fake", options=JobOptions(),
    )  # fmt: skip
    for index in online.chunks.values_list("index", flat=True):
        job_run_chunk(job_id=online.pk, index=index)
    sent_online = sorted(server.requests, key=str)
    job = launch_batch_job(selection=Selection(only_uncaptioned=False))
    submit_all(job)
    batch = job.batches.get()
    sent_in_batch = [line["body"] for line in server.file_lines(batch.input_file_id)]
    assert sorted(sent_in_batch, key=str) == sent_online


def test_the_estimate_of_a_batch_job_is_at_half_the_online_price(server):
    make_patches(5)
    arguments = {
        "selection": Selection(), "backend": "openai", "model": MODEL,
        "template": "chatearthnet-text", "endpoint": "fake",
    }  # fmt: skip
    online = job_plan(**arguments, options=JobOptions())
    batch = job_plan(**arguments, options=JobOptions(batch=True))
    assert online.estimated_cost
    assert batch.estimated_cost == pytest.approx(online.estimated_cost * 0.5)


def test_the_offline_backend_refuses_batch_mode_with_the_reason(server):
    make_patches(2)
    with pytest.raises(GenerationError, match="choose the openai backend"):
        launch_batch_job(backend="offline", model="offline-1", endpoint="")
    assert not GenerationJob.objects.exists()


def test_a_partly_failed_batch_keeps_its_good_lines_and_lists_each_failure(server):
    make_patches(12)
    server.script_batches(
        BatchScript(errors={1}, behaviours={2: "refusal", 3: "length", 4: "400"})
    )
    job = launch_batch_job()
    run_batch_job(job)
    assert job.status == GenerationJob.Status.FINISHED
    assert (job.done, job.failed) == (8, 4)
    assert failures_by_reason(job) == {
        "server_error": 1, "refused": 1, "length": 1, "bad_request": 1,
    }  # fmt: skip
    assert Caption.objects.filter(job=job).count() == 8
    batch = job.batches.get()
    assert (batch.requests_completed, batch.requests_failed) == (10, 2)


def test_malformed_missing_doubled_and_unknown_lines_lose_only_their_own_patches(
    server,
):
    patches = make_patches(12)
    server.script_batches(
        BatchScript(malformed={0}, missing={4}, duplicated={5}, unknown=2)
    )
    job = launch_batch_job()
    run_batch_job(job)
    assert job.status == GenerationJob.Status.FINISHED
    assert (job.done, job.failed) == (10, 2)
    failed = {
        failure.patch_id: failure
        for failure in GenerationFailure.objects.filter(job=job)
    }
    ordered = sorted(p.pk for p in patches)
    assert set(failed) == {ordered[0], ordered[4]}
    assert {failure.reason for failure in failed.values()} == {"missing"}
    assert "could not be used" in failed[ordered[0]].message
    batch = job.batches.get()
    assert batch.unreadable_lines == 4  # the garbled line, the double, two unknown
    assert "not JSON" in batch.error and "a second line" in batch.error
    # The patch whose line came twice has one caption.
    assert Caption.objects.filter(job=job, patch_id=ordered[5]).count() == 1


def test_an_expired_batch_keeps_what_ran_and_its_rest_retries_online(server):
    make_patches(12)
    server.script_batches(BatchScript(end="expired", ran=5))
    job = launch_batch_job()
    run_batch_job(job)
    assert job.status == GenerationJob.Status.FINISHED
    assert (job.done, job.failed) == (5, 7)
    assert failures_by_reason(job) == {"expired": 7}
    assert job.batches.get().status == LLMBatch.Status.EXPIRED

    cost_before = job.actual_cost
    assert job_retry_failed(job_id=job.pk) == 7
    for index in job.chunks.values_list("index", flat=True):
        job_run_chunk(job_id=job.pk, index=index)
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.FINISHED
    assert (job.done, job.failed) == (12, 0)
    assert len(server.requests) == 7  # online chat requests: only the expired ones
    # Online answers cost the full price.
    tokens = Caption.objects.filter(job=job).order_by("-id")[:7]
    price_in, price_out = prices(MODEL, JobOptions())  # type: ignore[misc]
    online = sum(
        c.prompt_tokens * price_in + c.completion_tokens * price_out for c in tokens
    )
    assert job.actual_cost == pytest.approx(cost_before + online / 1e6)


def test_failures_retry_as_a_new_batch(server):
    make_patches(10)
    server.script_batches(BatchScript(errors={0, 1, 2}), BatchScript())
    job = launch_batch_job()
    run_batch_job(job)
    assert (job.done, job.failed) == (7, 3)
    assert job_retry_failed(job_id=job.pk, as_batch=True) == 3
    retry = job.batches.get(index=1)
    assert len(retry.patch_ids) == 3
    run_batch_job(job)
    assert job.status == GenerationJob.Status.FINISHED
    assert (job.done, job.failed) == (10, 0)
    assert len(server.batches) == 2
    assert not server.requests  # nothing went online


def test_a_batch_the_provider_fails_fails_the_job_with_its_reason(server):
    make_patches(4)
    server.script_batches(BatchScript(end="failed"))
    job = launch_batch_job()
    run_batch_job(job)
    assert job.status == GenerationJob.Status.FAILED
    assert "batch 0 failed" in job.error and "model does not exist" in job.error
    assert failures_by_reason(job) == {"batch_failed": 4}


def test_cancel_stops_the_batch_at_the_provider_and_keeps_what_it_finished(server):
    make_patches(8)
    server.script_batches(BatchScript(polls=100, ran=3))
    job = launch_batch_job()
    submit_all(job)
    batches_poll(min_interval_s=0)
    assert job_cancel(job_id=job.pk)
    batches_poll(min_interval_s=0)  # asks the provider to cancel, then polls
    batch = job.batches.get()
    assert batch.cancel_requested_at is not None
    assert server.batches[batch.batch_id].status in ("cancelling", "cancelled")
    poll_until_ended(job)
    assert job.status == GenerationJob.Status.CANCELLED
    assert (job.done, job.failed) == (3, 5)
    assert failures_by_reason(job) == {"cancelled": 5}
    cancels = [r for r in server.received if r.path.endswith("/cancel")]
    assert len(cancels) == 1


def test_a_job_cancelled_before_its_batch_was_sent_sends_nothing(server):
    make_patches(4)
    job = launch_batch_job()
    job_cancel(job_id=job.pk)
    batches_poll(min_interval_s=0)
    poll_until_ended(job)
    assert job.status == GenerationJob.Status.CANCELLED
    assert not server.files and not server.batches


def test_an_ingest_run_twice_writes_and_counts_nothing_twice(server):
    make_patches(6)
    job = launch_batch_job()
    run_batch_job(job)
    done, cost = job.done, job.actual_cost
    batch = job.batches.get()
    assert batch_ingest(batch_id=batch.pk).value == "not claimable"
    # As if the worker died after writing and before marking the batch ingested.
    LLMBatch.objects.filter(pk=batch.pk).update(ingested_at=None, ingest_beat_at=None)
    batch_ingest(batch_id=batch.pk)
    job.refresh_from_db()
    assert Caption.objects.filter(job=job).count() == 6
    assert (job.done, job.actual_cost) == (done, cost)


def test_an_ingest_in_progress_elsewhere_is_left_alone_until_stale(server):
    make_patches(3)
    job = launch_batch_job()
    submit_all(job)
    poll_until_ended_without_ingest(job)
    batch = job.batches.get()
    LLMBatch.objects.filter(pk=batch.pk).update(ingest_beat_at=timezone.now())
    assert batch_ingest(batch_id=batch.pk).value == "busy"
    assert not Caption.objects.filter(job=job).exists()
    long_ago = timezone.now() - batch_steps.STALE_AFTER - dt.timedelta(seconds=1)
    LLMBatch.objects.filter(pk=batch.pk).update(ingest_beat_at=long_ago)
    assert batch_ingest(batch_id=batch.pk).value == "taken"
    assert Caption.objects.filter(job=job).count() == 3


def poll_until_ended_without_ingest(job: GenerationJob) -> None:
    for _ in range(10):
        batches_poll(min_interval_s=0)
        if not job.batches.filter(status__in=LLMBatch.OPEN).exists():
            return
    raise AssertionError("the batch did not end")


def test_a_poll_asks_about_each_batch_once_per_interval(server):
    make_patches(3)
    server.script_batches(BatchScript(polls=100))
    job = launch_batch_job()
    submit_all(job)
    batches_poll(min_interval_s=0)
    asked = len([r for r in server.received if r.path.startswith("/v1/batches/")])
    assert batches_poll(min_interval_s=3600) == 0  # just polled: not due
    again = len([r for r in server.received if r.path.startswith("/v1/batches/")])
    assert again == asked


def test_a_submission_taken_over_finds_the_batch_its_dead_worker_created(server):
    make_patches(3)
    job = launch_batch_job()
    submit_all(job)
    batch = job.batches.get()
    # The worker died after creating the batch and before saving its id.
    long_ago = timezone.now() - batch_steps.STALE_AFTER - dt.timedelta(seconds=1)
    LLMBatch.objects.filter(pk=batch.pk).update(
        status=LLMBatch.Status.SUBMITTING, batch_id="", updated_at=long_ago
    )
    LLMBatch.objects.filter(pk=batch.pk).update(updated_at=long_ago)
    assert batch_submit(batch_id=batch.pk).value == "taken"
    batch.refresh_from_db()
    assert len(server.batches) == 1 and len(server.files) == 1
    assert batch.batch_id == next(iter(server.batches))


def test_a_job_larger_than_a_batch_may_be_is_split(server, monkeypatch):
    make_patches(12)
    monkeypatch.setattr(job_services, "MAX_REQUESTS_PER_BATCH", 5)
    job = launch_batch_job()
    assert sorted(len(b.patch_ids) for b in job.batches.all()) == [2, 5, 5]
    run_batch_job(job)
    assert (job.status, job.done) == (GenerationJob.Status.FINISHED, 12)
    assert len(server.batches) == 3


def test_a_requests_file_larger_than_allowed_is_split_into_another_batch(
    server, monkeypatch, django_capture_on_commit_callbacks
):
    make_patches(6)
    job = launch_batch_job()
    first = job.batches.get()
    one_line = len(batch_steps.request_line("x" * 40, MODEL, [], {}))
    monkeypatch.setattr(batch_steps, "MAX_BYTES_PER_FILE", one_line * 30)
    with django_capture_on_commit_callbacks() as queued:
        batch_submit(batch_id=first.pk)
    assert len(queued) == 1  # the new batch's submission
    first.refresh_from_db()
    rest = job.batches.exclude(pk=first.pk).get()
    assert first.input_bytes <= one_line * 30
    assert len(first.patch_ids) + len(rest.patch_ids) == 6 and rest.patch_ids
    assert len(server.file_lines(first.input_file_id)) == len(first.patch_ids)
    run_batch_job(job)
    assert (job.status, job.done) == (GenerationJob.Status.FINISHED, 6)


def test_a_provider_that_does_not_answer_leaves_the_batch_to_poll_again(
    server, settings
):
    make_patches(3)
    job = launch_batch_job()
    submit_all(job)
    base_url = settings.LLM_ENDPOINTS["fake"]["base_url"]
    settings.LLM_ENDPOINTS = {"fake": {"base_url": "http://127.0.0.1:9/v1",
                                       "key_variable": "FAKE_LLM_KEY"}}  # fmt: skip
    batches_poll(min_interval_s=0)
    batch = job.batches.get()
    assert batch.status == LLMBatch.Status.VALIDATING
    assert batch.error.startswith("poll: connection")
    settings.LLM_ENDPOINTS = {"fake": {"base_url": base_url,
                                       "key_variable": "FAKE_LLM_KEY"}}  # fmt: skip
    poll_until_ended(job)
    assert (job.status, job.done) == (GenerationJob.Status.FINISHED, 3)


# --- two workers at once (PostgreSQL: SQLite takes one writer at a time) -------------


def at_once(*steps) -> list:
    """Run each step in its own thread (its own database connection), released
    together; returns what each returned, in order."""
    barrier = threading.Barrier(len(steps))
    results: list = [None] * len(steps)

    def run(number: int, step) -> None:
        barrier.wait()
        try:
            results[number] = step()
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(number, step))
        for number, step in enumerate(steps)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


@pytest.mark.postgres
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="two workers at once need PostgreSQL"
)
def test_two_ingests_at_once_write_each_caption_once(transactional_db, llm_endpoint):
    make_patches(40)
    with FakeOpenAI(api_key=KEY) as fake:
        llm_endpoint(fake)
        job = launch_batch_job()
        submit_all(job)
        poll_until_ended_without_ingest(job)
        batch = job.batches.get()
        claims = at_once(
            lambda: batch_ingest(batch_id=batch.pk),
            lambda: batch_ingest(batch_id=batch.pk),
        )
    assert sorted(claim.value for claim in claims) == ["busy", "taken"]
    job.refresh_from_db()
    assert (job.status, job.done, job.failed) == ("finished", 40, 0)
    assert Caption.objects.filter(job=job).count() == 40


@pytest.mark.postgres
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="two pollers at once need PostgreSQL"
)
def test_two_polls_at_once_ask_about_a_batch_once(transactional_db, llm_endpoint):
    make_patches(3)
    with FakeOpenAI(api_key=KEY) as fake:
        llm_endpoint(fake)
        fake.script_batches(BatchScript(polls=100))
        job = launch_batch_job()
        submit_all(job)
        long_ago = timezone.now() - dt.timedelta(hours=1)
        LLMBatch.objects.filter(job=job).update(polled_at=long_ago)
        asked = at_once(
            lambda: batches_poll(min_interval_s=30),
            lambda: batches_poll(min_interval_s=30),
        )
        retrieves = [r for r in fake.received if r.path.startswith("/v1/batches/")]
    assert sorted(asked) == [0, 1]
    assert len(retrieves) == 1


def test_a_batch_that_cannot_be_sent_fails_its_job_with_the_reason(server, monkeypatch):
    make_patches(3)
    job = launch_batch_job()
    monkeypatch.delenv("FAKE_LLM_KEY")  # this worker has no key for the endpoint
    submit_all(job)
    batch = job.batches.get()
    assert batch.status == LLMBatch.Status.FAILED
    assert "not sent" in batch.error and "FAKE_LLM_KEY" in batch.error
    poll_until_ended(job)
    assert job.status == GenerationJob.Status.FAILED
    assert failures_by_reason(job) == {"batch_failed": 3}
    assert not server.files  # nothing was uploaded
