"""Synthetic patches: a plausible land-cover label and the true-colour image of it.

Plain numpy, no Django. `make_benchmark_data` fills a database from a few hundred of
these, so their statistics, previews and captions go through the same code as real
patches (`landcover.py`, `previews.py`, the offline caption writer). Each patch holds
one to five classes as organic blobs, drawn with weights close to a European
WorldCover tile (trees and crops common, mangroves and moss rare); now and then a strip
of nodata (at most 40% of the patch, so the ingest's default `--max-invalid 0.5` would
keep it) or specks of a rare class.
"""

from dataclasses import dataclass

import numpy as np

from captions.landcover import CODES, NODATA

# How often each class is drawn, in CODES order: tree, shrub, grass, crop, built-up,
# bare, snow, water, wetland, mangroves, moss.
_CLASS_WEIGHTS = np.array(
    [0.26, 0.07, 0.15, 0.20, 0.09, 0.05, 0.02, 0.09, 0.04, 0.01, 0.02]
)
_CLASS_WEIGHTS = _CLASS_WEIGHTS / _CLASS_WEIGHTS.sum()
_CODES = np.array(CODES, dtype=np.uint8)

# What each class looks like in an 8-bit Sentinel-2 true-colour image (TCI), roughly:
# dark forest, pale bare ground, near-black water. Index: WorldCover code.
_TRUE_COLOUR = np.zeros((256, 3), dtype=np.float32)
for _code, _rgb in {
    10: (38, 62, 34),
    20: (112, 104, 74),
    30: (96, 124, 62),
    40: (148, 140, 92),
    50: (156, 146, 140),
    60: (176, 160, 134),
    70: (236, 238, 244),
    80: (22, 40, 66),
    90: (64, 84, 66),
    95: (30, 56, 40),
    100: (122, 120, 92),
}.items():
    _TRUE_COLOUR[_code] = _rgb
# Nodata in the map stands for the zero fill beyond a Sentinel-2 swath: black.
_TRUE_COLOUR[NODATA] = (0, 0, 0)


@dataclass(frozen=True)
class SyntheticPatch:
    codes: np.ndarray  # (size, size) uint8 WorldCover codes, 0 = nodata
    rgb: np.ndarray  # (size, size, 3) uint8 true colour


def synthetic_patch(rng: np.random.Generator, size: int = 256) -> SyntheticPatch:
    """A label patch of organic class blobs and a true-colour image painted from it.

    The same generator state gives the same arrays.
    """
    codes = _synthetic_codes(rng, size)
    return SyntheticPatch(codes=codes, rgb=_paint_true_colour(rng, codes))


def _synthetic_codes(rng: np.random.Generator, size: int) -> np.ndarray:
    count = int(rng.choice([1, 2, 3, 4, 5], p=[0.12, 0.28, 0.3, 0.2, 0.1]))
    classes = rng.choice(_CODES, size=count, replace=False, p=_CLASS_WEIGHTS)
    fields = np.stack(
        [
            smooth_noise(rng, size, int(rng.choice([16, 32, 64]))) + bias
            for bias in rng.normal(scale=0.8, size=count)
        ]
    )
    codes = classes[np.argmax(fields, axis=0)]
    if rng.random() < 0.1:
        codes[:, : int(rng.integers(8, int(size * 0.4)))] = NODATA
    if rng.random() < 0.2:
        specks = int(rng.integers(1, 40))
        rows, cols = rng.integers(0, size, size=(2, specks))
        codes[rows, cols] = rng.choice(_CODES, p=_CLASS_WEIGHTS)
    return codes


def _paint_true_colour(rng: np.random.Generator, codes: np.ndarray) -> np.ndarray:
    """Each class's colour, shaded by a smooth brightness field plus sensor noise."""
    size = codes.shape[0]
    brightness = 1.0 + 0.12 * smooth_noise(rng, size, 32)
    rgb = _TRUE_COLOUR[codes] * brightness[..., None].astype(np.float32)
    rgb += 5.0 * rng.standard_normal(size=rgb.shape, dtype=np.float32)
    rgb[codes == NODATA] = 0
    return np.clip(rgb, 0, 255).astype(np.uint8)


def smooth_noise(rng: np.random.Generator, size: int, scale: int) -> np.ndarray:
    """(size, size) standard-normal noise varying smoothly over `scale` pixels."""
    coarse = rng.normal(size=(size // scale + 2, size // scale + 2))
    steps = np.linspace(0, coarse.shape[0] - 2, size)
    low = steps.astype(int)
    weight = steps - low
    rows = (
        coarse[low] * (1 - weight)[:, None] + coarse[low + 1] * weight[:, None]
    )  # (size, coarse columns)
    return rows[:, low] * (1 - weight)[None, :] + rows[:, low + 1] * weight[None, :]
