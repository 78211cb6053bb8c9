"""Writing the demo scene: the L2A image rendered strip by strip from the painted
surfaces, and the class map reprojected onto WorldCover's lon/lat grid.

Nothing time-dependent goes into either file, so the same seed gives the same bytes.
"""

import itertools
from pathlib import Path

import numpy as np
import rasterio
from rasterio.warp import Resampling, reproject
from rasterio.windows import Window

from captions.devdata.demo.grid import IMAGE_CRS, LONLAT, Grid
from captions.devdata.demo.landscape import Landscape
from captions.devdata.demo.paint import PaintedRows, paint_rows
from captions.devdata.demo.surfaces import (
    ALTERNATIVE_SPECTRUM,
    BASE_SPECTRUM,
    TEXTURE_AMPLITUDE,
)
from captions.landcover import CLASSES

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
_STRIP = 256  # rows painted and written at a time (a multiple of the tile size)
_TILE = 256


def write_image(
    path: Path, grid: Grid, land: Landscape, rng: np.random.Generator
) -> np.ndarray:
    """Paint the map strip by strip, write the image rows, return the whole map."""
    landcover = np.zeros((grid.n, grid.n), dtype=np.uint8)
    noise = np.random.default_rng(rng.integers(1 << 62))
    image_columns = slice(grid.pad, grid.pad + grid.size)
    with rasterio.open(path, "w", **_image_profile(grid)) as image:
        for band, band_name in enumerate(BAND_NAMES, start=1):
            image.set_band_description(band, band_name)
        image.update_tags(**IMAGE_TAGS)
        for y0, y1 in _strip_bounds(grid):
            painted = paint_rows(land, y0, y1)
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


def _image_profile(grid: Grid) -> dict:
    return {
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


def _strip_bounds(grid: Grid) -> list[tuple[int, int]]:
    """Row ranges of the map grid; inside the image they follow its tile rows."""
    edges = [0, grid.pad]
    edges += list(range(grid.pad + _STRIP, grid.pad + grid.size, _STRIP))
    edges += [grid.pad + grid.size, grid.n]
    return list(itertools.pairwise(edges))


def _render(
    painted: PaintedRows, rows: slice, columns: slice, rng: np.random.Generator
) -> np.ndarray:
    """(4, rows, columns) uint16 L2A digital numbers of part of the painted rows."""
    surface = painted.surface[rows, columns]
    mix = painted.mix[rows, columns]
    shape = surface.shape
    # Relief shading a little stronger than the sun's alone, so slopes read as slopes.
    terrain = np.clip(1.0 + 1.3 * (painted.shade[rows, columns] - 1.0), 0.2, 1.8)
    gain = (1.0 + TEXTURE_AMPLITUDE[surface] * painted.texture[rows, columns]) * terrain
    # Brightness speckle common to all bands, plus a little sensor noise per band.
    gain *= 1.0 + 0.03 * rng.standard_normal(shape, dtype=np.float32)
    digital = np.empty((4, *shape), dtype=np.uint16)
    for band in range(4):
        base = BASE_SPECTRUM[band][surface]
        alternative = ALTERNATIVE_SPECTRUM[band][surface]
        reflectance = (base + (alternative - base) * mix) * gain
        reflectance += 0.0015 * rng.standard_normal(shape, dtype=np.float32)
        np.clip(reflectance, 0.0, 1.0, out=reflectance)
        digital[band] = np.rint(reflectance * QUANTIFICATION_VALUE) - BOA_ADD_OFFSET
    return digital


def write_worldcover(path: Path, grid: Grid, landcover: np.ndarray, seed: int) -> None:
    """The map on WorldCover's lon/lat grid, nearest neighbour, with its colours."""
    codes = _worldcover_codes(grid, landcover)
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


def _worldcover_codes(grid: Grid, landcover: np.ndarray) -> np.ndarray:
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
    return codes
