"""One raster file at a time: open it safely, choose its bands, read its tags.

Plain rasterio and numpy, no Django. Which bands are red, green and blue, the L2A
offset, the acquisition date and the lookup tables that turn digital numbers into a
true-colour preview; `scene_pair.py` opens an image with its WorldCover map and reads
them together, one strip of patches at a time.
"""

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import ColorInterp, Resampling
from rasterio.errors import RasterioError

from captions.ingest.input_files import InputFileError, InputPolicy, open_input_raster

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
        return _requested_bands(dataset, requested)
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


def _requested_bands(
    dataset: rasterio.io.DatasetReader, requested: tuple[int, ...]
) -> tuple[int, int, int]:
    count = dataset.count
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


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__
