"""Painting a strip of the demo scene's rows: each pixel's surface, hence its class.

Later rules paint over earlier ones: natural cover by height, then farmland, banks,
water and built-up.
"""

from dataclasses import dataclass

import numpy as np

from captions.devdata.demo.landscape import Landscape
from captions.devdata.demo.noise import smoothstep, unit
from captions.devdata.demo.relief import Thresholds
from captions.devdata.demo.surfaces import (
    CLASS_OF,
    WATER_BANKS,
    WATER_CHANNEL,
    WATER_LAKE,
    WATER_POND,
    Surface,
)


@dataclass(frozen=True)
class PaintedRows:
    landcover: np.ndarray  # uint8 WorldCover codes
    surface: np.ndarray  # uint8 Surface
    mix: np.ndarray  # float32 0..1, between a surface's two spectra
    texture: np.ndarray  # float32, std about 1
    shade: np.ndarray  # float32 illumination


@dataclass(frozen=True)
class _Strip:
    """The landscape's fields on the full-resolution pixels of rows y0..y1."""

    height: np.ndarray
    slope: np.ndarray
    south: np.ndarray
    moisture: np.ndarray
    patch: np.ndarray
    near_water: np.ndarray
    texture: np.ndarray
    water: np.ndarray
    urban: np.ndarray

    @classmethod
    def of(cls, land: Landscape, y0: int, y1: int) -> "_Strip":
        def field(coarse: np.ndarray) -> np.ndarray:
            return land.upsampler.rows(coarse, y0, y1)

        return cls(
            height=field(land.terrain.height),
            slope=field(land.terrain.slope),
            south=field(land.terrain.southness),
            moisture=field(land.moisture),
            patch=field(land.patchiness),
            near_water=field(land.near_water),
            texture=land.texture.window(y0, y1, 0, land.grid.n),
            water=land.water[y0:y1],
            urban=land.urban[y0:y1],
        )


class _Canvas:
    """The surfaces of a strip, painted over rule by rule."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.surface = np.full(shape, Surface.BROADLEAF, dtype=np.uint8)

    def paint(self, where: np.ndarray, what: Surface | np.ndarray) -> None:
        self.surface[where] = what if isinstance(what, Surface) else what[where]


def paint_rows(land: Landscape, y0: int, y1: int) -> PaintedRows:
    """Surfaces, hence classes, of grid rows y0..y1, from the fields and layers."""
    strip = _Strip.of(land, y0, y1)
    canvas = _Canvas((y1 - y0, land.grid.n))
    mix = np.clip(0.5 + 0.3 * strip.patch + 0.15 * strip.texture, 0.0, 1.0)
    _paint_natural_cover(canvas, strip, land.thresholds)
    farm, parcel_mix = _paint_farmland(canvas, strip, land, y0, y1)
    mix = np.where(farm, parcel_mix, mix)
    _paint_water_and_built_up(canvas, strip, land.thresholds)
    shade = np.where(
        strip.water > 0,
        np.float32(1.0),
        land.upsampler.rows(land.terrain.shade, y0, y1),
    )
    return PaintedRows(
        landcover=CLASS_OF[canvas.surface],
        surface=canvas.surface,
        mix=mix.astype(np.float32),
        texture=strip.texture,
        shade=shade.astype(np.float32),
    )


def _paint_natural_cover(canvas: _Canvas, strip: _Strip, t: Thresholds) -> None:
    """Forest, shrubs and meadows by height, moisture and aspect; rock, lichen and
    snow on the highest ground."""
    height, slope, south = strip.height, strip.slope, strip.south
    patch, paint = strip.patch, canvas.paint
    rough_height = height + 0.025 * patch + 0.01 * strip.texture
    paint(rough_height > t.conifer, Surface.CONIFER)
    hillside = (height > t.lowland) & (rough_height < t.tree_line)
    paint(hillside & ((1.0 - strip.moisture) + 0.06 * patch > 0.62), Surface.SHRUB)
    paint(hillside & (patch > 1.35) & (slope < 0.6), Surface.MEADOW)
    alpine_grass = np.where(south > 0.3, Surface.DRY_GRASS, Surface.MEADOW)
    paint(rough_height > t.tree_line, alpine_grass)
    rock = np.where(slope > 0.55, Surface.ROCK, Surface.SCREE)
    paint((rough_height > t.bare) | ((slope > 1.3) & (height > t.conifer)), rock)
    snow_line = t.snow + 0.02 * south
    lichen = (rough_height > snow_line - 0.025) & (south < -0.15) & (patch > 0)
    paint(lichen, Surface.MOSS)
    paint(rough_height > snow_line, Surface.SNOW)


def _paint_farmland(
    canvas: _Canvas, strip: _Strip, land: Landscape, y0: int, y1: int
) -> tuple[np.ndarray, np.ndarray]:
    """Farmland on the plain and the valley floors, decided parcel by parcel where the
    land is clearly flat and low, with a ragged edge towards the hills. Returns where
    it is farmed, and each parcel's mix of its surface's two spectra."""
    t, paint = land.thresholds, canvas.paint
    parcels = land.fields.rows(y0, y1, land.grid.n)
    use, kind, chance = (unit(parcels.key, lane) for lane in (0, 1, 2))
    lowland = smoothstep(t.hills, t.lowland, strip.height + 0.01 * strip.patch)
    lowland *= smoothstep(0.3, 0.12, strip.slope)
    farm = lowland + 0.45 * (chance - 0.5) > 0.5
    grass_share = 0.1 + 0.35 * np.clip(strip.height / t.hills, 0.0, 1.0)
    crop = farm & (use < 0.93 - grass_share)
    meadow = farm & ~crop & (use < 0.95)
    paint(farm & ~crop & ~meadow, Surface.POPLAR)
    paint(meadow, np.where(kind < 0.75, Surface.MEADOW, Surface.DRY_GRASS))
    crops = np.where(
        kind < 0.58,
        Surface.CROP_GREEN,
        np.where(kind < 0.88, Surface.CROP_RIPE, Surface.SOIL),
    )
    paint(crop, crops)
    paint(crop & parcels.margin & (chance > 0.4), Surface.FIELD_MARGIN)
    paint(crop & parcels.track, Surface.TRACK)
    return farm, unit(parcels.key, 3)


def _paint_water_and_built_up(canvas: _Canvas, strip: _Strip, t: Thresholds) -> None:
    """Reed beds and riparian woods on low, flat banks; the water; built-up over
    everything but water, except where a road bridges a river."""
    water, patch, paint = strip.water, strip.patch, canvas.paint
    banks = (strip.near_water > 0.1) & (strip.height < t.hills) & (water == 0)
    reeds = banks & (strip.near_water + 0.2 * patch > 0.45) & (strip.slope < 0.15)
    paint(reeds, Surface.WETLAND)
    paint(banks & ~reeds & (patch + 0.5 * strip.texture > 0.1), Surface.BROADLEAF)

    paint(water == WATER_LAKE, Surface.LAKE)
    paint(water == WATER_POND, Surface.POND)
    paint(water == WATER_CHANNEL, Surface.RIVER)
    bars = water == WATER_BANKS
    paint(bars, np.where(strip.texture > 0.35, Surface.GRAVEL, Surface.RIVER))

    bridge = (strip.urban == Surface.ASPHALT) & (water != WATER_LAKE)
    paint((strip.urban > 0) & ((water == 0) | bridge), strip.urban)
