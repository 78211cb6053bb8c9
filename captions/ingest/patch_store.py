"""Where an ingest puts its patches: preview files under MEDIA_ROOT, rows in batches.

Shared by the GeoTIFF ingest (`scenes.py`) and the tile import (`tile_import.py`), so
both write, report progress and clean up the same way.
"""

import shutil
import time
from pathlib import Path

from django.conf import settings
from django.db import transaction

from captions.claims import heartbeat
from captions.ingest.previews import EncodedPreviews
from captions.models import Patch, Scene

PROGRESS_INTERVAL_S = 1.0


def scene_media_dir(scene: Scene) -> str:
    return f"scenes/{scene.pk}"


def _media_path(name: str) -> Path:
    return Path(settings.MEDIA_ROOT) / name


def write_previews(
    scene: Scene, row_off: int, col_off: int, previews: EncodedPreviews
) -> tuple[str, str]:
    """Write a patch's encoded RGB and land-cover previews; return their media names."""
    stem = f"{scene_media_dir(scene)}/{row_off}_{col_off}"
    rgb_name = f"{stem}.{previews.rgb_extension}"
    landcover_name = f"{stem}_landcover.png"
    _write_media(rgb_name, previews.rgb)
    _write_media(landcover_name, previews.landcover)
    return rgb_name, landcover_name


def _write_media(name: str, content: bytes) -> None:
    path = _media_path(name)
    try:
        path.write_bytes(content)
    except FileNotFoundError:  # the scene's first file: its folder is not there yet
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def scene_clear_patches(scene: Scene) -> None:
    """Remove a scene's patches and preview files (what a failed attempt left)."""
    Patch.objects.filter(scene=scene).delete()
    shutil.rmtree(_media_path(scene_media_dir(scene)), ignore_errors=True)


class PatchBatches:
    """A scene's new patches, saved a batch at a time together with its progress.

    The progress is also the ingest's heartbeat (captions/claims.py): it is written
    with every batch and at least once a second between, so the admin's bar moves on
    a sparse scene and a live ingest is never taken for a dead one.
    """

    def __init__(self, scene: Scene) -> None:
        self.scene_id = scene.pk
        self.pending: list[Patch] = []
        self.created = 0
        self.written_at = time.monotonic()

    def add(self, patch: Patch) -> None:
        self.pending.append(patch)

    def progress(self, done: int) -> None:
        """`done` patches looked at so far: save a full batch, or say "alive"."""
        if len(self.pending) >= settings.INGEST_BATCH_SIZE:
            self.save(done)
        elif time.monotonic() - self.written_at > PROGRESS_INTERVAL_S:
            self._heartbeat(done)

    def save(self, done: int) -> None:
        """Save what is pending (the last, partial batch too) with the progress."""
        with transaction.atomic():
            Patch.objects.bulk_create(self.pending)
            self._heartbeat(done)
        self.created += len(self.pending)
        self.pending = []

    def _heartbeat(self, done: int) -> None:
        heartbeat(
            Scene, self.scene_id, working=Scene.Status.INGESTING, patches_done=done
        )
        self.written_at = time.monotonic()
