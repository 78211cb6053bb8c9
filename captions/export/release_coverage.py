"""Where a release's images lie: the coverage map `coverage.png` and the card's
tables by continent and by latitude band (captions/geo/coverage.py counts and draws).

The footprints of the release's patches are read once, a batch at a time from a
database cursor, each patch once however many of its captions the release holds; only
the fixed-size counts are kept. A release built before there was a coverage map
rebuilds without one (`has_coverage`), to the bytes it had.
"""

from collections.abc import Iterator
from pathlib import Path

from captions.export.release_io import FileEntry, write_hashed
from captions.geo import world
from captions.geo.coverage import BAND_DEGREES, CELL_DEGREES, Coverage, coverage_png
from captions.models import Patch, Release, ReleaseItem

COVERAGE_IMAGE = "coverage.png"
COVERAGE_BATCH = 5000
COAST_DEGREES = world.COAST_CELLS * world.GRID_DEGREES


def has_coverage(release: Release, *, rebuild: bool) -> bool:
    """Whether the release's files include the coverage map: always when built
    now; in a rebuild, only if its recorded files did."""
    if not rebuild:
        return True
    recorded = release.manifest.get("files") or []
    return any(entry.get("path") == COVERAGE_IMAGE for entry in recorded)


def release_coverage(release: Release) -> Coverage:
    """The release's images (its patches, each once) counted by place."""
    patch_ids = ReleaseItem.objects.filter(release=release).values("caption__patch_id")
    footprints = (
        Patch.objects.filter(pk__in=patch_ids)
        .order_by()  # counts need no order: spare the sort by scene and window
        .values_list("west", "south", "east", "north")
        .iterator(chunk_size=COVERAGE_BATCH)
    )
    coverage = Coverage()
    batch: list[tuple] = []
    for footprint in footprints:
        batch.append(footprint)
        if len(batch) >= COVERAGE_BATCH:
            coverage.add_footprints(batch)
            batch = []
    coverage.add_footprints(batch)
    return coverage


def write_coverage_image(
    release: Release, coverage: Coverage, building: Path
) -> FileEntry:
    """`coverage.png` in the release's folder, with its size and sha256."""
    title = (
        f"ChatEarthNet Studio release {release.number}: {coverage.located:,} "
        f"images by the {CELL_DEGREES}° cell of their centre"
    )
    size, digest = write_hashed(
        coverage_png(coverage, title), building / COVERAGE_IMAGE
    )
    return FileEntry(COVERAGE_IMAGE, size, digest)


def coverage_card_lines(coverage: Coverage) -> Iterator[str]:
    """The card's Coverage section: the map, then the two tables."""
    located = coverage.located
    yield "## Coverage"
    yield ""
    yield f"![Coverage]({COVERAGE_IMAGE})"
    yield ""
    yield (
        f"Where the {located:,} images with a footprint lie: each {CELL_DEGREES}° "
        "cell holding the centre of one or more is coloured by how many "
        f"(`{COVERAGE_IMAGE}`, world outline from Natural Earth 1:110m, public "
        "domain)."
    )
    if coverage.without_footprint:
        yield (
            "Without a footprint (no georeferencing), in neither the map nor the "
            f"tables: {coverage.without_footprint:,} images."
        )
    yield ""
    yield "### By continent"
    yield ""
    yield (
        "An image counts where its centre falls: inside a country of the outline, "
        "in that country's continent as Natural Earth gives it (Russia in Europe); "
        f"outside every country but within {COAST_DEGREES:.1f}° of one (on a "
        f"{world.GRID_DEGREES}° grid; a 1:110m coastline is kilometres off the true "
        "one), in the continent of the nearest; farther out, in open water. Remote "
        "islands are land Natural Earth puts in no continent (the French Southern "
        "and Antarctic Lands)."
    )
    yield ""
    yield from _count_table("continent", coverage.continent_rows(), located)
    yield "### By latitude band"
    yield ""
    yield (
        f"The latitude of an image's centre, in {BAND_DEGREES}° bands from north to "
        "south; a band holds its southern edge (the equator is in 15°N to 0°) "
        "and the North Pole is in the northernmost."
    )
    yield ""
    yield from _count_table("latitude", coverage.band_rows(), located)


def _count_table(
    heading: str, rows: list[tuple[str, int]], total: int
) -> Iterator[str]:
    yield f"| {heading} | images | share |"
    yield "| --- | ---: | ---: |"
    for label, count in rows:
        share = 100 * count / total if total else 0.0
        yield f"| {label} | {count:,} | {share:.1f} % |"
    yield ""
