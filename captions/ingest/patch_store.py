"""Where an ingest puts its patches: previews in the media storage, rows in batches.

Shared by the GeoTIFF ingest (`scenes.py`) and the tile import (`tile_import.py`), so
both write, report progress and clean up the same way. A batch's rows are saved only
once all its previews are written: a patch row always has its files, and a store
that fails halfway fails the ingest, which then removes what it wrote.
"""

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait

from django.conf import settings
from django.db import transaction

from captions import storage
from captions.claims import heartbeat
from captions.ingest.previews import EncodedPreviews
from captions.models import Patch, Scene

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 1.0
# Previews sent to an object store at once, per process: one PUT waits on the network
# far longer than it takes to encode a preview.
UPLOAD_THREADS = 8

_uploads: ThreadPoolExecutor | None = None
_uploads_lock = threading.Lock()


def _upload_pool() -> ThreadPoolExecutor:
    global _uploads
    with _uploads_lock:
        if _uploads is None:
            _uploads = ThreadPoolExecutor(UPLOAD_THREADS, thread_name_prefix="upload")
        return _uploads


def scene_media_dir(scene: Scene) -> str:
    return f"scenes/{scene.pk}"


class PreviewWriter:
    """Writes previews: at once into local folders, through a pool into a store."""

    def __init__(self) -> None:
        self.storage = storage.media_storage()
        self.local = storage.local_root(self.storage) is not None
        self.pending: list[Future] = []

    def write(self, name: str, content: bytes) -> None:
        if self.local:
            storage.save_bytes(self.storage, name, content)
        else:
            self.pending.append(
                _upload_pool().submit(storage.save_bytes, self.storage, name, content)
            )

    def drain(self) -> list[Future]:
        """Wait for every write sent, whatever its outcome (an ingest failing)."""
        pending, self.pending = self.pending, []
        wait(pending)
        return pending

    def flush(self) -> None:
        """Wait for every write sent; raise the first failure once all have ended,
        so none lands after the ingest has cleaned up."""
        for write in self.drain():
            write.result()

    def write_previews(
        self, scene: Scene, row_off: int, col_off: int, previews: EncodedPreviews
    ) -> tuple[str, str]:
        """Write a patch's encoded RGB and land-cover previews; their media names."""
        stem = f"{scene_media_dir(scene)}/{row_off}_{col_off}"
        rgb_name = f"{stem}.{previews.rgb_extension}"
        landcover_name = f"{stem}_landcover.png"
        self.write(rgb_name, previews.rgb)
        self.write(landcover_name, previews.landcover)
        return rgb_name, landcover_name


def scene_clear_patches(scene: Scene) -> None:
    """Remove a scene's patches and preview files (what a failed attempt left).

    The rows go first: a patch without its files is never listed, even when the
    store refuses the deletes too (it is then logged)."""
    Patch.objects.filter(scene=scene).delete()
    try:
        storage.delete_folder(storage.media_storage(), scene_media_dir(scene))
    except storage.StorageError as error:
        logger.warning("scene %s: previews left in the store: %s", scene.pk, error)


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
        self.previews = PreviewWriter()

    def __enter__(self) -> "PatchBatches":
        return self

    def __exit__(self, *exc_info: object) -> None:
        # An ingest that fails cleans its scene's previews up next: no write of its
        # may still be on the way then.
        self.previews.drain()

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
        self.previews.flush()
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
