"""PNG tiles written by tests: RGB images and labels as Satlas indices or colours."""

from pathlib import Path

import numpy as np
from PIL import Image

from captions.landcover import CLASS_BY_CODE, NODATA

TREE, WATER, CROP, BUILT = 10, 80, 40, 50  # WorldCover codes
SATLAS = {TREE: 3, WATER: 1, CROP: 6, BUILT: 2, NODATA: 0}


def write_rgb(path: Path, size: int = 256, seed: int = 0) -> np.ndarray:
    rgb = np.random.default_rng(seed).integers(0, 256, (size, size, 3), np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)
    return rgb


def write_satlas_label(path: Path, codes: np.ndarray) -> None:
    indices = np.zeros_like(codes)
    for code, index in SATLAS.items():
        indices[codes == code] = index
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(indices).save(path)  # 2-D uint8: mode L


def write_palette_label(path: Path, codes: np.ndarray) -> None:
    colours = np.zeros((*codes.shape, 3), np.uint8)
    for code in np.unique(codes).tolist():
        if code != NODATA:
            colours[codes == code] = CLASS_BY_CODE[code].prompt_rgb
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(colours).save(path)
