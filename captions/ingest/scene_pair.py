"""An image + WorldCover pair opened on the image's grid, read one strip at a time.

Plain rasterio and numpy, no Django. The label raster is warped onto the image grid
through a `WarpedVRT` (nearest neighbour), and both are read one strip of patches at a
time, so memory depends on the scene's width and the patch size, never on its height,
and GDAL's block cache is capped by the caller. `rasters.py` holds what is read from
one file alone (bands, offsets, dates, true-colour lookups).
"""

import datetime as dt
import queue
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

from captions.ingest.input_files import InputPolicy, safe_gdal_env
from captions.ingest.rasters import (
    DEFAULT_GAIN,
    LONLAT,
    REFLECTANCE_SCALE,
    STRETCHES,
    Footprint,
    RasterError,
    acquisition_date,
    choose_rgb_bands,
    gain_lookup,
    open_raster,
    percentile_lookups,
    resolve_l2a_offset,
)


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
        codes = np.where(invalid, 0, self._read_codes(window))
        codes = codes.astype(np.uint8, copy=False)
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

    def _read_codes(self, window: Window) -> np.ndarray:
        """The label's values in `window`, refused unless they fit WorldCover codes."""
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
        return codes

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
    _require_options(patch_size, stretch)
    stack.enter_context(safe_gdal_env())
    image = stack.enter_context(open_raster(image_path, "image", policy))
    label_source = stack.enter_context(
        open_raster(landcover_path, "land-cover map", policy)
    )
    rgb_bands = choose_rgb_bands(image, bands)
    _require_shapes(image, label_source, image_path, landcover_path, patch_size)
    _require_overlap(image, label_source, image_path, landcover_path)
    offset = resolve_l2a_offset(image, l2a_offset)
    return ScenePair(
        image_path=image_path,
        landcover_path=landcover_path,
        image=image,
        label=stack.enter_context(_on_image_grid(label_source, image)),
        bands=rgb_bands,
        patch_size=patch_size,
        l2a_offset=offset,
        alpha_band=_alpha_band(image),
        _lookup=_true_colour_lookups(image, rgb_bands, offset, stretch),
    )


def _require_options(patch_size: int, stretch: str) -> None:
    if patch_size < 16:
        raise RasterError(f"--patch-size {patch_size} is too small (16 at least)")
    if stretch not in STRETCHES:
        raise RasterError(f"stretch {stretch!r} is not one of {', '.join(STRETCHES)}")


def _require_shapes(
    image: rasterio.io.DatasetReader,
    label: rasterio.io.DatasetReader,
    image_path: Path,
    landcover_path: Path,
    patch_size: int,
) -> None:
    """The patch fits in the image, and the label is one integer band."""
    if patch_size > min(image.width, image.height):
        raise RasterError(
            f"{image_path}: patch size {patch_size} is larger than the image "
            f"({image.width}x{image.height} pixels)"
        )
    if label.count != 1 or not np.issubdtype(np.dtype(label.dtypes[0]), np.integer):
        raise RasterError(
            f"{landcover_path}: a WorldCover map has one integer band, this one has "
            f"{label.count} band(s) of {label.dtypes[0]}"
        )


def _on_image_grid(
    label: rasterio.io.DatasetReader, image: rasterio.io.DatasetReader
) -> WarpedVRT:
    return WarpedVRT(
        label,
        crs=image.crs,
        transform=image.transform,
        width=image.width,
        height=image.height,
        resampling=Resampling.nearest,
        nodata=0,
    )


def _true_colour_lookups(
    image: rasterio.io.DatasetReader,
    rgb_bands: tuple[int, int, int],
    offset: int,
    stretch: str,
) -> list[np.ndarray] | None:
    """Per band, digital number -> preview value; None: computed per pixel instead."""
    if stretch == "percentile":
        return percentile_lookups(image, rgb_bands)
    if image.dtypes[0] == "uint16":
        return [gain_lookup(offset)] * 3
    return None


def _alpha_band(image: rasterio.io.DatasetReader) -> int | None:
    if ColorInterp.alpha in image.colorinterp:
        return list(image.colorinterp).index(ColorInterp.alpha) + 1
    return None


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
