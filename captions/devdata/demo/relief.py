"""The demo scene's relief on the coarse grid: mountains behind a wavy front, the
shape of the slopes under a July sun, and the height zones of the vegetation."""

import math
from dataclasses import dataclass

import numpy as np

from captions.devdata.demo.grid import COARSE, PIXEL_SIZE, Grid, image_cells
from captions.devdata.demo.noise import fractal, smoothstep

_SUN_AZIMUTH = math.radians(145.0)  # mid-July, 10:10 UTC, 45 N
_SUN_ZENITH = math.radians(27.0)


@dataclass(frozen=True)
class Terrain:
    """Coarse fields of the ground's shape."""

    height: np.ndarray  # 0 on the plain .. about 1 on the highest peaks
    slope: np.ndarray  # tangent of the slope angle
    southness: np.ndarray  # -1 facing north .. 1 facing south
    shade: np.ndarray  # illumination relative to flat ground


@dataclass(frozen=True)
class Thresholds:
    lowland: float  # below: flat enough to farm
    hills: float  # above: no more farming
    conifer: float
    tree_line: float
    bare: float
    snow: float


def mountains(
    rng: np.random.Generator, grid: Grid, cells: int, uphill: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """How far each coarse cell is into the mountains (< 0 on the plain), and height.

    A third to almost half of the image is mountains, behind a wavy front; peaks grow
    higher deeper in. Ridged noise gives sharp crests where a smooth field crosses 0.
    """
    n, size = grid.n, grid.size
    coarse = np.arange(cells, dtype=np.float32) * COARSE
    along = (
        (coarse[None, :] - n / 2) * uphill[0] + (coarse[:, None] - n / 2) * uphill[1]
    ) / size
    per_scene = size / COARSE
    front = along - 0.1 * fractal(rng, (cells, cells), 4.4, per_scene / 2)
    inside = image_cells(grid)
    front -= np.quantile(front[inside, inside], 1 - rng.uniform(0.34, 0.44))
    upland = smoothstep(0.0, 0.15, front)
    depth = np.clip(front / 0.55, 0.0, 1.0) ** 0.8
    ridges = 1.0 - np.clip(
        np.abs(fractal(rng, (cells, cells), 4.6, per_scene / 2)) / 2.2, 0, 1
    )
    massif = fractal(rng, (cells, cells), 4.6, per_scene / 2)
    detail = fractal(rng, (cells, cells), 3.6, per_scene / 8)
    relief = np.clip(
        0.6 * ridges**2 + 0.4 * (0.5 + 0.2 * massif) + 0.015 * detail, 0.0, 1.0
    )
    return front, upland * (0.12 + 0.88 * depth) * relief


def height_thresholds(height: np.ndarray, grid: Grid) -> Thresholds:
    """Zones by height; the upper ones by quantile, so every scene has a little snow."""
    inside = height[image_cells(grid), image_cells(grid)]
    return Thresholds(
        lowland=0.035,
        hills=0.11,
        conifer=float(np.quantile(inside, 0.86)),
        tree_line=float(np.quantile(inside, 0.945)),
        bare=float(np.quantile(inside, 0.975)),
        snow=float(np.quantile(inside, 0.9965)),
    )


def terrain_of(height: np.ndarray, size: int) -> Terrain:
    """Slope, southness and hill shading of the coarse height field."""
    # Smaller scenes get lower mountains, so their slopes stay believable.
    relief_m = 2000.0 * min(1.0, size / 2048) ** 0.5
    d_row, d_col = np.gradient(height * relief_m, COARSE * PIXEL_SIZE)
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
    return Terrain(
        height=height.astype(np.float32),
        slope=slope.astype(np.float32),
        southness=southness.astype(np.float32),
        shade=shade.astype(np.float32),
    )
