"""Where the demo scene lies: the image's UTM grid, the larger grid the map is painted
on, WorldCover's lon/lat grid, and the coarse grid of the smooth fields."""

import math
from dataclasses import dataclass

import numpy as np
from rasterio.transform import Affine, from_origin
from rasterio.warp import transform_bounds

PIXEL_SIZE = 10.0  # metres
IMAGE_CRS = "EPSG:32632"
# Top-left corner of the image in UTM zone 32N: the Veneto plain east of Verona, about
# 11.3 E 45.4 N, where the Alps' southern slopes meet the Po plain.
IMAGE_WEST, IMAGE_NORTH = 680_000.0, 5_030_000.0
LONLAT = "EPSG:4326"
WORLDCOVER_RESOLUTION = 1 / 12000  # degrees: ESA WorldCover's 10 m grid
COARSE = 4  # pixels per cell of the grid that smooth fields are computed on


@dataclass(frozen=True)
class Grid:
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

    @property
    def area_km2(self) -> float:
        return (self.size * PIXEL_SIZE / 1000) ** 2


def plan_grid(size: int) -> Grid:
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
    return Grid(
        size=size,
        pad=math.ceil(overshoot / PIXEL_SIZE) + 2,
        worldcover_transform=from_origin(col0 * res, row1 * res, res, res),
        worldcover_shape=(row1 - row0, col1 - col0),
    )


def image_cells(grid: Grid) -> slice:
    """The coarse cells inside the image, on either axis."""
    return slice(grid.pad // COARSE, (grid.pad + grid.size) // COARSE)


def coarse_fraction(mask: np.ndarray, cells: int) -> np.ndarray:
    """The share of each coarse cell's pixels that are set."""
    side = cells * COARSE
    padded = np.zeros((side, side), dtype=np.uint8)
    padded[: mask.shape[0], : mask.shape[1]] = mask
    counts = padded.reshape(cells, COARSE, cells, COARSE).sum(
        axis=(1, 3), dtype=np.uint8
    )
    return counts.astype(np.float32) / COARSE**2
