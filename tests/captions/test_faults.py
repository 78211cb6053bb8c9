"""Issue 13, faults: Redis restarted during a job, a worker killed during ingest (and
PostgreSQL restarted during a review session: tests/verification/
test_review_faults.py). Each time the work finishes once: nothing lost, nothing done
twice.

The machine's Redis serves everyone's tests at once, so these tests restart a Redis
of their own (tests/fault_services.py), the broker of the real workers they start.
They run in the PostgreSQL + Redis pass.
"""

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db.models import Count
from kombu import Connection

from captions import tasks
from captions.generation.options import JobOptions
from captions.ingest import scenes
from captions.models import Caption, GenerationJob, JobChunk, Patch, Scene
from tests.captions.generation_fixtures import KEY, launch, make_patches
from tests.captions.raster_fixtures import write_rgb_geotiff, write_worldcover_for
from tests.conftest import stop_worker, wait_for
from tests.fake_openai import FakeOpenAI
from tests.fault_services import RedisServer, in_the_services_pass, redis_server

pytestmark = [pytest.mark.worker, in_the_services_pass]


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis.log") as server:
        yield server


@pytest.fixture
def send_tasks_to(monkeypatch) -> Iterator[Callable[[str], None]]:
    """`send_tasks_to(url)`: what this process queues goes to the broker at `url`
    (the workers' own), not to the one the test run is configured with."""
    brokers: list[Connection] = []

    def point(url: str) -> None:
        broker = Connection(url)
        brokers.append(broker)
        for task in (tasks.generate_chunk, tasks.ingest_scene):
            monkeypatch.setattr(
                task,
                "delay",
                lambda *args, task=task: task.apply_async(args, connection=broker),
            )

    yield point
    for broker in brokers:
        broker.release()


def refreshed(row):
    row.refresh_from_db()
    return row


# --- Redis restarted during a job ----------------------------------------------------


def test_a_job_finishes_once_when_redis_restarts_empty_in_the_middle(
    private_redis, start_worker, llm_endpoint, send_tasks_to
):
    """The queued chunks' messages are gone with the restart; the worker's own sweep
    sends them again (captions/workers.py), and no patch is captioned twice."""
    patches = make_patches(60)
    send_tasks_to(private_redis.url)
    worker_env = {
        "CELERY_BROKER_URL": private_redis.url,
        # A chunk waiting this long with the broker's queue empty has lost its
        # message; the worker looks every second (a quarter of the heartbeat's age).
        "GENERATION_CHUNK_STALE_AFTER_S": "3",
        "WORKER_HEARTBEAT_MAX_AGE_S": "4",
    }
    with FakeOpenAI(api_key=KEY, latency_s=0.2) as server:
        endpoint = llm_endpoint(server)
        worker = start_worker(**worker_env)
        job = launch(
            backend="openai", model="gpt-4o-mini", endpoint=endpoint,
            options=JobOptions(chunk_size=10, in_flight_per_worker=2),
        )  # fmt: skip
        wait_for(lambda: refreshed(job).done >= 3, timeout=60, what="the first chunk")
        private_redis.stop()
        assert refreshed(job).done < 60
        private_redis.start()  # empty: the five queued chunks' messages are lost
        wait_for(
            lambda: refreshed(job).status not in GenerationJob.ACTIVE, timeout=60,
            what=f"the job to end after Redis restarted ({worker.log_path})",
        )  # fmt: skip
    assert job.status == GenerationJob.Status.FINISHED, job.error
    assert (job.done, job.failed, job.total) == (60, 0, 60)
    per_patch = Caption.objects.filter(job=job).values("patch").annotate(n=Count("id"))
    assert {row["patch"] for row in per_patch} == {patch.pk for patch in patches}
    assert {row["n"] for row in per_patch} == {1}
    assert set(job.chunks.values_list("status", flat=True)) == {JobChunk.Status.DONE}
    # Each patch was asked for once: no chunk ran twice.
    assert len(server.requests) == 60


# --- A worker killed during ingest -------------------------------------------------


def test_an_ingest_whose_worker_is_killed_finishes_once_in_the_next_worker(
    private_redis, start_worker, send_tasks_to, tmp_path, media_root
):
    """SIGKILL mid-scene: the task was never acknowledged, so Redis hands it out again
    after the visibility timeout; the next worker takes the scene over once its
    heartbeat is stale, clears what the dead one wrote, and ingests it whole."""
    image = write_rgb_geotiff(tmp_path / "big.tif", width=2048, height=2048)
    landcover = write_worldcover_for(tmp_path / "big_wc.tif", image)
    scene = scenes.scene_create(
        name="big", image_path=image, landcover_path=landcover,
        options=scenes.IngestOptions(patch_size=64),
    )  # fmt: skip
    send_tasks_to(private_redis.url)
    worker_env = {
        "CELERY_BROKER_URL": private_redis.url,
        "CELERY_VISIBILITY_TIMEOUT_S": "2",
        "SCENE_INGEST_STALE_AFTER_S": "3",
        "INGEST_BATCH_SIZE": "64",
    }
    first = start_worker(**worker_env)
    assert scenes.scene_queue_ingest(
        scene_id=scene.pk, from_statuses=(Scene.Status.QUEUED,)
    )
    wait_for(
        lambda: Patch.objects.filter(scene=scene).count() >= 128, timeout=60,
        what=f"the first batches ({first.log_path})",
    )  # fmt: skip
    stop_worker(first, kill=True)  # SIGKILL mid-scene: its task is never acked
    left_behind = Patch.objects.filter(scene=scene).count()
    assert refreshed(scene).status == Scene.Status.INGESTING
    assert left_behind < refreshed(scene).patches_total == 1024
    time.sleep(2.5)  # past the visibility timeout: the broker may hand it out again
    second = start_worker(**worker_env)
    wait_for(
        lambda: refreshed(scene).status != Scene.Status.INGESTING, timeout=60,
        what=f"the next worker to finish the scene ({second.log_path})",
    )  # fmt: skip
    assert scene.status == Scene.Status.READY, scene.error
    assert scene.patches_created == scene.patches_done == 1024
    patches = Patch.objects.filter(scene=scene)
    assert patches.count() == 1024
    assert patches.values("row_off", "col_off").distinct().count() == 1024
    # Exactly the previews of the patches are on disk, each whole: nothing the dead
    # worker wrote is left over, or counted.
    named = {
        name for pair in patches.values_list("rgb_preview", "landcover_preview")
        for name in pair
    }  # fmt: skip
    on_disk = {
        str(path.relative_to(media_root))
        for path in (Path(media_root) / "scenes" / str(scene.pk)).iterdir()
    }
    assert on_disk == named
    assert all((Path(media_root) / name).stat().st_size > 0 for name in named)
