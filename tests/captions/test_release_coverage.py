"""A release's coverage (issue 14, item 4): the map `coverage.png` and the card's
counts by continent and by latitude band, built with the release and rebuilt byte for
byte.

Cora curates. The places world, one scene, each patch's caption approved by her
unless said otherwise:

    patch       centre           continent    latitude band
    paris       2.35°E 48.85°N   Europe       60°N to 45°N   two captions, both verified
    paris-east  2.45°E 48.85°N   Europe       60°N to 45°N   in paris's 1° cell
    nairobi     36.85°E 1.25°S   Africa       0° to 15°S
    gabon       10.05°E 0°       Africa       15°N to 0°     on the equator
    atlantic    35°W 30°N        Open water   45°N to 30°N
    nowhere     no footprint     -            -
    tokyo       139.7°E 35.7°N   Asia         45°N to 30°N   rejected: not released

So 6 images, 5 with a footprint: Europe 2, Africa 2, open water 1.
"""

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from captions import tasks
from captions.export import release_coverage, release_files, releases
from captions.export.filters import export_filters_from
from captions.geo import coverage
from captions.models import Release, ReleaseItem
from tests.api_data import TREE, WATER, make_caption, make_patch, make_scene
from tests.api_data import two_class_codes as codes_of
from verification import services

# name: (west, south, east, north) or None
PLACES = {
    "paris": (2.3, 48.8, 2.4, 48.9),
    "paris-east": (2.4, 48.8, 2.5, 48.9),
    "nairobi": (36.8, -1.3, 36.9, -1.2),
    "gabon": (10.0, -0.05, 10.1, 0.05),
    "atlantic": (-35.05, 29.95, -34.95, 30.05),
    "nowhere": None,
    "tokyo": (139.65, 35.65, 139.75, 35.75),
}


@pytest.fixture
def places(media_root: Path, curator) -> dict:
    scene = make_scene("places")
    patches = {
        name: make_patch(
            scene, media_root, codes_of(TREE, WATER), row_off=32 * number,
            footprint=footprint,
        )
        for number, (name, footprint) in enumerate(PLACES.items())
    }  # fmt: skip
    captions = [make_caption(patch, "Trees above water.") for patch in patches.values()]
    captions.append(
        make_caption(patches["paris"], "Trees over the river.", source="second")
    )
    for caption in captions:
        if caption.patch_id == patches["tokyo"].pk:
            services.caption_reject(
                caption_id=caption.pk, user=curator, version=1, reason="cloudy"
            )
        else:
            services.caption_approve(caption_id=caption.pk, user=curator, version=1)
    return patches


def built(curator, capture) -> Release:
    with capture(execute=True):
        release = releases.release_create(filters=export_filters_from({}), user=curator)
    return releases.release_build(release_id=release.pk)


@pytest.fixture
def places_release(
    places, curator, enqueued_builds, releases_root, django_capture_on_commit_callbacks
) -> Release:
    release = built(curator, django_capture_on_commit_callbacks)
    assert release.status == Release.Status.DONE, release.error
    return release


def files_of(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def card_of(release: Release) -> str:
    return (release_files.release_dir(release.number) / "README.md").read_text()


@pytest.mark.django_db
def test_the_card_shows_the_coverage_map_and_counts_by_continent_and_band(
    places_release,
):
    assert (places_release.pairs_total, places_release.images_total) == (7, 6)
    card = card_of(places_release)
    assert "## Coverage\n\n![Coverage](coverage.png)\n" in card
    assert "Where the 5 images with a footprint lie" in card
    assert "Without a footprint (no georeferencing)" in card and ": 1 images." in card
    assert "| Europe | 2 | 40.0 % |" in card  # paris counted once for its two pairs
    assert "| Africa | 2 | 40.0 % |" in card
    assert "| Open water | 1 | 20.0 % |" in card
    assert "| Asia | 0 | 0.0 % |" in card  # Tokyo's caption was rejected
    assert "| 60°N to 45°N | 2 | 40.0 % |" in card
    assert "| 45°N to 30°N | 1 | 20.0 % |" in card
    assert "| 15°N to 0° | 1 | 20.0 % |" in card  # the equator
    assert "| 0° to 15°S | 1 | 20.0 % |" in card
    assert "- `coverage.png`: the coverage map above." in card
    # The rules are stated where the figures are.
    assert "within 0.3° of one" in card and "holds its southern edge" in card


@pytest.mark.django_db
def test_the_tables_add_up_to_the_release_patches_with_a_footprint(places_release):
    patches = {
        item.caption.patch
        for item in ReleaseItem.objects.filter(release=places_release).select_related(
            "caption__patch"
        )
    }
    with_footprint = [patch for patch in patches if patch.west is not None]
    card = card_of(places_release)
    continents = card.split("### By continent")[1].split("### By latitude band")[0]
    bands = card.split("### By latitude band")[1].split("## Review")[0]
    for table in (continents, bands):
        counts = [
            int(line.split(" | ")[1].replace(",", ""))
            for line in table.splitlines()
            if line.startswith("| ") and "---" not in line and "images" not in line
        ]
        assert sum(counts) == len(with_footprint) == 5


@pytest.mark.django_db
def test_the_coverage_map_is_a_listed_png_marking_the_patches_cells(
    places_release, places
):
    folder = release_files.release_dir(places_release.number)
    png = (folder / "coverage.png").read_bytes()
    image = Image.open(io.BytesIO(png))
    assert image.size == coverage.IMAGE_SIZE

    def at(patch_name: str) -> int:
        footprint = PLACES[patch_name]
        assert footprint is not None
        west, south, east, north = footprint
        column = int(np.floor((west + east) / 2 + 180))
        row = int(np.floor(90 - (south + north) / 2))
        half = coverage.CELL_PIXELS // 2
        return image.getpixel(
            (
                column * coverage.CELL_PIXELS + half,
                coverage.TITLE_HEIGHT + row * coverage.CELL_PIXELS + half,
            )
        )

    for name in ("paris", "nairobi", "gabon", "atlantic"):
        assert at(name) == coverage.FIRST_BIN, name  # 1-9 images in the cell
    assert at("tokyo") == coverage.LAND  # rejected: not in the release
    manifest = json.loads((folder / "manifest.json").read_text())
    listed = {entry["path"]: entry for entry in manifest["files"]}
    assert listed["coverage.png"]["bytes"] == len(png)
    recorded = [entry["path"] for entry in places_release.manifest["files"]]
    assert "coverage.png" in recorded


@pytest.mark.django_db
def test_a_rebuild_writes_the_coverage_map_and_card_again_byte_for_byte(
    places_release, places, curator
):
    folder = release_files.release_dir(places_release.number)
    before = files_of(folder)
    (folder / "coverage.png").unlink()
    (folder / "README.md").write_text("damaged")
    # A review after the freeze changes nothing in the release.
    paris = ReleaseItem.objects.filter(release=places_release).first()
    assert paris is not None
    services.caption_reject(
        caption_id=paris.caption_id, user=curator, version=2, reason="changed mind"
    )
    tasks.build_release.run(places_release.pk, rebuild=True)
    assert files_of(folder) == before


@pytest.mark.django_db
def test_the_footprints_are_read_in_batches_each_patch_once(
    places_release, monkeypatch
):
    whole = release_coverage.release_coverage(places_release)
    monkeypatch.setattr(release_coverage, "COVERAGE_BATCH", 2)
    batched = release_coverage.release_coverage(places_release)
    assert np.array_equal(whole.cells, batched.cells)
    assert (batched.located, batched.without_footprint) == (5, 1)


@pytest.mark.django_db
def test_a_release_built_before_the_coverage_map_rebuilds_without_it(
    places, curator, enqueued_builds, django_capture_on_commit_callbacks, monkeypatch
):
    # Built as it was before coverage existed: no map, no section.
    with monkeypatch.context() as before_coverage:
        before_coverage.setattr(
            release_files, "has_coverage", lambda release, *, rebuild: False
        )
        release = built(curator, django_capture_on_commit_callbacks)
    folder = release_files.release_dir(release.number)
    before = files_of(folder)
    assert "coverage.png" not in before and "## Coverage" not in card_of(release)

    result = tasks.build_release.run(release.pk, rebuild=True)

    assert "error" not in result
    assert files_of(folder) == before
