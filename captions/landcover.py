"""ESA WorldCover classes and the land-cover statistics of a patch (DOMAIN.md 2 and 4).

Plain numpy, no Django: the ingest, the prompt builder and the caption checks all read
the same statistics, so they are computed here once and stored as JSON on the patch.
"""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

NODATA = 0
MIN_PIXELS = 20  # the ChatEarthNet prompt ignores classes smaller than this


@dataclass(frozen=True)
class LandCoverClass:
    code: int
    worldcover_name: str
    satlas_index: int
    term: str  # the word a caption uses
    prompt_rgb: tuple[int, int, int]  # ChatEarthNet prompt palette
    official_rgb: tuple[int, int, int]  # ESA WorldCover legend

    @property
    def hex_colour(self) -> str:
        """The legend colour as CSS and HTML write it, e.g. "#006400": every page,
        legend and table that colours a class reads it here."""
        return "#{:02x}{:02x}{:02x}".format(*self.official_rgb)


CLASSES: tuple[LandCoverClass, ...] = (
    LandCoverClass(10, "Tree cover", 3, "tree", (0, 192, 0), (0x00, 0x64, 0x00)),
    LandCoverClass(20, "Shrubland", 4, "shrub", (200, 170, 120), (0xFF, 0xBB, 0x22)),
    LandCoverClass(30, "Grassland", 5, "grass", (0, 255, 0), (0xFF, 0xFF, 0x4C)),
    LandCoverClass(40, "Cropland", 6, "crop", (255, 255, 0), (0xF0, 0x96, 0xFF)),
    LandCoverClass(50, "Built-up", 2, "developed area", (255, 0, 0), (0xFA, 0, 0)),
    LandCoverClass(
        60, "Bare / sparse vegetation", 7, "bare land", (128, 128, 128), (0xB4,) * 3
    ),
    LandCoverClass(70, "Snow and ice", 8, "snow", (255, 255, 255), (0xF0,) * 3),
    LandCoverClass(
        80, "Permanent water bodies", 1, "water", (0, 0, 255), (0x00, 0x64, 0xC8)
    ),
    LandCoverClass(
        90, "Herbaceous wetland", 9, "wetland", (0, 255, 255), (0x00, 0x96, 0xA0)
    ),
    LandCoverClass(95, "Mangroves", 10, "mangroves", (255, 0, 255), (0x00, 0xCF, 0x75)),
    LandCoverClass(
        100, "Moss and lichen", 11, "moss", (128, 0, 128), (0xFA, 0xE6, 0xA0)
    ),
)
CLASS_BY_CODE: dict[int, LandCoverClass] = {c.code: c for c in CLASSES}
CODES: tuple[int, ...] = tuple(c.code for c in CLASSES)

REGION_NAMES = ("top_left", "top_right", "bottom_left", "bottom_right", "middle")


class LandCoverError(ValueError):
    """A label raster holds something that is not a WorldCover class."""


_CODE_INDEX = np.array(CODES, dtype=np.intp)
_TERMS = tuple(c.term for c in CLASSES)
_CODE_BYTES = tuple(bytes((code,)) for code in CODES)


@lru_cache(maxsize=32)
def _quadrant_offsets(height: int, width: int) -> np.ndarray:
    """Per pixel, 256 * quadrant: ``codes + offsets`` keys one bincount of all four."""
    offsets = np.empty((height, width), dtype=np.uint16)
    h2, w2 = height // 2, width // 2
    offsets[:h2, :w2] = 0
    offsets[:h2, w2:] = 256
    offsets[h2:, :w2] = 512
    offsets[h2:, w2:] = 768
    offsets.flags.writeable = False
    return offsets


@lru_cache(maxsize=8)
def _not_a_class(nodata: int) -> np.ndarray:
    mask = np.ones(256, dtype=bool)
    mask[_CODE_INDEX] = False
    if 0 <= nodata <= 255:
        mask[nodata] = False
    return mask


def _class_list(counts: list[int]) -> list[dict]:
    """Present classes of one area, most pixels first, ties by lower code."""
    # Plain Python: on eleven numbers it is several times faster than numpy calls.
    valid = sum(counts)
    present = sorted((-pixels, slot) for slot, pixels in enumerate(counts) if pixels)
    return [
        {
            "code": CODES[slot],
            "name": _TERMS[slot],
            "pixels": -negative,
            "fraction": round(-negative / valid, 4),
        }
        for negative, slot in present
    ]


def _first_seen(codes: np.ndarray, counts: list[int]) -> list[int]:
    """The present classes in the order their first pixel comes, the patch read row
    by row: the recipe lists equal overall counts in this order (DOMAIN.md 4)."""
    # bytes.find is a memchr that stops at the class's first pixel: on a 256x256
    # patch all classes cost a few microseconds, where np.unique(return_index=True)
    # sorts the whole patch (a millisecond, three times the rest of the statistics).
    row_major = codes.tobytes()
    present = [slot for slot, pixels in enumerate(counts) if pixels]
    present.sort(key=lambda slot: row_major.find(_CODE_BYTES[slot]))
    return [CODES[slot] for slot in present]


def landcover_stats(codes: np.ndarray, nodata: int = NODATA) -> dict:
    """Land-cover statistics of a patch of WorldCover codes (DOMAIN.md section 4).

    Nodata pixels are excluded everywhere. Regions split at ``H // 2`` and ``W // 2``;
    the middle is ``[H // 4 : 3 * H // 4, W // 4 : 3 * W // 4]`` (floor for odd sizes).
    ``first_seen`` lists the present classes in the order they first appear, read row
    by row (the prompt's order for equal overall counts).
    Raises `LandCoverError` naming the offending values if any pixel is neither nodata
    nor a WorldCover code.
    """
    if codes.ndim != 2:
        raise ValueError(f"expected a 2-D label patch, got shape {codes.shape}")
    if codes.dtype != np.uint8:
        _require_uint8_range(codes)
        codes = codes.astype(np.uint8)
    height, width = codes.shape
    keyed = codes + _quadrant_offsets(height, width)
    quadrants = np.bincount(keyed.ravel(), minlength=1024).reshape(4, 256)
    overall = quadrants.sum(axis=0)
    if overall[_not_a_class(nodata)].any():
        bad = np.flatnonzero(overall * _not_a_class(nodata))[:10].tolist()
        raise LandCoverError(f"label holds values that are not WorldCover codes: {bad}")
    h4, w4 = height // 4, width // 4
    middle = np.bincount(
        codes[h4 : (3 * height) // 4, w4 : (3 * width) // 4].ravel(), minlength=256
    )
    per_class = np.vstack((overall, quadrants, middle))[:, _CODE_INDEX].tolist()
    return {
        "height": height,
        "width": width,
        "valid_pixels": sum(per_class[0]),
        "overall": _class_list(per_class[0]),
        "first_seen": _first_seen(codes, per_class[0]),
        "regions": {
            name: _class_list(counts)
            for name, counts in zip(REGION_NAMES, per_class[1:], strict=True)
        },
    }


def dominant_class(stats: dict) -> int | None:
    """The WorldCover code with the most pixels of a patch's statistics (ties: lower
    code, the order of ``overall``); None when no pixel is valid. Stored on the patch
    (`Patch.dominant_class`) for the map and the geo formats."""
    overall = stats.get("overall") or []
    return overall[0]["code"] if overall else None


def _require_uint8_range(codes: np.ndarray) -> None:
    if codes.size and (codes.min() < 0 or codes.max() > 255):
        bad = np.unique(codes[(codes < 0) | (codes > 255)])[:10]
        raise LandCoverError(
            f"label holds values that are not WorldCover codes: {bad.tolist()}"
        )


# --- Decoders for ChatEarthNet / SatlasPretrain label PNGs ---------------------------

_SATLAS_TO_CODE = np.zeros(256, dtype=np.uint8)
_SATLAS_VALID = np.zeros(256, dtype=bool)
_SATLAS_VALID[0] = True
for _cls in CLASSES:
    _SATLAS_TO_CODE[_cls.satlas_index] = _cls.code
    _SATLAS_VALID[_cls.satlas_index] = True


def satlas_to_worldcover(indices: np.ndarray) -> np.ndarray:
    """SatlasPretrain class indices (0 = invalid, 1..11) to WorldCover codes."""
    indices = np.asarray(indices)
    if indices.dtype != np.uint8:
        _require_uint8_range(indices)
        indices = indices.astype(np.uint8)
    if not _SATLAS_VALID[indices].all():
        bad = [int(v) for v in np.unique(indices) if not _SATLAS_VALID[v]][:10]
        raise LandCoverError(f"label holds values that are not Satlas indices: {bad}")
    return _SATLAS_TO_CODE[indices]


def _pack_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.uint32, copy=False)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


# Black is the background of ChatEarthNet's coloured label maps.
_PALETTE_KEYS = _pack_rgb(
    np.array([(0, 0, 0), *(c.prompt_rgb for c in CLASSES)], dtype=np.uint32)
)
_PALETTE_ORDER = np.argsort(_PALETTE_KEYS)
_PALETTE_SORTED = _PALETTE_KEYS[_PALETTE_ORDER]
_PALETTE_CODES = np.array([NODATA, *CODES], dtype=np.uint8)[_PALETTE_ORDER]


def palette_to_worldcover(rgb: np.ndarray) -> np.ndarray:
    """Decode an (H, W, 3) map coloured with the prompt palette to WorldCover codes.

    Black is background (nodata). Any other colour is an error, so that a resampled or
    JPEG-compressed map is refused instead of silently misread.
    """
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        raise LandCoverError(f"expected an RGB label image, got shape {rgb.shape}")
    keys = _pack_rgb(rgb[..., :3])
    position = np.searchsorted(_PALETTE_SORTED, keys)
    np.minimum(position, len(_PALETTE_SORTED) - 1, out=position)
    unknown = _PALETTE_SORTED[position] != keys
    if unknown.any():
        colours = np.unique(keys[unknown])[:5]
        named = ", ".join(
            f"({c >> 16 & 255},{c >> 8 & 255},{c & 255})" for c in colours.tolist()
        )
        raise LandCoverError(f"label holds colours outside the prompt palette: {named}")
    return _PALETTE_CODES[position]
