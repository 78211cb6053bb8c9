"""Randomness for the demo scene: smooth fields, fine texture, and hashes that give
each parcel or block its own random draw without storing anything."""

import math

import numpy as np

from captions.devdata.demo.grid import COARSE


def fractal(
    rng: np.random.Generator,
    shape: tuple[int, int],
    beta: float,
    cutoff: float,
    periodic: bool = False,
) -> np.ndarray:
    """Gaussian noise with a 1/k**beta power spectrum, flat below 1/cutoff; std 1.

    Computed over a larger grid and cropped, unless `periodic` (for tiling).
    """
    rows, cols = shape if periodic else (shape[0] * 5 // 4 + 8, shape[1] * 5 // 4 + 8)
    spectrum = np.fft.rfft2(rng.standard_normal((rows, cols)))
    ky = np.fft.fftfreq(rows)[:, None]
    kx = np.fft.rfftfreq(cols)[None, :]
    spectrum *= (kx**2 + ky**2 + cutoff**-2) ** (-beta / 4)
    field = np.fft.irfft2(spectrum, s=(rows, cols))[: shape[0], : shape[1]]
    field -= field.mean()
    field /= field.std() + 1e-12
    return field.astype(np.float32)


def blur(field: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur through the FFT, edges mirrored."""
    margin = int(3 * sigma) + 1
    padded = np.pad(field.astype(np.float64), margin, mode="reflect")
    ky = np.fft.fftfreq(padded.shape[0])[:, None]
    kx = np.fft.rfftfreq(padded.shape[1])[None, :]
    transfer = np.exp(-2 * (math.pi * sigma) ** 2 * (kx**2 + ky**2))
    blurred = np.fft.irfft2(np.fft.rfft2(padded) * transfer, s=padded.shape)
    return blurred[margin:-margin, margin:-margin].astype(np.float32)


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


class Upsampler:
    """Bilinear interpolation of coarse-grid fields onto strips of full-res rows."""

    def __init__(self, n: int) -> None:
        position = np.arange(n, dtype=np.float32) / COARSE
        self.index = np.floor(position).astype(np.intp)
        self.weight = position - self.index

    def rows(self, field: np.ndarray, y0: int, y1: int) -> np.ndarray:
        index, weight = self.index[y0:y1], self.weight[y0:y1, None]
        by_row = field[index] * (1.0 - weight) + field[index + 1] * weight
        return (
            by_row[:, self.index] * (1.0 - self.weight)
            + by_row[:, self.index + 1] * self.weight
        )


class Texture:
    """Fine-grained noise (tens of metres) from two periodic tiles of unlike sizes.

    Their sum repeats only every few kilometres, and a strip costs two lookups.
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self.tiles = [
            fractal(rng, (period, period), 2.4, 16.0, periodic=True)
            for period in (512, 448)
        ]

    def window(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        total = np.zeros((y1 - y0, x1 - x0), dtype=np.float32)
        for tile in self.tiles:
            rows = np.take(tile, np.arange(y0, y1), axis=0, mode="wrap")
            total += np.take(rows, np.arange(x0, x1), axis=1, mode="wrap")
        return total * np.float32(1 / math.sqrt(2))


_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def hash_of(*parts: np.ndarray, salt: int) -> np.ndarray:
    """splitmix64 of integer arrays (broadcast), a uint64 per element."""
    z = np.full((), salt & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64)
    for part in parts:
        z = z ^ (np.asarray(part).astype(np.int64).view(np.uint64) + _GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        z = z ^ (z >> np.uint64(31))
    return np.asarray(z)


def unit(hashed: np.ndarray, lane: int = 0) -> np.ndarray:
    """A uniform [0, 1) float32 from 16 bits of a hash; lanes 0-3 are independent."""
    bits = (hashed >> np.uint64(16 * lane)) & np.uint64(0xFFFF)
    return bits.astype(np.float32) / np.float32(65536)
