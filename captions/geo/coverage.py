"""Where a set of patches lies: counts per 1° cell, per continent and per latitude
band, accumulated a batch of patch centres at a time, and the coverage map drawn from
them as a PNG.

`Coverage` holds only fixed-size arrays (64,800 cells, 9 continents, 12 bands),
whatever the number of patches: a release of 173,488 pairs adds its centres in
batches from a database cursor and never holds them all. The map is an equirectangular
world (the bundled Natural Earth outline, `world.py`) with each 1° cell that holds a
patch coloured by how many it holds; it is drawn with Pillow, in palette mode, and
saved with no metadata, so the same counts always give the same bytes.
"""

import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from captions.geo import world

CELL_DEGREES = 1
COLUMNS, ROWS = 360 // CELL_DEGREES, 180 // CELL_DEGREES
BAND_DEGREES = 15
BANDS = 180 // BAND_DEGREES

# The image: a title strip, the map (CELL_PIXELS per cell), a legend strip.
CELL_PIXELS = 4
MAP_WIDTH, MAP_HEIGHT = COLUMNS * CELL_PIXELS, ROWS * CELL_PIXELS  # 1440 × 720
TITLE_HEIGHT = LEGEND_HEIGHT = 32
IMAGE_SIZE = (MAP_WIDTH, TITLE_HEIGHT + MAP_HEIGHT + LEGEND_HEIGHT)
TEXT_SCALE = 2  # Pillow's built-in bitmap font is 11 px high: drawn twice as large
GRATICULE_DEGREES = 30

# Patches per cell from which a cell takes each colour of the legend.
COUNT_BINS = (1, 10, 100, 1000)

# Palette indexes of the image.
OCEAN, LAND, BORDER, GRATICULE, INK, PAPER = range(6)
FIRST_BIN = 6
EDGE = FIRST_BIN + len(COUNT_BINS)  # the rim around cells that hold patches
PALETTE = (
    (214, 228, 240),  # ocean
    (238, 236, 228),  # land
    (160, 160, 150),  # borders
    (198, 212, 226),  # graticule
    (30, 30, 30),  # text
    (255, 255, 255),  # title and legend strips
    # ColorBrewer YlOrRd, light to dark: few patches to many.
    (254, 178, 76),
    (253, 141, 60),
    (227, 26, 28),
    (128, 0, 38),
    (60, 20, 10),  # rim
)


@dataclass
class Coverage:
    """Patches counted by 1° cell, continent and latitude band."""

    cells: np.ndarray = field(
        default_factory=lambda: np.zeros((ROWS, COLUMNS), dtype=np.int64)
    )
    continents: np.ndarray = field(
        default_factory=lambda: np.zeros(len(world.CONTINENTS), dtype=np.int64)
    )
    # Band 0 is the southernmost (90°S-75°S); `band_rows` lists them north to south.
    bands: np.ndarray = field(default_factory=lambda: np.zeros(BANDS, dtype=np.int64))
    without_footprint: int = 0

    @property
    def located(self) -> int:
        return int(self.cells.sum())

    def add(self, lon: np.ndarray, lat: np.ndarray) -> None:
        """Count patches by their centres (degrees, WGS 84)."""
        if not len(lon):
            return
        rows = _clipped_floor((90 - lat) / CELL_DEGREES, ROWS)
        columns = _clipped_floor((lon + 180) / CELL_DEGREES, COLUMNS)
        self.cells += np.bincount(
            rows * COLUMNS + columns, minlength=ROWS * COLUMNS
        ).reshape(ROWS, COLUMNS)
        self.continents += np.bincount(
            world.continent_indexes(lon, lat), minlength=len(world.CONTINENTS)
        )
        # A band holds its southern edge, not its northern one (90°N: the top band).
        bands = _clipped_floor((lat + 90) / BAND_DEGREES, BANDS)
        self.bands += np.bincount(bands, minlength=BANDS)

    def add_footprints(self, footprints: list[tuple]) -> None:
        """Count patches by footprint `(west, south, east, north)`; a footprint with
        a missing bound counts as a patch without one."""
        located = [bounds for bounds in footprints if None not in bounds]
        self.without_footprint += len(footprints) - len(located)
        if not located:
            return
        west, south, east, north = np.array(located, dtype=np.float64).T
        self.add(centre_longitudes(west, east), (south + north) / 2)

    def continent_rows(self) -> list[tuple[str, int]]:
        """(continent, patches) for every continent, open water last."""
        named = [
            (name, int(count))
            for name, count in zip(world.CONTINENTS, self.continents, strict=True)
        ]
        return named[1:] + named[:1]

    def band_rows(self) -> list[tuple[str, int]]:
        """(band, patches) for every latitude band, north to south."""
        rows = []
        for band in reversed(range(BANDS)):
            south = band * BAND_DEGREES - 90
            north = south + BAND_DEGREES
            rows.append((f"{latitude_text(north)} to {latitude_text(south)}", band))
        return [(label, int(self.bands[band])) for label, band in rows]


def centre_longitudes(west: np.ndarray, east: np.ndarray) -> np.ndarray:
    """The middle longitude of each footprint, in [-180, 180); a footprint with its
    west east of its east crosses the antimeridian, and its middle lies near it."""
    middle = (west + east) / 2 + np.where(west > east, 180.0, 0.0)
    return (middle + 180.0) % 360.0 - 180.0


def _clipped_floor(values: np.ndarray, size: int) -> np.ndarray:
    return np.clip(np.floor(values), 0, size - 1).astype(np.int64)


def latitude_text(degrees: int) -> str:
    if degrees == 0:
        return "0°"
    return f"{abs(degrees)}°{'N' if degrees > 0 else 'S'}"


def count_bins(counts: np.ndarray) -> np.ndarray:
    """The legend entry (0-based) of cells holding `counts` patches (each >= 1)."""
    return np.searchsorted(COUNT_BINS, counts, side="right") - 1


def coverage_png(coverage: Coverage, title: str) -> bytes:
    """The coverage map as PNG bytes, `IMAGE_SIZE`; `title` in Latin-1 text."""
    image = Image.new("P", IMAGE_SIZE, PAPER)
    image.putpalette([channel for colour in PALETTE for channel in colour])
    image.paste(_world_map(coverage.cells), (0, TITLE_HEIGHT))
    draw = ImageDraw.Draw(image)
    _text(image, (8, 5), title)
    _legend(image, draw)
    buffer = io.BytesIO()
    # No text chunks, no time: Pillow writes only what the pixels need.
    image.save(buffer, "PNG", optimize=False, compress_level=9)
    return buffer.getvalue()


def _world_map(cells: np.ndarray) -> Image.Image:
    base = Image.new("P", (MAP_WIDTH, MAP_HEIGHT), OCEAN)
    draw = ImageDraw.Draw(base)
    for lon in range(-180 + GRATICULE_DEGREES, 180, GRATICULE_DEGREES):
        x = round((lon + 180) / 360 * MAP_WIDTH)
        draw.line([(x, 0), (x, MAP_HEIGHT)], fill=GRATICULE)
    for lat in range(-90 + GRATICULE_DEGREES, 90, GRATICULE_DEGREES):
        y = round((90 - lat) / 180 * MAP_HEIGHT)
        draw.line([(0, y), (MAP_WIDTH, y)], fill=GRATICULE)
    world.draw_countries(draw, (MAP_WIDTH, MAP_HEIGHT), fill=LAND)
    pixels = np.asarray(base).copy()
    colours = np.zeros(cells.shape, dtype=np.uint8)
    held = cells > 0
    colours[held] = FIRST_BIN + count_bins(cells[held])
    colours = colours.repeat(CELL_PIXELS, axis=0).repeat(CELL_PIXELS, axis=1)
    painted = colours > 0
    pixels[painted] = colours[painted]
    # A one-pixel rim around them: a lone cell of 4 px stays visible on a world.
    pixels[_rim(painted)] = EDGE
    base = Image.fromarray(pixels, mode="P")
    # The borders over the cells, so that a cell's place stays readable.
    world.draw_countries(
        ImageDraw.Draw(base), (MAP_WIDTH, MAP_HEIGHT), fill=None, outline=BORDER
    )
    return base


def _rim(mask: np.ndarray) -> np.ndarray:
    """The pixels next to `mask` (sides and corners) but not in it."""
    grown = mask.copy()
    grown[1:, :] |= mask[:-1, :]
    grown[:-1, :] |= mask[1:, :]
    wide = grown.copy()
    wide[:, 1:] |= grown[:, :-1]
    wide[:, :-1] |= grown[:, 1:]
    return wide & ~mask


def _legend(image: Image.Image, draw: ImageDraw.ImageDraw) -> None:
    top = TITLE_HEIGHT + MAP_HEIGHT
    x = _text(image, (8, top + 5), "Patches per 1° cell:") + 16
    bounds = [*COUNT_BINS, None]
    for index, low in enumerate(COUNT_BINS):
        high = bounds[index + 1]
        if high is None:
            label = f"{low:,} or more"
        else:
            label = f"{low:,}" if high == low + 1 else f"{low:,}-{high - 1:,}"
        draw.rectangle(
            [x, top + 8, x + 15, top + 23], fill=FIRST_BIN + index, outline=EDGE
        )
        x = _text(image, (x + 22, top + 5), label) + 20
    draw.rectangle([x, top + 8, x + 15, top + 23], fill=OCEAN, outline=INK)
    _text(image, (x + 22, top + 5), "none (Natural Earth 1:110m outline)")


def _text(image: Image.Image, at: tuple[int, int], text: str) -> int:
    """Draw `text` TEXT_SCALE times Pillow's bitmap font at `at`; its right edge.

    The bitmap font is part of Pillow (no font file, no FreeType), so the pixels do
    not depend on the fonts of the machine."""
    font = ImageFont.load_default_imagefont()
    _left, _top, right, bottom = font.getbbox(text)
    mask = Image.new("1", (right, bottom), 0)
    ImageDraw.Draw(mask).text((0, 0), text, fill=1, font=font)
    mask = mask.resize(
        (right * TEXT_SCALE, bottom * TEXT_SCALE), Image.Resampling.NEAREST
    )
    image.paste(INK, (at[0], at[1], at[0] + mask.width, at[1] + mask.height), mask)
    return at[0] + mask.width
