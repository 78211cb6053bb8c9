"""Writes of the captions app: scenes and patches (HackSoft styleguide: services)."""

import datetime as dt
import hashlib
import logging
import shutil
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import rasterio
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from captions.ingest.input_files import InputFileError, InputPolicy, resolve_input_file
from captions.ingest.previews import EncodedPreviews, encode_previews
from captions.ingest.rasters import PatchData, RasterError, ScenePair, open_scene_pair
from captions.landcover import LandCoverError, landcover_stats
from captions.models import Patch, Scene

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]

# ChatEarthNet's released GPT-3.5 splits: 98,092 / 16,348 / 49,048 = 60% / 10% / 30%.
SPLIT_THRESHOLDS = ((0.6, Patch.Split.TRAIN), (0.7, Patch.Split.VAL))
STALE_INGEST_AFTER = dt.timedelta(minutes=10)
PROGRESS_INTERVAL_S = 1.0


class IngestError(Exception):
    """An ingest that cannot go on; the message is one line naming file and problem."""


@dataclass(frozen=True)
class IngestResult:
    scene_id: int
    patches_created: int
    patches_skipped: int
    already_ingested: bool = False

    def as_json(self) -> dict:
        return {
            "scene_id": self.scene_id,
            "patches_created": self.patches_created,
            "patches_skipped": self.patches_skipped,
            "already_ingested": self.already_ingested,
        }


def split_for(key: str) -> str:
    """Deterministic train/val/test from a stable key (scene name + window, or tile).

    A hash, not a random draw: rebuilding the database from the same files gives every
    patch the same split, so a release can be rebuilt byte for byte.
    """
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    position = int.from_bytes(digest, "big") / 2**64
    for threshold, split in SPLIT_THRESHOLDS:
        if position < threshold:
            return split
    return Patch.Split.TEST


def input_policy() -> InputPolicy:
    """Where users may name files to read, from the settings (INGEST_ROOTS), read at
    each use: the admin's form, the commands and the worker's ingest alike."""
    protected = [settings.MEDIA_ROOT, settings.RELEASES_ROOT, settings.VAR_DIR]
    protected += [settings.STATIC_ROOT]
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        protected.append(Path(database["NAME"]).parent)
    broker_options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
    protected += [
        broker_options[key]
        for key in ("data_folder_in", "processed_folder", "control_folder")
        if key in broker_options
    ]
    return InputPolicy(
        allowed_roots=tuple(Path(root).resolve() for root in settings.INGEST_ROOTS),
        protected_roots=tuple(Path(folder).resolve() for folder in protected),
    )


def input_file(path: Path | str) -> Path:
    """The real path of a user-named input file, or `IngestError` saying why not."""
    try:
        return resolve_input_file(path, input_policy())
    except InputFileError as error:
        raise IngestError(str(error)) from None


def scene_media_dir(scene: Scene) -> str:
    return f"scenes/{scene.pk}"


def _media_path(name: str) -> Path:
    return Path(settings.MEDIA_ROOT) / name


@dataclass(frozen=True)
class IngestOptions:
    patch_size: int = 256
    bands: tuple[int, ...] | None = None
    l2a_offset: str = "auto"
    max_invalid: float = 0.5

    def validate(self) -> None:
        if not 0.0 <= self.max_invalid <= 1.0:
            raise IngestError(f"--max-invalid {self.max_invalid} must be within 0..1")


def scene_check_pair(
    *, image_path: Path, landcover_path: Path, options: IngestOptions
) -> None:
    """Open and validate a pair without writing anything; raises `IngestError`."""
    options.validate()
    try:
        with ExitStack() as stack:
            _open_pair(stack, image_path, landcover_path, options)
    except RasterError as error:
        raise IngestError(str(error)) from None


def _open_pair(
    stack: ExitStack, image_path: Path, landcover_path: Path, options: IngestOptions
) -> ScenePair:
    stack.enter_context(rasterio.Env(GDAL_CACHEMAX=settings.GDAL_CACHEMAX_MB))
    return open_scene_pair(
        stack,
        image_path,
        landcover_path,
        policy=input_policy(),
        patch_size=options.patch_size,
        bands=options.bands,
        l2a_offset=options.l2a_offset,
    )


def scene_create(
    *,
    name: str,
    image_path: Path,
    landcover_path: Path,
    options: IngestOptions,
) -> Scene:
    """A queued GeoTIFF scene, or the existing one for the same name and files.

    The same pair ingested twice gives one scene; a name already taken by other files
    is refused rather than silently mixing two sources. The scene keeps the files'
    real paths, which the worker checks again when it opens them.
    """
    image_text, landcover_text = (
        str(input_file(image_path)),
        str(input_file(landcover_path)),
    )
    existing = Scene.objects.filter(name=name).first()
    if existing is not None:
        if (existing.image_path, existing.landcover_path) != (
            image_text,
            landcover_text,
        ):
            raise IngestError(
                f"scene name {name!r} is already used by {existing.image_path}; "
                "choose another name"
            )
        return existing
    return Scene.objects.create(
        name=name,
        source_kind=Scene.SourceKind.GEOTIFF,
        image_path=image_text,
        landcover_path=landcover_text,
        patch_size=options.patch_size,
        bands=list(options.bands) if options.bands else None,
        l2a_offset=options.l2a_offset,
        max_invalid=options.max_invalid,
    )


def scene_queue_ingest(*, scene_id: int, from_statuses: tuple[str, ...]) -> bool:
    """Mark a GeoTIFF scene queued and enqueue its ingest once the transaction commits.

    A guarded update, so a scene that is ready or being ingested is left alone; returns
    whether the scene was queued. Tile scenes are left alone too: `import_tiles`
    imports them, not the ingest task.
    """
    queued = Scene.objects.filter(
        pk=scene_id,
        source_kind=Scene.SourceKind.GEOTIFF,
        status__in=from_statuses,
    ).update(status=Scene.Status.QUEUED, error="", patches_done=0)
    if queued:
        from captions import tasks  # tasks import this module

        transaction.on_commit(lambda: tasks.ingest_scene.delay(scene_id))
    return bool(queued)


def scene_ingest(
    *, scene_id: int, on_progress: ProgressCallback | None = None
) -> IngestResult:
    """Cut a queued scene into analysed patches with previews.

    Claims the scene with a guarded update, so two workers never ingest it together. On
    any error the scene is marked failed with the reason and its patches and preview
    files are removed: a failed ingest leaves nothing half-done behind.
    """
    scene = Scene.objects.get(pk=scene_id)
    if scene.status == Scene.Status.READY:
        return IngestResult(scene.pk, 0, scene.patches_skipped, already_ingested=True)
    # An ingest touches its scene after every batch; one silent for longer than this
    # belonged to a worker that died, and its redelivered task may take it over.
    stale = timezone.now() - STALE_INGEST_AFTER
    claimed = (
        Scene.objects.filter(pk=scene_id)
        .filter(
            Q(status__in=[Scene.Status.QUEUED, Scene.Status.FAILED])
            | Q(status=Scene.Status.INGESTING, updated_at__lt=stale)
        )
        .update(
            status=Scene.Status.INGESTING,
            error="",
            patches_done=0,
            updated_at=timezone.now(),
        )
    )
    if claimed != 1:
        raise IngestError(f"scene {scene.name!r} is being ingested by another process")
    scene.refresh_from_db()
    scene_clear_patches(scene)
    options = IngestOptions(
        patch_size=scene.patch_size,
        bands=tuple(scene.bands) if scene.bands else None,
        l2a_offset=scene.l2a_offset,
        max_invalid=scene.max_invalid,
    )
    try:
        with ExitStack() as stack:
            pair = _open_pair(
                stack, Path(scene.image_path), Path(scene.landcover_path), options
            )
            _record_scene_geometry(scene, pair)
            created, skipped, all_empty = _ingest_patches(
                scene, pair, options, on_progress
            )
        if created == 0:
            raise IngestError(_nothing_to_ingest_message(scene, options, all_empty))
    except (RasterError, IngestError) as error:
        scene_mark_failed(scene, str(error))
        raise IngestError(str(error)) from None
    except KeyboardInterrupt:
        scene_mark_failed(scene, f"{scene.image_path}: ingest interrupted")
        raise
    except Exception as error:
        scene_mark_failed(scene, f"{scene.image_path}: unexpected error: {error!r}")
        raise
    Scene.objects.filter(pk=scene.pk).update(
        status=Scene.Status.READY,
        patches_created=created,
        patches_skipped=skipped,
        patches_done=created + skipped,
    )
    return IngestResult(scene.pk, created, skipped)


def _nothing_to_ingest_message(
    scene: Scene, options: IngestOptions, all_empty: bool
) -> str:
    if all_empty:
        return f"{scene.image_path}: the image holds only nodata, nothing to ingest"
    return (
        f"{scene.image_path}: every patch has more than {options.max_invalid:.0%} "
        "invalid pixels (raise --max-invalid to keep them)"
    )


def _record_scene_geometry(scene: Scene, pair: ScenePair) -> None:
    footprint = pair.footprint()
    scene.crs = pair.crs_text
    scene.width, scene.height = pair.width, pair.height
    scene.west, scene.south = footprint.west, footprint.south
    scene.east, scene.north = footprint.east, footprint.north
    scene.acquired_on = pair.acquired_on()
    scene.patches_total = pair.patch_count
    scene.save(
        update_fields=[
            "crs", "width", "height", "west", "south", "east", "north",
            "acquired_on", "patches_total", "updated_at",
        ]
    )  # fmt: skip


def _ingest_patches(
    scene: Scene,
    pair: ScenePair,
    options: IngestOptions,
    on_progress: ProgressCallback | None,
) -> tuple[int, int, bool]:
    created = skipped = done = 0
    all_empty = True
    batch: list[Patch] = []
    total = pair.patch_count
    progress_written = time.monotonic()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="encoder") as encoder:
        for strip in pair.strips():
            done += len(strip)
            if any(patch_data.invalid_fraction < 1.0 for patch_data in strip):
                all_empty = False
            kept = [p for p in strip if p.invalid_fraction <= options.max_invalid]
            skipped += len(strip) - len(kept)
            # Encoding (the costliest step) runs in its own thread, one patch ahead
            # of the statistics and writes here; the strips are read in a third.
            encoded = encoder.map(_encode_previews, kept)
            for patch_data, previews in zip(kept, encoded, strict=True):
                batch.append(_build_patch(scene, pair, patch_data, previews))
            if len(batch) >= settings.INGEST_BATCH_SIZE:
                created += patches_save_batch(scene, batch, done)
                batch = []
                progress_written = time.monotonic()
            elif time.monotonic() - progress_written > PROGRESS_INTERVAL_S:
                # Between batches too, so the admin's bar moves on a sparse scene.
                _record_progress(scene, done)
                progress_written = time.monotonic()
            if on_progress is not None:
                on_progress(done, total)
    created += patches_save_batch(scene, batch, done)
    return created, skipped, all_empty


def _encode_previews(patch_data: PatchData) -> EncodedPreviews:
    return encode_previews(patch_data.rgb, patch_data.codes, settings.PREVIEW_FORMAT)


def _build_patch(
    scene: Scene, pair: ScenePair, patch_data: PatchData, previews: EncodedPreviews
) -> Patch:
    try:
        stats = landcover_stats(patch_data.codes)
    except LandCoverError as error:
        raise RasterError(f"{pair.landcover_path}: {error}") from None
    rgb_name, landcover_name = write_previews(
        scene, patch_data.row_off, patch_data.col_off, previews
    )
    footprint = patch_data.footprint
    return Patch(
        scene=scene,
        row_off=patch_data.row_off,
        col_off=patch_data.col_off,
        width=patch_data.codes.shape[1],
        height=patch_data.codes.shape[0],
        west=footprint.west,
        south=footprint.south,
        east=footprint.east,
        north=footprint.north,
        rgb_preview=rgb_name,
        landcover_preview=landcover_name,
        landcover=stats,
        invalid_fraction=round(patch_data.invalid_fraction, 6),
        split=split_for(f"{scene.name}:{patch_data.row_off}:{patch_data.col_off}"),
    )


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


def patches_save_batch(scene: Scene, patches: Iterable[Patch], done: int) -> int:
    patches = list(patches)
    with transaction.atomic():
        Patch.objects.bulk_create(patches)
        _record_progress(scene, done)
    return len(patches)


def _record_progress(scene: Scene, done: int) -> None:
    Scene.objects.filter(pk=scene.pk).update(
        patches_done=done, updated_at=timezone.now()
    )


def scene_clear_patches(scene: Scene) -> None:
    Patch.objects.filter(scene=scene).delete()
    shutil.rmtree(_media_path(scene_media_dir(scene)), ignore_errors=True)


def scene_mark_failed(scene: Scene, reason: str) -> None:
    logger.warning("ingest of scene %s failed: %s", scene.name, reason)
    scene_clear_patches(scene)
    Scene.objects.filter(pk=scene.pk).update(
        status=Scene.Status.FAILED, error=reason, patches_done=0
    )
