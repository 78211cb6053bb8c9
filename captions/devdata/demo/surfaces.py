"""What each pixel of the demo scene is made of: a surface, its WorldCover class and
its reflectance spectrum. Mostly a data table."""

from enum import IntEnum

import numpy as np

# WorldCover codes (DOMAIN.md section 2); mangroves (95) do not grow here.
TREE, SHRUB, GRASS, CROP, BUILT_UP = 10, 20, 30, 40, 50
BARE, SNOW, WATER, WETLAND, MOSS = 60, 70, 80, 90, 100

# Water layer codes (full resolution): a braided river's bed between its banks, a
# channel, a lake, a pond.
WATER_BANKS, WATER_CHANNEL, WATER_LAKE, WATER_POND = 1, 2, 3, 4


class Surface(IntEnum):
    LAKE = 1
    RIVER = 2
    POND = 3
    BROADLEAF = 4
    CONIFER = 5
    SHRUB = 6
    MEADOW = 7
    DRY_GRASS = 8
    CROP_GREEN = 9
    CROP_RIPE = 10
    SOIL = 11
    ROOF_TILE = 12
    ROOF_GREY = 13
    ASPHALT = 14
    INDUSTRIAL = 15
    GARDEN = 16
    ROCK = 17
    SCREE = 18
    GRAVEL = 19
    SNOW = 20
    WETLAND = 21
    MOSS = 22
    FIELD_MARGIN = 23
    TRACK = 24
    POPLAR = 25


# Per surface: its WorldCover class; its reflectance x 1000 in B02, B03, B04, B08 in
# mid-July; a second variant, mixed in by a per-parcel or smooth factor; the amplitude
# of its fine texture. Field margins and farm tracks are too thin for the map to see.
_Spectrum = tuple[int, int, int, int]
# fmt: off
_SURFACES: dict[Surface, tuple[int, _Spectrum, _Spectrum, float]] = {
    Surface.LAKE:         (WATER,    ( 46,  50,  28,  12), ( 40,  56,  30,  14), 0.02),
    Surface.RIVER:        (WATER,    ( 68,  88,  70,  40), ( 58,  82,  60,  30), 0.03),
    Surface.POND:         (WATER,    ( 40,  62,  46,  28), ( 50,  78,  52,  45), 0.03),
    Surface.BROADLEAF:    (TREE,     ( 26,  50,  29, 330), ( 21,  41,  23, 280), 0.16),
    Surface.CONIFER:      (TREE,     ( 18,  34,  19, 200), ( 15,  28,  16, 165), 0.2),
    Surface.POPLAR:       (TREE,     ( 28,  55,  30, 380), ( 24,  48,  26, 340), 0.1),
    Surface.SHRUB:        (SHRUB,    ( 40,  64,  60, 240), ( 54,  76,  82, 250), 0.14),
    Surface.MEADOW:       (GRASS,    ( 36,  72,  48, 320), ( 50,  86,  74, 300), 0.06),
    Surface.DRY_GRASS:    (GRASS,    ( 64,  90, 104, 260), ( 76, 100, 122, 270), 0.06),
    Surface.CROP_GREEN:   (CROP,     ( 30,  68,  38, 430), ( 42,  88,  62, 360), 0.03),
    Surface.CROP_RIPE:    (CROP,     ( 88, 126, 158, 290), (100, 140, 172, 310), 0.03),
    Surface.SOIL:         (CROP,     ( 80, 104, 134, 200), ( 68,  88, 112, 175), 0.04),
    Surface.FIELD_MARGIN: (CROP,     ( 45,  75,  65, 280), ( 60,  85,  90, 250), 0.08),
    Surface.TRACK:        (CROP,     (100, 118, 138, 200), ( 90, 100, 112, 150), 0.05),
    Surface.ROOF_TILE:    (BUILT_UP, ( 85,  95, 150, 200), ( 98, 106, 172, 220), 0.18),
    Surface.ROOF_GREY:    (BUILT_UP, (110, 120, 130, 170), (145, 152, 160, 190), 0.18),
    Surface.ASPHALT:      (BUILT_UP, ( 70,  80,  90, 110), ( 82,  90, 100, 122), 0.1),
    Surface.INDUSTRIAL:   (BUILT_UP, (230, 250, 260, 290), (180, 190, 200, 230), 0.08),
    Surface.GARDEN:       (BUILT_UP, ( 45,  70,  60, 250), ( 60,  85,  80, 260), 0.2),
    Surface.ROCK:         (BARE,     (165, 175, 185, 220), (130, 138, 146, 180), 0.12),
    Surface.SCREE:        (BARE,     (105, 115, 120, 190), (120, 128, 134, 200), 0.1),
    Surface.GRAVEL:       (BARE,     (140, 150, 160, 190), (120, 130, 140, 170), 0.08),
    Surface.SNOW:         (SNOW,     (780, 790, 770, 650), (650, 660, 640, 550), 0.04),
    Surface.WETLAND:      (WETLAND,  ( 35,  60,  45, 220), ( 30,  55,  40, 150), 0.1),
    Surface.MOSS:         (MOSS,     ( 65,  80,  85, 180), ( 75,  85,  95, 200), 0.08),
}
# fmt: on


def _surface_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Lookup tables indexed by surface code: class, two spectra, texture amplitude."""
    classes = np.zeros(256, dtype=np.uint8)
    base = np.zeros((4, 256), dtype=np.float32)
    alternative = np.zeros((4, 256), dtype=np.float32)
    texture = np.zeros(256, dtype=np.float32)
    for surface, (code, first, second, amplitude) in _SURFACES.items():
        classes[surface] = code
        base[:, surface] = np.array(first) / 1000
        alternative[:, surface] = np.array(second) / 1000
        texture[surface] = amplitude
    return classes, base, alternative, texture


CLASS_OF, BASE_SPECTRUM, ALTERNATIVE_SPECTRUM, TEXTURE_AMPLITUDE = _surface_tables()
