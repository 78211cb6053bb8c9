"""The demo scene laid out once: relief, water, settlements and fields, from which any
strip of rows is then painted (`paint.paint_rows`).

The order of the random draws is part of the output: the same seed must give the same
bytes, so a change here that draws in another order changes every scene.
"""

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from captions.devdata.demo.fields import FieldLayout
from captions.devdata.demo.grid import COARSE, Grid, coarse_fraction
from captions.devdata.demo.noise import Texture, Upsampler, blur, fractal
from captions.devdata.demo.relief import (
    Terrain,
    Thresholds,
    height_thresholds,
    mountains,
    terrain_of,
)
from captions.devdata.demo.rivers import (
    draw_ponds,
    draw_rivers,
    plan_lake,
    plan_rivers,
    valley_field,
)
from captions.devdata.demo.surfaces import WATER_LAKE
from captions.devdata.demo.towns import draw_urban, plan_towns


@dataclass
class Landscape:
    """Everything needed to paint any strip of rows of the map and the image."""

    grid: Grid
    terrain: Terrain  # coarse
    moisture: np.ndarray  # coarse; 0 dry .. 1 wet
    patchiness: np.ndarray  # coarse; medium-scale noise, std 1
    near_water: np.ndarray  # coarse; 0 .. 1
    water: np.ndarray  # full resolution, WATER_* codes
    urban: np.ndarray  # full resolution, built-up Surface codes
    fields: FieldLayout
    texture: Texture
    upsampler: Upsampler
    thresholds: Thresholds


def build_landscape(grid: Grid, rng: np.random.Generator) -> Landscape:
    """Lay the scene out: relief, water, settlements; `paint_rows` does the rest."""
    n, size = grid.n, grid.size
    cells = (n - 1) // COARSE + 2
    terrain, water = _terrain_and_water(rng, grid, cells)
    water_cells = coarse_fraction(water > 0, cells)
    near_water = np.clip(blur(water_cells, 2.0) * 2.5, 0.0, 1.0)
    wide_water = np.clip(blur(water_cells, 12.0) * 8.0, 0.0, 1.0)
    moisture = np.clip(
        0.5
        + 0.16 * fractal(rng, (cells, cells), 3.0, size / COARSE / 3)
        + 0.25 * wide_water
        - 0.22 * terrain.southness * np.clip(terrain.slope * 2.5, 0.0, 1.0)
        + 0.15 * terrain.height,
        0.0,
        1.0,
    )
    thresholds = height_thresholds(terrain.height, grid)
    patchiness = fractal(rng, (cells, cells), 2.4, 60.0)
    texture = Texture(rng)
    farmable = (
        (terrain.height < thresholds.lowland)
        & (terrain.slope < 0.12)
        & (water_cells == 0)
    )
    towns = plan_towns(rng, grid, farmable, wide_water)
    urban = draw_urban(rng, grid, towns, farmable)
    return Landscape(
        grid=grid,
        terrain=terrain,
        moisture=moisture.astype(np.float32),
        patchiness=patchiness,
        near_water=near_water.astype(np.float32),
        water=water,
        urban=urban,
        fields=FieldLayout.random(rng, n),
        texture=texture,
        upsampler=Upsampler(n),
        thresholds=thresholds,
    )


def _terrain_and_water(
    rng: np.random.Generator, grid: Grid, cells: int
) -> tuple[Terrain, np.ndarray]:
    """Mountains, the rivers and the lake in the valleys they carved, then ponds on
    the plain; the water as a full-resolution layer of WATER_* codes."""
    n, size = grid.n, grid.size
    bearing = -math.pi / 2 + rng.uniform(-1.0, 1.0)  # the Alps rise to the north
    uphill = (math.cos(bearing), math.sin(bearing))
    front, height = mountains(rng, grid, cells, uphill)
    rivers = plan_rivers(rng, grid, uphill)
    water_image = Image.new("L", (n, n), 0)
    draw_rivers(ImageDraw.Draw(water_image), rivers)
    lake = plan_lake(rng, rivers[0], front, size)
    ImageDraw.Draw(water_image).polygon(lake, fill=WATER_LAKE)
    # Rivers and the lake lie in valleys they have carved; the plain barely undulates.
    height = height * (1.0 - 0.93 * valley_field(rivers, cells, size))
    lake_cells = coarse_fraction(np.asarray(water_image) == WATER_LAKE, cells)
    height = height * (1.0 - np.clip(blur(lake_cells, 3.0) * 2.0, 0, 1))
    height += 0.002 * fractal(rng, (cells, cells), 3.0, size / COARSE / 4)
    terrain = terrain_of(height, size)
    draw_ponds(ImageDraw.Draw(water_image), rng, height, terrain.slope, grid)
    return terrain, np.array(water_image)
