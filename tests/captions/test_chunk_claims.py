"""Generation chunks claimed once, failed with their reason, taken over when abandoned.

Cora curates: she reads a failed job's reason on its admin page and in the API. The
`enqueued_chunks` fixture stands in for the broker; `work_off` plays the worker,
running each queued chunk as the Celery task would, until none is left.
"""

import threading

import pytest
from celery.exceptions import Retry
from django.db import connection
from django.db.models import F
from django.test import Client
from django.urls import reverse

from captions import tasks
from captions.claims import Claim, claim, heartbeat
from captions.generation import runner
from captions.generation.jobs import MAX_CHUNK_ATTEMPTS, job_retry_failed
from captions.generation.options import JobOptions
from captions.generation.runner import job_run_chunk
from captions.llm.offline import OfflineBackend
from captions.llm.openai_backend import OpenAIBackend
from captions.models import Caption, GenerationJob, JobChunk
from tests.api_data import token_client
from tests.captions.generation_fixtures import KEY, launch, long_ago, make_patches
from tests.conftest import wait_for
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.django_db

SURPRISE = "the SDK returned something nobody expected"


def work_off(
    job: GenerationJob, enqueued: list[tuple[int, int]], capture_on_commit
) -> list[Claim]:
    """Run the queued chunks of `job`, and those their runs queue, like a worker."""
    claims = []
    while enqueued:
        job_id, index = enqueued.pop(0)
        assert job_id == job.pk
        with capture_on_commit(execute=True):
            claims.append(job_run_chunk(job_id=job_id, index=index))
    job.refresh_from_db()
    return claims


def launch_openai(endpoint: str, *, in_flight: int) -> GenerationJob:
    """A job of one chunk on `endpoint`, `in_flight` requests at a time."""
    return launch(
        backend="openai", model="gpt-4o-mini", endpoint=endpoint,
        options=JobOptions(chunk_size=10, in_flight_per_worker=in_flight),
    )  # fmt: skip


def raise_a_surprise(self, request):
    raise RuntimeError(SURPRISE)


# --- A backend that raises something unexpected ------------------------------------


def test_a_chunk_that_keeps_breaking_fails_its_job_with_the_reason_after_its_retries(
    enqueued_chunks, django_capture_on_commit_callbacks, monkeypatch
):
    make_patches(6)
    with django_capture_on_commit_callbacks(execute=True):
        job = launch()
    monkeypatch.setattr(OfflineBackend, "complete", raise_a_surprise)
    claims = work_off(job, enqueued_chunks, django_capture_on_commit_callbacks)
    assert claims == [Claim.TAKEN] * MAX_CHUNK_ATTEMPTS
    assert job.status == GenerationJob.Status.FAILED
    assert job.error == (
        f"chunk 0 failed {MAX_CHUNK_ATTEMPTS} times; last: RuntimeError: {SURPRISE}"
    )
    chunk = job.chunks.get()
    assert chunk.status == JobChunk.Status.FAILED
    assert chunk.attempts == MAX_CHUNK_ATTEMPTS
    assert chunk.error == f"RuntimeError: {SURPRISE}"
    assert Caption.objects.filter(job=job).count() == 0


def test_the_job_page_and_the_api_say_why_the_job_failed(
    curator, enqueued_chunks, django_capture_on_commit_callbacks, monkeypatch
):
    make_patches(3)
    with django_capture_on_commit_callbacks(execute=True):
        job = launch()
    monkeypatch.setattr(OfflineBackend, "complete", raise_a_surprise)
    work_off(job, enqueued_chunks, django_capture_on_commit_callbacks)
    page = Client()
    page.force_login(curator)
    html = page.get(
        reverse("admin:captions_generationjob_change", args=[job.pk])
    ).content.decode()
    assert "Job failed:" in html
    assert f"RuntimeError: {SURPRISE}" in html
    detail = token_client(curator).get(reverse("api-job-detail", args=[job.pk]))
    assert detail.json()["status"] == "failed"
    assert detail.json()["error"] == job.error


def test_retrying_a_job_failed_by_a_broken_chunk_captions_all_of_it(
    enqueued_chunks, django_capture_on_commit_callbacks, monkeypatch
):
    make_patches(6)
    with django_capture_on_commit_callbacks(execute=True):
        job = launch()
    with monkeypatch.context() as broken:
        broken.setattr(OfflineBackend, "complete", raise_a_surprise)
        work_off(job, enqueued_chunks, django_capture_on_commit_callbacks)
    assert job.status == GenerationJob.Status.FAILED
    with django_capture_on_commit_callbacks(execute=True):
        assert job_retry_failed(job_id=job.pk) == 6
    work_off(job, enqueued_chunks, django_capture_on_commit_callbacks)
    assert job.status == GenerationJob.Status.FINISHED
    assert (job.done, job.failed, job.error) == (6, 0, "")
    assert Caption.objects.filter(job=job).count() == 6


def test_a_chunk_that_breaks_once_is_run_again_and_the_job_finishes(
    enqueued_chunks, django_capture_on_commit_callbacks, monkeypatch
):
    make_patches(5)
    with django_capture_on_commit_callbacks(execute=True):
        job = launch()
    complete = OfflineBackend.complete
    calls = []

    def break_the_first_call(self, request):
        calls.append(request)
        if len(calls) == 1:
            raise RuntimeError(SURPRISE)
        return complete(self, request)

    monkeypatch.setattr(OfflineBackend, "complete", break_the_first_call)
    claims = work_off(job, enqueued_chunks, django_capture_on_commit_callbacks)
    assert claims == [Claim.TAKEN, Claim.TAKEN]
    assert job.status == GenerationJob.Status.FINISHED
    assert job.done == 5
    chunk = job.chunks.get()
    assert (chunk.status, chunk.attempts) == (JobChunk.Status.DONE, 2)


def test_answers_before_a_surprise_are_kept_and_never_asked_for_again(
    enqueued_chunks, django_capture_on_commit_callbacks, monkeypatch, llm_endpoint
):
    make_patches(6)
    complete = OpenAIBackend.complete
    calls = []

    def break_the_third_call(self, request):
        calls.append(request)
        if len(calls) == 3:
            raise RuntimeError(SURPRISE)  # before anything is sent
        return complete(self, request)

    monkeypatch.setattr(OpenAIBackend, "complete", break_the_third_call)
    with FakeOpenAI(api_key=KEY) as server:
        with django_capture_on_commit_callbacks(execute=True):
            job = launch_openai(llm_endpoint(server), in_flight=1)
        work_off(job, enqueued_chunks, django_capture_on_commit_callbacks)
        sent = len(server.requests)
    assert job.status == GenerationJob.Status.FINISHED
    assert job.done == 6
    assert sent == 6  # two answers kept from the broken run, four from the next
    assert job.chunks.get().attempts == 2


# --- Claims: one worker per chunk, and a dead worker's chunk taken over --------------


def test_a_chunk_whose_worker_is_alive_is_left_to_it_and_tried_again_later(
    enqueued_chunks,
):
    make_patches(4)
    job = launch()
    JobChunk.objects.filter(job=job).update(status=JobChunk.Status.RUNNING, attempts=1)
    with pytest.raises(Retry):
        tasks.generate_chunk(job.pk, 0)
    chunk = job.chunks.get()
    assert (chunk.status, chunk.attempts) == (JobChunk.Status.RUNNING, 1)
    assert Caption.objects.filter(job=job).count() == 0


def test_a_running_chunk_whose_worker_died_is_taken_over_once_its_heartbeat_is_stale(
    enqueued_chunks,
):
    make_patches(4)
    job = launch()
    JobChunk.objects.filter(job=job).update(
        status=JobChunk.Status.RUNNING, attempts=1, updated_at=long_ago()
    )
    tasks.generate_chunk(job.pk, 0)
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.FINISHED
    assert job.done == 4
    chunk = job.chunks.get()
    assert (chunk.status, chunk.attempts) == (JobChunk.Status.DONE, 2)


def test_a_chunk_delivered_again_after_it_is_done_sends_nothing(
    enqueued_chunks, llm_endpoint
):
    make_patches(3)
    with FakeOpenAI(api_key=KEY) as server:
        job = launch(
            backend="openai", model="gpt-4o-mini", endpoint=llm_endpoint(server)
        )
        assert job_run_chunk(job_id=job.pk, index=0) is Claim.TAKEN
        assert job_run_chunk(job_id=job.pk, index=0) is Claim.NOT_CLAIMABLE
        sent = len(server.requests)
    assert sent == 3


def test_a_worker_beats_as_it_writes_results(enqueued_chunks, monkeypatch):
    make_patches(3)
    job = launch()
    beats = []
    beat = runner.heartbeat

    def counting(*args, **kwargs):
        beats.append(args)
        return beat(*args, **kwargs)

    monkeypatch.setattr(runner, "heartbeat", counting)
    job_run_chunk(job_id=job.pk, index=0)
    assert beats == [(JobChunk, job.chunks.get().pk)]


class GatedOpenAI(FakeOpenAI):
    """A loopback OpenAI server that holds every chat answer until `gate` is set, so
    the requests a worker has sent stay in flight while a test looks on."""

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.gate = threading.Event()

    def _next_behaviour(self) -> str:
        self.gate.wait(timeout=120)
        return super()._next_behaviour()

    def close(self) -> None:
        self.gate.set()
        super().close()


def deliver(job: GenerationJob, outcomes: dict[str, str], name: str) -> None:
    """The task `generate_chunk` for chunk 0, as one worker process runs it."""
    try:
        tasks.generate_chunk(job.pk, 0)
        outcomes[name] = "ran"
    except Retry:
        outcomes[name] = "will retry"
    finally:
        connection.close()  # this thread's own connection


@pytest.mark.postgres
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="two workers at once need PostgreSQL"
)
def test_a_chunk_delivered_to_two_workers_at_once_is_sent_once(
    transactional_db, monkeypatch, llm_endpoint
):
    make_patches(6)
    monkeypatch.setattr(tasks.generate_chunk, "delay", lambda *args: None)
    outcomes: dict[str, str] = {}
    with GatedOpenAI(api_key=KEY) as server:
        job = launch_openai(llm_endpoint(server), in_flight=2)
        first = threading.Thread(target=deliver, args=(job, outcomes, "first"))
        first.start()
        wait_for(lambda: len(server.requests) == 2, what="the first worker's requests")
        # The second delivery, while the first worker's requests are in flight: it
        # ends on its own, or (without the claim) sends requests of its own.
        second = threading.Thread(target=deliver, args=(job, outcomes, "second"))
        second.start()
        wait_for(
            lambda: not second.is_alive() or len(server.requests) > 2,
            what="the second delivery",
        )
        server.gate.set()
        first.join(timeout=60)
        second.join(timeout=60)
        sent = len(server.requests)
    job.refresh_from_db()
    assert outcomes == {"first": "ran", "second": "will retry"}
    assert sent == 6
    assert job.status == GenerationJob.Status.FINISHED
    assert job.done == 6


def test_a_take_over_ends_the_old_holders_heartbeat(enqueued_chunks):
    """A stale chunk taken over stays `running`: the attempt the claim counted is
    what tells the worker that lost it (and stops its requests, below)."""
    make_patches(4)
    chunk = launch().chunks.get()

    def take() -> Claim:
        return claim(
            JobChunk, chunk.pk, ready=(JobChunk.Status.PENDING,),
            working=JobChunk.Status.RUNNING, stale_after=runner.chunk_stale_after(),
            attempts=F("attempts") + 1,
        )  # fmt: skip

    def beat(attempts: int) -> bool:
        return heartbeat(
            JobChunk, chunk.pk, working=JobChunk.Status.RUNNING,
            holder={"attempts": attempts},
        )  # fmt: skip

    assert take() is Claim.TAKEN
    first = JobChunk.objects.get(pk=chunk.pk).attempts
    assert beat(first)
    assert take() is Claim.BUSY  # alive: left to it
    JobChunk.objects.filter(pk=chunk.pk).update(updated_at=long_ago())
    assert take() is Claim.TAKEN  # silent: taken over
    assert not beat(first)
    assert beat(first + 1)
    assert JobChunk.objects.get(pk=chunk.pk).status == JobChunk.Status.RUNNING


def test_a_worker_whose_chunk_was_taken_over_sends_no_more(
    transactional_db, monkeypatch, llm_endpoint
):
    make_patches(8)
    monkeypatch.setattr(tasks.generate_chunk, "delay", lambda *args: None)
    lost = threading.Event()

    def taken_over(*args, **kwargs) -> bool:
        lost.set()  # another worker found this one silent and took the chunk
        return False

    monkeypatch.setattr(runner, "heartbeat", taken_over)
    monkeypatch.setattr(runner, "HEARTBEAT_EVERY_S", 0.0)
    monkeypatch.setattr(runner, "CANCEL_POLL_S", 0.0)
    outcomes: dict[str, str] = {}
    with GatedOpenAI(api_key=KEY) as server:
        job = launch_openai(llm_endpoint(server), in_flight=1)
        worker = threading.Thread(target=deliver, args=(job, outcomes, "worker"))
        worker.start()
        wait_for(lost.is_set, what="the lost heartbeat")
        server.gate.set()
        worker.join(timeout=60)
        sent = len(server.requests)
    job.refresh_from_db()
    assert sent == 1  # the request in flight when the chunk was lost, no more
    assert job.done == 1  # its answer is still written
    # The chunk and the job are the other worker's to end.
    assert job.chunks.get().status == JobChunk.Status.RUNNING
    assert job.status == GenerationJob.Status.RUNNING
