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

The package, by stage: `grid` (where), `noise` (randomness), `relief`, `rivers`,
`towns`, `fields` and `landscape` (the layout), `surfaces` (what a pixel is made of),
`paint` (a strip's surfaces), `geotiff` (rendering and writing).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from captions.devdata.demo.geotiff import write_image, write_worldcover
from captions.devdata.demo.grid import plan_grid
from captions.devdata.demo.landscape import build_landscape

MIN_SIZE = 256


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
    grid = plan_grid(size)
    rng = np.random.default_rng(seed)
    landscape = build_landscape(grid, rng)
    out_dir = Path(out_dir)
    image_path = out_dir / f"{name}_S2L2A.tif"
    landcover_path = out_dir / f"{name}_WorldCover.tif"
    landcover = write_image(image_path, grid, landscape, rng)
    write_worldcover(landcover_path, grid, landcover, seed)
    return DemoScene(image_path=image_path, landcover_path=landcover_path)
