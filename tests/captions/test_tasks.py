import datetime as dt
from pathlib import Path

import pytest
from celery.exceptions import Retry
from django.utils import timezone

from captions.ingest import scenes
from captions.models import Patch, Scene
from captions.tasks import ingest_scene
from tests.captions.raster_fixtures import write_rgb_geotiff, write_worldcover_for
from tests.conftest import retries_recorded, wait_for


def queue_scene(tmp_path: Path, name: str, **image_options) -> Scene:
    image = write_rgb_geotiff(tmp_path / f"{name}.tif", **image_options)
    landcover = write_worldcover_for(tmp_path / f"{name}_wc.tif", image)
    return scenes.scene_create(
        name=name,
        image_path=image,
        landcover_path=landcover,
        options=scenes.IngestOptions(patch_size=100),
    )


def scene_status(scene: Scene) -> str:
    scene.refresh_from_db()
    return scene.status


@pytest.mark.worker
def test_a_real_worker_ingests_a_queued_scene(celery_worker, tmp_path, media_root):
    scene = queue_scene(tmp_path, "worker-scene")
    ingest_scene.delay(scene.pk)
    wait_for(
        lambda: scene_status(scene) in (Scene.Status.READY, Scene.Status.FAILED),
        what="the worker to ingest",
    )
    assert scene.status == Scene.Status.READY, scene.error
    assert scene.patches_done == scene.patches_total == 9
    assert Patch.objects.filter(scene=scene).count() == 9
    # The worker wrote the previews where this process reads them.
    patch = Patch.objects.filter(scene=scene).first()
    assert patch is not None
    assert (Path(media_root) / patch.rgb_preview.name).is_file()


@pytest.mark.worker
def test_a_real_worker_marks_a_broken_scene_failed_with_the_reason(
    celery_worker, tmp_path, media_root
):
    scene = queue_scene(tmp_path, "gone")
    Path(scene.image_path).unlink()  # the file disappears between queueing and work
    ingest_scene.delay(scene.pk)
    wait_for(lambda: scene_status(scene) == Scene.Status.FAILED, what="the failure")
    assert "gone.tif: no such file" in scene.error
    assert Patch.objects.filter(scene=scene).count() == 0


@pytest.mark.django_db
def test_the_task_is_safe_to_run_twice(tmp_path):
    scene = queue_scene(tmp_path, "twice")
    first = ingest_scene.run(scene.pk)
    second = ingest_scene.run(scene.pk)
    assert first["patches_created"] == 9
    assert second == {
        "scene_id": scene.pk,
        "patches_created": 0,
        "patches_skipped": 0,
        "already_ingested": True,
    }
    assert Patch.objects.filter(scene=scene).count() == 9


@pytest.mark.django_db
def test_a_scene_being_ingested_elsewhere_is_left_to_it_and_tried_again_later(
    tmp_path, monkeypatch
):
    scene = queue_scene(tmp_path, "busy")
    Scene.objects.filter(pk=scene.pk).update(status=Scene.Status.INGESTING)
    asked = retries_recorded(ingest_scene, monkeypatch)
    with pytest.raises(Retry):
        ingest_scene.run(scene.pk)
    # Tried again once the other worker could have gone silent for good: then the
    # scene is taken over if that worker died (the next test), or found ready.
    assert [options["countdown"] for options in asked] == [
        scenes.STALE_INGEST_AFTER.total_seconds()
    ]
    assert "being ingested by another process" in str(asked[0]["exc"])
    assert scene_status(scene) == Scene.Status.INGESTING
    assert Patch.objects.filter(scene=scene).count() == 0


@pytest.mark.django_db
def test_an_ingest_abandoned_by_a_dead_worker_is_taken_over(tmp_path):
    scene = queue_scene(tmp_path, "abandoned")
    long_ago = timezone.now() - scenes.STALE_INGEST_AFTER - dt.timedelta(seconds=1)
    Scene.objects.filter(pk=scene.pk).update(
        status=Scene.Status.INGESTING, updated_at=long_ago
    )
    assert ingest_scene.run(scene.pk)["patches_created"] == 9
    assert scene_status(scene) == Scene.Status.READY


@pytest.mark.django_db
def test_an_interrupted_ingest_is_marked_failed_and_cleaned_up(
    tmp_path, media_root, monkeypatch
):
    scene = queue_scene(tmp_path, "interrupted")
    calls = []

    def interrupt_on_the_third_patch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    original = scenes._build_patch
    monkeypatch.setattr(scenes, "_build_patch", interrupt_on_the_third_patch)
    with pytest.raises(KeyboardInterrupt):
        scenes.scene_ingest(scene_id=scene.pk)
    assert scene_status(scene) == Scene.Status.FAILED
    assert "interrupted" in scene.error
    assert Patch.objects.filter(scene=scene).count() == 0
    assert not any(Path(media_root).rglob("*.webp"))
