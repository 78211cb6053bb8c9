"""Generation jobs run by real Celery worker processes."""

import time

import pytest
from django.db.models import Count

from captions.generation.jobs import job_cancel
from captions.generation.options import JobOptions
from captions.models import Caption, GenerationJob
from tests.captions.generation_fixtures import KEY, job_status, launch, make_patches
from tests.conftest import stop_worker, uses_redis_broker, wait_for
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.worker


def test_a_real_worker_runs_an_offline_job_to_the_end(start_worker):
    make_patches(40)
    start_worker()
    job = launch(options=JobOptions(chunk_size=15))  # offline
    wait_for(
        lambda: job_status(job) not in GenerationJob.ACTIVE, timeout=90, what="the job"
    )
    assert job.status == GenerationJob.Status.FINISHED
    assert job.done == 40
    assert Caption.objects.filter(job=job).count() == 40


def test_a_real_worker_runs_an_openai_job_against_a_loopback_server(
    start_worker, llm_endpoint
):
    make_patches(24)
    with FakeOpenAI(api_key=KEY, latency_s=0.2) as server:
        endpoint = llm_endpoint(server)  # in the environment the worker inherits
        start_worker()
        job = launch(
            backend="openai", model="gpt-4o-mini", endpoint=endpoint,
            options=JobOptions(chunk_size=12, in_flight_per_worker=8),
        )  # fmt: skip
        wait_for(
            lambda: job_status(job) not in GenerationJob.ACTIVE, timeout=90,
            what="the job",
        )  # fmt: skip
        assert server.max_in_flight > 1  # requests overlapped within the worker
        keys = {seen.authorization for seen in server.received}
    assert job.status == GenerationJob.Status.FINISHED
    assert job.done == 24
    assert keys == {f"Bearer {KEY}"}


def test_a_worker_that_does_not_know_the_jobs_endpoint_stops_it(
    start_worker, llm_endpoint
):
    make_patches(6)
    with FakeOpenAI(api_key=KEY) as server:
        endpoint = llm_endpoint(server)
        start_worker(LLM_ENDPOINTS="other http://127.0.0.1:9/v1")
        job = launch(
            backend="openai", model="gpt-4o-mini", endpoint=endpoint,
            options=JobOptions(chunk_size=3),
        )  # fmt: skip
        wait_for(
            lambda: job_status(job) not in GenerationJob.ACTIVE, timeout=90,
            what="the job",
        )  # fmt: skip
        assert server.requests == []  # the launch's check only, from this process
    assert job.status == GenerationJob.Status.FAILED
    assert job.error == (
        "config: unknown endpoint 'fake'; configured (LLM_ENDPOINTS): other"
    )


@pytest.mark.skipif(
    not uses_redis_broker(),
    reason="redelivery of a killed worker's task needs the Redis broker",
)
def test_a_worker_killed_mid_job_loses_nothing_and_captions_each_patch_once(
    start_worker, llm_endpoint
):
    patches = make_patches(60)
    # The broker hands the task out again after 3 s, and the next worker takes the
    # dead one's chunk over once it has not beaten for 5 s.
    visibility = {
        "CELERY_VISIBILITY_TIMEOUT_S": "3",
        "GENERATION_CHUNK_STALE_AFTER_S": "5",
    }
    with FakeOpenAI(api_key=KEY, latency_s=0.25) as server:
        endpoint = llm_endpoint(server)
        first = start_worker(**visibility)
        job = launch(
            backend="openai", model="gpt-4o-mini", endpoint=endpoint,
            options=JobOptions(chunk_size=20, in_flight_per_worker=4),
        )  # fmt: skip
        wait_for(lambda: job_status(job) and job.done >= 5, timeout=60, what="work")
        stop_worker(first, kill=True)  # SIGKILL mid-chunk: its task is never acked
        killed_at_done = job.done
        assert killed_at_done < 60
        time.sleep(4)  # past the visibility timeout: the broker may hand it out again
        start_worker(**visibility)
        wait_for(
            lambda: job_status(job) not in GenerationJob.ACTIVE, timeout=120,
            what="the job to finish after the kill",
        )  # fmt: skip
    assert job.status == GenerationJob.Status.FINISHED
    assert job.done == 60
    per_patch = Caption.objects.filter(job=job).values("patch").annotate(n=Count("id"))
    assert {row["patch"] for row in per_patch} == {p.pk for p in patches}
    assert {row["n"] for row in per_patch} == {1}


def test_cancel_through_a_real_worker(start_worker, llm_endpoint):
    make_patches(80)
    with FakeOpenAI(api_key=KEY, latency_s=0.3) as server:
        endpoint = llm_endpoint(server)
        start_worker()
        job = launch(
            backend="openai", model="gpt-4o-mini", endpoint=endpoint,
            options=JobOptions(chunk_size=20, in_flight_per_worker=2),
        )  # fmt: skip
        wait_for(lambda: len(server.requests) >= 3, timeout=60, what="requests")
        job_cancel(job_id=job.pk)
        wait_for(
            lambda: job_status(job) == GenerationJob.Status.CANCELLED, timeout=30,
            what="the job to be cancelled",
        )  # fmt: skip
        seen = len(server.requests)
        time.sleep(1.5)
        assert len(server.requests) == seen  # nothing sent after it ended
    assert job.done < 80
