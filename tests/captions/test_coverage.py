"""Where patches lie (issue 14, item 4), without a database: the continent of a point
from the bundled Natural Earth outline, counts by 1° cell, continent and latitude band,
and the coverage map's PNG."""

import io
import struct

import numpy as np
import pytest
from PIL import Image

from captions.geo import coverage, world
from captions.geo.coverage import Coverage, coverage_png

PARIS = (2.35, 48.86)
NAIROBI = (36.82, -1.29)
MID_ATLANTIC = (-35.0, 30.0)
CENTRAL_AUSTRALIA = (134.0, -25.0)
MID_PACIFIC = (-140.0, -10.0)


@pytest.mark.parametrize(
    ("place", "point", "continent"),
    [
        ("Paris", PARIS, "Europe"),
        ("Nairobi", NAIROBI, "Africa"),
        ("the mid-Atlantic", MID_ATLANTIC, "Open water"),
        ("Lesotho, in South Africa's hole", (28.25, -29.6), "Africa"),
        ("Sydney", (151.21, -33.87), "Oceania"),
        ("Lima", (-77.04, -12.05), "South America"),
        ("New York", (-74.0, 40.7), "North America"),
        ("Tokyo", (139.69, 35.69), "Asia"),
        ("Kerguelen", (69.5, -49.3), "Remote islands"),
        ("inland Antarctica", (0.0, -80.0), "Antarctica"),
        ("the Pacific", MID_PACIFIC, "Open water"),
    ],
)
def test_a_point_takes_the_continent_of_the_country_it_falls_in(
    place, point, continent
):
    assert world.continent_of(*point) == continent, place


def test_a_point_just_off_the_coarse_coastline_counts_as_coast_farther_out_water():
    # Portugal's coast at 39.5°N is near 9.4°W in the 1:110m outline; -9.55 and
    # -9.65 are outside it (sea, in the outline) but within 0.3° of it.
    assert world.continent_of(-9.45, 39.5) == "Europe"
    assert world.continent_of(-9.65, 39.5) == "Europe"
    assert world.continent_of(-10.5, 39.5) == "Open water"


def test_many_points_are_looked_up_at_once_as_one_by_one():
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(-180, 180, 500), rng.uniform(-90, 90, 500)
    indexes = world.continent_indexes(lon, lat)
    assert [world.CONTINENTS[i] for i in indexes] == [
        world.continent_of(x, y) for x, y in zip(lon, lat, strict=True)
    ]
    # Both edges of the map are on it.
    edges = world.continent_indexes(np.array([-180.0, 180.0]), np.array([90.0, -90.0]))
    assert [world.CONTINENTS[i] for i in edges] == ["Open water", "Antarctica"]


def test_the_outline_is_read_once_with_its_177_countries():
    assert world.countries() is world.countries()
    assert world.continent_grid() is world.continent_grid()
    assert len(world.countries()) == 177
    assert not world.continent_grid().flags.writeable
    france = next(c for c in world.countries() if c.iso_a3 == "FRA")
    assert france.continent == "Europe"


def located(points: list[tuple[float, float]]) -> Coverage:
    counted = Coverage()
    lon, lat = np.array(points, dtype=np.float64).T
    counted.add(lon, lat)
    return counted


def test_patches_count_by_continent_with_open_water_last():
    counted = located([PARIS, PARIS, NAIROBI, MID_ATLANTIC])
    rows = dict(counted.continent_rows())
    assert rows["Europe"] == 2 and rows["Africa"] == 1 and rows["Open water"] == 1
    assert rows["Asia"] == 0
    assert counted.continent_rows()[-1] == ("Open water", 1)
    assert counted.located == 4


def test_latitude_bands_run_north_to_south_each_holding_its_southern_edge():
    counted = located(
        [(0, 90), (0, 75), (0, 48.9), (0, 30), (0, 0), (0, -0.1), (0, -90), (0, -89)]
    )
    rows = counted.band_rows()
    assert [label for label, _ in rows][:2] == ["90°N to 75°N", "75°N to 60°N"]
    assert rows[-1][0] == "75°S to 90°S"
    bands = dict(rows)
    assert bands["90°N to 75°N"] == 2  # 75°N is that band's southern edge; 90°N too
    assert bands["60°N to 45°N"] == 1
    assert bands["45°N to 30°N"] == 1
    assert bands["15°N to 0°"] == 1  # the equator
    assert bands["0° to 15°S"] == 1
    assert bands["75°S to 90°S"] == 2
    assert sum(bands.values()) == 8


def test_footprints_count_by_their_centre_and_those_without_apart():
    counted = Coverage()
    counted.add_footprints(
        [(2.3, 48.8, 2.4, 48.9), (None, None, None, None), (36.8, -1.3, 36.9, -1.2)]
    )
    assert counted.without_footprint == 1
    assert counted.located == 2
    assert counted.cells[90 - 49, 180 + 2] == 1  # Paris's 1° cell: 48-49°N, 2-3°E
    assert counted.cells[90 + 1, 180 + 36] == 1  # Nairobi's: 1-2°S, 36-37°E
    counted.add_footprints([])
    assert counted.located == 2


def test_counting_in_batches_gives_what_counting_at_once_gives():
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(-180, 180, 3000), rng.uniform(-90, 90, 3000)
    at_once, in_batches = Coverage(), Coverage()
    at_once.add(lon, lat)
    for start in range(0, 3000, 700):
        in_batches.add(lon[start : start + 700], lat[start : start + 700])
    assert np.array_equal(at_once.cells, in_batches.cells)
    assert np.array_equal(at_once.continents, in_batches.continents)
    assert np.array_equal(at_once.bands, in_batches.bands)


def pixel_at(png: bytes, lon: float, lat: float) -> int:
    """The palette index at the centre of the 1° cell holding (lon, lat)."""
    image = Image.open(io.BytesIO(png))
    column, row = int(np.floor(lon + 180)), int(np.floor(90 - lat))
    half = coverage.CELL_PIXELS // 2
    x = column * coverage.CELL_PIXELS + half
    y = coverage.TITLE_HEIGHT + row * coverage.CELL_PIXELS + half
    index = image.getpixel((x, y))
    assert isinstance(index, int)
    return index


def png_chunks(png: bytes) -> list[str]:
    chunks, offset = [], 8
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        chunks.append(png[offset + 4 : offset + 8].decode("ascii"))
        offset += 12 + length
    return chunks


def test_the_map_colours_the_cells_holding_patches_by_how_many():
    counted = located([PARIS] * 2 + [NAIROBI] * 10 + [MID_ATLANTIC] * 1000)
    png = coverage_png(counted, "Test release: 1,012 images")
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == coverage.IMAGE_SIZE == (1440, 784)
    assert pixel_at(png, *PARIS) == coverage.FIRST_BIN  # 1-9
    assert pixel_at(png, *NAIROBI) == coverage.FIRST_BIN + 1  # 10-99
    assert pixel_at(png, *MID_ATLANTIC) == coverage.FIRST_BIN + 3  # 1,000 or more
    # A rim of one pixel around a cell that holds patches, so that a lone one shows.
    column, row = int(np.floor(PARIS[0] + 180)), int(np.floor(90 - PARIS[1]))
    left = column * coverage.CELL_PIXELS - 1
    top = coverage.TITLE_HEIGHT + row * coverage.CELL_PIXELS - 1
    assert image.getpixel((left, top + 2)) == coverage.EDGE
    assert image.getpixel((left, top)) == coverage.EDGE  # corners too
    # Where there is no patch: the land and the sea of the outline.
    assert pixel_at(png, *CENTRAL_AUSTRALIA) == coverage.LAND
    assert pixel_at(png, *MID_PACIFIC) == coverage.OCEAN
    assert image.getpalette()[: 3 * len(coverage.PALETTE)] == [
        channel for colour in coverage.PALETTE for channel in colour
    ]
    # The title is drawn: ink in the strip above the map.
    title = np.asarray(image)[: coverage.TITLE_HEIGHT]
    assert (title == coverage.INK).sum() > 100


def test_the_same_counts_give_the_same_bytes_with_no_metadata():
    counted = located([PARIS, NAIROBI])
    first = coverage_png(counted, "Release 1")
    assert coverage_png(located([PARIS, NAIROBI]), "Release 1") == first
    assert png_chunks(first) == ["IHDR", "PLTE", "IDAT", "IEND"]
    assert coverage_png(located([PARIS]), "Release 1") != first


def test_count_bins_follow_the_legend():
    counts = np.array([1, 9, 10, 99, 100, 999, 1000, 10**6])
    assert coverage.count_bins(counts).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_a_footprint_across_the_antimeridian_counts_at_its_middle_not_at_zero():
    counts = Coverage()
    # Fiji's Taveuni straddles 180°: 179.9°E to 179.9°W, its middle on the line.
    counts.add_footprints(
        [(179.9, -16.9, -179.9, -16.7), (175.0, -17.0, -179.0, -16.0)]
    )
    assert counts.cells[:, 180].sum() == 0  # nothing at 0° longitude
    assert counts.cells[106, 0] == 1  # 180°W..179°W, 16°S..17°S
    assert counts.cells[106, 358] == 1  # 175°E..181°E: its middle is 178°E
    assert coverage.centre_longitudes(
        np.array([10.0, 179.0]), np.array([12.0, -179.0])
    ).tolist() == [11.0, -180.0]
