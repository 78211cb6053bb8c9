"""Issue 9, hole 2: the OpenAI key went wherever a curator pointed.

A launch (the admin's form, `POST /api/v1/jobs/launch/` and `plan/`, `manage.py
generate_captions --base-url`) took any URL, and the server then sent
`Authorization: Bearer <its OPENAI_API_KEY>` there: from the web process, whose "does
it answer" probe also made it a port scanner, and from the workers. Endpoints are now
the operator's configuration (LLM_ENDPOINTS) and a launch names one; a URL that is
not configured is refused before anything is sent to it.

Two servers speak the OpenAI API on loopback. `trusted` is the one endpoint the
operator configured, with the server's key. `elsewhere` is a URL Cora the curator
types: it answers anything, as a server set up to collect keys would, and whatever
Cora does it must receive no request at all.
"""

import io
from collections.abc import Iterator

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from captions.generation.templates import template_get
from captions.models import GenerationJob
from tests.api_data import token_client
from tests.conftest import wait_for
from tests.fake_openai import FakeOpenAI

SERVER_KEY = "sk-the-servers-own-key"
LAUNCH = reverse("api-job-launch")
PLAN = reverse("api-job-plan")
ADMIN_LAUNCH = reverse("admin:captions_generationjob_launch")


@pytest.fixture
def trusted() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=SERVER_KEY) as server:
        yield server


@pytest.fixture
def elsewhere() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=None) as server:  # takes any key: it wants them all
        yield server


@pytest.fixture(autouse=True)
def only_trusted_is_configured(trusted, elsewhere, settings, monkeypatch) -> None:
    """For this process (settings) and for the workers it starts (environment)."""
    settings.LLM_ENDPOINTS = {
        "trusted": {"base_url": trusted.base_url, "key_variable": "OPENAI_API_KEY"}
    }
    monkeypatch.setenv("LLM_ENDPOINTS", f"trusted {trusted.base_url} OPENAI_API_KEY")
    monkeypatch.setenv("OPENAI_API_KEY", SERVER_KEY)
    monkeypatch.delenv("OPENAI_API_KEY_FILE", raising=False)
    # The backend used to fall back on this by itself: were anything still to do
    # so, it would reach `elsewhere`.
    monkeypatch.setenv("OPENAI_BASE_URL", elsewhere.base_url)


def attack_body(elsewhere: FakeOpenAI) -> dict:
    return {
        "backend": "openai",
        "model": "gpt-4o-mini",
        "base_url": elsewhere.base_url,
        "only_uncaptioned": False,
        "limit": 2,
    }


def admin_form(elsewhere: FakeOpenAI, button: str) -> dict:
    return {
        "backend": "openai",
        "model": "gpt-4o-mini",
        "base_url": elsewhere.base_url,
        "template": str(template_get("chatearthnet-text").pk),
        "in_flight_per_worker": "4",
        "chunk_size": "256",
        "limit": "2",
        button: "1",
    }


# --- the attack: every way in refuses the URL and sends it nothing ------------------


@pytest.mark.django_db
@pytest.mark.parametrize("url", [LAUNCH, PLAN])
def test_cora_cannot_send_the_key_to_a_url_of_hers_through_the_api(
    curator, api_world, trusted, elsewhere, enqueued_chunks,
    django_capture_on_commit_callbacks, url,
):  # fmt: skip
    jobs_before = GenerationJob.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        response = token_client(curator).post(
            url, attack_body(elsewhere), format="json"
        )
    assert response.status_code == 400, response.json()
    assert "base_url" in response.json()["fields"]
    assert GenerationJob.objects.count() == jobs_before
    assert enqueued_chunks == []
    assert elsewhere.received == []
    assert trusted.received == []  # refused before any probe


@pytest.mark.django_db
@pytest.mark.parametrize("button", ["_launch", "_preview"])
def test_cora_cannot_send_the_key_to_a_url_of_hers_through_the_admin_form(
    curator, api_world, trusted, elsewhere, enqueued_chunks, button
):
    client = Client()
    client.force_login(curator)
    response = client.post(ADMIN_LAUNCH, admin_form(elsewhere, button))
    assert response.status_code == 200  # the form again, not a redirect to a job
    html = response.content.decode()
    assert "This job cannot be launched." in html
    assert "not the URL of a configured endpoint" in html
    assert not GenerationJob.objects.filter(backend="openai").exists()
    assert enqueued_chunks == []
    assert elsewhere.received == []
    assert trusted.received == []


@pytest.mark.django_db
def test_the_command_will_not_send_the_key_to_an_unconfigured_url(
    api_world, trusted, elsewhere, enqueued_chunks
):
    with pytest.raises(CommandError, match="not the URL of a configured endpoint"):
        call_command(
            "generate_captions", "--backend", "openai", "--base-url",
            elsewhere.base_url, "--all", "--limit", "2",
            stdout=io.StringIO(), stderr=io.StringIO(),
        )  # fmt: skip
    assert not GenerationJob.objects.filter(backend="openai").exists()
    assert enqueued_chunks == []
    assert elsewhere.received == []
    assert trusted.received == []


@pytest.mark.django_db
@pytest.mark.parametrize("url", [LAUNCH, PLAN])
def test_a_key_the_launch_does_not_know_is_a_400_that_launches_nothing(
    curator,
    api_world,
    trusted,
    enqueued_chunks,
    django_capture_on_commit_callbacks,
    url,
):
    # `scene` for `scenes`: ignored, it would launch a job over every scene.
    body = {"scene": api_world.scenes[0].pk, "only_uncaptioned": False}
    jobs_before = GenerationJob.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        response = token_client(curator).post(url, body, format="json")
    assert response.status_code == 400
    assert "scene" in response.json()["fields"]
    assert GenerationJob.objects.count() == jobs_before
    assert enqueued_chunks == []
    assert trusted.received == []


# --- the configured endpoint: the key goes there, and only there ----------------------


@pytest.mark.worker
def test_a_job_on_the_configured_endpoint_sends_the_key_there_and_nowhere_else(
    curator, api_world, trusted, elsewhere, celery_worker
):
    body = {
        "backend": "openai",
        "endpoint": "trusted",
        "model": "gpt-4o-mini",
        "only_uncaptioned": False,
        "limit": 2,
    }
    response = token_client(curator).post(LAUNCH, body, format="json")
    assert response.status_code == 201, response.json()
    job = GenerationJob.objects.get(pk=response.json()["id"])
    wait_for(
        lambda: GenerationJob.objects.get(pk=job.pk).status not in GenerationJob.ACTIVE,
        timeout=90,
        what="the worker to run the job",
    )
    job.refresh_from_db()
    assert len(trusted.requests) == 2  # the two captions, from the worker
    assert (job.status, job.done) == (GenerationJob.Status.FINISHED, 2)
    assert (job.endpoint, job.base_url) == ("trusted", trusted.base_url)
    assert {seen.authorization for seen in trusted.received} == {f"Bearer {SERVER_KEY}"}
    assert elsewhere.received == []
