"""Import a folder of ChatEarthNet / SatlasPretrain PNG tiles as a scene.

It shares `captions.ingest.scenes`' pieces (previews, batched saves, failure clean-up,
splits), so a tile import and a GeoTIFF ingest fail, clean up and split patches the
same way.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from captions.ingest.input_files import InputFileError, InputPolicy, resolve_input_path
from captions.ingest.patch_store import (
    PatchBatches,
    PreviewWriter,
    scene_clear_patches,
)
from captions.ingest.previews import encode_previews
from captions.ingest.rasters import Footprint
from captions.ingest.scenes import (
    IngestError,
    IngestOptions,
    IngestResult,
    ProgressCallback,
    failures_recorded,
    input_policy,
    scene_claim,
)
from captions.ingest.splits import split_for, tile_split_key
from captions.ingest.tiles import (
    LABEL_KINDS,
    TileDiscovery,
    TileError,
    TilePair,
    TilePatch,
    discover_tile_pairs,
    read_tile_patches,
)
from captions.landcover import dominant_class, landcover_stats
from captions.models import Patch, Scene

logger = logging.getLogger(__name__)

# Tiles have no shared pixel grid, so each gets its own band of rows in a virtual
# column: tile k (in file-name order) starts at row k * 512, and a quarter keeps its
# pixel offset inside the tile. Offsets stay pixel offsets and stay unique per scene.
TILE_STRIDE = 512


@dataclass(frozen=True)
class TileImportResult(IngestResult):
    tiles_read: int = 0
    images_without_label: tuple[str, ...] = ()
    bad_tiles: tuple[str, ...] = ()  # one error per tile left out with skip_bad

    def as_json(self) -> dict:
        return {
            **super().as_json(),
            "tiles_read": self.tiles_read,
            "images_without_label": list(self.images_without_label),
            "bad_tiles": list(self.bad_tiles),
        }


@dataclass(frozen=True)
class _TileOptions:
    label_kind: str
    max_invalid: float
    skip_bad: bool
    policy: InputPolicy


def scene_import_tiles(
    *,
    directory: Path,
    name: str,
    label_kind: str = "auto",
    max_invalid: float = 0.5,
    skip_bad: bool = False,
    split_block: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> IngestResult:
    """Import every labelled tile of ``directory`` as the patches of one scene.

    The same name and folder imported again return at once (``already_ingested``);
    a failed import is redone from scratch, and so is one whose process died
    (`scenes.scene_claim`). A broken tile fails the import, naming the file, unless
    ``skip_bad``: then it is left out and reported. On failure the scene is marked
    failed with the reason and its patches and files are removed; a folder found
    missing or empty before anything is written creates no scene.
    ``on_progress(tiles_done, tiles_total)`` is called after each tile.
    """
    if label_kind not in LABEL_KINDS:
        raise IngestError(f"label kind {label_kind!r} is not one of {LABEL_KINDS}")
    ingest_options = IngestOptions(max_invalid=max_invalid, split_block=split_block)
    ingest_options.validate()
    options = _TileOptions(label_kind, max_invalid, skip_bad, input_policy())
    directory = _input_folder(directory, options.policy)
    scene, discovery = _scene_for_folder(name, directory, ingest_options)
    if scene.status == Scene.Status.READY:
        return TileImportResult(
            scene.pk, 0, scene.patches_skipped, already_ingested=True
        )
    _claim(scene, max_invalid=max_invalid, split_block=split_block)
    with failures_recorded(
        scene, source=str(directory), work="import", expected=(TileError,)
    ):
        scene_clear_patches(scene)  # what a failed or abandoned attempt left
        if discovery is None:
            discovery = _discover(directory)
        return _TileImport(scene, options).run(discovery, on_progress)


def _claim(scene: Scene, *, max_invalid: float, split_block: int | None) -> None:
    """Take the scene with this import's options (a failed import may be redone
    with others; without a new split block it keeps its own)."""
    if split_block is not None:
        scene.split_block = split_block
    scene_claim(
        scene,
        work="imported",
        patches_total=0,
        max_invalid=max_invalid,
        split_block=scene.split_block,
    )


def _input_folder(directory: Path, policy: InputPolicy) -> Path:
    try:
        return resolve_input_path(directory, policy)
    except InputFileError as error:
        raise IngestError(str(error)) from None


def _discover(directory: Path) -> TileDiscovery:
    try:
        discovery = discover_tile_pairs(directory)
    except TileError as error:
        raise IngestError(str(error)) from None
    if not discovery.pairs:
        first = ", ".join(path.name for path in discovery.unlabelled[:3])
        raise IngestError(
            f"{directory}: none of its {len(discovery.unlabelled)} images has a label "
            f"(e.g. {first}); see docs/import_tiles.md for where labels go"
        )
    if discovery.unlabelled:
        # Not fatal, and the result lists them: info, not a warning on every run.
        logger.info(
            "%s: images without a label, not imported: %d",
            directory,
            len(discovery.unlabelled),
        )
    return discovery


def _scene_for_folder(
    name: str, directory: Path, options: IngestOptions
) -> tuple[Scene, TileDiscovery | None]:
    """The scene `name` of this folder, created if new (with the folder's tiles)."""
    scene = Scene.objects.filter(name=name).first()
    if scene is not None:
        _require_same_folder(scene, directory)
        return scene, None
    # Check the folder before creating anything, so a typo leaves no failed scene.
    discovery = _discover(directory)
    scene = Scene.objects.create(
        name=name,
        source_kind=Scene.SourceKind.TILES,
        image_path=str(directory),
        max_invalid=options.max_invalid,
        split_block=options.block(),
    )
    return scene, discovery


def _require_same_folder(scene: Scene, directory: Path) -> None:
    if (scene.source_kind, scene.image_path) != (
        Scene.SourceKind.TILES,
        str(directory),
    ):
        raise IngestError(
            f"scene name {scene.name!r} is already used by {scene.image_path}; "
            "choose another name"
        )


class _TileImport:
    """One pass over a folder's tiles: the patches it keeps, skips and leaves out."""

    def __init__(self, scene: Scene, options: _TileOptions) -> None:
        self.scene = scene
        self.options = options
        self.batches = PatchBatches(scene)  # saves, and keeps the claim alive
        self.bounds = _Bounds()
        self.taken_names: set[str] = set()
        self.bad_tiles: list[str] = []
        self.patches_done = self.skipped = 0

    def run(
        self, discovery: TileDiscovery, on_progress: ProgressCallback | None
    ) -> TileImportResult:
        tiles_total = len(discovery.pairs)
        with self.batches:
            for tile_index, pair in enumerate(discovery.pairs):
                self._add_tile(tile_index, pair)
                self.batches.progress(self.patches_done)
                if on_progress is not None:
                    on_progress(tile_index + 1, tiles_total)
            self.batches.save(self.patches_done)
        self._require_patches(tiles_total)
        self._mark_ready()
        return TileImportResult(
            self.scene.pk,
            self.batches.created,
            self.skipped,
            tiles_read=tiles_total - len(self.bad_tiles),
            images_without_label=tuple(path.name for path in discovery.unlabelled),
            bad_tiles=tuple(self.bad_tiles),
        )

    def _add_tile(self, tile_index: int, pair: TilePair) -> None:
        options = self.options
        try:
            tile_patches = _read_tile(
                pair, options.label_kind, self.taken_names, options.policy
            )
        except TileError as error:
            if not options.skip_bad:
                raise
            logger.info("tile left out: %s", error)
            self.bad_tiles.append(str(error))
            return
        for tile_patch in tile_patches:
            self.patches_done += 1
            if tile_patch.invalid_fraction > options.max_invalid:
                self.skipped += 1
                continue
            self.batches.add(
                _build_tile_patch(
                    self.scene, tile_index, tile_patch, self.batches.previews
                )
            )
            self.bounds.add(tile_patch.footprint)

    def _require_patches(self, tiles_total: int) -> None:
        if len(self.bad_tiles) == tiles_total:
            raise IngestError(
                f"{self.scene.image_path}: none of its {tiles_total} tiles could be "
                f"read; first: {self.bad_tiles[0]}"
            )
        if self.batches.created == 0:
            raise IngestError(
                f"{self.scene.image_path}: every patch has more than "
                f"{self.options.max_invalid:.0%} invalid pixels (raise --max-invalid "
                "to keep them)"
            )

    def _mark_ready(self) -> None:
        Scene.objects.filter(pk=self.scene.pk).update(
            status=Scene.Status.READY,
            patches_total=self.patches_done,
            patches_done=self.patches_done,
            patches_created=self.batches.created,
            patches_skipped=self.skipped,
            **self.bounds.as_fields(),
        )


def _read_tile(
    pair: TilePair, label_kind: str, taken_names: set[str], policy: InputPolicy
) -> list[TilePatch]:
    tile_patches = read_tile_patches(pair, label_kind, policy=policy)
    for tile_patch in tile_patches:
        # e.g. a 512 tile a.png cut into a_patch00.png beside a 256 tile of that name
        if tile_patch.source_name in taken_names:
            raise TileError(
                f"{pair.image_path}: patch name {tile_patch.source_name} is already "
                "taken by another tile"
            )
    taken_names.update(tile_patch.source_name for tile_patch in tile_patches)
    return tile_patches


def _build_tile_patch(
    scene: Scene, tile_index: int, tile_patch: TilePatch, writer: PreviewWriter
) -> Patch:
    row_off = tile_index * TILE_STRIDE + tile_patch.row_in_tile
    col_off = tile_patch.col_in_tile
    previews = encode_previews(
        tile_patch.rgb, tile_patch.codes, settings.PREVIEW_FORMAT
    )
    rgb_name, landcover_name = writer.write_previews(scene, row_off, col_off, previews)
    footprint = tile_patch.footprint
    height, width = tile_patch.codes.shape
    stats = landcover_stats(tile_patch.codes)
    return Patch(
        scene=scene,
        row_off=row_off,
        col_off=col_off,
        width=width,
        height=height,
        west=footprint.west if footprint else None,
        south=footprint.south if footprint else None,
        east=footprint.east if footprint else None,
        north=footprint.north if footprint else None,
        source_name=tile_patch.source_name,
        rgb_preview=rgb_name,
        landcover_preview=landcover_name,
        landcover=stats,
        dominant_class=dominant_class(stats),
        invalid_fraction=round(tile_patch.invalid_fraction, 6),
        # By name alone: the same tile gets the same split in every scene, and the
        # tiles of one block (the quarters of one tile at least) share it.
        split=split_for(
            tile_split_key(tile_patch.source_name, block=scene.split_block)
        ),
    )


class _Bounds:
    """The lon/lat box around the imported patches that have a footprint."""

    def __init__(self) -> None:
        self.box: Footprint | None = None

    def add(self, footprint: Footprint | None) -> None:
        if footprint is None:
            return
        if self.box is None:
            self.box = footprint
            return
        self.box = Footprint(
            west=min(self.box.west, footprint.west),
            south=min(self.box.south, footprint.south),
            east=max(self.box.east, footprint.east),
            north=max(self.box.north, footprint.north),
        )

    def as_fields(self) -> dict[str, float | None]:
        box = self.box
        return {
            "west": box.west if box else None,
            "south": box.south if box else None,
            "east": box.east if box else None,
            "north": box.north if box else None,
        }
