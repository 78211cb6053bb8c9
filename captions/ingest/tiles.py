"""Read ChatEarthNet / SatlasPretrain PNG tiles: pairs, labels, quarters, footprints.

Plain Pillow and numpy, no Django (DOMAIN.md section 3). The conventions are spelled
out for users in docs/import_tiles.md; keep the two in step.
"""

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from captions.ingest.input_files import InputFileError, InputPolicy, open_input_image
from captions.ingest.rasters import Footprint
from captions.landcover import (
    CLASSES,
    NODATA,
    LandCoverError,
    palette_to_worldcover,
    satlas_to_worldcover,
)

PATCH_SIZE = 256
TILE_SIZES = (256, 512)  # a 512 tile is cut into four 256 quarters
LABEL_KINDS = ("auto", "satlas", "palette")
SATLAS_ZOOM = 13  # SatlasPretrain names its tiles <col>_<row> at web-mercator zoom 13

# (image folder, its label folders) inside the import folder, tried in this order.
SIBLING_LAYOUTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("images", ("labels",)),
    ("rgb", ("landcover",)),
    ("tci", ("worldcover", "land_cover")),
)
LABEL_SUFFIXES = ("_label", "_landcover")  # <stem>_label.png next to <stem>.png

_SATLAS_NAME = re.compile(
    r"(?P<col>\d+)_(?P<row>\d+)(?:_patch(?P<qr>[01])(?P<qc>[01]))?"
)
_PROMPT_COLOURS = frozenset([(0, 0, 0), *(cls.prompt_rgb for cls in CLASSES)])


class TileError(Exception):
    """A tile or folder that cannot be imported; the message names the file."""


@dataclass(frozen=True)
class TilePair:
    image_path: Path
    label_path: Path

    @property
    def name(self) -> str:
        return self.image_path.name


@dataclass(frozen=True)
class TileDiscovery:
    """The labelled tiles of a folder (sorted by file name) and the images without."""

    pairs: tuple[TilePair, ...]
    unlabelled: tuple[Path, ...]


@dataclass(frozen=True)
class TilePatch:
    """One 256x256 patch of a tile: a whole 256 tile, or a quarter of a 512 one."""

    source_name: str  # "<stem>.png", or "<stem>_patch01.png" for a quarter
    row_in_tile: int  # pixel offset of the quarter inside its tile: 0 or 256
    col_in_tile: int
    rgb: np.ndarray  # (256, 256, 3) uint8
    codes: np.ndarray  # (256, 256) uint8 WorldCover codes, 0 = nodata
    footprint: Footprint | None  # lon/lat bounds, for SatlasPretrain tile names only

    @property
    def invalid_fraction(self) -> float:
        return float(np.count_nonzero(self.codes == NODATA)) / self.codes.size


# --- Finding the tiles -----------------------------------------------------------


def discover_tile_pairs(directory: Path) -> TileDiscovery:
    """Pair every RGB tile of ``directory`` with its label PNG.

    Images are the PNGs of ``directory`` itself and of the image folders of
    `SIBLING_LAYOUTS`; an image's label is the file of the same name in a matching
    label folder, or ``<stem>_label.png`` / ``<stem>_landcover.png`` beside it.
    Hidden files (``.name``, macOS ``._name``) are ignored. Raises `TileError` if the
    folder is missing, holds no image, or two images share a file name.
    """
    if not directory.exists():
        raise TileError(f"{directory}: no such directory")
    if not directory.is_dir():
        raise TileError(f"{directory}: not a directory")
    pairs: dict[str, TilePair] = {}
    unlabelled: dict[str, Path] = {}
    seen: dict[str, Path] = {}
    for image_dir, label_dirs in _image_folders(directory):
        for image, label in _pairs_in_folder(image_dir, label_dirs):
            # The file name is the patch's source_name, which captions are matched on.
            if image.name in seen:
                raise TileError(
                    f"{image}: {seen[image.name]} has the same file name; tile "
                    "names must be unique within an import"
                )
            seen[image.name] = image
            if label is None:
                unlabelled[image.name] = image
            else:
                pairs[image.name] = TilePair(image, label)
    if not pairs and not unlabelled:
        raise TileError(
            f"{directory}: no PNG tiles found (expected images/ + labels/, rgb/ + "
            "landcover/, tci/ + worldcover/, or <name>.png + <name>_label.png)"
        )
    return TileDiscovery(
        pairs=tuple(pairs[name] for name in sorted(pairs)),
        unlabelled=tuple(unlabelled[name] for name in sorted(unlabelled)),
    )


def _image_folders(directory: Path) -> list[tuple[Path, tuple[Path, ...]]]:
    """The folders that may hold images, each with where its labels may be."""
    folders: list[tuple[Path, tuple[Path, ...]]] = [(directory, ())]
    for image_folder, label_folders in SIBLING_LAYOUTS:
        if (directory / image_folder).is_dir():
            labels = tuple(directory / label_folder for label_folder in label_folders)
            folders.append((directory / image_folder, labels))
    return folders


def _pairs_in_folder(
    folder: Path, label_folders: tuple[Path, ...]
) -> list[tuple[Path, Path | None]]:
    pngs = {
        path.name: path
        for path in folder.iterdir()
        if path.suffix.lower() == ".png"
        and not path.name.startswith(".")
        and path.is_file()
    }
    labels_beside = {
        name for name, path in pngs.items() if path.stem.endswith(LABEL_SUFFIXES)
    }
    found: list[tuple[Path, Path | None]] = []
    for name in sorted(set(pngs) - labels_beside):
        image = pngs[name]
        candidates = [label_folder / name for label_folder in label_folders] + [
            image.with_name(f"{image.stem}{suffix}{image.suffix}")
            for suffix in LABEL_SUFFIXES
        ]
        labels = [path for path in candidates if path.is_file()]
        if len(labels) > 1:
            listed = ", ".join(str(path) for path in labels)
            raise TileError(f"{image}: more than one label found ({listed})")
        found.append((image, labels[0] if labels else None))
    return found


# --- Reading a tile --------------------------------------------------------------


def read_tile_patches(
    pair: TilePair, label_kind: str = "auto", *, policy: InputPolicy
) -> list[TilePatch]:
    """Read a tile and its label and cut them into 256x256 patches.

    One patch for a 256 tile, the four quarters for a 512 tile (`cut_tile`). Raises
    `TileError` naming the file for an unreadable PNG, a size other than 256 or 512,
    a label that does not match its image, or label values that are not classes.
    """
    rgb, codes = read_tile_pair(pair, label_kind, policy=policy)
    return cut_tile(pair.name, rgb, codes)


def read_tile_pair(
    pair: TilePair, label_kind: str = "auto", *, policy: InputPolicy
) -> tuple[np.ndarray, np.ndarray]:
    """The tile's RGB (H, W, 3) uint8 and its label as (H, W) uint8 WorldCover codes.

    Both files are opened through `captions.ingest.input_files` (`policy`): a tile that
    is
    a symlink out of the allowed folders, or not a PNG, is a `TileError`.
    """
    if label_kind not in LABEL_KINDS:
        raise ValueError(f"label kind {label_kind!r} is not one of {LABEL_KINDS}")
    with _open_png(pair.image_path, policy) as image:
        if image.mode not in ("RGB", "RGBA", "P"):
            raise TileError(
                f"{pair.image_path}: expected an 8-bit RGB image, got mode {image.mode}"
            )
        if image.width != image.height or image.width not in TILE_SIZES:
            raise TileError(
                f"{pair.image_path}: tile is {image.width}x{image.height}, "
                "expected 256x256 or 512x512"
            )
        rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    with _open_png(pair.label_path, policy) as label:
        if label.size != (rgb.shape[1], rgb.shape[0]):
            raise TileError(
                f"{pair.label_path}: label is {label.width}x{label.height} but its "
                f"image {pair.image_path.name} is {rgb.shape[1]}x{rgb.shape[0]}"
            )
        try:
            codes = decode_label(label, label_kind)
        except LandCoverError as error:
            raise TileError(f"{pair.label_path}: {error}") from None
    return rgb, codes


def _open_png(path: Path, policy: InputPolicy) -> Image.Image:
    try:
        image = open_input_image(path, policy)
    except InputFileError as error:
        raise TileError(str(error)) from None
    except _PILLOW_ERRORS as error:
        raise TileError(f"{path}: not a readable PNG ({error})") from None
    try:
        image.load()  # decode now, so a truncated file fails here, naming itself
    except _PILLOW_ERRORS as error:
        image.close()
        raise TileError(f"{path}: not a readable PNG ({error})") from None
    return image


_PILLOW_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    AttributeError,  # Pillow's PNG reader, on some truncated chunks
    Image.DecompressionBombError,
)


def decode_label(label: Image.Image, label_kind: str = "auto") -> np.ndarray:
    """WorldCover codes of a label image: Satlas indices or prompt-palette colours.

    ``auto`` reads a single-channel image (mode L) as Satlas indices and an RGB image
    as prompt-palette colours. A palette image (mode P) is read by its colours when
    every colour it uses is a prompt-palette colour (what a viewer shows is what is
    imported), by its indices otherwise. Raises `LandCoverError` for values that are
    not classes, naming them.
    """
    kind = label_kind if label_kind != "auto" else guess_label_kind(label)
    if kind == "satlas":
        if label.mode not in ("L", "P"):
            raise LandCoverError(
                f"a Satlas index label must be single-channel (mode L or P), got "
                f"mode {label.mode}; try --label-kind palette"
            )
        return satlas_to_worldcover(np.asarray(label, dtype=np.uint8))
    if label.mode not in ("RGB", "RGBA", "P"):
        raise LandCoverError(
            f"a palette label must be a colour image (RGB or P), got mode "
            f"{label.mode}; try --label-kind satlas"
        )
    if label.mode == "RGBA":
        rgba = np.array(label, dtype=np.uint8)
        rgba[rgba[..., 3] == 0, :3] = 0  # a transparent pixel is background (black)
        return palette_to_worldcover(rgba[..., :3])
    return palette_to_worldcover(np.asarray(label.convert("RGB"), dtype=np.uint8))


def guess_label_kind(label: Image.Image) -> str:
    """``"satlas"`` or ``"palette"`` from the image's mode and, for mode P, colours."""
    if label.mode in ("RGB", "RGBA"):
        return "palette"
    if label.mode == "P" and _uses_only_prompt_colours(label):
        return "palette"
    if label.mode in ("L", "P"):
        return "satlas"
    raise LandCoverError(
        f"cannot read a label of mode {label.mode}: expected Satlas indices "
        "(8-bit single channel) or prompt-palette colours (8-bit RGB)"
    )


def _uses_only_prompt_colours(label: Image.Image) -> bool:
    palette = label.getpalette(rawmode="RGB") or []
    for index in np.unique(np.asarray(label, dtype=np.uint8)).tolist():
        colour = tuple(palette[3 * index : 3 * index + 3])
        if colour not in _PROMPT_COLOURS:
            return False
    return True


# --- Cutting and locating --------------------------------------------------------


def cut_tile(name: str, rgb: np.ndarray, codes: np.ndarray) -> list[TilePatch]:
    """A 256 tile as one patch named ``name``; a 512 tile as its four quarters.

    Quarters are named ``<stem>_patch<row><col>.png`` as in ChatEarthNet: ``00`` top
    left, ``01`` top right, ``10`` bottom left, ``11`` bottom right, in that order.
    """
    size = codes.shape[0]
    if size == PATCH_SIZE:
        return [TilePatch(name, 0, 0, rgb, codes, footprint_for_tile_name(name))]
    if size != 2 * PATCH_SIZE or codes.shape != (size, size):
        raise ValueError(f"expected a 256 or 512 square tile, got {codes.shape}")
    stem = Path(name).stem
    patches = []
    for quarter_row in (0, 1):
        for quarter_col in (0, 1):
            rows = slice(quarter_row * PATCH_SIZE, (quarter_row + 1) * PATCH_SIZE)
            cols = slice(quarter_col * PATCH_SIZE, (quarter_col + 1) * PATCH_SIZE)
            quarter_name = f"{stem}_patch{quarter_row}{quarter_col}.png"
            patches.append(
                TilePatch(
                    source_name=quarter_name,
                    row_in_tile=rows.start,
                    col_in_tile=cols.start,
                    rgb=rgb[rows, cols],
                    codes=codes[rows, cols],
                    footprint=footprint_for_tile_name(quarter_name),
                )
            )
    return patches


def footprint_for_tile_name(name: str) -> Footprint | None:
    """Lon/lat bounds of a SatlasPretrain tile from its file name, else None.

    ``<col>_<row>.png`` is the web-mercator tile (col, row) at zoom 13; a quarter
    ``<col>_<row>_patch<r><c>.png`` is the zoom-14 tile (2 col + c, 2 row + r), the
    same area as splitting the tile in half in mercator metres. Any other name, or
    a col/row outside the zoom-13 grid, has no footprint.
    """
    parts = satlas_name_parts(name)
    if parts is None:
        return None
    col, row, quarter = parts
    if not (0 <= col < 2**SATLAS_ZOOM and 0 <= row < 2**SATLAS_ZOOM):
        return None
    if quarter is None:
        return web_mercator_footprint(col, row, SATLAS_ZOOM)
    quarter_row, quarter_col = quarter
    return web_mercator_footprint(
        2 * col + quarter_col, 2 * row + quarter_row, SATLAS_ZOOM + 1
    )


def satlas_name_parts(name: str) -> tuple[int, int, tuple[int, int] | None] | None:
    """(col, row, (quarter row, quarter col) or None) of a SatlasPretrain tile
    name (`<col>_<row>[_patch<r><c>].png`), else None."""
    match = _SATLAS_NAME.fullmatch(Path(name).stem)
    if match is None:
        return None
    quarter = None
    if match["qr"] is not None:
        quarter = (int(match["qr"]), int(match["qc"]))
    return int(match["col"]), int(match["row"]), quarter


def web_mercator_footprint(col: int, row: int, zoom: int) -> Footprint:
    """Lon/lat bounds of the XYZ (slippy map) tile ``col``, ``row`` at ``zoom``.

    Rows count from the north, as in OpenStreetMap, Google and SatlasPretrain.
    """
    tiles = 2**zoom
    return Footprint(
        west=col / tiles * 360.0 - 180.0,
        south=_tile_row_latitude(row + 1, tiles),
        east=(col + 1) / tiles * 360.0 - 180.0,
        north=_tile_row_latitude(row, tiles),
    )


def _tile_row_latitude(row: int, tiles: int) -> float:
    return math.degrees(math.atan(math.sinh(math.pi * (1.0 - 2.0 * row / tiles))))
