"""Where a job's requests go: endpoints named by the operator, checked at launch and
resolved again by each worker, with their keys and shared rate limits.
"""

import pytest

from captions.generation import backends
from captions.generation.jobs import job_retry_failed
from captions.generation.options import GenerationError, JobOptions, endpoint_name_from
from captions.generation.templates import template_get
from captions.models import GenerationFailure, GenerationJob, JobChunk
from tests.captions.generation_fixtures import KEY, launch, make_patches, run_all_chunks
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.django_db


def test_a_missing_api_key_is_refused_before_queueing(
    enqueued_chunks, llm_endpoint, monkeypatch
):
    make_patches(3)
    with FakeOpenAI(api_key=KEY) as server:
        endpoint = llm_endpoint(server)
        monkeypatch.delenv("FAKE_LLM_KEY")
        with pytest.raises(GenerationError, match="FAKE_LLM_KEY"):
            launch(backend="openai", model="gpt-4o-mini", endpoint=endpoint)
        assert server.received == []
    assert GenerationJob.objects.count() == 0


def test_a_server_that_does_not_answer_is_refused_before_queueing(
    enqueued_chunks, settings, monkeypatch
):
    make_patches(3)
    settings.LLM_ENDPOINTS = {
        "gone": {"base_url": "http://127.0.0.1:9/v1", "key_variable": "GONE_KEY"}
    }
    monkeypatch.setenv("GONE_KEY", KEY)
    with pytest.raises(GenerationError, match="does not answer"):
        launch(backend="openai", model="gpt-4o-mini", endpoint="gone")
    assert GenerationJob.objects.count() == 0


def test_an_unknown_endpoint_is_refused_naming_the_configured_ones(
    enqueued_chunks, llm_endpoint
):
    make_patches(3)
    with FakeOpenAI(api_key=KEY) as server:
        llm_endpoint(server, "local")
        with pytest.raises(GenerationError) as refused:
            launch(backend="openai", model="gpt-4o-mini", endpoint="azure")
        assert server.received == []
    assert str(refused.value) == (
        "unknown endpoint 'azure'; configured (LLM_ENDPOINTS): local"
    )
    assert GenerationJob.objects.count() == 0


def test_without_an_endpoint_a_job_goes_to_the_first_configured_one(
    enqueued_chunks, llm_endpoint
):
    make_patches(2)
    with FakeOpenAI(api_key=KEY) as first, FakeOpenAI(api_key=KEY) as second:
        llm_endpoint(first, "first")
        llm_endpoint(second, "second")
        job = launch(backend="openai", model="gpt-4o-mini")
        run_all_chunks(job)
        assert len(first.requests) == 2
        assert second.received == []
    assert (job.endpoint, job.base_url) == ("first", first.base_url)


def test_an_offline_job_names_no_endpoint(enqueued_chunks):
    make_patches(2)
    job = launch(endpoint="no-such-endpoint")  # the offline backend sends nothing
    assert (job.endpoint, job.base_url) == ("", "")


@pytest.mark.parametrize(
    ("base_url", "endpoint", "expected"),
    [
        ("", "", ""),
        ("", "local", "local"),
        ("http://127.0.0.1:8000/v1", "", "local"),
        ("http://127.0.0.1:8000/v1/", "", "local"),
        ("http://127.0.0.1:8000/v1", "local", "local"),
    ],
)
def test_a_legacy_base_url_stands_for_the_endpoint_with_that_url(
    settings, base_url, endpoint, expected
):
    settings.LLM_ENDPOINTS = {
        "openai": {"base_url": "https://api.openai.com/v1", "key_variable": "K"},
        "local": {"base_url": "http://127.0.0.1:8000/v1", "key_variable": ""},
    }
    name = endpoint_name_from(endpoint=endpoint, base_url=base_url)
    assert name == expected


@pytest.mark.parametrize(
    ("base_url", "endpoint", "message"),
    [
        ("http://127.0.0.1:8001/v1", "", "not the URL of a configured endpoint"),
        ("http://127.0.0.1:8000/v1/chat", "", "not the URL of a configured endpoint"),
        ("http://127.0.0.1:8000/v1", "openai", "the URL of the endpoint 'local'"),
    ],
)
def test_any_other_base_url_is_refused(settings, base_url, endpoint, message):
    settings.LLM_ENDPOINTS = {
        "openai": {"base_url": "https://api.openai.com/v1", "key_variable": "K"},
        "local": {"base_url": "http://127.0.0.1:8000/v1", "key_variable": ""},
    }
    with pytest.raises(GenerationError, match=message):
        endpoint_name_from(endpoint=endpoint, base_url=base_url)


# --- Endpoints in the worker: resolved by name when a chunk runs -------------------


def test_a_worker_that_does_not_know_the_endpoint_stops_the_job_sending_nothing(
    enqueued_chunks, llm_endpoint, settings
):
    make_patches(4)
    with FakeOpenAI(api_key=KEY) as server:
        job = launch(
            backend="openai", model="gpt-4o-mini", endpoint=llm_endpoint(server)
        )
        settings.LLM_ENDPOINTS = {  # the worker's own configuration
            "other": {"base_url": "http://127.0.0.1:9/v1", "key_variable": ""}
        }
        run_all_chunks(job)
        assert server.requests == []  # the launch's check only
    assert job.status == GenerationJob.Status.FAILED
    assert job.error == (
        "config: unknown endpoint 'fake'; configured (LLM_ENDPOINTS): other"
    )
    assert GenerationFailure.objects.filter(job=job).count() == 0


def test_a_worker_without_the_endpoints_key_stops_the_job_naming_the_variable(
    enqueued_chunks, llm_endpoint, monkeypatch
):
    make_patches(4)
    with FakeOpenAI(api_key=KEY) as server:
        job = launch(
            backend="openai", model="gpt-4o-mini", endpoint=llm_endpoint(server)
        )
        monkeypatch.delenv("FAKE_LLM_KEY")
        run_all_chunks(job)
        assert server.requests == []
    assert job.status == GenerationJob.Status.FAILED
    assert job.error.startswith("config: no API key for the endpoint 'fake'")
    assert "FAKE_LLM_KEY" in job.error
    assert KEY not in job.error


def test_a_job_from_before_endpoints_had_names_says_to_launch_again(
    enqueued_chunks, llm_endpoint
):
    patches = make_patches(2)
    with FakeOpenAI(api_key=KEY) as server:
        llm_endpoint(server)
        job = GenerationJob.objects.create(
            backend="openai", base_url="http://10.0.0.5:8000/v1", model="gpt-4o-mini",
            template=template_get("chatearthnet-text"),
            selection={}, options={}, total=2, status=GenerationJob.Status.FAILED,
        )  # fmt: skip
        JobChunk.objects.create(
            job=job, index=0, patch_ids=[p.pk for p in patches], status="done"
        )
        with pytest.raises(GenerationError) as refused:
            job_retry_failed(job_id=job.pk)
        assert server.received == []
    assert "launch a new job choosing an endpoint: fake" in str(refused.value)
    assert enqueued_chunks == []
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.FAILED


def test_the_rate_limit_is_shared_per_endpoint_and_model(
    enqueued_chunks, llm_endpoint, monkeypatch
):
    make_patches(2)
    keys: list[str] = []
    limiter_for = backends.rate_limiter_for

    def recording(broker_url: str, key: str, *args, **kwargs):
        keys.append(key)
        return limiter_for(broker_url, key, *args, **kwargs)

    monkeypatch.setattr(backends, "rate_limiter_for", recording)
    with FakeOpenAI(api_key=KEY) as server:
        job = launch(
            backend="openai", model="gpt-4o-mini", endpoint=llm_endpoint(server),
            options=JobOptions(requests_per_minute=600),
        )  # fmt: skip
        run_all_chunks(job)
    assert job.done == 2
    assert keys[-1] == "llm:fake:gpt-4o-mini"
