"""Caption-generation jobs: chunks, idempotency, faults, cancel, retry.

Where the requests go (endpoints, keys, the launch's checks of them) is
test_generation_endpoints.py; claims of chunks and chunks that break,
test_chunk_claims.py.
"""

import threading
import time

import numpy as np
import pytest
from django.db import connection

from captions.claims import Claim
from captions.generation.jobs import job_cancel, job_retry_failed
from captions.generation.options import (
    KNOWN_PRICES,
    GenerationError,
    JobOptions,
    Selection,
)
from captions.generation.plans import job_plan
from captions.generation.runner import MAX_CONSECUTIVE_FAILURES, job_run_chunk
from captions.models import Caption, GenerationFailure, GenerationJob, JobChunk, Patch
from tests.captions.generation_fixtures import (
    KEY,
    launch,
    long_ago,
    make_patches,
    run_all_chunks,
)
from tests.conftest import wait_for
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.django_db


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
    # The broker delivers chunk 0 again (a worker died before acknowledging it, and
    # its heartbeat is stale).
    JobChunk.objects.filter(job=job, index=0).update(
        status=JobChunk.Status.RUNNING, updated_at=long_ago()
    )
    assert job_run_chunk(job_id=job.pk, index=0) is Claim.TAKEN
    job.refresh_from_db()
    assert Caption.objects.filter(job=job).count() == 12
    assert job.done == 12


def test_patches_with_a_caption_are_skipped_unless_asked(enqueued_chunks):
    make_patches(6)
    run_all_chunks(launch())
    with pytest.raises(GenerationError, match="no patches to caption"):
        launch()
    again = launch(selection=Selection(only_uncaptioned=False))
    assert again.total == 6


def test_selection_by_scene_split_and_limit(enqueued_chunks):
    make_patches(9, scene_name="a")
    other = make_patches(9, scene_name="b")
    job = launch(
        selection=Selection(scene_ids=(other[0].scene_id,), splits=("train",), limit=2)
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
        ({"selection": Selection(splits=("nope",))}, "no patches"),
    ],
)
def test_bad_launches_are_refused_before_anything_is_queued(
    enqueued_chunks, overrides, message
):
    make_patches(3)
    with pytest.raises(GenerationError, match=message):
        launch(**overrides)
    assert GenerationJob.objects.count() == 0
    assert enqueued_chunks == []


def test_the_plan_estimates_tokens_and_cost_from_a_rendered_prompt():
    make_patches(10)
    plan = job_plan(
        selection=Selection(), backend="openai", model="gpt-3.5-turbo",
        template="chatearthnet-text", options=JobOptions(),
    )  # fmt: skip
    assert plan.patch_count == 10
    assert "tree" in plan.example_messages[-1]["content"]
    assert plan.estimated_tokens_in > 10 * 50
    price_in, price_out = KNOWN_PRICES["gpt-3.5-turbo"]
    expected = (
        plan.estimated_tokens_in * price_in + plan.estimated_tokens_out * price_out
    ) / 1e6
    assert plan.estimated_cost == pytest.approx(expected)
    unknown = job_plan(
        selection=Selection(), backend="openai", model="my-local-llama",
        template="chatearthnet-text", options=JobOptions(),
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
            options=JobOptions(chunk_size=10, in_flight_per_worker=1),
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
            options=JobOptions(chunk_size=10, in_flight_per_worker=2),
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
            options=JobOptions(chunk_size=10, in_flight_per_worker=1),
        )  # fmt: skip
        run_all_chunks(job)
        assert (job.done, job.failed) == (2, 2)
        assert job_retry_failed(job_id=job.pk) == 2
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
            options=JobOptions(chunk_size=60, in_flight_per_worker=2),
        )  # fmt: skip

        def run_chunk() -> None:
            try:
                job_run_chunk(job_id=job.pk, index=0)
            finally:
                connection.close()  # this thread's own connection

        runner = threading.Thread(target=run_chunk)
        runner.start()
        wait_for(lambda: len(server.requests) >= 4, timeout=30, what="requests")
        assert job_cancel(job_id=job.pk)
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
            options=JobOptions(chunk_size=10, in_flight_per_worker=2),
        )  # fmt: skip
        server.api_key = "revoked"
        run_all_chunks(job)
        assert job.status == GenerationJob.Status.FAILED
        server.api_key = KEY  # the key is fixed
        assert job_retry_failed(job_id=job.pk) == 30
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
            options=JobOptions(
                chunk_size=60, in_flight_per_worker=1, max_retries=0
            ),
        )  # fmt: skip
        run_all_chunks(job)
        requests_seen = len(server.requests)
    assert job.status == GenerationJob.Status.FAILED
    assert "in a row" in job.error and "server_error" in job.error
    assert requests_seen == MAX_CONSECUTIVE_FAILURES
    assert Caption.objects.filter(job=job).count() == 0
