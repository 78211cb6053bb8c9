"""Work whose broker message was lost is queued again (captions/lost_messages.py).

The sweep reads the real broker's queue; what it sends is recorded instead of queued
(`enqueued_chunks`, `enqueued_ingests`). A real worker and a Redis restart:
tests/captions/test_faults.py.
"""

import datetime as dt
from collections.abc import Iterator

import pytest
from django.utils import timezone

from captions import tasks
from captions.generation.jobs import job_cancel
from captions.ingest.scenes import STALE_INGEST_AFTER
from captions.lost_messages import broker_queue_is_empty, lost_work_requeue
from captions.models import JobChunk, Scene
from tests.captions.generation_fixtures import launch, long_ago, make_patches
from tests.conftest import _purge_broker

pytestmark = pytest.mark.django_db


@pytest.fixture
def empty_broker() -> Iterator[None]:
    _purge_broker()
    assert broker_queue_is_empty()
    yield
    _purge_broker()


@pytest.fixture
def enqueued_ingests(monkeypatch) -> list[int]:
    sent: list[int] = []
    monkeypatch.setattr(tasks.ingest_scene, "delay", sent.append)
    return sent


def age_chunks(*indexes: int, status: str = JobChunk.Status.PENDING) -> None:
    JobChunk.objects.filter(index__in=indexes).update(
        status=status, updated_at=long_ago()
    )


def test_chunks_waiting_past_their_stale_time_with_an_empty_queue_are_sent_once(
    empty_broker, enqueued_chunks
):
    make_patches(30)
    job = launch()
    enqueued_chunks.clear()  # the launch's own messages: "lost"
    age_chunks(0, 1)  # chunk 2 was queued just now: its message may be on its way
    assert lost_work_requeue() == 2
    assert sorted(enqueued_chunks) == [(job.pk, 0), (job.pk, 1)]
    # A second worker looking at the same moment sends nothing more.
    assert lost_work_requeue() == 0
    assert len(enqueued_chunks) == 2


def test_a_running_chunk_whose_worker_went_silent_is_sent_and_left_to_be_taken_over(
    empty_broker, enqueued_chunks
):
    make_patches(10)
    job = launch()
    enqueued_chunks.clear()
    age_chunks(0, status=JobChunk.Status.RUNNING)
    before = JobChunk.objects.get(job=job).updated_at
    assert lost_work_requeue() == 1
    assert enqueued_chunks == [(job.pk, 0)]
    # Its heartbeat is not touched: the next run reads it to take the chunk over.
    assert JobChunk.objects.get(job=job).updated_at == before


def test_nothing_is_sent_while_the_queue_holds_messages(empty_broker, enqueued_chunks):
    make_patches(20)
    launch()
    enqueued_chunks.clear()
    age_chunks(0, 1)
    tasks.generate_chunk.apply_async((0, 0))  # the broker's queue is not empty
    assert not broker_queue_is_empty()
    assert lost_work_requeue() == 0
    assert enqueued_chunks == []


def test_the_chunks_of_an_ended_job_are_not_sent(empty_broker, enqueued_chunks):
    make_patches(20)
    job = launch()
    job_cancel(job_id=job.pk)
    enqueued_chunks.clear()
    age_chunks(0, 1)
    assert lost_work_requeue() == 0
    assert enqueued_chunks == []


def test_a_queued_or_silent_scene_ingest_is_sent_again_and_a_tile_scene_is_not(
    empty_broker, enqueued_ingests
):
    long_ago = timezone.now() - STALE_INGEST_AFTER - dt.timedelta(seconds=1)
    geotiff, tiles = Scene.SourceKind.GEOTIFF, Scene.SourceKind.TILES
    kinds_and_statuses = {
        "queued": (geotiff, Scene.Status.QUEUED),
        "silent": (geotiff, Scene.Status.INGESTING),
        "fresh": (geotiff, Scene.Status.QUEUED),
        "tiles": (tiles, Scene.Status.INGESTING),
        "ready": (geotiff, Scene.Status.READY),
    }
    scene = {
        name: Scene.objects.create(name=name, source_kind=kind, status=status)
        for name, (kind, status) in kinds_and_statuses.items()
    }
    Scene.objects.exclude(name="fresh").update(updated_at=long_ago)
    assert lost_work_requeue() == 2
    assert sorted(enqueued_ingests) == sorted([scene["queued"].pk, scene["silent"].pk])
    assert lost_work_requeue() == 1  # the queued one was touched; the silent one not
