"""Caption-generation jobs: launch checks, chunks, idempotency, faults, cancel."""

import threading
import time
from typing import Any

import numpy as np
import pytest
from django.db import connection

from captions.generation import jobs
from captions.landcover import landcover_stats
from captions.models import (
    Caption,
    GenerationFailure,
    GenerationJob,
    JobChunk,
    Patch,
    Scene,
)
from tests.conftest import wait_for
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.django_db

KEY = "sk-test-key"


def make_patches(count: int, *, scene_name: str = "alps", seed: int = 0) -> list[Patch]:
    """Rows with real statistics; no preview files (text prompts do not need them)."""
    scene = Scene.objects.create(
        name=scene_name, source_kind=Scene.SourceKind.GEOTIFF, image_path="/x.tif",
        status=Scene.Status.READY,
    )  # fmt: skip
    rng = np.random.default_rng(seed)
    patches = []
    for number in range(count):
        small = rng.choice(np.array([0, 10, 30, 40, 50, 80], np.uint8), size=(8, 8))
        codes = np.kron(small, np.ones((32, 32), np.uint8))
        patches.append(
            Patch(
                scene=scene,
                row_off=number * 256,
                col_off=0,
                width=256,
                height=256,
                rgb_preview=f"x/{number}.webp",
                landcover_preview=f"x/{number}.png",
                landcover=landcover_stats(codes),
                invalid_fraction=0.0,
                split=("train", "val", "test")[number % 3],
            )
        )
    return Patch.objects.bulk_create(patches)


def run_all_chunks(job: GenerationJob) -> None:
    for index in job.chunks.order_by("index").values_list("index", flat=True):
        jobs.job_run_chunk(job_id=job.pk, index=index)
    job.refresh_from_db()


def launch(**overrides) -> GenerationJob:
    arguments: dict[str, Any] = {
        "selection": jobs.Selection(),
        "backend": "offline",
        "model": "offline-1",
        "template": "chatearthnet-text",
        "options": jobs.JobOptions(chunk_size=10),
    }
    arguments.update(overrides)
    return jobs.job_launch(**arguments)


def test_an_offline_job_captions_every_selected_patch_once(
    enqueued_chunks, django_capture_on_commit_callbacks
):
    make_patches(25)
    with django_capture_on_commit_callbacks(execute=True):
        job = launch()
    assert job.total == 25
    assert job.chunks.count() == 3
    assert [index for _, index in enqueued_chunks] == [0, 1, 2]
    run_all_chunks(job)
    assert job.status == GenerationJob.Status.FINISHED
    assert (job.done, job.failed) == (25, 0)
    assert Caption.objects.filter(job=job).count() == 25
    caption = Caption.objects.filter(job=job).first()
    assert caption is not None
    # Provenance: the exact messages, the model, the template; checks stored.
    assert caption.messages[0]["role"] == "system"
    assert caption.template_id == job.template_id
    assert caption.model == "offline-1"
    assert caption.checks == []  # the offline writer passes every check
    assert caption.status == Caption.Status.PENDING
    assert caption.text == caption.generated_text
    assert job.tokens_in > 0 and job.tokens_out > 0


def test_a_redelivered_chunk_captions_nothing_twice(enqueued_chunks):
    make_patches(12)
    job = launch()
    run_all_chunks(job)
    # The broker delivers chunk 0 again (a worker died before acknowledging it).
    JobChunk.objects.filter(job=job, index=0).update(status=JobChunk.Status.RUNNING)
    jobs.job_run_chunk(job_id=job.pk, index=0)
    job.refresh_from_db()
    assert Caption.objects.filter(job=job).count() == 12
    assert job.done == 12


def test_patches_with_a_caption_are_skipped_unless_asked(enqueued_chunks):
    make_patches(6)
    run_all_chunks(launch())
    with pytest.raises(jobs.GenerationError, match="no patches to caption"):
        launch()
    again = launch(selection=jobs.Selection(only_uncaptioned=False))
    assert again.total == 6


def test_selection_by_scene_split_and_limit(enqueued_chunks):
    make_patches(9, scene_name="a")
    other = make_patches(9, scene_name="b")
    job = launch(
        selection=jobs.Selection(
            scene_ids=(other[0].scene_id,), splits=("train",), limit=2
        )
    )
    run_all_chunks(job)
    captioned = Patch.objects.filter(captions__job=job)
    assert captioned.count() == 2
    assert {p.scene.name for p in captioned} == {"b"}
    assert {p.split for p in captioned} == {"train"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"template": "no-such-template"}, "unknown template 'no-such-template'"),
        ({"backend": "hal9000"}, "unknown backend 'hal9000'"),
        ({"selection": jobs.Selection(splits=("nope",))}, "no patches"),
    ],
)
def test_bad_launches_are_refused_before_anything_is_queued(
    enqueued_chunks, overrides, message
):
    make_patches(3)
    with pytest.raises(jobs.GenerationError, match=message):
        launch(**overrides)
    assert GenerationJob.objects.count() == 0
    assert enqueued_chunks == []


def test_a_missing_api_key_is_refused_before_queueing(
    enqueued_chunks, llm_endpoint, monkeypatch
):
    make_patches(3)
    with FakeOpenAI(api_key=KEY) as server:
        endpoint = llm_endpoint(server)
        monkeypatch.delenv("FAKE_LLM_KEY")
        with pytest.raises(jobs.GenerationError, match="FAKE_LLM_KEY"):
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
    with pytest.raises(jobs.GenerationError, match="does not answer"):
        launch(backend="openai", model="gpt-4o-mini", endpoint="gone")
    assert GenerationJob.objects.count() == 0


def test_an_unknown_endpoint_is_refused_naming_the_configured_ones(
    enqueued_chunks, llm_endpoint
):
    make_patches(3)
    with FakeOpenAI(api_key=KEY) as server:
        llm_endpoint(server, "local")
        with pytest.raises(jobs.GenerationError) as refused:
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
    name = jobs.endpoint_name_from(endpoint=endpoint, base_url=base_url)
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
    with pytest.raises(jobs.GenerationError, match=message):
        jobs.endpoint_name_from(endpoint=endpoint, base_url=base_url)


def test_the_plan_estimates_tokens_and_cost_from_a_rendered_prompt():
    make_patches(10)
    plan = jobs.job_plan(
        selection=jobs.Selection(), backend="openai", model="gpt-3.5-turbo",
        template="chatearthnet-text", options=jobs.JobOptions(),
    )  # fmt: skip
    assert plan.patch_count == 10
    assert "tree" in plan.example_messages[-1]["content"]
    assert plan.estimated_tokens_in > 10 * 50
    price_in, price_out = jobs.KNOWN_PRICES["gpt-3.5-turbo"]
    expected = (
        plan.estimated_tokens_in * price_in + plan.estimated_tokens_out * price_out
    ) / 1e6
    assert plan.estimated_cost == pytest.approx(expected)
    unknown = jobs.job_plan(
        selection=jobs.Selection(), backend="openai", model="my-local-llama",
        template="chatearthnet-text", options=jobs.JobOptions(),
    )  # fmt: skip
    assert unknown.estimated_cost is None


def test_an_openai_job_sends_the_statistics_and_keeps_provenance(
    enqueued_chunks, llm_endpoint
):
    patches = make_patches(6)
    with FakeOpenAI(api_key=KEY) as server:
        job = launch(
            backend="openai", model="gpt-4o-mini", endpoint=llm_endpoint(server)
        )
        run_all_chunks(job)
        bodies = list(server.requests)
    assert job.status == GenerationJob.Status.FINISHED
    assert job.done == 6
    assert len(bodies) == 6
    assert {body["model"] for body in bodies} == {"gpt-4o-mini"}
    assert all(body["max_tokens"] == 300 for body in bodies)
    first = Caption.objects.get(job=job, patch=patches[0])
    user_text = first.messages[-1]["content"]
    # The dominant class of the patch is in the prompt that was sent.
    dominant = patches[0].landcover["overall"][0]["name"]
    assert dominant in user_text
    assert any(body["messages"] == first.messages for body in bodies)
    assert first.prompt_tokens > 0
    assert job.tokens_in == sum(c.prompt_tokens for c in job.captions.all())


def test_bad_replies_are_stored_as_failures_never_as_captions(
    enqueued_chunks, llm_endpoint
):
    make_patches(5)
    with FakeOpenAI(api_key=KEY) as server:
        server.enqueue("malformed", "empty", "length", "refusal", "ok")
        job = launch(
            backend="openai", model="gpt-4o-mini", endpoint=llm_endpoint(server),
            options=jobs.JobOptions(chunk_size=10, in_flight_per_worker=1),
        )  # fmt: skip
        run_all_chunks(job)
    assert (job.done, job.failed) == (1, 4)
    reasons = set(
        GenerationFailure.objects.filter(job=job).values_list("reason", flat=True)
    )
    assert reasons == {"malformed", "empty", "length", "refused"}
    assert Caption.objects.filter(job=job).count() == 1
    assert job.status == GenerationJob.Status.FINISHED


def test_a_wrong_key_fails_the_job_with_the_reason_without_trying_every_patch(
    enqueued_chunks, llm_endpoint
):
    make_patches(30)
    with FakeOpenAI(api_key=KEY) as server:
        job = launch(
            backend="openai", model="gpt-4o-mini", endpoint=llm_endpoint(server),
            options=jobs.JobOptions(chunk_size=10, in_flight_per_worker=2),
        )  # fmt: skip
        server.api_key = "another-key"  # revoked after launch
        run_all_chunks(job)
        requests_seen = len(server.requests)
    assert job.status == GenerationJob.Status.FAILED
    assert "auth" in job.error
    assert requests_seen <= 4
    assert Caption.objects.filter(job=job).count() == 0


def test_retry_failed_queues_the_failed_patches_again(enqueued_chunks, llm_endpoint):
    make_patches(4)
    with FakeOpenAI(api_key=KEY) as server:
        server.enqueue("empty", "empty")
        job = launch(
            backend="openai", model="gpt-4o-mini", endpoint=llm_endpoint(server),
            options=jobs.JobOptions(chunk_size=10, in_flight_per_worker=1),
        )  # fmt: skip
        run_all_chunks(job)
        assert (job.done, job.failed) == (2, 2)
        assert jobs.job_retry_failed(job_id=job.pk) == 2
        run_all_chunks(job)
    assert (job.done, job.failed) == (4, 0)
    assert job.status == GenerationJob.Status.FINISHED
    assert GenerationFailure.objects.filter(job=job).count() == 0


def test_cancel_stops_new_requests_within_seconds(
    transactional_db, monkeypatch, llm_endpoint
):
    make_patches(60)
    from captions import tasks

    monkeypatch.setattr(tasks.generate_chunk, "delay", lambda *args: None)
    with FakeOpenAI(api_key=KEY, latency_s=0.3) as server:
        job = launch(
            backend="openai", model="gpt-4o-mini", endpoint=llm_endpoint(server),
            options=jobs.JobOptions(chunk_size=60, in_flight_per_worker=2),
        )  # fmt: skip

        def run_chunk() -> None:
            try:
                jobs.job_run_chunk(job_id=job.pk, index=0)
            finally:
                connection.close()  # this thread's own connection

        runner = threading.Thread(target=run_chunk)
        runner.start()
        wait_for(lambda: len(server.requests) >= 4, timeout=30, what="requests")
        assert jobs.job_cancel(job_id=job.pk)
        cancelled_at = time.monotonic()
        runner.join(timeout=30)
        sent_after = [t for t in server.arrivals if t > cancelled_at + 2.0]
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.CANCELLED
    assert sent_after == []
    assert job.done < 60


def test_a_vision_job_sends_the_land_cover_map_as_an_image(
    enqueued_chunks, llm_endpoint, tmp_path
):
    import base64
    import io as bytes_io

    from django.core.management import call_command
    from PIL import Image

    from captions.landcover import CLASSES
    from tests.captions.raster_fixtures import write_rgb_geotiff, write_worldcover_for

    image = write_rgb_geotiff(tmp_path / "scene.tif", width=256, height=256)
    landcover = write_worldcover_for(tmp_path / "scene_wc.tif", image)
    call_command("ingest_scene", str(image), str(landcover), "--no-progress",
                 stdout=bytes_io.StringIO())  # fmt: skip
    with FakeOpenAI(api_key=KEY) as server:
        job = launch(
            backend="openai", model="gpt-4o", endpoint=llm_endpoint(server),
            template="chatearthnet-vision",
        )  # fmt: skip
        run_all_chunks(job)
        body = server.requests[0]
    assert job.done == 1
    parts = body["messages"][-1]["content"]
    images = [part for part in parts if part["type"] == "image_url"]
    assert len(images) == 1
    url = images[0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    with Image.open(bytes_io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as sent:
        colours = {tuple(c) for c in np.asarray(sent.convert("RGB")).reshape(-1, 3)}
        assert sent.size == (128, 128)  # the map downsampled x2
    palette = {c.prompt_rgb for c in CLASSES} | {(0, 0, 0)}
    assert colours <= palette
    texts = " ".join(part["text"] for part in parts if part["type"] == "text")
    patch = Patch.objects.get()
    assert patch.landcover["overall"][0]["name"] in texts


def test_retry_after_a_wrong_key_captions_the_patches_the_job_never_reached(
    enqueued_chunks, llm_endpoint
):
    make_patches(30)
    with FakeOpenAI(api_key=KEY) as server:
        job = launch(
            backend="openai", model="gpt-4o-mini", endpoint=llm_endpoint(server),
            options=jobs.JobOptions(chunk_size=10, in_flight_per_worker=2),
        )  # fmt: skip
        server.api_key = "revoked"
        run_all_chunks(job)
        assert job.status == GenerationJob.Status.FAILED
        server.api_key = KEY  # the key is fixed
        assert jobs.job_retry_failed(job_id=job.pk) == 30
        run_all_chunks(job)
    assert job.status == GenerationJob.Status.FINISHED
    assert (job.done, job.failed) == (30, 0)
    assert Caption.objects.filter(job=job).count() == 30


def test_a_provider_that_keeps_failing_ends_the_job_as_failed_with_the_reason(
    enqueued_chunks, llm_endpoint
):
    make_patches(60)
    with FakeOpenAI(api_key=KEY, default="500") as server:
        job = launch(
            backend="openai", model="gpt-4o-mini", endpoint=llm_endpoint(server),
            options=jobs.JobOptions(
                chunk_size=60, in_flight_per_worker=1, max_retries=0
            ),
        )  # fmt: skip
        run_all_chunks(job)
        requests_seen = len(server.requests)
    assert job.status == GenerationJob.Status.FAILED
    assert "in a row" in job.error and "server_error" in job.error
    assert requests_seen == jobs.MAX_CONSECUTIVE_FAILURES
    assert Caption.objects.filter(job=job).count() == 0


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
            template=jobs.template_get("chatearthnet-text"),
            selection={}, options={}, total=2, status=GenerationJob.Status.FAILED,
        )  # fmt: skip
        JobChunk.objects.create(
            job=job, index=0, patch_ids=[p.pk for p in patches], status="done"
        )
        with pytest.raises(jobs.GenerationError) as refused:
            jobs.job_retry_failed(job_id=job.pk)
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
    limiter_for = jobs.rate_limiter_for

    def recording(broker_url: str, key: str, *args, **kwargs):
        keys.append(key)
        return limiter_for(broker_url, key, *args, **kwargs)

    monkeypatch.setattr(jobs, "rate_limiter_for", recording)
    with FakeOpenAI(api_key=KEY) as server:
        job = launch(
            backend="openai", model="gpt-4o-mini", endpoint=llm_endpoint(server),
            options=jobs.JobOptions(requests_per_minute=600),
        )  # fmt: skip
        run_all_chunks(job)
    assert job.done == 2
    assert keys[-1] == "llm:fake:gpt-4o-mini"
