"""landcover_stats on a 256x256 patch against one bare numpy.bincount (issue 2).

Target: within 3x of the bincount, measured in the same run. Also times the
ChatEarthNet-scripts way (np.unique per region, a dict per class) as a reference.
"""

import statistics
import timeit

import numpy as np

from captions.landcover import CLASSES, CODES, landcover_stats, palette_to_worldcover


def realistic_patch(seed: int) -> np.ndarray:
    """Blocky classes with nodata, like a real 256x256 WorldCover patch."""
    rng = np.random.default_rng(seed)
    small = rng.choice(np.array((0, *CODES), dtype=np.uint8), size=(16, 16))
    return np.kron(small, np.ones((16, 16), dtype=np.uint8))


def per_region_unique(codes: np.ndarray) -> dict:
    """The straightforward way: np.unique on every region."""
    h, w = codes.shape
    areas = {
        "overall": codes,
        "top_left": codes[: h // 2, : w // 2],
        "top_right": codes[: h // 2, w // 2 :],
        "bottom_left": codes[h // 2 :, : w // 2],
        "bottom_right": codes[h // 2 :, w // 2 :],
        "middle": codes[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4],
    }
    out = {}
    for name, area in areas.items():
        values, counts = np.unique(area[area != 0], return_counts=True)
        out[name] = sorted(
            zip(values.tolist(), counts.tolist(), strict=True), key=lambda x: -x[1]
        )
    return out


def median_seconds(func, number: int, repeat: int) -> float:
    return statistics.median(timeit.repeat(func, number=number, repeat=repeat)) / number


def run(repeat: int = 15, number: int = 300) -> dict:
    codes = realistic_patch(0)
    flat = codes.ravel()
    rgb = np.array([(0, 0, 0), *(c.prompt_rgb for c in CLASSES)], np.uint8)[
        np.searchsorted(np.array((0, *CODES)), codes)
    ]
    results = {
        "bincount": median_seconds(
            lambda: np.bincount(flat, minlength=256), number, repeat
        ),
        "landcover_stats": median_seconds(
            lambda: landcover_stats(codes), number, repeat
        ),
        "np.unique per region": median_seconds(
            lambda: per_region_unique(codes), number // 3, repeat
        ),
        "palette_to_worldcover": median_seconds(
            lambda: palette_to_worldcover(rgb), number // 3, repeat
        ),
    }
    return results


if __name__ == "__main__":
    timings = run()
    base = timings["bincount"]
    for name, seconds in timings.items():
        print(f"{name:24s} {seconds * 1e6:9.1f} us  {seconds / base:5.2f}x bincount")
