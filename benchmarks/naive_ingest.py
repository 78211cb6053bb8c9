"""The straightforward per-patch ingest, kept only as the benchmarks' baseline."""

import io
from pathlib import Path

import numpy as np
import rasterio
from PIL import Image
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import Window
from rasterio.windows import transform as window_transform


def naive_ingest(image_path: Path, landcover_path: Path, out: Path, limit: int) -> int:
    out.mkdir(parents=True, exist_ok=True)
    done = 0
    with rasterio.open(image_path) as image, rasterio.open(landcover_path) as label:
        for row in range(0, image.height - 255, 256):
            for col in range(0, image.width - 255, 256):
                if done >= limit:
                    return done
                window = Window(col, row, 256, 256)
                bands = image.read([3, 2, 1], window=window).astype(np.float32)
                codes = np.zeros((256, 256), dtype=np.uint8)
                reproject(
                    rasterio.band(label, 1), codes,
                    dst_transform=window_transform(window, image.transform),
                    dst_crs=image.crs, resampling=Resampling.nearest,
                )  # fmt: skip
                transform_bounds(
                    image.crs,
                    "EPSG:4326",
                    *rasterio.windows.bounds(window, image.transform),
                )
                regions = (
                    codes, codes[:128, :128], codes[:128, 128:], codes[128:, :128],
                    codes[128:, 128:], codes[64:192, 64:192],
                )  # fmt: skip
                for area in regions:
                    np.unique(area[area != 0], return_counts=True)
                rgb = np.clip((bands - 1000) / 10000 * 2.5, 0, 1) * 255
                buffer = io.BytesIO()
                Image.fromarray(np.moveaxis(rgb.astype(np.uint8), 0, -1)).save(
                    buffer, "PNG"
                )
                (out / f"{row}_{col}.png").write_bytes(buffer.getvalue())
                done += 1
    return done
