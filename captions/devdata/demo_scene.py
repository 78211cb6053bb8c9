"""A synthetic but plausible Sentinel-2 L2A scene and its ESA WorldCover map.

`make_demo_scene` paints a temperate landscape (mountains giving way to a farmed plain,
a river with its tributaries, a lake, villages and a town, forest, shrubs, meadows, rock
and a little snow) as a WorldCover class map on a UTM grid, renders a 4-band L2A image
from that map with a reflectance spectrum per surface, and writes the map reprojected
onto WorldCover's own lon/lat grid, so the pair goes through the same ingest as a real
one. The same arguments give the same bytes: all randomness comes from one seeded
generator and nothing time-dependent is written.

Smooth fields (elevation, moisture, patchiness) live on a grid four times coarser than
the pixels and are interpolated one strip of rows at a time; only a few uint8 layers
(water, built-up, classes) are held at full resolution: a 5120-pixel scene takes about
half a gigabyte and half a minute.
"""

import itertools
import math
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

import numpy as np
import rasterio
from PIL import Image, ImageDraw
from rasterio.transform import Affine, from_origin
from rasterio.warp import Resampling, reproject, transform_bounds
from rasterio.windows import Window

from captions.landcover import CLASSES

MIN_SIZE = 256
PIXEL_SIZE = 10.0  # metres
IMAGE_CRS = "EPSG:32632"
# Top-left corner of the image in UTM zone 32N: the Veneto plain east of Verona, about
# 11.3 E 45.4 N, where the Alps' southern slopes meet the Po plain.
IMAGE_WEST, IMAGE_NORTH = 680_000.0, 5_030_000.0
LONLAT = "EPSG:4326"
WORLDCOVER_RESOLUTION = 1 / 12000  # degrees: ESA WorldCover's 10 m grid
BAND_NAMES = ("B02", "B03", "B04", "B08")
BOA_ADD_OFFSET = -1000
QUANTIFICATION_VALUE = 10_000
# A mid-July overpass; processing baseline 05.10 was the operational one then.
SENSING_START = "2024-07-12T10:10:31.024Z"
IMAGE_TAGS = {
    "PRODUCT_TYPE": "S2MSI2A",
    "PROCESSING_BASELINE": "05.10",
    "BOA_ADD_OFFSET": str(BOA_ADD_OFFSET),
    "BOA_QUANTIFICATION_VALUE": str(QUANTIFICATION_VALUE),
    "SPACECRAFT_NAME": "Sentinel-2A",
    "DATATAKE_SENSING_START": SENSING_START,
    "ACQUISITION_DATE": SENSING_START[:10],
    "TIFFTAG_DATETIME": "2024:07:12 10:10:31",
    "SYNTHETIC": "yes: a ChatEarthNet Studio demo scene, not a real acquisition",
}

# WorldCover codes (DOMAIN.md section 2); mangroves (95) do not grow here.
TREE, SHRUB, GRASS, CROP, BUILT_UP = 10, 20, 30, 40, 50
BARE, SNOW, WATER, WETLAND, MOSS = 60, 70, 80, 90, 100

_COARSE = 4  # pixels per cell of the grid that smooth fields are computed on
_STRIP = 256  # rows painted and written at a time (a multiple of the tile size)
_TILE = 256
_SUN_AZIMUTH = math.radians(145.0)  # mid-July, 10:10 UTC, 45 N
_SUN_ZENITH = math.radians(27.0)


@dataclass(frozen=True)
class DemoScene:
    """The two files of a demo scene."""

    image_path: Path
    landcover_path: Path


def make_demo_scene(
    out_dir: Path, *, size: int = 2048, seed: int = 0, name: str = "demo"
) -> DemoScene:
    """Write `{name}_S2L2A.tif` and `{name}_WorldCover.tif` into `out_dir`.

    The image is `size` x `size` pixels of 10 m in EPSG:32632, four uint16 bands
    B02, B03, B04, B08 holding reflectance x 10000 + 1000 (BOA_ADD_OFFSET -1000, as L2A
    from processing baseline 04.00 on). The map is uint8 WorldCover codes on the
    1/12000-degree EPSG:4326 grid, nodata 0, covering the image with a margin.
    """
    if size < MIN_SIZE:
        raise ValueError(f"size must be at least {MIN_SIZE} pixels, got {size}")
    if not name or Path(name).name != name or name in (".", ".."):
        raise ValueError(f"name must be a plain file-name prefix, got {name!r}")
    grid = _plan_grid(size)
    rng = np.random.default_rng(seed)
    landscape = _build_landscape(grid, rng)
    out_dir = Path(out_dir)
    image_path = out_dir / f"{name}_S2L2A.tif"
    landcover_path = out_dir / f"{name}_WorldCover.tif"
    landcover = _write_image(image_path, grid, landscape, rng)
    _write_worldcover(landcover_path, grid, landcover, seed)
    return DemoScene(image_path=image_path, landcover_path=landcover_path)


# --- Grids -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Grid:
    """The image, the larger UTM grid the map is painted on, and the lon/lat grid."""

    size: int  # image pixels a side
    pad: int  # map pixels painted beyond each image edge
    worldcover_transform: Affine
    worldcover_shape: tuple[int, int]

    @property
    def n(self) -> int:
        return self.size + 2 * self.pad

    @property
    def image_transform(self) -> Affine:
        return from_origin(IMAGE_WEST, IMAGE_NORTH, PIXEL_SIZE, PIXEL_SIZE)

    @property
    def transform(self) -> Affine:
        margin = self.pad * PIXEL_SIZE
        return from_origin(
            IMAGE_WEST - margin, IMAGE_NORTH + margin, PIXEL_SIZE, PIXEL_SIZE
        )


def _plan_grid(size: int) -> _Grid:
    extent = size * PIXEL_SIZE
    image_box = (IMAGE_WEST, IMAGE_NORTH - extent, IMAGE_WEST + extent, IMAGE_NORTH)
    west, south, east, north = transform_bounds(
        IMAGE_CRS, LONLAT, *image_box, densify_pts=21
    )
    res, margin = WORLDCOVER_RESOLUTION, 2
    col0, col1 = math.floor(west / res) - margin, math.ceil(east / res) + margin
    row0, row1 = math.floor(south / res) - margin, math.ceil(north / res) + margin
    # The map is painted on a UTM grid large enough to fill the whole lon/lat box, so
    # the WorldCover file has no nodata corners where the two grids are rotated.
    box = transform_bounds(
        LONLAT, IMAGE_CRS, col0 * res, row0 * res, col1 * res, row1 * res, 101
    )
    overshoot = max(
        image_box[0] - box[0],
        image_box[1] - box[1],
        box[2] - image_box[2],
        box[3] - image_box[3],
    )
    return _Grid(
        size=size,
        pad=math.ceil(overshoot / PIXEL_SIZE) + 2,
        worldcover_transform=from_origin(col0 * res, row1 * res, res, res),
        worldcover_shape=(row1 - row0, col1 - col0),
    )


# --- Smooth random fields ----------------------------------------------------------


def _fractal(
    rng: np.random.Generator,
    shape: tuple[int, int],
    beta: float,
    cutoff: float,
    periodic: bool = False,
) -> np.ndarray:
    """Gaussian noise with a 1/k**beta power spectrum, flat below 1/cutoff; std 1.

    Computed over a larger grid and cropped, unless `periodic` (for tiling).
    """
    rows, cols = shape if periodic else (shape[0] * 5 // 4 + 8, shape[1] * 5 // 4 + 8)
    spectrum = np.fft.rfft2(rng.standard_normal((rows, cols)))
    ky = np.fft.fftfreq(rows)[:, None]
    kx = np.fft.rfftfreq(cols)[None, :]
    spectrum *= (kx**2 + ky**2 + cutoff**-2) ** (-beta / 4)
    field = np.fft.irfft2(spectrum, s=(rows, cols))[: shape[0], : shape[1]]
    field -= field.mean()
    field /= field.std() + 1e-12
    return field.astype(np.float32)


def _blur(field: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur through the FFT, edges mirrored."""
    margin = int(3 * sigma) + 1
    padded = np.pad(field.astype(np.float64), margin, mode="reflect")
    ky = np.fft.fftfreq(padded.shape[0])[:, None]
    kx = np.fft.rfftfreq(padded.shape[1])[None, :]
    transfer = np.exp(-2 * (math.pi * sigma) ** 2 * (kx**2 + ky**2))
    blurred = np.fft.irfft2(np.fft.rfft2(padded) * transfer, s=padded.shape)
    return blurred[margin:-margin, margin:-margin].astype(np.float32)


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


class _Upsampler:
    """Bilinear interpolation of coarse-grid fields onto strips of full-res rows."""

    def __init__(self, n: int) -> None:
        position = np.arange(n, dtype=np.float32) / _COARSE
        self.index = np.floor(position).astype(np.intp)
        self.weight = position - self.index

    def rows(self, field: np.ndarray, y0: int, y1: int) -> np.ndarray:
        index, weight = self.index[y0:y1], self.weight[y0:y1, None]
        by_row = field[index] * (1.0 - weight) + field[index + 1] * weight
        return (
            by_row[:, self.index] * (1.0 - self.weight)
            + by_row[:, self.index + 1] * self.weight
        )


class _Texture:
    """Fine-grained noise (tens of metres) from two periodic tiles of unlike sizes.

    Their sum repeats only every few kilometres, and a strip costs two lookups.
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self.tiles = [
            _fractal(rng, (period, period), 2.4, 16.0, periodic=True)
            for period in (512, 448)
        ]

    def window(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        total = np.zeros((y1 - y0, x1 - x0), dtype=np.float32)
        for tile in self.tiles:
            rows = np.take(tile, np.arange(y0, y1), axis=0, mode="wrap")
            total += np.take(rows, np.arange(x0, x1), axis=1, mode="wrap")
        return total * np.float32(1 / math.sqrt(2))


# --- Hashing (per-parcel and per-block randomness without storing anything) --------

_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _hash(*parts: np.ndarray, salt: int) -> np.ndarray:
    """splitmix64 of integer arrays (broadcast), a uint64 per element."""
    z = np.full((), salt & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64)
    for part in parts:
        z = z ^ (np.asarray(part).astype(np.int64).view(np.uint64) + _GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        z = z ^ (z >> np.uint64(31))
    return np.asarray(z)


def _unit(hashed: np.ndarray, lane: int = 0) -> np.ndarray:
    """A uniform [0, 1) float32 from 16 bits of a hash; lanes 0-3 are independent."""
    bits = (hashed >> np.uint64(16 * lane)) & np.uint64(0xFFFF)
    return bits.astype(np.float32) / np.float32(65536)


# --- Surfaces: what each pixel is made of, and its spectrum -------------------------


class _Surface(IntEnum):
    LAKE = 1
    RIVER = 2
    POND = 3
    BROADLEAF = 4
    CONIFER = 5
    SHRUB = 6
    MEADOW = 7
    DRY_GRASS = 8
    CROP_GREEN = 9
    CROP_RIPE = 10
    SOIL = 11
    ROOF_TILE = 12
    ROOF_GREY = 13
    ASPHALT = 14
    INDUSTRIAL = 15
    GARDEN = 16
    ROCK = 17
    SCREE = 18
    GRAVEL = 19
    SNOW = 20
    WETLAND = 21
    MOSS = 22
    FIELD_MARGIN = 23
    TRACK = 24
    POPLAR = 25


# Per surface: its WorldCover class; its reflectance x 1000 in B02, B03, B04, B08 in
# mid-July; a second variant, mixed in by a per-parcel or smooth factor; the amplitude
# of its fine texture. Field margins and farm tracks are too thin for the map to see.
_Spectrum = tuple[int, int, int, int]
# fmt: off
_SURFACES: dict[_Surface, tuple[int, _Spectrum, _Spectrum, float]] = {
    _Surface.LAKE:         (WATER,    ( 46,  50,  28,  12), ( 40,  56,  30,  14), 0.02),
    _Surface.RIVER:        (WATER,    ( 68,  88,  70,  40), ( 58,  82,  60,  30), 0.03),
    _Surface.POND:         (WATER,    ( 40,  62,  46,  28), ( 50,  78,  52,  45), 0.03),
    _Surface.BROADLEAF:    (TREE,     ( 26,  50,  29, 330), ( 21,  41,  23, 280), 0.16),
    _Surface.CONIFER:      (TREE,     ( 18,  34,  19, 200), ( 15,  28,  16, 165), 0.2),
    _Surface.POPLAR:       (TREE,     ( 28,  55,  30, 380), ( 24,  48,  26, 340), 0.1),
    _Surface.SHRUB:        (SHRUB,    ( 40,  64,  60, 240), ( 54,  76,  82, 250), 0.14),
    _Surface.MEADOW:       (GRASS,    ( 36,  72,  48, 320), ( 50,  86,  74, 300), 0.06),
    _Surface.DRY_GRASS:    (GRASS,    ( 64,  90, 104, 260), ( 76, 100, 122, 270), 0.06),
    _Surface.CROP_GREEN:   (CROP,     ( 30,  68,  38, 430), ( 42,  88,  62, 360), 0.03),
    _Surface.CROP_RIPE:    (CROP,     ( 88, 126, 158, 290), (100, 140, 172, 310), 0.03),
    _Surface.SOIL:         (CROP,     ( 80, 104, 134, 200), ( 68,  88, 112, 175), 0.04),
    _Surface.FIELD_MARGIN: (CROP,     ( 45,  75,  65, 280), ( 60,  85,  90, 250), 0.08),
    _Surface.TRACK:        (CROP,     (100, 118, 138, 200), ( 90, 100, 112, 150), 0.05),
    _Surface.ROOF_TILE:    (BUILT_UP, ( 85,  95, 150, 200), ( 98, 106, 172, 220), 0.18),
    _Surface.ROOF_GREY:    (BUILT_UP, (110, 120, 130, 170), (145, 152, 160, 190), 0.18),
    _Surface.ASPHALT:      (BUILT_UP, ( 70,  80,  90, 110), ( 82,  90, 100, 122), 0.1),
    _Surface.INDUSTRIAL:   (BUILT_UP, (230, 250, 260, 290), (180, 190, 200, 230), 0.08),
    _Surface.GARDEN:       (BUILT_UP, ( 45,  70,  60, 250), ( 60,  85,  80, 260), 0.2),
    _Surface.ROCK:         (BARE,     (165, 175, 185, 220), (130, 138, 146, 180), 0.12),
    _Surface.SCREE:        (BARE,     (105, 115, 120, 190), (120, 128, 134, 200), 0.1),
    _Surface.GRAVEL:       (BARE,     (140, 150, 160, 190), (120, 130, 140, 170), 0.08),
    _Surface.SNOW:         (SNOW,     (780, 790, 770, 650), (650, 660, 640, 550), 0.04),
    _Surface.WETLAND:      (WETLAND,  ( 35,  60,  45, 220), ( 30,  55,  40, 150), 0.1),
    _Surface.MOSS:         (MOSS,     ( 65,  80,  85, 180), ( 75,  85,  95, 200), 0.08),
}
# fmt: on


def _surface_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Lookup tables indexed by surface code: class, two spectra, texture amplitude."""
    classes = np.zeros(256, dtype=np.uint8)
    base = np.zeros((4, 256), dtype=np.float32)
    alternative = np.zeros((4, 256), dtype=np.float32)
    texture = np.zeros(256, dtype=np.float32)
    for surface, (code, first, second, amplitude) in _SURFACES.items():
        classes[surface] = code
        base[:, surface] = np.array(first) / 1000
        alternative[:, surface] = np.array(second) / 1000
        texture[surface] = amplitude
    return classes, base, alternative, texture


_CLASS_OF, _BASE, _ALTERNATIVE, _TEXTURE_AMPLITUDE = _surface_tables()

# Water layer codes (full resolution).
_WATER_BANKS, _WATER_CHANNEL, _WATER_LAKE, _WATER_POND = 1, 2, 3, 4


# --- The landscape -----------------------------------------------------------------


@dataclass(frozen=True)
class _River:
    points: np.ndarray  # (k, 2) x, y in grid pixels, upstream first
    width_start: float
    width_end: float
    braided: bool


@dataclass(frozen=True)
class _Town:
    x: float
    y: float
    radius: float
    angle: float
    spacing: float
    harmonics: tuple[tuple[float, float], ...]  # (amplitude, phase) of orders 2, 3...
    industry_angle: float | None
    salt: int


@dataclass(frozen=True)
class _Thresholds:
    lowland: float  # below: flat enough to farm
    hills: float  # above: no more farming
    conifer: float
    tree_line: float
    bare: float
    snow: float


@dataclass
class _Landscape:
    """Everything needed to paint any strip of rows of the map and the image."""

    grid: _Grid
    height: np.ndarray  # coarse; 0 on the plain .. about 1 on the highest peaks
    slope: np.ndarray  # coarse; tangent of the slope angle
    southness: np.ndarray  # coarse; -1 facing north .. 1 facing south
    shade: np.ndarray  # coarse; illumination relative to flat ground
    moisture: np.ndarray  # coarse; 0 dry .. 1 wet
    patchiness: np.ndarray  # coarse; medium-scale noise, std 1
    near_water: np.ndarray  # coarse; 0 .. 1
    water: np.ndarray  # full resolution, _WATER_* codes
    urban: np.ndarray  # full resolution, built-up _Surface codes
    fields: "_FieldLayout"
    texture: _Texture
    upsampler: _Upsampler
    thresholds: _Thresholds


def _build_landscape(grid: _Grid, rng: np.random.Generator) -> _Landscape:
    """Lay the scene out: relief, water, settlements; `_paint_rows` does the rest."""
    n, size = grid.n, grid.size
    cells = (n - 1) // _COARSE + 2
    bearing = -math.pi / 2 + rng.uniform(-1.0, 1.0)  # the Alps rise to the north
    uphill = (math.cos(bearing), math.sin(bearing))
    front, height = _mountains(rng, grid, cells, uphill)

    rivers = _plan_rivers(rng, grid, uphill)
    water_image = Image.new("L", (n, n), 0)
    _draw_rivers(ImageDraw.Draw(water_image), rivers)
    lake = _plan_lake(rng, rivers[0], front, size)
    ImageDraw.Draw(water_image).polygon(lake, fill=_WATER_LAKE)
    # Rivers and the lake lie in valleys they have carved; the plain barely undulates.
    height = height * (1.0 - 0.93 * _valley_field(rivers, cells, size))
    lake_cells = _coarse_fraction(np.asarray(water_image) == _WATER_LAKE, cells)
    height = height * (1.0 - np.clip(_blur(lake_cells, 3.0) * 2.0, 0, 1))
    height += 0.002 * _fractal(rng, (cells, cells), 3.0, size / _COARSE / 4)
    slope, southness, shade = _terrain_shape(height, size)
    _draw_ponds(ImageDraw.Draw(water_image), rng, height, slope, grid)
    water = np.array(water_image)
    del water_image

    water_cells = _coarse_fraction(water > 0, cells)
    near_water = np.clip(_blur(water_cells, 2.0) * 2.5, 0.0, 1.0)
    wide_water = np.clip(_blur(water_cells, 12.0) * 8.0, 0.0, 1.0)
    moisture = np.clip(
        0.5
        + 0.16 * _fractal(rng, (cells, cells), 3.0, size / _COARSE / 3)
        + 0.25 * wide_water
        - 0.22 * southness * np.clip(slope * 2.5, 0.0, 1.0)
        + 0.15 * height,
        0.0,
        1.0,
    )
    thresholds = _height_thresholds(height, grid)
    patchiness = _fractal(rng, (cells, cells), 2.4, 60.0)
    texture = _Texture(rng)
    farmable = (height < thresholds.lowland) & (slope < 0.12) & (water_cells == 0)
    towns = _plan_towns(rng, grid, farmable, wide_water)
    return _Landscape(
        grid=grid,
        height=height.astype(np.float32),
        slope=slope,
        southness=southness,
        shade=shade,
        moisture=moisture.astype(np.float32),
        patchiness=patchiness,
        near_water=near_water.astype(np.float32),
        water=water,
        urban=_draw_urban(rng, grid, towns, farmable),
        fields=_FieldLayout.random(rng, n),
        texture=texture,
        upsampler=_Upsampler(n),
        thresholds=thresholds,
    )


def _image_cells(grid: _Grid) -> slice:
    """The coarse cells inside the image, on either axis."""
    return slice(grid.pad // _COARSE, (grid.pad + grid.size) // _COARSE)


def _mountains(
    rng: np.random.Generator, grid: _Grid, cells: int, uphill: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """How far each coarse cell is into the mountains (< 0 on the plain), and height.

    A third to almost half of the image is mountains, behind a wavy front; peaks grow
    higher deeper in. Ridged noise gives sharp crests where a smooth field crosses 0.
    """
    n, size = grid.n, grid.size
    coarse = np.arange(cells, dtype=np.float32) * _COARSE
    along = (
        (coarse[None, :] - n / 2) * uphill[0] + (coarse[:, None] - n / 2) * uphill[1]
    ) / size
    per_scene = size / _COARSE
    front = along - 0.1 * _fractal(rng, (cells, cells), 4.4, per_scene / 2)
    inside = _image_cells(grid)
    front -= np.quantile(front[inside, inside], 1 - rng.uniform(0.34, 0.44))
    upland = _smoothstep(0.0, 0.15, front)
    depth = np.clip(front / 0.55, 0.0, 1.0) ** 0.8
    ridges = 1.0 - np.clip(
        np.abs(_fractal(rng, (cells, cells), 4.6, per_scene / 2)) / 2.2, 0, 1
    )
    massif = _fractal(rng, (cells, cells), 4.6, per_scene / 2)
    detail = _fractal(rng, (cells, cells), 3.6, per_scene / 8)
    relief = np.clip(
        0.6 * ridges**2 + 0.4 * (0.5 + 0.2 * massif) + 0.015 * detail, 0.0, 1.0
    )
    return front, upland * (0.12 + 0.88 * depth) * relief


def _height_thresholds(height: np.ndarray, grid: _Grid) -> _Thresholds:
    """Zones by height; the upper ones by quantile, so every scene has a little snow."""
    inside = height[_image_cells(grid), _image_cells(grid)]
    return _Thresholds(
        lowland=0.035,
        hills=0.11,
        conifer=float(np.quantile(inside, 0.86)),
        tree_line=float(np.quantile(inside, 0.945)),
        bare=float(np.quantile(inside, 0.975)),
        snow=float(np.quantile(inside, 0.9965)),
    )


def _terrain_shape(
    height: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slope, southness and hill shading of the coarse height field."""
    # Smaller scenes get lower mountains, so their slopes stay believable.
    relief_m = 2000.0 * min(1.0, size / 2048) ** 0.5
    d_row, d_col = np.gradient(height * relief_m, _COARSE * PIXEL_SIZE)
    east, north = d_col, -d_row  # rows run southwards
    slope = np.hypot(east, north)
    norm = np.sqrt(1.0 + slope**2)
    southness = np.where(slope > 1e-3, north / np.maximum(slope, 1e-3), 0.0)
    southness *= np.clip(slope * 4.0, 0.0, 1.0)
    sun_east = math.sin(_SUN_ZENITH) * math.sin(_SUN_AZIMUTH)
    sun_north = math.sin(_SUN_ZENITH) * math.cos(_SUN_AZIMUTH)
    cos_incidence = (
        -east * sun_east - north * sun_north + math.cos(_SUN_ZENITH)
    ) / norm
    shade = np.clip(cos_incidence / math.cos(_SUN_ZENITH), 0.15, 1.6)
    return (
        slope.astype(np.float32),
        southness.astype(np.float32),
        shade.astype(np.float32),
    )


def _coarse_fraction(mask: np.ndarray, cells: int) -> np.ndarray:
    """The share of each coarse cell's pixels that are set."""
    side = cells * _COARSE
    padded = np.zeros((side, side), dtype=np.uint8)
    padded[: mask.shape[0], : mask.shape[1]] = mask
    counts = padded.reshape(cells, _COARSE, cells, _COARSE).sum(
        axis=(1, 3), dtype=np.uint8
    )
    return counts.astype(np.float32) / _COARSE**2


# --- Rivers, lakes and ponds --------------------------------------------------------


def _chaikin(points: np.ndarray, rounds: int) -> np.ndarray:
    for _ in range(rounds):
        q = 0.75 * points[:-1] + 0.25 * points[1:]
        r = 0.25 * points[:-1] + 0.75 * points[1:]
        middle = np.empty((2 * len(q), 2))
        middle[0::2], middle[1::2] = q, r
        points = np.vstack([points[:1], middle, points[-1:]])
    return points


def _meander(
    rng: np.random.Generator,
    start: np.ndarray,
    end: np.ndarray,
    *,
    step: float,
    wiggle: float,
) -> np.ndarray:
    """A random walk that keeps heading for `end`, its bends smoothed."""
    points, position, bend = [start], start.astype(np.float64), 0.0
    for _ in range(int(4 * np.hypot(*(end - start)) / step) + 10):
        to_end = end - position
        if np.hypot(*to_end) <= 2 * step:
            break
        bend = float(np.clip(0.88 * bend + wiggle * rng.standard_normal(), -1.2, 1.2))
        heading = math.atan2(to_end[1], to_end[0]) + bend
        position = position + step * np.array([math.cos(heading), math.sin(heading)])
        points.append(position)
    points.append(end)
    return _chaikin(np.array(points), 3)


def _plan_rivers(
    rng: np.random.Generator, grid: _Grid, uphill: tuple[float, float]
) -> list[_River]:
    """A main river from the mountains across the plain, a tributary, plain streams."""
    n, size = grid.n, grid.size
    centre = np.array([n / 2, n / 2])
    up = np.array(uphill)
    across = np.array([-uphill[1], uphill[0]])
    reach = 0.5 * n + 0.1 * size

    def point(upward: float, sideways: float) -> np.ndarray:
        return centre + up * upward + across * sideways * size

    side = rng.choice([-1.0, 1.0])
    main = _meander(
        rng,
        point(reach, side * rng.uniform(0.0, 0.2)),
        point(-reach, -side * rng.uniform(0.0, 0.25)),
        step=16.0,
        wiggle=0.22,
    )
    rivers = [_River(main, 9.0, 18.0, braided=True)]
    join = main[int(len(main) * rng.uniform(0.45, 0.6))]
    tributary = _meander(
        rng, point(reach, -side * rng.uniform(0.3, 0.45)), join, step=10.0, wiggle=0.3
    )
    rivers.append(_River(tributary, 3.0, 7.0, braided=False))
    for _ in range(1 + size // 2500):
        stream = _meander(
            rng,
            point(rng.uniform(-0.05, 0.05) * size, rng.uniform(-0.45, 0.45)),
            point(-reach, rng.uniform(-0.5, 0.5)),
            step=8.0,
            wiggle=0.35,
        )
        rivers.append(_River(stream, 2.0, 4.0, braided=False))
    return rivers


def _draw_rivers(draw: ImageDraw.ImageDraw, rivers: list[_River]) -> None:
    """Rivers in pieces whose width grows downstream; wide ones get a main channel.

    Between a braided river's banks and its main channel, gravel bars show up where the
    texture is high (see `_paint_rows`).
    """
    for river in rivers:
        count = len(river.points)
        pieces = [
            (
                river.points[first : first + 7],
                river.width_start
                + (river.width_end - river.width_start) * first / count,
            )
            for first in range(0, count - 1, 6)
        ]
        code = _WATER_BANKS if river.braided else _WATER_CHANNEL
        for piece, width in pieces:
            _draw_line(draw, piece, width, code)
        if river.braided:
            for piece, width in pieces:
                _draw_line(draw, piece, max(2.0, width * 0.45), _WATER_CHANNEL)


def _draw_line(
    draw: ImageDraw.ImageDraw, points: np.ndarray, width: float, code: int
) -> None:
    pixels = max(1, round(width))
    draw.line(
        [(float(x), float(y)) for x, y in points],
        fill=code,
        width=pixels,
        joint="curve",
    )
    x, y = points[-1]
    half = pixels / 2
    draw.ellipse([x - half, y - half, x + half, y + half], fill=code)


def _plan_lake(
    rng: np.random.Generator, river: _River, front: np.ndarray, size: int
) -> list[tuple[float, float]]:
    """A glacial lake where the main river leaves the mountains (think Lake Garda)."""
    points = river.points
    rows = np.clip((points[:, 1] / _COARSE).astype(int), 0, front.shape[0] - 1)
    cols = np.clip((points[:, 0] / _COARSE).astype(int), 0, front.shape[1] - 1)
    inside = front[rows, cols]
    candidates = np.nonzero(inside < 0.05)[0]
    index = int(candidates[0]) if len(candidates) else len(points) // 3
    index = max(index - 3, 1)
    cx, cy = points[index]
    direction = points[min(index + 8, len(points) - 1)] - points[max(index - 8, 0)]
    angle = math.atan2(direction[1], direction[0])
    length = float(np.clip(0.075 * size, 30.0, 320.0))
    width = length * rng.uniform(0.3, 0.45)
    return _blob_outline(rng, cx, cy, length, width, angle, roughness=0.08)


def _blob_outline(
    rng: np.random.Generator,
    cx: float,
    cy: float,
    length: float,
    width: float,
    angle: float,
    *,
    roughness: float,
) -> list[tuple[float, float]]:
    """An ellipse with a wavy outline, as a polygon."""
    theta = np.linspace(0, 2 * math.pi, 180, endpoint=False)
    radius = np.ones_like(theta)
    for order in range(2, 7):
        radius += (
            roughness
            / order**0.5
            * rng.standard_normal()
            * np.cos(order * theta + rng.uniform(0, 2 * math.pi))
        )
    along = length * radius * np.cos(theta)
    across = width * radius * np.sin(theta)
    xs = cx + along * math.cos(angle) - across * math.sin(angle)
    ys = cy + along * math.sin(angle) + across * math.cos(angle)
    return list(zip(xs.tolist(), ys.tolist(), strict=True))


def _draw_ponds(
    draw: ImageDraw.ImageDraw,
    rng: np.random.Generator,
    height: np.ndarray,
    slope: np.ndarray,
    grid: _Grid,
) -> None:
    """Flooded gravel pits on the plain, as on the Brenta and the Piave."""
    area_km2 = (grid.size * PIXEL_SIZE / 1000) ** 2
    candidates = np.argwhere((height < 0.02) & (slope < 0.05))
    if not len(candidates):
        return
    for _ in range(rng.poisson(area_km2 / 60)):
        row, col = candidates[rng.integers(len(candidates))]
        cx, cy = (col + rng.uniform()) * _COARSE, (row + rng.uniform()) * _COARSE
        length = rng.uniform(8, 28)
        outline = _blob_outline(
            rng,
            cx,
            cy,
            length,
            length * rng.uniform(0.4, 0.9),
            rng.uniform(0, math.pi),
            roughness=0.15,
        )
        draw.polygon(outline, fill=_WATER_POND)


def _valley_field(rivers: list[_River], cells: int, size: int) -> np.ndarray:
    """0..1, 1 on the floors of the valleys the rivers have cut."""
    image = Image.new("L", (cells, cells), 0)
    draw = ImageDraw.Draw(image)
    for river, share in zip(rivers[:2], (0.045, 0.028), strict=False):
        width = max(3, round(share * size / _COARSE))
        draw.line(
            [(float(x) / _COARSE, float(y) / _COARSE) for x, y in river.points],
            fill=255,
            width=width,
            joint="curve",
        )
    floors = np.asarray(image, dtype=np.float32) / 255.0
    return np.clip(_blur(floors, 0.04 * size / _COARSE / 2) * 1.6, 0.0, 1.0)


# --- Towns, villages, farmsteads and roads -----------------------------------------


def _plan_towns(
    rng: np.random.Generator, grid: _Grid, farmable: np.ndarray, wide_water: np.ndarray
) -> list[_Town]:
    """One town and several villages on flat land inside the image, drawn to rivers."""
    area_km2 = (grid.size * PIXEL_SIZE / 1000) ** 2
    inside = np.zeros(farmable.shape, dtype=np.float64)
    inside[_image_cells(grid), _image_cells(grid)] = 1.0
    weight = (inside * farmable * (0.15 + wide_water) ** 2).ravel()
    if weight.sum() <= 0:
        return []
    radii = [float(np.clip(0.05 * grid.size, 28.0, 170.0))]
    radii += list(rng.uniform(15.0, 55.0, size=max(2, round(area_km2 / 20))))
    # Candidates drawn once, then taken in order unless they crowd a placed town.
    candidates = rng.choice(weight.size, size=30 * len(radii), p=weight / weight.sum())
    towns: list[_Town] = []
    for cell in candidates:
        if len(towns) == len(radii):
            break
        row, col = divmod(int(cell), farmable.shape[1])
        x, y = (col + rng.uniform()) * _COARSE, (row + rng.uniform()) * _COARSE
        radius = radii[len(towns)]
        if any(
            math.hypot(x - town.x, y - town.y) < 1.6 * (radius + town.radius) + 40
            for town in towns
        ):
            continue
        towns.append(
            _Town(
                x=x,
                y=y,
                radius=radius,
                angle=rng.uniform(0, math.pi / 2),
                spacing=rng.uniform(7.0, 11.0),
                harmonics=tuple(
                    (rng.uniform(0.0, 0.22) / order**0.5, rng.uniform(0, 2 * math.pi))
                    for order in range(2, 10)
                ),
                industry_angle=rng.uniform(0, 2 * math.pi) if radius > 28 else None,
                salt=int(rng.integers(1 << 62)),
            )
        )
    return towns


def _draw_urban(
    rng: np.random.Generator,
    grid: _Grid,
    towns: list[_Town],
    farmable: np.ndarray,
) -> np.ndarray:
    """Roads between the towns, farmsteads, then the towns over them."""
    n = grid.n
    image = Image.new("L", (n, n), 0)
    draw = ImageDraw.Draw(image)
    for start, end in _road_links(towns):
        road = _road_path(rng, start, end)
        draw.line(
            [(float(x), float(y)) for x, y in road],
            fill=_Surface.ASPHALT,
            width=2,
            joint="curve",
        )
    urban = np.array(image)
    del image
    _stamp_farmsteads(urban, rng, grid, farmable)
    for town in towns:
        _stamp_town(urban, town)
    return urban


def _road_links(towns: list[_Town]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each town joined to the nearest one already on the network."""
    links = []
    centres = [np.array([town.x, town.y]) for town in towns]
    for index in range(1, len(centres)):
        nearest = min(
            range(index), key=lambda other: np.hypot(*(centres[index] - centres[other]))
        )
        links.append((centres[nearest], centres[index]))
    return links


def _road_path(
    rng: np.random.Generator, start: np.ndarray, end: np.ndarray
) -> np.ndarray:
    """A road that bends a little on its way."""
    direction = end - start
    normal = np.array([-direction[1], direction[0]])
    stops = [start]
    for fraction in (0.33, 0.66):
        stops.append(start + direction * fraction + normal * rng.uniform(-0.06, 0.06))
    stops.append(end)
    return _chaikin(np.array(stops), 4)


def _stamp_farmsteads(
    urban: np.ndarray, rng: np.random.Generator, grid: _Grid, farmable: np.ndarray
) -> None:
    """Scattered farm buildings, a few pixels each, across the farmed plain."""
    area_km2 = (grid.size * PIXEL_SIZE / 1000) ** 2
    candidates = np.argwhere(farmable)
    if not len(candidates):
        return
    chosen = candidates[rng.integers(len(candidates), size=int(area_km2 * 2.2))]
    for row, col in chosen:
        y = int(row * _COARSE + rng.integers(_COARSE))
        x = int(col * _COARSE + rng.integers(_COARSE))
        for _ in range(rng.integers(1, 4)):
            h, w = rng.integers(2, 5, size=2)
            dy, dx = rng.integers(-3, 4, size=2)
            roof = _Surface.ROOF_TILE if rng.uniform() < 0.6 else _Surface.ROOF_GREY
            top, left = max(0, y + dy), max(0, x + dx)
            urban[top : max(top, y + dy + h), left : max(left, x + dx + w)] = roof


def _stamp_town(urban: np.ndarray, town: _Town) -> None:
    """Blocks of roofs and gardens between streets, denser in the centre."""
    n = urban.shape[0]
    reach = town.radius * 1.6
    y0, y1 = max(0, int(town.y - reach)), min(n, int(town.y + reach) + 1)
    x0, x1 = max(0, int(town.x - reach)), min(n, int(town.x + reach) + 1)
    if y0 >= y1 or x0 >= x1:
        return
    dy = np.arange(y0, y1, dtype=np.float32)[:, None] - np.float32(town.y)
    dx = np.arange(x0, x1, dtype=np.float32)[None, :] - np.float32(town.x)
    distance = np.hypot(dx, dy)
    bearing = np.arctan2(dy, dx)
    edge = np.full(distance.shape, town.radius, dtype=np.float32)
    for order, (amplitude, phase) in enumerate(town.harmonics, start=2):
        edge += town.radius * amplitude * np.cos(order * bearing + phase)
    inside = distance < edge
    density = distance / edge
    a = dx * math.cos(town.angle) + dy * math.sin(town.angle)
    b = -dx * math.sin(town.angle) + dy * math.cos(town.angle)
    spacing: float | np.ndarray = town.spacing
    industrial = np.zeros_like(inside)
    if town.industry_angle is not None:
        industrial = (np.cos(bearing - town.industry_angle) > 0.7) & (density > 0.45)
        spacing = np.where(industrial, 3 * town.spacing, town.spacing)
    block_a, block_b = np.floor(a / spacing), np.floor(b / spacing)
    street = ((a - block_a * spacing) < 1.0) | ((b - block_b * spacing) < 1.0)
    street |= (np.abs(a) < 1.5) | (np.abs(b) < 1.5)
    pick = _unit(_hash(block_a, block_b, salt=town.salt))
    detail = _unit(_hash(np.floor(a / 2), np.floor(b / 2), salt=town.salt + 1))
    surface = np.where(
        pick < 0.62 - 0.3 * density,
        _Surface.ROOF_TILE,
        np.where(pick < 0.92 - 0.3 * density, _Surface.ROOF_GREY, _Surface.GARDEN),
    )
    surface = np.where(detail < 0.2, _Surface.GARDEN, surface)
    surface = np.where(detail > 0.88, _Surface.ROOF_GREY, surface)
    # Sheds with yards and car parks between them, in lots bigger than town blocks.
    shed = _unit(_hash(np.floor(a / 6), np.floor(b / 4), salt=town.salt + 2))
    surface = np.where(
        industrial,
        np.where(
            shed < 0.45 + 0.3 * pick,
            _Surface.INDUSTRIAL,
            np.where(shed < 0.85, _Surface.ASPHALT, _Surface.ROOF_GREY),
        ),
        surface,
    )
    surface = np.where(street, _Surface.ASPHALT, surface).astype(np.uint8)
    window = urban[y0:y1, x0:x1]
    window[inside] = surface[inside]


# --- Field parcels ----------------------------------------------------------------


@dataclass(frozen=True)
class _Parcels:
    key: np.ndarray  # uint64 hash, the same over a parcel
    margin: np.ndarray  # bool, a parcel's first row or column of pixels
    track: np.ndarray  # bool, a farm track between blocks


@dataclass(frozen=True)
class _FieldLayout:
    """Blocks of fields (a jittered Voronoi tiling) split into strip parcels.

    Within a block, fields share an orientation and a width, rows of them staggered;
    most blocks follow the plain's dominant orientation, as fields do.
    """

    cell: float
    seeds_x: np.ndarray  # (cells, cells), block seeds, one per cell with a border
    seeds_y: np.ndarray
    cos: np.ndarray  # per block (flattened cell index)
    sin: np.ndarray
    width: np.ndarray
    length: np.ndarray
    salt: int

    @classmethod
    def random(cls, rng: np.random.Generator, n: int) -> "_FieldLayout":
        cell = 140.0
        count = math.ceil(n / cell) + 2
        index = np.arange(count, dtype=np.float32) - 1
        seeds_x = (index[None, :] + rng.uniform(0.1, 0.9, (count, count))) * cell
        seeds_y = (index[:, None] + rng.uniform(0.1, 0.9, (count, count))) * cell
        blocks = count * count
        dominant = rng.uniform(0, math.pi)
        angle = np.where(
            rng.uniform(size=blocks) < 0.7,
            dominant + rng.normal(0, 0.04, blocks),
            rng.uniform(0, math.pi, blocks),
        )
        width = rng.uniform(12.0, 34.0, blocks)
        return cls(
            cell=cell,
            seeds_x=seeds_x.astype(np.float32),
            seeds_y=seeds_y.astype(np.float32),
            cos=np.cos(angle).astype(np.float32),
            sin=np.sin(angle).astype(np.float32),
            width=width.astype(np.float32),
            length=(width * rng.uniform(1.3, 3.5, blocks)).astype(np.float32),
            salt=int(rng.integers(1 << 62)),
        )

    def rows(self, y0: int, y1: int, n: int) -> _Parcels:
        x = np.arange(n, dtype=np.float32)[None, :]
        block, nearest, second = self._voronoi(y0, y1, x)
        y = np.arange(y0, y1, dtype=np.float32)[:, None]
        cos, sin = self.cos[block], self.sin[block]
        width, length = self.width[block], self.length[block]
        a = x * cos + y * sin
        b = y * cos - x * sin
        column = np.floor(a / width)
        stagger = _unit(_hash(block, column, salt=self.salt), 1) * length
        row = np.floor((b + stagger) / length)
        margin = ((a - column * width) < 1.0) | ((b + stagger - row * length) < 1.0)
        track = (np.sqrt(second) - np.sqrt(nearest)) < 1.2
        return _Parcels(
            key=_hash(block, column, row, salt=self.salt),
            margin=margin,
            track=track,
        )

    def _voronoi(
        self, y0: int, y1: int, x: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Nearest block, squared distances to its seed and to the next one."""
        n = x.shape[1]
        count = self.seeds_x.shape[0]
        col = (x[0] // self.cell).astype(np.intp) + 1
        block = np.zeros((y1 - y0, n), dtype=np.intp)
        nearest = np.full((y1 - y0, n), np.inf, dtype=np.float32)
        second = np.full((y1 - y0, n), np.inf, dtype=np.float32)
        # One band of rows per row of cells: there, the 3x3 candidate seeds depend on
        # the column only, so they are looked up once per band.
        first_cell = int(y0 // self.cell)
        for cell_row in range(first_cell, int((y1 - 1) // self.cell) + 1):
            top = max(y0, int(cell_row * self.cell))
            bottom = min(y1, int((cell_row + 1) * self.cell))
            if top >= bottom:
                continue
            band = slice(top - y0, bottom - y0)
            y = np.arange(top, bottom, dtype=np.float32)[:, None]
            best, runner_up = nearest[band], second[band]
            owner = block[band]
            for d_row in (0, 1, 2):
                seed_row = cell_row + d_row
                for d_col in (-1, 0, 1):
                    seed_col = np.clip(col + d_col, 0, count - 1)
                    distance = (x - self.seeds_x[seed_row, seed_col]) ** 2 + (
                        y - self.seeds_y[seed_row, seed_col]
                    ) ** 2
                    closer = distance < best
                    np.copyto(runner_up, np.minimum(runner_up, distance))
                    np.copyto(runner_up, best, where=closer)
                    np.copyto(best, distance, where=closer)
                    np.copyto(owner, seed_row * count + seed_col, where=closer)
        return block, nearest, second


# --- Painting classes and surfaces, rendering, writing ------------------------------


@dataclass(frozen=True)
class _PaintedRows:
    landcover: np.ndarray  # uint8 WorldCover codes
    surface: np.ndarray  # uint8 _Surface
    mix: np.ndarray  # float32 0..1, between a surface's two spectra
    texture: np.ndarray  # float32, std about 1
    shade: np.ndarray  # float32 illumination


def _paint_rows(land: _Landscape, y0: int, y1: int) -> _PaintedRows:
    """Surfaces, hence classes, of grid rows y0..y1, from the fields and layers.

    Later rules paint over earlier ones: natural cover by height, then farmland, banks,
    water and built-up.
    """
    n = land.grid.n

    def field(coarse: np.ndarray) -> np.ndarray:
        return land.upsampler.rows(coarse, y0, y1)

    height, slope, south = field(land.height), field(land.slope), field(land.southness)
    moisture, patch = field(land.moisture), field(land.patchiness)
    near_water = field(land.near_water)
    texture = land.texture.window(y0, y1, 0, n)
    water, urban = land.water[y0:y1], land.urban[y0:y1]
    t = land.thresholds
    surface = np.full((y1 - y0, n), _Surface.BROADLEAF, dtype=np.uint8)
    mix = np.clip(0.5 + 0.3 * patch + 0.15 * texture, 0.0, 1.0)

    def paint(where: np.ndarray, what: _Surface | np.ndarray) -> None:
        surface[where] = what if isinstance(what, _Surface) else what[where]

    rough_height = height + 0.025 * patch + 0.01 * texture
    paint(rough_height > t.conifer, _Surface.CONIFER)
    hillside = (height > t.lowland) & (rough_height < t.tree_line)
    paint(hillside & ((1.0 - moisture) + 0.06 * patch > 0.62), _Surface.SHRUB)
    paint(hillside & (patch > 1.35) & (slope < 0.6), _Surface.MEADOW)
    alpine_grass = np.where(south > 0.3, _Surface.DRY_GRASS, _Surface.MEADOW)
    paint(rough_height > t.tree_line, alpine_grass)
    rock = np.where(slope > 0.55, _Surface.ROCK, _Surface.SCREE)
    paint((rough_height > t.bare) | ((slope > 1.3) & (height > t.conifer)), rock)
    snow_line = t.snow + 0.02 * south
    lichen = (rough_height > snow_line - 0.025) & (south < -0.15) & (patch > 0)
    paint(lichen, _Surface.MOSS)
    paint(rough_height > snow_line, _Surface.SNOW)

    # Farmland on the plain and the valley floors, decided parcel by parcel where the
    # land is clearly flat and low, with a ragged edge towards the hills.
    parcels = land.fields.rows(y0, y1, n)
    use, kind, chance = (_unit(parcels.key, lane) for lane in (0, 1, 2))
    lowland = _smoothstep(t.hills, t.lowland, height + 0.01 * patch)
    lowland *= _smoothstep(0.3, 0.12, slope)
    farm = lowland + 0.45 * (chance - 0.5) > 0.5
    grass_share = 0.1 + 0.35 * np.clip(height / t.hills, 0.0, 1.0)
    crop = farm & (use < 0.93 - grass_share)
    meadow = farm & ~crop & (use < 0.95)
    paint(farm & ~crop & ~meadow, _Surface.POPLAR)
    paint(meadow, np.where(kind < 0.75, _Surface.MEADOW, _Surface.DRY_GRASS))
    crops = np.where(
        kind < 0.58,
        _Surface.CROP_GREEN,
        np.where(kind < 0.88, _Surface.CROP_RIPE, _Surface.SOIL),
    )
    paint(crop, crops)
    paint(crop & parcels.margin & (chance > 0.4), _Surface.FIELD_MARGIN)
    paint(crop & parcels.track, _Surface.TRACK)
    mix = np.where(farm, _unit(parcels.key, 3), mix)

    # Along the water: reed beds and riparian woods on low, flat banks.
    banks = (near_water > 0.1) & (height < t.hills) & (water == 0)
    reeds = banks & (near_water + 0.2 * patch > 0.45) & (slope < 0.15)
    paint(reeds, _Surface.WETLAND)
    paint(banks & ~reeds & (patch + 0.5 * texture > 0.1), _Surface.BROADLEAF)

    paint(water == _WATER_LAKE, _Surface.LAKE)
    paint(water == _WATER_POND, _Surface.POND)
    paint(water == _WATER_CHANNEL, _Surface.RIVER)
    bars = water == _WATER_BANKS
    paint(bars, np.where(texture > 0.35, _Surface.GRAVEL, _Surface.RIVER))

    # Built-up covers everything but water, except where a road bridges a river.
    bridge = (urban == _Surface.ASPHALT) & (water != _WATER_LAKE)
    paint((urban > 0) & ((water == 0) | bridge), urban)

    shade = np.where(water > 0, np.float32(1.0), field(land.shade))
    return _PaintedRows(
        landcover=_CLASS_OF[surface],
        surface=surface,
        mix=mix.astype(np.float32),
        texture=texture,
        shade=shade.astype(np.float32),
    )


def _render(
    painted: _PaintedRows, rows: slice, columns: slice, rng: np.random.Generator
) -> np.ndarray:
    """(4, rows, columns) uint16 L2A digital numbers of part of the painted rows."""
    surface = painted.surface[rows, columns]
    mix = painted.mix[rows, columns]
    shape = surface.shape
    # Relief shading a little stronger than the sun's alone, so slopes read as slopes.
    terrain = np.clip(1.0 + 1.3 * (painted.shade[rows, columns] - 1.0), 0.2, 1.8)
    gain = (
        1.0 + _TEXTURE_AMPLITUDE[surface] * painted.texture[rows, columns]
    ) * terrain
    # Brightness speckle common to all bands, plus a little sensor noise per band.
    gain *= 1.0 + 0.03 * rng.standard_normal(shape, dtype=np.float32)
    digital = np.empty((4, *shape), dtype=np.uint16)
    for band in range(4):
        base = _BASE[band][surface]
        reflectance = (base + (_ALTERNATIVE[band][surface] - base) * mix) * gain
        reflectance += 0.0015 * rng.standard_normal(shape, dtype=np.float32)
        np.clip(reflectance, 0.0, 1.0, out=reflectance)
        digital[band] = np.rint(reflectance * QUANTIFICATION_VALUE) - BOA_ADD_OFFSET
    return digital


def _strip_bounds(grid: _Grid) -> list[tuple[int, int]]:
    """Row ranges of the map grid; inside the image they follow its tile rows."""
    edges = [0, grid.pad]
    edges += list(range(grid.pad + _STRIP, grid.pad + grid.size, _STRIP))
    edges += [grid.pad + grid.size, grid.n]
    return list(itertools.pairwise(edges))


def _write_image(
    path: Path, grid: _Grid, land: _Landscape, rng: np.random.Generator
) -> np.ndarray:
    """Paint the map strip by strip, write the image rows, return the whole map."""
    landcover = np.zeros((grid.n, grid.n), dtype=np.uint8)
    noise = np.random.default_rng(rng.integers(1 << 62))
    image_columns = slice(grid.pad, grid.pad + grid.size)
    profile = {
        "driver": "GTiff",
        "width": grid.size,
        "height": grid.size,
        "count": len(BAND_NAMES),
        "dtype": "uint16",
        "crs": IMAGE_CRS,
        "transform": grid.image_transform,
        "tiled": True,
        "blockxsize": _TILE,
        "blockysize": _TILE,
        # Band-interleaved like Sentinel-2's one-file-per-band products, so an RGB
        # read skips B08; no predictor, which halves decoding time on noisy bands.
        "interleave": "band",
        "compress": "deflate",
        "zlevel": 1,
    }
    with rasterio.open(path, "w", **profile) as image:
        for band, band_name in enumerate(BAND_NAMES, start=1):
            image.set_band_description(band, band_name)
        image.update_tags(**IMAGE_TAGS)
        for y0, y1 in _strip_bounds(grid):
            painted = _paint_rows(land, y0, y1)
            landcover[y0:y1] = painted.landcover
            top, bottom = max(y0, grid.pad), min(y1, grid.pad + grid.size)
            if top >= bottom:
                continue
            rows = slice(top - y0, bottom - y0)
            digital = _render(painted, rows, image_columns, noise)
            image.write(
                digital, window=Window(0, top - grid.pad, grid.size, bottom - top)
            )
    return landcover


def _write_worldcover(
    path: Path, grid: _Grid, landcover: np.ndarray, seed: int
) -> None:
    """The map on WorldCover's lon/lat grid, nearest neighbour, with its colours."""
    codes = np.zeros(grid.worldcover_shape, dtype=np.uint8)
    reproject(
        source=landcover,
        destination=codes,
        src_transform=grid.transform,
        src_crs=IMAGE_CRS,
        src_nodata=0,
        dst_transform=grid.worldcover_transform,
        dst_crs=LONLAT,
        dst_nodata=0,
        resampling=Resampling.nearest,
    )
    height, width = grid.worldcover_shape
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=1,
        dtype="uint8",
        crs=LONLAT,
        transform=grid.worldcover_transform,
        nodata=0,
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="deflate",
    ) as dataset:
        # The colour table goes in before any pixel, or libtiff refuses to change the
        # photometric interpretation of a file it is already writing.
        dataset.write_colormap(
            1, {cls.code: (*cls.official_rgb, 255) for cls in CLASSES}
        )
        dataset.update_tags(
            PRODUCT="ESA WorldCover 10m classes (synthetic demo map)",
            SYNTHETIC="yes: a ChatEarthNet Studio demo scene",
            SEED=str(seed),
        )
        dataset.write(codes, 1)
