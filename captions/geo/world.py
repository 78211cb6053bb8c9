"""The bundled world outline (Natural Earth 1:110m countries) and the continent of a
point, for many points at once.

The countries are read once (`countries`). The continent of a point is looked up in a
grid of 0.1° cells, the countries rasterised into it once with Pillow
(`continent_grid`): one numpy index per point instead of a point-in-polygon test per
patch and per country. A 1:110m coastline is kilometres off the true one, so a cell
outside every country but within `COAST_CELLS` cells of one takes the continent of the
nearest such country's cell; a cell farther from any country is open water.
"""

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

COUNTRIES_FILE = (
    Path(__file__).with_name("data") / "naturalearth_110m_countries.geojson"
)

OPEN_WATER = "Open water"
# Natural Earth's continents, in the order of the tables. Its "Seven seas (open
# ocean)" holds land, islands far from any continent (the French Southern and
# Antarctic Lands in the 1:110m set): named for what it is here, beside open water.
_NATURAL_EARTH_CONTINENTS = {
    "Africa": "Africa",
    "Antarctica": "Antarctica",
    "Asia": "Asia",
    "Europe": "Europe",
    "North America": "North America",
    "Oceania": "Oceania",
    "South America": "South America",
    "Seven seas (open ocean)": "Remote islands",
}
# Index 0 is open water; a country's continent is its index in this tuple.
CONTINENTS: tuple[str, ...] = (OPEN_WATER, *_NATURAL_EARTH_CONTINENTS.values())

GRID_DEGREES = 0.1
# Cells (of GRID_DEGREES) off a country's outline still counted as its continent's
# coast: 0.3°, about 33 km at the equator.
COAST_CELLS = 3

Ring = list[tuple[float, float]]  # (lon, lat) points, closed


@dataclass(frozen=True)
class Country:
    name: str
    continent: str  # one of CONTINENTS
    iso_a3: str
    # Each polygon: its outer ring, then its holes (South Africa's is Lesotho).
    polygons: tuple[tuple[Ring, ...], ...]


@lru_cache(maxsize=1)
def countries() -> tuple[Country, ...]:
    """The 177 countries of the bundled outline, in the file's order."""
    collection = json.loads(COUNTRIES_FILE.read_text(encoding="utf-8"))
    return tuple(_country(feature) for feature in collection["features"])


def _country(feature: dict) -> Country:
    geometry = feature["geometry"]
    polygons = (
        [geometry["coordinates"]]
        if geometry["type"] == "Polygon"
        else geometry["coordinates"]
    )
    properties = feature["properties"]
    return Country(
        name=properties["name"],
        continent=_NATURAL_EARTH_CONTINENTS[properties["continent"]],
        iso_a3=properties["iso_a3"],
        polygons=tuple(
            tuple([(float(lon), float(lat)) for lon, lat in ring] for ring in polygon)
            for polygon in polygons
        ),
    )


def draw_countries(
    draw: ImageDraw.ImageDraw,
    size: tuple[int, int],
    *,
    fill,
    outline=None,
    fill_of=None,
) -> None:
    """Draw every country on an equirectangular image of `size` (width, height)
    spanning 180°W-180°E, 90°N-90°S. `fill_of(country)`, when given, picks each
    country's fill; holes are drawn back with `fill` of 0 only when `fill_of` is
    given (the continent grid), as a map has its background there anyway.

    Countries with holes come first, so that a country inside a hole (Lesotho in
    South Africa) is drawn over it."""
    width, height = size
    ordered = sorted(countries(), key=lambda country: not _has_holes(country))
    for country in ordered:
        colour = fill if fill_of is None else fill_of(country)
        for outer, *holes in country.polygons:
            draw.polygon(_pixels(outer, width, height), fill=colour, outline=outline)
            for hole in holes:
                draw.polygon(_pixels(hole, width, height), fill=0 if fill_of else None)


def _has_holes(country: Country) -> bool:
    return any(len(polygon) > 1 for polygon in country.polygons)


def _pixels(ring: Ring, width: int, height: int) -> list[tuple[float, float]]:
    # Pillow puts pixel i's centre at i: a longitude at a cell's centre maps there.
    return [
        ((lon + 180) / 360 * width - 0.5, (90 - lat) / 180 * height - 0.5)
        for lon, lat in ring
    ]


@lru_cache(maxsize=1)
def continent_grid() -> np.ndarray:
    """The continent index (into CONTINENTS) of every 0.1° cell, row 0 at 90°N,
    column 0 at 180°W: 1800 × 3600 bytes, made once per process."""
    width, height = round(360 / GRID_DEGREES), round(180 / GRID_DEGREES)
    image = Image.new("L", (width, height), 0)
    draw_countries(
        ImageDraw.Draw(image),
        (width, height),
        fill=0,
        fill_of=lambda country: CONTINENTS.index(country.continent),
    )
    grid = np.asarray(image, dtype=np.uint8).copy()
    for _ in range(COAST_CELLS):
        grid = _grow_coast(grid)
    grid.setflags(write=False)
    return grid


# The neighbours a coast cell takes its continent from, in this order of preference:
# the four sides first (nearer), then the corners.
_NEIGHBOURS = ((0, -1), (0, 1), (-1, 0), (1, 0), (-1, -1), (-1, 1), (1, -1), (1, 1))


def _grow_coast(grid: np.ndarray) -> np.ndarray:
    """One cell more of coast: a water cell next to land takes that land's continent
    (longitude wraps at the antimeridian, latitude does not)."""
    grown = grid.copy()
    for row_shift, column_shift in _NEIGHBOURS:
        neighbour = np.roll(grid, column_shift, axis=1)
        if row_shift:
            neighbour = np.roll(neighbour, row_shift, axis=0)
            edge = 0 if row_shift > 0 else -1
            neighbour[edge, :] = 0  # no wrap from pole to pole
        water = (grown == 0) & (neighbour != 0)
        grown[water] = neighbour[water]
    return grown


def continent_indexes(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """The continent index (into CONTINENTS; 0 open water) of each point, for arrays
    of longitudes and latitudes in degrees (WGS 84)."""
    grid = continent_grid()
    rows = np.clip(((90 - lat) / GRID_DEGREES).astype(np.int64), 0, grid.shape[0] - 1)
    columns = np.clip(
        ((lon + 180) / GRID_DEGREES).astype(np.int64), 0, grid.shape[1] - 1
    )
    return grid[rows, columns]


def continent_of(lon: float, lat: float) -> str:
    """The continent of one point (tests, and the odd single lookup)."""
    index = continent_indexes(np.array([lon]), np.array([lat]))[0]
    return CONTINENTS[int(index)]
