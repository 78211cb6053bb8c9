"""Small GeoTIFFs written by tests: an RGB image and a WorldCover map over it."""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_bounds, from_origin
from rasterio.warp import transform_bounds

WORLDCOVER_RES = 1 / 12000  # degrees, ESA WorldCover's 10 m grid


def write_rgb_geotiff(
    path: Path,
    *,
    width: int = 300,
    height: int = 300,
    crs: str = "EPSG:32632",
    origin: tuple[float, float] = (600_000.0, 5_000_000.0),
    pixel_size: float = 10.0,
    count: int = 3,
    dtype: str = "uint8",
    nodata: float | None = None,
    seed: int = 0,
) -> Path:
    """A random-valued image in a projected CRS, top-left corner at `origin`."""
    rng = np.random.default_rng(seed)
    high = 255 if dtype == "uint8" else 4000
    pixels = rng.integers(1, high, size=(count, height, width)).astype(dtype)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=count,
        dtype=dtype,
        crs=crs,
        transform=from_origin(*origin, pixel_size, pixel_size),
        nodata=nodata,
    ) as dataset:
        dataset.write(pixels)
    return path


def blocks_of(codes: tuple[int, ...], block: int = 40, seed: int = 1) -> Callable:
    """A map filler: square blocks of random classes drawn from `codes`."""

    def fill(height: int, width: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        small = rng.choice(
            np.array(codes, dtype=np.uint8),
            size=(height // block + 1, width // block + 1),
        )
        return np.kron(small, np.ones((block, block), np.uint8))[:height, :width]

    return fill


def write_worldcover_for(
    path: Path,
    image_path: Path,
    *,
    codes_fn: Callable[[int, int], np.ndarray] | None = None,
    margin: float = 0.01,
    shift_degrees: float = 0.0,
    dtype: str = "uint8",
) -> Path:
    """A WorldCover-coded map in EPSG:4326 covering the image's footprint.

    `codes_fn(height, width)` returns the codes (default: blocks of tree, crop, water
    and built-up); `shift_degrees` moves the map east, e.g. off the image entirely.
    """
    with rasterio.open(image_path) as image:
        west, south, east, north = transform_bounds(
            image.crs, "EPSG:4326", *image.bounds, densify_pts=21
        )
    west, east = west - margin + shift_degrees, east + margin + shift_degrees
    south, north = south - margin, north + margin
    width = int(np.ceil((east - west) / WORLDCOVER_RES))
    height = int(np.ceil((north - south) / WORLDCOVER_RES))
    fill = codes_fn or blocks_of((10, 40, 50, 80))
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=1,
        dtype=dtype,
        crs="EPSG:4326",
        transform=from_bounds(west, south, east, north, width, height),
        nodata=0,
    ) as dataset:
        dataset.write(fill(height, width).astype(dtype), 1)
    return path
