"""Scene ingest: check a GeoTIFF pair, create its scene, cut it into patches.

The admin's form, the `ingest_scene` command and the Celery task all come here, so a
pair is checked, a scene created and an ingest claimed one way. The tile import
(`tile_import.py`) shares the claim, the failure clean-up and the patch store.
"""

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rasterio
from django.conf import settings
from django.db import transaction

from captions.claims import Claim, claim
from captions.ingest.input_files import InputFileError, InputPolicy, resolve_input_file
from captions.ingest.patch_store import (
    PatchBatches,
    PreviewWriter,
    scene_clear_patches,
)
from captions.ingest.previews import EncodedPreviews, encode_previews
from captions.ingest.rasters import RasterError
from captions.ingest.scene_pair import PatchData, ScenePair, open_scene_pair
from captions.ingest.splits import (
    check_split_block,
    geotiff_split_key,
    ingested_patch_name,
    split_for,
)
from captions.landcover import LandCoverError, dominant_class, landcover_stats
from captions.models import Patch, Scene
from captions.storage import StorageError

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]

# An ingest touches its scene at least once a second (patch_store.PatchBatches); one
# silent for longer than this belonged to a process that died, and may be taken over
# (SCENE_INGEST_STALE_AFTER_S: tests that kill a worker shorten it).
STALE_INGEST_AFTER = dt.timedelta(seconds=settings.SCENE_INGEST_STALE_AFTER_S)


class IngestError(Exception):
    """An ingest that cannot go on; the message is one line naming file and problem."""


class SceneBusy(IngestError):
    """Another process holds the scene and is alive: its task tries again later."""


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


@dataclass(frozen=True)
class IngestOptions:
    patch_size: int = 256
    bands: tuple[int, ...] | None = None
    l2a_offset: str = "auto"
    max_invalid: float = 0.5
    # None: settings.SPLIT_BLOCK, read when the scene is created
    split_block: int | None = None

    @classmethod
    def of_scene(cls, scene: Scene) -> "IngestOptions":
        """The options a scene was queued with."""
        return cls(
            patch_size=scene.patch_size,
            bands=tuple(scene.bands) if scene.bands else None,
            l2a_offset=scene.l2a_offset,
            max_invalid=scene.max_invalid,
            split_block=scene.split_block,
        )

    def validate(self) -> None:
        if not 0.0 <= self.max_invalid <= 1.0:
            raise IngestError(f"--max-invalid {self.max_invalid} must be within 0..1")
        try:
            check_split_block(self.block())
        except ValueError as error:
            raise IngestError(str(error)) from None

    def block(self) -> int:
        """Patches per side of a block that shares a split (captions/ingest/splits)."""
        return settings.SPLIT_BLOCK if self.split_block is None else self.split_block


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


# --- Check and create -------------------------------------------------------------


def scene_create(
    *,
    name: str,
    image_path: Path,
    landcover_path: Path,
    options: IngestOptions,
) -> Scene:
    """Check the raster pair, then create its queued GeoTIFF scene (or return the
    existing one for the same name and files); `IngestError` says what is wrong.

    The pair is opened and checked before anything is written, so a typo in a path
    leaves no failed scene behind. The same pair ingested twice gives one scene; a
    name already taken by other files is refused rather than silently mixing two
    sources. The scene keeps the files' real paths, which the worker checks again
    when it opens them.
    """
    image_text, landcover_text = (
        str(input_file(image_path)),
        str(input_file(landcover_path)),
    )
    _check_pair(image_path=image_path, landcover_path=landcover_path, options=options)
    existing = Scene.objects.filter(name=name).first()
    if existing is not None:
        _require_same_files(existing, image_text, landcover_text)
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
        split_block=options.block(),
    )


def _require_same_files(scene: Scene, image_text: str, landcover_text: str) -> None:
    if (scene.image_path, scene.landcover_path) != (image_text, landcover_text):
        raise IngestError(
            f"scene name {scene.name!r} is already used by {scene.image_path}; "
            "choose another name"
        )


def _check_pair(
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


# --- Claim and fail: the same for a GeoTIFF ingest and a tile import --------------


def scene_claim(scene: Scene, *, work: str, **changes: Any) -> None:
    """Take `scene` for this process: queued, failed, or left by a process that died
    (silent for `STALE_INGEST_AFTER`); `IngestError` if another process has it.
    `work` says what the other process does, e.g. "ingested"."""
    taken = claim(
        Scene,
        scene.pk,
        ready=(Scene.Status.QUEUED, Scene.Status.FAILED),
        working=Scene.Status.INGESTING,
        stale_after=STALE_INGEST_AFTER,
        error="",
        patches_done=0,
        **changes,
    )
    if taken is Claim.BUSY:
        raise SceneBusy(f"scene {scene.name!r} is being {work} by another process")
    if taken is not Claim.TAKEN:
        raise IngestError(
            f"scene {scene.name!r} cannot be {work}: it is {scene.status}"
        )


@contextmanager
def failures_recorded(
    scene: Scene, *, source: str, work: str, expected: tuple[type[Exception], ...]
) -> Iterator[None]:
    """On any error, mark `scene` failed with the reason and remove its patches and
    files, so a failed ingest leaves nothing half-done behind. `IngestError` and the
    `expected` errors, and a store's failure to write a preview, come out as
    `IngestError`; anything else as it was raised."""
    reported: tuple[type[Exception], ...] = (IngestError, StorageError, *expected)
    try:
        yield
    except reported as error:
        scene_mark_failed(scene, str(error))
        raise IngestError(str(error)) from None
    except KeyboardInterrupt:
        scene_mark_failed(scene, f"{source}: {work} interrupted")
        raise
    except Exception as error:
        scene_mark_failed(scene, f"{source}: unexpected error: {error!r}")
        raise


def scene_mark_failed(scene: Scene, reason: str) -> None:
    logger.warning("ingest of scene %s failed: %s", scene.name, reason)
    scene_clear_patches(scene)
    Scene.objects.filter(pk=scene.pk).update(
        status=Scene.Status.FAILED, error=reason, patches_done=0
    )


# --- Ingest -----------------------------------------------------------------------


def scene_ingest(
    *, scene_id: int, on_progress: ProgressCallback | None = None
) -> IngestResult:
    """Cut a queued scene into analysed patches with previews.

    Claims the scene (`scene_claim`), so two workers never ingest it together. On any
    error the scene is marked failed with the reason and its patches and preview
    files are removed (`failures_recorded`).
    """
    scene = Scene.objects.get(pk=scene_id)
    if scene.status == Scene.Status.READY:
        return IngestResult(scene.pk, 0, scene.patches_skipped, already_ingested=True)
    scene_claim(scene, work="ingested")
    scene.refresh_from_db()
    scene_clear_patches(scene)  # what a dead worker's attempt left
    with failures_recorded(
        scene, source=scene.image_path, work="ingest", expected=(RasterError,)
    ):
        created, skipped = _cut_into_patches(scene, on_progress)
    Scene.objects.filter(pk=scene.pk).update(
        status=Scene.Status.READY,
        patches_created=created,
        patches_skipped=skipped,
        patches_done=created + skipped,
    )
    return IngestResult(scene.pk, created, skipped)


def _cut_into_patches(
    scene: Scene, on_progress: ProgressCallback | None
) -> tuple[int, int]:
    options = IngestOptions.of_scene(scene)
    with ExitStack() as stack:
        pair = _open_pair(
            stack, Path(scene.image_path), Path(scene.landcover_path), options
        )
        _record_scene_geometry(scene, pair)
        created, skipped, all_empty = _ingest_patches(scene, pair, options, on_progress)
    if created == 0:
        raise IngestError(_nothing_to_ingest_message(scene, options, all_empty))
    return created, skipped


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
    skipped = done = 0
    all_empty = True
    with (
        PatchBatches(scene) as batches,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="encoder") as encoder,
    ):
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
                batches.add(
                    _build_patch(scene, pair, patch_data, previews, batches.previews)
                )
            batches.progress(done)
            if on_progress is not None:
                on_progress(done, pair.patch_count)
        batches.save(done)
    return batches.created, skipped, all_empty


def _encode_previews(patch_data: PatchData) -> EncodedPreviews:
    return encode_previews(patch_data.rgb, patch_data.codes, settings.PREVIEW_FORMAT)


def _build_patch(
    scene: Scene,
    pair: ScenePair,
    patch_data: PatchData,
    previews: EncodedPreviews,
    writer: PreviewWriter,
) -> Patch:
    try:
        stats = landcover_stats(patch_data.codes)
    except LandCoverError as error:
        raise RasterError(f"{pair.landcover_path}: {error}") from None
    rgb_name, landcover_name = writer.write_previews(
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
        dominant_class=dominant_class(stats),
        invalid_fraction=round(patch_data.invalid_fraction, 6),
        source_name=ingested_patch_name(
            scene.name, patch_data.row_off, patch_data.col_off
        ),
        split=split_for(
            geotiff_split_key(
                scene.name,
                patch_data.row_off,
                patch_data.col_off,
                patch_size=scene.patch_size,
                block=scene.split_block,
            )
        ),
    )
