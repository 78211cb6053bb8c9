"""Batch jobs run by real Celery worker processes, polled by a real Celery beat."""

import pytest
from django.db import connection
from django.db.models import Count, Sum

from captions.generation.jobs import job_cancel
from captions.models import Caption, GenerationJob, LLMBatch
from tests.captions.batch_fixtures import launch_batch_job
from tests.captions.generation_fixtures import KEY, job_status, make_patches
from tests.conftest import stop_worker, wait_for
from tests.fake_openai import BatchScript, FakeOpenAI

pytestmark = pytest.mark.worker

FAST_POLL = {"GENERATION_BATCH_POLL_S": "1"}


def test_a_worker_with_beat_submits_polls_and_ingests_a_batch_job(
    start_worker, llm_endpoint
):
    make_patches(20)
    with FakeOpenAI(api_key=KEY) as server:
        endpoint = llm_endpoint(server)
        server.script_batches(BatchScript(polls=2, errors={3}))
        start_worker(beat=True, **FAST_POLL)
        job = launch_batch_job(endpoint=endpoint)
        wait_for(
            lambda: job_status(job) not in GenerationJob.ACTIVE, timeout=90,
            what="the batch job",
        )  # fmt: skip
        polls = [r for r in server.received if r.path.startswith("/v1/batches/")]
    assert job.status == GenerationJob.Status.FINISHED
    assert (job.done, job.failed) == (19, 1)
    assert Caption.objects.filter(job=job).count() == 19
    assert len(polls) >= 3  # in progress twice, then completed
    assert not server.requests  # no online request


def test_a_batch_job_survives_its_workers_restart_from_what_the_database_holds(
    start_worker, llm_endpoint
):
    make_patches(10)
    with FakeOpenAI(api_key=KEY) as server:
        endpoint = llm_endpoint(server)
        server.script_batches(BatchScript(polls=1))
        first = start_worker()  # no beat: it submits, nothing polls
        job = launch_batch_job(endpoint=endpoint)
        wait_for(
            lambda: job.batches.exclude(batch_id="").exists(), timeout=60,
            what="the batch to be submitted",
        )  # fmt: skip
        stop_worker(first, kill=True)
        batch = job.batches.get()
        assert batch.status == LLMBatch.Status.VALIDATING
        assert job_status(job) == GenerationJob.Status.RUNNING
        # A new worker process, with beat, knows the batch only from the database.
        start_worker(beat=True, **FAST_POLL)
        wait_for(
            lambda: job_status(job) not in GenerationJob.ACTIVE, timeout=90,
            what="the job to finish after the restart",
        )  # fmt: skip
    assert job.status == GenerationJob.Status.FINISHED
    assert job.done == 10
    assert len(server.batches) == 1  # not sent again
    assert Caption.objects.filter(job=job).count() == 10


def test_cancelling_a_batch_job_cancels_its_batch_through_the_workers(
    start_worker, llm_endpoint
):
    make_patches(8)
    with FakeOpenAI(api_key=KEY) as server:
        endpoint = llm_endpoint(server)
        server.script_batches(BatchScript(polls=10_000, ran=2))
        start_worker(beat=True, **FAST_POLL)
        job = launch_batch_job(endpoint=endpoint)
        wait_for(
            lambda: job.batches.exclude(batch_id="").exists(), timeout=60,
            what="the batch to be submitted",
        )  # fmt: skip
        assert job_cancel(job_id=job.pk)
        wait_for(
            lambda: job_status(job) == GenerationJob.Status.CANCELLED, timeout=60,
            what="the job to be cancelled",
        )  # fmt: skip
        (fake_batch,) = server.batches.values()
    assert fake_batch.status == "cancelled"
    assert (job.done, job.failed) == (2, 6)
    assert set(job.failures.values_list("reason", flat=True)) == {"cancelled"}


@pytest.mark.postgres
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="two workers at once need PostgreSQL"
)
def test_two_workers_each_with_a_beat_caption_each_patch_once(
    start_worker, llm_endpoint
):
    make_patches(30)
    with FakeOpenAI(api_key=KEY) as server:
        endpoint = llm_endpoint(server)
        server.script_batches(BatchScript(polls=3, errors={0}))
        start_worker(beat=True, **FAST_POLL)
        start_worker(beat=True, **FAST_POLL)
        job = launch_batch_job(endpoint=endpoint)
        wait_for(
            lambda: job_status(job) not in GenerationJob.ACTIVE, timeout=90,
            what="the batch job",
        )  # fmt: skip
    assert (job.status, job.done, job.failed) == ("finished", 29, 1)
    per_patch = Caption.objects.filter(job=job).values("patch").annotate(n=Count("id"))
    assert {row["n"] for row in per_patch} == {1}
    assert len(per_patch) == 29
    assert len(server.batches) == 1
    tokens = Caption.objects.filter(job=job).aggregate(
        tokens_in=Sum("prompt_tokens"), tokens_out=Sum("completion_tokens")
    )
    assert (job.tokens_in, job.tokens_out) == (
        tokens["tokens_in"],
        tokens["tokens_out"],
    )
