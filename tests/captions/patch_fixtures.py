"""Label patches for the prompt, check and offline-caption tests (WorldCover codes)."""

import numpy as np

from captions.landcover import CODES

TREE, SHRUB, GRASS, CROP, BUILT, BARE, SNOW, WATER, WETLAND, MANGROVE, MOSS = CODES
_CODES = np.array(CODES, dtype=np.uint8)


def mixed_block(percentages: dict[int, int], size: int) -> np.ndarray:
    """A (size, size) block whose every 10x10 tile holds `percentages` (summing to
    100, the rest nodata): any sub-block of whole tiles has the same proportions."""
    tile = np.zeros(100, dtype=np.uint8)
    position = 0
    for code, percent in percentages.items():
        tile[position : position + percent] = code
        position += percent
    return np.tile(tile.reshape(10, 10), (size // 10, size // 10))


def quadrant_patch(
    top_left: dict[int, int],
    top_right: dict[int, int],
    bottom_left: dict[int, int],
    bottom_right: dict[int, int],
    size: int = 200,
) -> np.ndarray:
    """A patch whose quadrants are `mixed_block`s, so the middle holds a quarter of
    each quadrant with that quadrant's proportions."""
    half = size // 2
    codes = np.zeros((size, size), dtype=np.uint8)
    codes[:half, :half] = mixed_block(top_left, half)
    codes[:half, half:] = mixed_block(top_right, half)
    codes[half:, :half] = mixed_block(bottom_left, half)
    codes[half:, half:] = mixed_block(bottom_right, half)
    return codes


def blocky_patch(rng: np.random.Generator, size: int = 256) -> np.ndarray:
    """Square blocks of a few classes, sometimes a nodata quadrant."""
    blocks = int(rng.choice([2, 4, 8, 16]))
    count = int(rng.integers(1, 6))
    palette = rng.choice(_CODES, size=count, replace=False)
    weights = rng.dirichlet(np.full(count, 0.7))
    small = rng.choice(palette, size=(blocks, blocks), p=weights)
    codes = np.kron(small, np.ones((size // blocks, size // blocks), dtype=np.uint8))
    if rng.random() < 0.15:
        codes[: size // 2, : size // 2] = 0
    return codes


def _smooth_noise(rng: np.random.Generator, size: int, scale: int) -> np.ndarray:
    coarse = rng.normal(size=(size // scale + 2, size // scale + 2))
    ys = np.linspace(0, coarse.shape[0] - 2, size)
    xs = np.linspace(0, coarse.shape[1] - 2, size)
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    return (
        coarse[y0][:, x0] * (1 - fy) * (1 - fx)
        + coarse[y0][:, x0 + 1] * (1 - fy) * fx
        + coarse[y0 + 1][:, x0] * fy * (1 - fx)
        + coarse[y0 + 1][:, x0 + 1] * fy * fx
    )


def natural_patch(rng: np.random.Generator, size: int = 256) -> np.ndarray:
    """Organic blobs of one to five classes, like a real land-cover map; sometimes a
    strip of nodata along the left edge, sometimes specks of a rare class."""
    count = int(rng.integers(1, 6))
    classes = rng.choice(_CODES, size=count, replace=False)
    fields = np.stack(
        [
            _smooth_noise(rng, size, int(rng.choice([16, 32, 64]))) + bias
            for bias in rng.normal(size=count)
        ]
    )
    codes = classes[np.argmax(fields, axis=0)]
    if rng.random() < 0.1:
        codes[:, : int(rng.integers(10, size))] = 0
    if rng.random() < 0.2:
        specks = int(rng.integers(1, 40))
        rows, cols = rng.integers(0, size, size=(2, specks))
        codes[rows, cols] = rng.choice(_CODES)
    return codes


def random_patch(rng: np.random.Generator) -> np.ndarray:
    return natural_patch(rng) if rng.random() < 0.6 else blocky_patch(rng)
