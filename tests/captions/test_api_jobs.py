"""Generation jobs through the API: the admin's services behind curator-only endpoints.

Cora curates. The world (tests/api_data.py) holds an ended job and a queued one; the
`enqueued_chunks` fixture stands in for the broker, so a launch shows which chunk
tasks it would send once its transaction commits.
"""

import pytest
from django.urls import reverse

from captions.llm.base import BackendError
from captions.llm.openai_backend import OpenAIBackend
from captions.models import GenerationJob, JobChunk
from tests.api_data import make_job, token_client
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.django_db

JOBS = reverse("api-job-list")
LAUNCH = reverse("api-job-launch")
PLAN = reverse("api-job-plan")


def launch(client, django_capture_on_commit_callbacks, **body):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(LAUNCH, body, format="json")


def test_jobs_list_newest_first_with_their_progress(curator, api_world):
    response = token_client(curator).get(JOBS)
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["id"] for row in rows] == [
        api_world.queued_job.pk,
        api_world.ended_job.pk,
    ]
    ended = rows[1]
    assert ended["status"] == "finished"
    assert ended["done"] == 2 and ended["total"] == 2
    assert ended["template"] == "chatearthnet-text v1"
    assert ended["rate_per_s"] is not None


def test_jobs_filter_by_status(curator, api_world):
    client = token_client(curator)
    rows = client.get(JOBS, {"status": "queued"}).json()["results"]
    assert [row["id"] for row in rows] == [api_world.queued_job.pk]
    assert client.get(JOBS, {"status": "paused"}).status_code == 400


def test_a_job_in_detail_is_its_summary(curator, api_world):
    job = api_world.ended_job
    response = token_client(curator).get(reverse("api-job-detail", args=[job.pk]))
    assert response.status_code == 200
    assert response.json()["selection"]["only_uncaptioned"] is True


def test_a_launch_writes_the_job_and_its_chunks_and_queues_them_on_commit(
    curator, api_world, enqueued_chunks, django_capture_on_commit_callbacks
):
    venice = api_world.scenes[0]
    response = launch(
        token_client(curator), django_capture_on_commit_callbacks,
        scenes=[venice.pk], only_uncaptioned=False, chunk_size=1,
    )  # fmt: skip
    assert response.status_code == 201, response.json()
    job = GenerationJob.objects.get(pk=response.json()["id"])
    assert response["Location"] == reverse("api-job-detail", args=[job.pk])
    assert job.created_by == curator
    assert job.backend == "offline" and job.model == "offline-1"
    assert job.selection["scene_ids"] == [venice.pk]
    assert job.total == 2
    chunks = list(job.chunks.order_by("index").values_list("index", "patch_ids"))
    assert chunks == [(0, [api_world.patches[0].pk]), (1, [api_world.patches[1].pk])]
    assert enqueued_chunks == [(job.pk, 0), (job.pk, 1)]
    assert response.json()["status"] == "queued"


def test_a_plan_estimates_without_writing_a_job(curator, api_world):
    before = GenerationJob.objects.count()
    response = token_client(curator).post(
        PLAN, {"only_uncaptioned": False, "splits": ["train"]}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["patch_count"] == 2
    assert body["estimated_cost"] == 0.0  # the offline model is free
    assert body["example_messages"][0]["role"] == "system"
    assert GenerationJob.objects.count() == before


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "the selection holds no patches"),  # every patch has a caption
        ({"only_uncaptioned": False, "template": "nope"}, "unknown template"),
        ({"only_uncaptioned": False, "template": "chatearthnet-text:x"}, "version"),
    ],
)
def test_a_refused_launch_is_a_400_with_the_reason_and_writes_nothing(
    curator, api_world, enqueued_chunks, django_capture_on_commit_callbacks,
    body, message,
):  # fmt: skip
    before = GenerationJob.objects.count()
    response = launch(token_client(curator), django_capture_on_commit_callbacks, **body)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert GenerationJob.objects.count() == before
    assert enqueued_chunks == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scenes": [999]}, "scenes"),
        ({"scenes": ["first"]}, "scenes"),
        ({"splits": ["training"]}, "splits"),
        ({"backend": "llama"}, "backend"),
        ({"limit": 0}, "limit"),
        ({"chunk_size": -1}, "chunk_size"),
        ({"base_url": "not a url"}, "base_url"),
        ({"base_url": "http://127.0.0.1:9/v1"}, "base_url"),  # not configured
        ({"endpoint": "azure"}, "endpoint"),
        ({"price_in_per_million": -1}, "price_in_per_million"),
        ({"scene": 3}, "scene"),  # unknown keys, not ignored
        ({"scenes": [], "rpm": 60}, "rpm"),
    ],
)
def test_a_malformed_launch_is_a_400_naming_the_field(
    curator, api_world, enqueued_chunks, body, field
):
    client = token_client(curator)
    before = GenerationJob.objects.count()
    for url in (LAUNCH, PLAN):
        response = client.post(url, {"only_uncaptioned": False, **body}, format="json")
        assert response.status_code == 400
        assert field in response.json()["fields"]
    assert GenerationJob.objects.count() == before
    assert enqueued_chunks == []


def test_an_openai_launch_names_its_endpoint_and_keeps_its_url(
    curator, api_world, llm_endpoint, enqueued_chunks,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    with FakeOpenAI(api_key="sk-cora") as server:
        llm_endpoint(server, "local")
        response = launch(
            token_client(curator), django_capture_on_commit_callbacks,
            backend="openai", endpoint="local", model="llama3", limit=1,
            only_uncaptioned=False,
        )  # fmt: skip
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["endpoint"], body["base_url"]) == ("local", server.base_url)
    job = GenerationJob.objects.get(pk=body["id"])
    assert (job.endpoint, job.base_url) == ("local", server.base_url)


def test_a_legacy_base_url_of_a_configured_endpoint_launches_on_that_endpoint(
    curator, api_world, llm_endpoint, enqueued_chunks,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    with FakeOpenAI(api_key="sk-cora") as server:
        llm_endpoint(server, "local")
        response = launch(
            token_client(curator), django_capture_on_commit_callbacks,
            backend="openai", base_url=server.base_url + "/", model="llama3",
            limit=1, only_uncaptioned=False,
        )  # fmt: skip
    assert response.status_code == 201, response.json()
    assert response.json()["endpoint"] == "local"


def test_a_launch_whose_server_does_not_answer_queues_nothing(
    curator, api_world, settings, monkeypatch, enqueued_chunks,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    def unreachable(backend) -> None:
        raise BackendError("connection", "http://127.0.0.1:9/v1 does not answer")

    settings.LLM_ENDPOINTS = {
        "gone": {"base_url": "http://127.0.0.1:9/v1", "key_variable": ""}
    }
    monkeypatch.setattr(OpenAIBackend, "check", unreachable)
    response = launch(
        token_client(curator), django_capture_on_commit_callbacks,
        backend="openai", endpoint="gone", only_uncaptioned=False,
    )  # fmt: skip
    assert response.status_code == 400
    assert "does not answer" in response.json()["error"]
    assert not GenerationJob.objects.filter(backend="openai").exists()
    assert enqueued_chunks == []


def test_cancelling_a_queued_job_ends_it(curator, api_world):
    job = api_world.queued_job
    response = token_client(curator).post(reverse("api-job-cancel", args=[job.pk]))
    assert response.status_code == 200
    # No chunk had started: nothing is in flight, so it is cancelled at once.
    assert response.json()["status"] == "cancelled"
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.CANCELLED
    assert not job.chunks.exclude(status=JobChunk.Status.DONE).exists()


@pytest.mark.parametrize("action", ["api-job-cancel", "api-job-retry-failed"])
def test_the_bodyless_job_actions_refuse_a_body_with_keys(curator, api_world, action):
    job = api_world.queued_job
    response = token_client(curator).post(
        reverse(action, args=[job.pk]), {"force": True}, format="json"
    )
    assert response.status_code == 400
    assert "force" in response.json()["fields"]
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.QUEUED


def test_cancelling_an_ended_job_is_a_409(curator, api_world):
    job = api_world.ended_job
    response = token_client(curator).post(reverse("api-job-cancel", args=[job.pk]))
    assert response.status_code == 409
    assert "nothing to cancel" in response.json()["error"]


def test_retry_failed_queues_the_patches_without_a_caption(
    curator, api_world, enqueued_chunks, django_capture_on_commit_callbacks
):
    failed = make_job(GenerationJob.Status.FAILED, total=1, failed=1)
    JobChunk.objects.create(
        job=failed, index=0, patch_ids=[api_world.patches[3].pk], status="done"
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = token_client(curator).post(
            reverse("api-job-retry-failed", args=[failed.pk])
        )
    assert response.status_code == 200
    assert response.json()["requeued"] == 1
    assert response.json()["job"]["status"] == "running"
    assert enqueued_chunks == [(failed.pk, 1)]


def test_retry_of_a_running_job_is_a_409(curator, api_world):
    job = api_world.queued_job
    response = token_client(curator).post(
        reverse("api-job-retry-failed", args=[job.pk])
    )
    assert response.status_code == 409
    assert "still running" in response.json()["error"]


def test_a_job_that_does_not_exist_is_a_404(curator, api_world):
    client = token_client(curator)
    responses = [
        client.get(reverse("api-job-detail", args=[999])),
        client.post(reverse("api-job-cancel", args=[999])),
        client.post(reverse("api-job-retry-failed", args=[999])),
    ]
    for response in responses:
        assert response.status_code == 404
        assert "error" in response.json()


def test_a_page_of_jobs_costs_the_same_queries_whatever_its_size(
    curator, api_world, django_assert_max_num_queries
):
    client = token_client(curator)
    # token and user, roles, the page with templates and creators
    with django_assert_max_num_queries(3):
        client.get(JOBS, {"page_size": 50})
    for _ in range(10):
        make_job(GenerationJob.Status.FINISHED, created_by=curator)
    with django_assert_max_num_queries(3):
        response = client.get(JOBS, {"page_size": 50})
    assert len(response.json()["results"]) == 12
