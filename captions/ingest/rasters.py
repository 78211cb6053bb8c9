"""Open, validate and align an image + WorldCover pair, and render true-colour previews.

Plain rasterio and numpy, no Django. The label raster is warped onto the image grid
through a `WarpedVRT` (nearest neighbour), and both are read one strip of patches at a
time, so memory depends on the scene's width and the patch size, never on its height,
and GDAL's block cache is capped by the caller.
"""

import datetime as dt
import queue
import re
import threading
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import ColorInterp, Resampling
from rasterio.errors import RasterioError
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform as warp_points
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from captions.ingest.input_files import (
    InputFileError,
    InputPolicy,
    open_input_raster,
    safe_gdal_env,
)

LONLAT = "EPSG:4326"
REFLECTANCE_SCALE = 10_000
# Sentinel Hub's default true-colour rendering: reflectance x 2.5, clipped to [0, 1].
DEFAULT_GAIN = 2.5
L2A_OFFSET_CHOICES = ("auto", "0", "-1000")
STRETCHES = ("gain", "percentile")


class RasterError(Exception):
    """An input that cannot be ingested; the message names the file and the problem."""


@dataclass(frozen=True)
class Footprint:
    west: float
    south: float
    east: float
    north: float


@dataclass
class PatchData:
    """One window of the aligned pair, ready for statistics and previews."""

    row_off: int
    col_off: int
    rgb: np.ndarray  # (H, W, 3) uint8, true colour
    codes: np.ndarray  # (H, W) uint8 WorldCover codes, 0 where anything is invalid
    invalid_fraction: float
    footprint: Footprint


@dataclass
class ScenePair:
    """An opened, validated image + label pair on the image's pixel grid."""

    image_path: Path
    landcover_path: Path
    image: rasterio.io.DatasetReader
    label: WarpedVRT
    bands: tuple[int, int, int]
    patch_size: int
    l2a_offset: int
    alpha_band: int | None
    _lookup: list[np.ndarray] | None = field(default=None, repr=False)

    @property
    def width(self) -> int:
        return int(self.image.width)

    @property
    def height(self) -> int:
        return int(self.image.height)

    @property
    def crs_text(self) -> str:
        epsg = self.image.crs.to_epsg()
        return f"EPSG:{epsg}" if epsg else self.image.crs.to_wkt()

    @property
    def grid_shape(self) -> tuple[int, int]:
        """Whole patches per column and row; a partial strip at an edge is left out."""
        return self.height // self.patch_size, self.width // self.patch_size

    @property
    def patch_count(self) -> int:
        rows, cols = self.grid_shape
        return rows * cols

    def footprint(self) -> Footprint:
        return Footprint(
            *transform_bounds(
                self.image.crs, LONLAT, *self.image.bounds, densify_pts=21
            )
        )

    def acquired_on(self) -> dt.date | None:
        return acquisition_date(self.image.tags())

    def strips(self, *, read_ahead: int = 2) -> Iterator[list[PatchData]]:
        """Yield the patches one row of the patch grid at a time.

        With `read_ahead`, a background thread reads and renders the next strips while
        the caller encodes this one: GDAL and numpy release the GIL, so reading and
        encoding overlap on two cores. Only that thread touches the datasets until the
        iteration ends; memory stays bounded at `read_ahead` + 2 strips.
        """
        if read_ahead < 1:
            yield from self._strips()
            return
        yield from _read_ahead(self._strips(), read_ahead)

    def _strips(self) -> Iterator[list[PatchData]]:
        rows, cols = self.grid_shape
        size = self.patch_size
        for grid_row in range(rows):
            row_off = grid_row * size
            yield self._read_strip(
                row_off, cols, _strip_footprints(self, row_off, cols)
            )

    def _read_strip(
        self, row_off: int, cols: int, footprints: list[Footprint]
    ) -> list[PatchData]:
        size = self.patch_size
        window = Window(0, row_off, cols * size, size)
        try:
            bands = self.image.read(list(self.bands), window=window)
            invalid = self._invalid_image_pixels(bands, window)
        except RasterioError as error:
            raise RasterError(
                f"{self.image_path}: pixels failed to read at rows "
                f"{row_off}-{row_off + size}: {error}"
            ) from None
        try:
            codes = self.label.read(1, window=window)
        except RasterioError as error:
            raise RasterError(
                f"{self.landcover_path}: pixels failed to read: {error}"
            ) from None
        if (
            codes.dtype != np.uint8
            and codes.size
            and not 0 <= codes.min() <= codes.max() <= 255
        ):
            bad = np.unique(codes[(codes < 0) | (codes > 255)])[:10].tolist()
            raise RasterError(
                f"{self.landcover_path}: label holds values that are not WorldCover "
                f"codes: {bad}"
            )
        codes = np.where(invalid, 0, codes).astype(np.uint8, copy=False)
        rgb = self.render_rgb(bands)
        patches = []
        for col in range(cols):
            cols_slice = slice(col * size, (col + 1) * size)
            patch_codes = codes[:, cols_slice]
            patches.append(
                PatchData(
                    row_off=row_off,
                    col_off=col * size,
                    rgb=rgb[:, cols_slice],
                    codes=patch_codes,
                    invalid_fraction=float(np.count_nonzero(patch_codes == 0))
                    / patch_codes.size,
                    footprint=footprints[col],
                )
            )
        return patches

    def _invalid_image_pixels(self, bands: np.ndarray, window: Window) -> np.ndarray:
        invalid = np.zeros(bands.shape[1:], dtype=bool)
        nodata = self.image.nodata
        if nodata is not None:
            invalid |= np.all(bands == nodata, axis=0)
        if self.alpha_band is not None:
            invalid |= self.image.read(self.alpha_band, window=window) == 0
        return invalid

    def render_rgb(self, bands: np.ndarray) -> np.ndarray:
        """(3, H, W) image values to an (H, W, 3) uint8 true-colour preview."""
        if self._lookup is not None and bands.dtype in (np.uint8, np.uint16):
            out = np.empty((*bands.shape[1:], 3), dtype=np.uint8)
            for index in range(3):
                out[..., index] = self._lookup[index][bands[index]]
            return out
        if bands.dtype == np.uint8:
            return np.ascontiguousarray(np.moveaxis(bands, 0, -1))
        reflectance = (bands.astype(np.float32) + self.l2a_offset) / REFLECTANCE_SCALE
        scaled = np.clip(reflectance * DEFAULT_GAIN, 0.0, 1.0) * 255.0 + 0.5
        return np.moveaxis(scaled.astype(np.uint8), 0, -1).copy()


_DONE = object()


def _read_ahead(items: Iterator, depth: int) -> Iterator:
    """Run `items` in a thread, `depth` items ahead; its exceptions reach the caller."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(_DONE)
        except BaseException as error:  # handed to the consumer, re-raised there
            buffer.put(error)

    thread = threading.Thread(target=produce, name="strip-reader", daemon=True)
    thread.start()
    try:
        while (item := buffer.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        # The consumer stopped early (an error, or a break): let the reader finish
        # before the caller closes the datasets it reads from.
        stop.set()
        while thread.is_alive():
            with suppress(queue.Empty):
                buffer.get(timeout=0.1)
        thread.join()


def _strip_footprints(pair: ScenePair, row_off: int, cols: int) -> list[Footprint]:
    """Lon/lat bounds of each patch of one strip, transformed in one call.

    Corners and edge midpoints of every patch go through PROJ together; calling
    `transform_bounds` per patch costs about as much as the rest of the ingest.
    """
    size = pair.patch_size
    half = size / 2
    xs_pixel = np.arange(2 * cols + 1) * half
    ys_pixel = row_off + np.arange(3) * half
    grid_x, grid_y = np.meshgrid(xs_pixel, ys_pixel)
    transform = pair.image.transform
    xs = transform.a * grid_x + transform.b * grid_y + transform.c
    ys = transform.d * grid_x + transform.e * grid_y + transform.f
    lons, lats = warp_points(pair.image.crs, LONLAT, xs.ravel(), ys.ravel())
    lons_grid = np.asarray(lons).reshape(grid_x.shape)
    lats_grid = np.asarray(lats).reshape(grid_x.shape)
    footprints = []
    for col in range(cols):
        block = slice(2 * col, 2 * col + 3)
        lon_block, lat_block = lons_grid[:, block], lats_grid[:, block]
        footprints.append(
            Footprint(
                west=float(lon_block.min()),
                south=float(lat_block.min()),
                east=float(lon_block.max()),
                north=float(lat_block.max()),
            )
        )
    return footprints


def open_raster(
    path: Path, role: str, policy: InputPolicy
) -> rasterio.io.DatasetReader:
    """Open a user-named raster (`captions.ingest.input_files`), or raise `RasterError`
    naming the file and the problem."""
    try:
        dataset = open_input_raster(path, policy)
    except InputFileError as error:
        raise RasterError(str(error)) from None
    except RasterioError as error:
        raise RasterError(f"{path}: not a raster ({_first_line(error)})") from None
    if dataset.crs is None:
        dataset.close()
        raise RasterError(f"{path}: the {role} has no coordinate reference system")
    return dataset


def parse_bands(text: str) -> tuple[int, ...]:
    """`"4,3,2"` to (4, 3, 2); range and count are checked against the image later."""
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise RasterError(
            f"--bands {text!r}: give three 1-based band numbers, e.g. 4,3,2"
        ) from None


def choose_rgb_bands(
    dataset: rasterio.io.DatasetReader, requested: tuple[int, ...] | None
) -> tuple[int, int, int]:
    """1-based red, green, blue band indexes, from `--bands` or the file's own metadata.

    Without `--bands`: band descriptions (Sentinel-2 "B04/B03/B02" or "red/green/blue"),
    then colour interpretation, then the band count (a 12- or 13-band stack is taken as
    Sentinel-2's B01..B12 order, anything else with 3+ bands as R, G, B first).
    """
    count = dataset.count
    if requested is not None:
        if len(requested) != 3:
            raise RasterError(
                f"{dataset.name}: --bands needs three band numbers (R,G,B), "
                f"got {len(requested)}"
            )
        for band in requested:
            if not 1 <= band <= count:
                raise RasterError(
                    f"{dataset.name}: --bands {band} is out of range: "
                    f"the image has {count} band{'s' if count != 1 else ''}"
                )
        red, green, blue = requested
        return red, green, blue
    if count < 3:
        raise RasterError(
            f"{dataset.name}: wrong band count: {count} band"
            f"{'s' if count != 1 else ''}, an RGB image needs at least 3 "
            "(or choose them with --bands)"
        )
    by_description = _bands_by_name(dataset.descriptions)
    if by_description is not None:
        return by_description
    interpretations = list(dataset.colorinterp)
    wanted = (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
    if all(colour in interpretations for colour in wanted):
        red, green, blue = (interpretations.index(colour) + 1 for colour in wanted)
        return red, green, blue
    if count in (12, 13):
        return 4, 3, 2
    return 1, 2, 3


_BAND_NAMES = (("b04", "b4", "red"), ("b03", "b3", "green"), ("b02", "b2", "blue"))


def _bands_by_name(descriptions: tuple[str | None, ...]) -> tuple[int, int, int] | None:
    names = [(text or "").strip().lower() for text in descriptions]
    found = []
    for aliases in _BAND_NAMES:
        matches = [index + 1 for index, name in enumerate(names) if name in aliases]
        if not matches:
            return None
        found.append(matches[0])
    return found[0], found[1], found[2]


def resolve_l2a_offset(dataset: rasterio.io.DatasetReader, setting: str) -> int:
    """The offset added to digital numbers before dividing by 10000.

    "auto" reads `BOA_ADD_OFFSET` from the file's tags, or infers -1000 for L2A products
    of processing baseline 04.00 and later (from 2022-01-25), else 0.
    """
    if setting not in L2A_OFFSET_CHOICES:
        raise RasterError(
            f"--l2a-offset {setting!r} is not one of {', '.join(L2A_OFFSET_CHOICES)}"
        )
    if setting != "auto":
        return int(setting)
    tags = {key.upper(): value for key, value in dataset.tags().items()}
    for band in range(1, dataset.count + 1):
        for key, value in dataset.tags(band).items():
            tags.setdefault(key.upper(), value)
    if "BOA_ADD_OFFSET" in tags:
        try:
            return int(float(tags["BOA_ADD_OFFSET"]))
        except ValueError:
            raise RasterError(
                f"{dataset.name}: BOA_ADD_OFFSET tag {tags['BOA_ADD_OFFSET']!r} "
                "is not a number"
            ) from None
    baseline = tags.get("PROCESSING_BASELINE", "")
    is_l2a = "2A" in tags.get("PRODUCT_TYPE", "").upper()
    if is_l2a and re.fullmatch(r"\d+(\.\d+)?", baseline) and float(baseline) >= 4.0:
        return -1000
    return 0


_DATE_TAGS = (
    "ACQUISITION_DATE",
    "DATATAKE_SENSING_START",
    "SENSING_TIME",
    "PRODUCT_START_TIME",
    "TIFFTAG_DATETIME",
)


def acquisition_date(tags: dict[str, str]) -> dt.date | None:
    """The acquisition date from a raster's tags, when it carries one."""
    upper = {key.upper(): value for key, value in tags.items()}
    for key in _DATE_TAGS:
        match = re.match(r"(\d{4})[-:](\d{2})[-:](\d{2})", upper.get(key, "").strip())
        if match:
            try:
                return dt.date(*(int(part) for part in match.groups()))
            except ValueError:
                continue
    return None


def gain_lookup(offset: int, gain: float = DEFAULT_GAIN) -> np.ndarray:
    """uint16 digital number -> uint8 preview value, for reflectance-scaled data."""
    reflectance = (np.arange(65536, dtype=np.float32) + offset) / REFLECTANCE_SCALE
    return (np.clip(reflectance * gain, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def percentile_lookups(
    dataset: rasterio.io.DatasetReader,
    bands: tuple[int, int, int],
    low: float = 2.0,
    high: float = 98.0,
) -> list[np.ndarray]:
    """One lookup table per band stretching its 2nd..98th percentile to 0..255.

    The percentiles come from a decimated read (at most 1024 pixels a side), so the
    stretch is the same for every patch of the scene and costs one small read.
    """
    scale = max(dataset.width, dataset.height) / 1024
    shape = (
        max(1, int(dataset.height / max(scale, 1))),
        max(1, int(dataset.width / max(scale, 1))),
    )
    try:
        sample = dataset.read(
            list(bands), out_shape=(3, *shape), resampling=Resampling.nearest
        )
    except RasterioError as error:
        raise RasterError(f"{dataset.name}: pixels failed to read: {error}") from None
    valid = np.ones(shape, dtype=bool)
    if dataset.nodata is not None:
        valid &= ~np.all(sample == dataset.nodata, axis=0)
    size = 256 if sample.dtype == np.uint8 else 65536
    lookups = []
    for band_values in sample:
        values = band_values[valid] if valid.any() else band_values.ravel()
        lo, hi = np.percentile(values, [low, high])
        span = max(float(hi - lo), 1e-6)
        levels = (np.arange(size, dtype=np.float32) - lo) / span
        lookups.append((np.clip(levels, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))
    return lookups


def open_scene_pair(
    stack: ExitStack,
    image_path: Path,
    landcover_path: Path,
    *,
    policy: InputPolicy,
    patch_size: int = 256,
    bands: tuple[int, ...] | None = None,
    l2a_offset: str = "auto",
    stretch: str = "gain",
) -> ScenePair:
    """Open and validate an image + WorldCover pair; `stack` closes them afterwards.

    Checks everything that can be known before reading pixels: both are files the
    `policy` lets users name, rasters of an allowed format with a CRS, the bands
    exist, the patch fits, the label is one integer band, and the two overlap. GDAL
    keeps its safe configuration until `stack` closes. Raises `RasterError` with a
    one-line message naming the file.
    """
    if patch_size < 16:
        raise RasterError(f"--patch-size {patch_size} is too small (16 at least)")
    if stretch not in STRETCHES:
        raise RasterError(f"stretch {stretch!r} is not one of {', '.join(STRETCHES)}")
    stack.enter_context(safe_gdal_env())
    image = stack.enter_context(open_raster(image_path, "image", policy))
    label_source = stack.enter_context(
        open_raster(landcover_path, "land-cover map", policy)
    )
    rgb_bands = choose_rgb_bands(image, bands)
    if patch_size > min(image.width, image.height):
        raise RasterError(
            f"{image_path}: patch size {patch_size} is larger than the image "
            f"({image.width}x{image.height} pixels)"
        )
    if label_source.count != 1 or not np.issubdtype(
        np.dtype(label_source.dtypes[0]), np.integer
    ):
        raise RasterError(
            f"{landcover_path}: a WorldCover map has one integer band, this one has "
            f"{label_source.count} band(s) of {label_source.dtypes[0]}"
        )
    _require_overlap(image, label_source, image_path, landcover_path)
    label = stack.enter_context(
        WarpedVRT(
            label_source,
            crs=image.crs,
            transform=image.transform,
            width=image.width,
            height=image.height,
            resampling=Resampling.nearest,
            nodata=0,
        )
    )
    offset = resolve_l2a_offset(image, l2a_offset)
    lookup: list[np.ndarray] | None = None
    if stretch == "percentile":
        lookup = percentile_lookups(image, rgb_bands)
    elif image.dtypes[0] == "uint16":
        lookup = [gain_lookup(offset)] * 3
    alpha_band = None
    if ColorInterp.alpha in image.colorinterp:
        alpha_band = list(image.colorinterp).index(ColorInterp.alpha) + 1
    return ScenePair(
        image_path=image_path,
        landcover_path=landcover_path,
        image=image,
        label=label,
        bands=rgb_bands,
        patch_size=patch_size,
        l2a_offset=offset,
        alpha_band=alpha_band,
        _lookup=lookup,
    )


def _require_overlap(image, label, image_path: Path, landcover_path: Path) -> None:
    image_box = transform_bounds(image.crs, LONLAT, *image.bounds, densify_pts=21)
    label_box = transform_bounds(label.crs, LONLAT, *label.bounds, densify_pts=21)
    west, south = max(image_box[0], label_box[0]), max(image_box[1], label_box[1])
    east, north = min(image_box[2], label_box[2]), min(image_box[3], label_box[3])
    if west >= east or south >= north:
        raise RasterError(
            f"{landcover_path}: does not overlap the image {image_path.name} "
            f"(image lon/lat {_box_text(image_box)}, map {_box_text(label_box)})"
        )


def _box_text(box: tuple[float, float, float, float]) -> str:
    return "[" + ", ".join(f"{value:.4f}" for value in box) + "]"


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__
