"""Batch jobs on the job page, in the API and in `generate_captions --batch`.

Cora curates through the API; Anna annotates and Conrad consumes (tests/api_data.py).
Alice curates in the admin; Bob is not staff, Dave is staff without the captions
permissions (tests/captions/conftest.py).
"""

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from captions.generation.jobs import job_launch
from captions.generation.options import JobOptions, Selection
from captions.models import GenerationJob, LLMBatch
from tests.api_data import token_client
from tests.captions.batch_fixtures import launch_batch_job, run_batch_job
from tests.captions.generation_fixtures import KEY, make_patches
from tests.fake_openai import BatchScript, FakeOpenAI

pytestmark = pytest.mark.django_db

LAUNCH = reverse("api-job-launch")


@pytest.fixture
def server(llm_endpoint):
    with FakeOpenAI(api_key=KEY) as fake:
        llm_endpoint(fake)
        yield fake


@pytest.fixture
def partly_failed_job(server) -> GenerationJob:
    """A batch job that ended with 4 captions and 2 failures (a 500, a refusal)."""
    make_patches(6)
    server.script_batches(BatchScript(errors={0}, behaviours={1: "refusal"}))
    job = launch_batch_job()
    run_batch_job(job)
    assert (job.done, job.failed) == (4, 2)
    return job


def failures_url(job: GenerationJob) -> str:
    return reverse("api-job-failures", args=[job.pk])


# --- the API ------------------------------------------------------------------------


def test_a_batch_launch_through_the_api_plans_batches_not_chunks(
    curator, server, django_capture_on_commit_callbacks
):
    make_patches(4)
    body = {"backend": "openai", "endpoint": "fake", "model": "gpt-4o-mini",
            "batch": True}  # fmt: skip
    with django_capture_on_commit_callbacks() as queued:
        response = token_client(curator).post(LAUNCH, body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["batch"] is True
    job = GenerationJob.objects.get(pk=response.json()["id"])
    assert job.batches.count() == 1 and job.chunks.count() == 0
    assert len(queued) == 1  # the batch's submission


def test_a_batch_launch_on_the_offline_backend_is_a_400_with_the_reason(
    curator, server
):
    make_patches(2)
    body = {"backend": "offline", "batch": True}
    response = token_client(curator).post(LAUNCH, body, format="json")
    assert response.status_code == 400
    assert "choose the openai backend" in response.json()["error"]


def test_the_job_detail_shows_its_batches_states_and_costs(curator, partly_failed_job):
    job = partly_failed_job
    response = token_client(curator).get(reverse("api-job-detail", args=[job.pk]))
    assert response.status_code == 200
    detail = response.json()
    assert detail["batch"] is True
    assert detail["estimated_cost"] > 0 and detail["actual_cost"] > 0
    (batch,) = detail["batches"]
    assert batch["status"] == "completed"
    assert batch["requests"] == 6
    assert (batch["captions_written"], batch["failures_written"]) == (4, 2)
    assert batch["batch_id"] == job.batches.get().batch_id
    assert batch["ingested_at"] is not None


def test_the_failures_endpoint_lists_each_failed_patch_with_its_reason(
    curator, partly_failed_job
):
    client = token_client(curator)
    response = client.get(failures_url(partly_failed_job))
    assert response.status_code == 200
    rows = response.json()["results"]
    assert sorted(row["reason"] for row in rows) == ["refused", "server_error"]
    assert all(row["message"] and row["patch"] for row in rows)
    refused = client.get(failures_url(partly_failed_job), {"reason": "refused"})
    assert [row["reason"] for row in refused.json()["results"]] == ["refused"]
    assert client.get(failures_url(partly_failed_job), {"why": "x"}).status_code == 400


@pytest.mark.parametrize(
    ("persona", "expected"),
    [("anonymous", 401), ("annotator", 403), ("consumer", 403), ("curator", 200)],
)
def test_only_curators_see_a_jobs_failures(
    persona, expected, request, partly_failed_job
):
    user = None if persona == "anonymous" else request.getfixturevalue(persona)
    response = token_client(user).get(failures_url(partly_failed_job))
    assert response.status_code == expected


def test_the_failures_of_a_job_that_does_not_exist_are_a_404(curator, db):
    client = token_client(curator)
    assert client.get(reverse("api-job-failures", args=[999999])).status_code == 404
    too_big = reverse("api-job-failures", args=[10**30])
    assert client.get(too_big).status_code == 404


def test_failures_retry_as_a_batch_through_the_api(curator, partly_failed_job, server):
    job = partly_failed_job
    url = reverse("api-job-retry-failed", args=[job.pk])
    client = token_client(curator)
    assert (
        client.post(url, {"mode": "carrier pigeon"}, format="json").status_code == 400
    )
    response = client.post(url, {"mode": "batch"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["requeued"] == 2
    retry = job.batches.get(index=1)
    assert retry.requests == 2 and retry.status == LLMBatch.Status.PLANNED
    run_batch_job(job)
    assert (job.status, job.done, job.failed) == ("finished", 6, 0)


def test_an_offline_job_cannot_retry_as_a_batch(curator, db):
    make_patches(2)
    job = job_launch(
        selection=Selection(), backend="offline", model="offline-1",
        template="chatearthnet-text", options=JobOptions(),
    )  # fmt: skip
    job.status = GenerationJob.Status.FINISHED
    job.save()
    url = reverse("api-job-retry-failed", args=[job.pk])
    response = token_client(curator).post(url, {"mode": "batch"}, format="json")
    assert response.status_code == 409
    assert "no batches" in response.json()["error"]


# --- the admin's job page -----------------------------------------------------------


def change_url(job: GenerationJob) -> str:
    return reverse("admin:captions_generationjob_change", args=[job.pk])


def test_the_job_page_shows_each_batch_its_state_and_the_batch_price(
    alice_client, partly_failed_job
):
    job = partly_failed_job
    html = alice_client.get(change_url(job)).content.decode()
    assert "Batches" in html
    assert 'data-batch-status="completed"' in html
    assert job.batches.get().batch_id in html
    assert "(at the batch price)" in html
    assert "Retry failed as a batch" in html


def test_only_alice_sees_the_job_page(
    bob_client, carol_client, dave_client, partly_failed_job
):
    url = change_url(partly_failed_job)
    assert bob_client.get(url).status_code == 302  # to the admin's login
    assert carol_client.get(url).status_code == 302
    assert dave_client.get(url).status_code == 403


def test_retry_as_a_batch_on_the_job_page(alice_client, partly_failed_job):
    job = partly_failed_job
    url = reverse("admin:captions_generationjob_retry_failed", args=[job.pk])
    response = alice_client.post(url, {"mode": "batch"})
    assert response.status_code == 302
    assert job.batches.filter(index=1, requests=2).exists()


def test_dave_may_not_retry_as_a_batch(dave_client, partly_failed_job):
    job = partly_failed_job
    url = reverse("admin:captions_generationjob_retry_failed", args=[job.pk])
    assert dave_client.post(url, {"mode": "batch"}).status_code == 403
    assert job.batches.count() == 1


def test_the_launch_page_launches_a_batch_job(alice_client, server):
    make_patches(3)
    template = GenerationJob._meta.get_field("template").related_model
    prompt = template.objects.get(name="chatearthnet-text", version=1)
    form = {
        "scenes": [], "splits": [], "only_uncaptioned": "on", "limit": "",
        "backend": "openai", "endpoint": "fake", "model": "gpt-4o-mini",
        "template": str(prompt.pk), "in_flight_per_worker": "4", "chunk_size": "256",
        "requests_per_minute": "", "tokens_per_minute": "",
        "price_in_per_million": "", "price_out_per_million": "", "batch": "on",
        "_launch": "1",
    }  # fmt: skip
    response = alice_client.post(
        reverse("admin:captions_generationjob_launch"), form, follow=True
    )
    assert response.status_code == 200
    job = GenerationJob.objects.get()
    assert job.options["batch"] is True and job.batches.count() == 1
    assert "3 patches in 1 batches" in response.content.decode()


# --- the command --------------------------------------------------------------------


def test_generate_captions_batch_launches_a_batch_job(server):
    make_patches(3)
    out = io.StringIO()
    call_command(
        "generate_captions", "--backend", "openai", "--endpoint", "fake",
        "--model", "gpt-4o-mini", "--batch", "--json", stdout=out,
    )  # fmt: skip
    job = GenerationJob.objects.get()
    assert job.options["batch"] is True
    assert job.batches.get().requests == 3
    assert '"batch": true' in out.getvalue()


def test_a_page_of_failures_costs_as_many_queries_whatever_its_size(
    curator, partly_failed_job, server
):
    client = token_client(curator)
    with CaptureQueriesContext(connection) as two:
        assert client.get(failures_url(partly_failed_job)).status_code == 200
    job = launch_batch_job(selection=Selection(only_uncaptioned=False))
    server.script_batches(BatchScript(errors=set(range(6))))
    run_batch_job(job)
    assert job.failed == 6
    with CaptureQueriesContext(connection) as six:
        assert client.get(failures_url(job)).status_code == 200
    assert len(six) == len(two) <= 6
