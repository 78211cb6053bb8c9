"""Importing a folder of PNG tiles as a scene (tile_import.py, import_tiles)."""

import datetime as dt
import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from PIL import Image

from captions.ingest.scenes import STALE_INGEST_AFTER, IngestError, IngestResult
from captions.ingest.splits import split_for, tile_split_key
from captions.ingest.tile_import import TILE_STRIDE, scene_import_tiles
from captions.ingest.tiles import web_mercator_footprint
from captions.landcover import NODATA, landcover_stats
from captions.models import Patch, Scene
from tests.captions.tile_fixtures import (
    BUILT,
    CROP,
    TREE,
    WATER,
    write_palette_label,
    write_rgb,
    write_satlas_label,
)
from tests.conftest import ROOT, _database_url, stop_worker, wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiles(tmp_path) -> Path:
    folder = tmp_path / "tiles"
    folder.mkdir()
    return folder


def write_satlas_index_12(path: Path) -> None:
    """A label holding 12, one past the last Satlas class."""
    indices = np.full((256, 256), 3, np.uint8)
    indices[100:110, 100:110] = 12
    Image.fromarray(indices).save(path)


def satlas_blocks() -> np.ndarray:
    """512 px: tree on top, water bottom left, crop bottom right, a nodata corner."""
    codes = np.full((512, 512), TREE, np.uint8)
    codes[256:, :256] = WATER
    codes[256:, 256:] = CROP
    codes[:32, :32] = NODATA
    return codes


def berlin_blocks() -> np.ndarray:
    """256 px: built-up left third, water elsewhere."""
    codes = np.full((256, 256), WATER, np.uint8)
    codes[:, :85] = BUILT
    return codes


def make_release(folder: Path) -> dict[str, np.ndarray]:
    """A 512 Satlas tile (index label) and a 256 tile (palette label) in images/."""
    write_rgb(folder / "images/4297_2867.png", size=512, seed=1)
    write_satlas_label(folder / "labels/4297_2867.png", satlas_blocks())
    write_rgb(folder / "images/berlin.png", seed=2)
    write_palette_label(folder / "labels/berlin.png", berlin_blocks())
    satlas = satlas_blocks()
    return {
        "4297_2867_patch00.png": satlas[:256, :256],
        "4297_2867_patch01.png": satlas[:256, 256:],
        "4297_2867_patch10.png": satlas[256:, :256],
        "4297_2867_patch11.png": satlas[256:, 256:],
        "berlin.png": berlin_blocks(),
    }


def import_tiles(folder: Path, **options) -> IngestResult:
    return scene_import_tiles(
        directory=folder, name=options.pop("name", "release"), **options
    )


def scene_files(media_root: Path, scene: Scene) -> list[str]:
    folder = media_root / "scenes" / str(scene.pk)
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


# --- A good import ---------------------------------------------------------------


def test_a_512_tile_gives_four_quarter_patches_and_a_256_tile_one(tiles):
    make_release(tiles)

    result = import_tiles(tiles)

    scene = Scene.objects.get(pk=result.scene_id)
    assert (scene.status, scene.source_kind) == ("ready", "tiles")
    assert scene.image_path == str(tiles.resolve())
    assert (result.patches_created, result.patches_skipped) == (5, 0)
    assert list(scene.patches.values_list("source_name", "row_off", "col_off")) == [
        ("4297_2867_patch00.png", 0, 0),
        ("4297_2867_patch01.png", 0, 256),
        ("4297_2867_patch10.png", 256, 0),
        ("4297_2867_patch11.png", 256, 256),
        ("berlin.png", TILE_STRIDE, 0),
    ]
    assert (scene.patches_created, scene.patches_done) == (5, 5)


def test_statistics_are_those_of_the_label_codes_of_each_patch(tiles):
    expected = make_release(tiles)

    import_tiles(tiles)

    for patch in Patch.objects.all():
        assert patch.landcover == landcover_stats(expected[patch.source_name])
    berlin = Patch.objects.get(source_name="berlin.png")
    assert [(c["name"], c["pixels"]) for c in berlin.landcover["overall"]] == [
        ("water", 256 * 171),
        ("developed area", 256 * 85),
    ]
    assert berlin.dominant_class == 80


def test_labels_read_back_losslessly_from_the_landcover_preview(tiles):
    expected = make_release(tiles)

    import_tiles(tiles)

    for patch in Patch.objects.all():
        np.testing.assert_array_equal(patch.label_codes(), expected[patch.source_name])


def test_invalid_fraction_is_the_share_of_nodata_in_the_patch(tiles):
    make_release(tiles)

    import_tiles(tiles)

    patch = Patch.objects.get(source_name="4297_2867_patch00.png")
    assert patch.invalid_fraction == pytest.approx(32 * 32 / 256**2)


def test_satlas_tile_quarters_get_web_mercator_footprints_others_none(tiles):
    make_release(tiles)

    result = import_tiles(tiles)

    for patch in Patch.objects.filter(source_name__startswith="4297_2867_patch"):
        quarter_row, quarter_col = patch.row_off // 256, patch.col_off // 256
        expected = web_mercator_footprint(
            2 * 4297 + quarter_col, 2 * 2867 + quarter_row, 14
        )
        assert (patch.west, patch.south, patch.east, patch.north) == (
            expected.west,
            expected.south,
            expected.east,
            expected.north,
        )
    berlin = Patch.objects.get(source_name="berlin.png")
    assert (berlin.west, berlin.south, berlin.east, berlin.north) == (None,) * 4
    scene = Scene.objects.get(pk=result.scene_id)
    tile = web_mercator_footprint(4297, 2867, 13)
    assert (scene.west, scene.south, scene.east, scene.north) == pytest.approx(
        (tile.west, tile.south, tile.east, tile.north)
    )


def test_split_is_derived_from_the_tile_name_and_its_block(tiles):
    make_release(tiles)

    import_tiles(tiles)

    patches = Patch.objects.all()
    assert patches.count() == 5
    for patch in patches:
        key = tile_split_key(patch.source_name, block=4)
        assert patch.split == split_for(key)
        assert patch.split_source == Patch.SplitSource.COMPUTED


def test_each_patch_has_an_rgb_and_a_landcover_preview_file(tiles, media_root):
    make_release(tiles)

    result = import_tiles(tiles)

    for patch in Patch.objects.all():
        assert (media_root / patch.rgb_preview.name).is_file()
        assert (media_root / patch.landcover_preview.name).is_file()
    scene = Scene.objects.get(pk=result.scene_id)
    assert len(scene_files(media_root, scene)) == 2 * 5


def test_labels_beside_their_images_with_a_suffix_are_imported(tiles):
    write_rgb(tiles / "a.png")
    write_satlas_label(tiles / "a_label.png", berlin_blocks())
    write_rgb(tiles / "b.png")
    write_palette_label(tiles / "b_landcover.png", berlin_blocks())

    result = import_tiles(tiles)

    assert result.patches_created == 2
    assert sorted(Patch.objects.values_list("source_name", flat=True)) == [
        "a.png",
        "b.png",
    ]


def test_patches_are_saved_in_batches_of_the_configured_size(tiles, settings):
    settings.INGEST_BATCH_SIZE = 2
    make_release(tiles)

    result = import_tiles(tiles)

    assert result.patches_created == Patch.objects.count() == 5


def test_progress_is_reported_per_tile(tiles):
    make_release(tiles)
    calls = []

    import_tiles(tiles, on_progress=lambda done, total: calls.append((done, total)))

    assert calls == [(1, 2), (2, 2)]


def test_patches_more_invalid_than_max_invalid_are_skipped_and_counted(tiles):
    write_rgb(tiles / "images/a.png")
    write_satlas_label(tiles / "labels/a.png", berlin_blocks())
    mostly_nodata = berlin_blocks()
    mostly_nodata[:200] = NODATA
    write_rgb(tiles / "images/b.png")
    write_satlas_label(tiles / "labels/b.png", mostly_nodata)

    result = import_tiles(tiles, max_invalid=0.5)

    assert (result.patches_created, result.patches_skipped) == (1, 1)
    assert list(Patch.objects.values_list("source_name", flat=True)) == ["a.png"]
    assert Scene.objects.get().patches_skipped == 1


# --- Importing again -------------------------------------------------------------


def test_importing_the_same_folder_twice_creates_nothing_the_second_time(tiles):
    make_release(tiles)
    first = import_tiles(tiles)

    second = import_tiles(tiles)

    assert second.already_ingested
    assert (second.scene_id, second.patches_created) == (first.scene_id, 0)
    assert Scene.objects.count() == 1
    assert Patch.objects.count() == 5


def test_a_scene_name_used_by_another_folder_is_refused(tiles, tmp_path):
    make_release(tiles)
    import_tiles(tiles)
    other = tmp_path / "other"
    make_release(other)

    with pytest.raises(IngestError, match=r"'release' is already used by .*tiles"):
        import_tiles(other)


def test_a_failed_import_is_redone_once_the_folder_is_fixed(tiles, media_root):
    make_release(tiles)
    write_satlas_index_12(tiles / "labels/berlin.png")
    with pytest.raises(IngestError):
        import_tiles(tiles)
    write_palette_label(tiles / "labels/berlin.png", berlin_blocks())

    result = import_tiles(tiles)

    assert result.patches_created == 5
    assert Scene.objects.get().status == "ready"


# --- Two processes, and a process that died ---------------------------------------

# `import_tiles` in a process of its own that stops for good after its first tile
# (the four quarters of the 512 tile, saved as one batch of INGEST_BATCH_SIZE=4),
# so that the test kills it at a known point: mid-import, with patches written.
STALLING_IMPORT = """
import sys
import threading

import django

django.setup()
from django.core.management import call_command

from captions.ingest import tile_import

build = tile_import._build_tile_patch
built = []


def build_then_stall(*args, **kwargs):
    built.append(1)
    if len(built) > 4:
        threading.Event().wait()
    return build(*args, **kwargs)


tile_import._build_tile_patch = build_then_stall
call_command("import_tiles", sys.argv[1], "--name", "killed", "--no-progress")
"""


def age_heartbeat(scene: Scene) -> None:
    """As if `STALE_INGEST_AFTER` had passed since the scene's last heartbeat."""
    long_ago = timezone.now() - STALE_INGEST_AFTER - dt.timedelta(seconds=1)
    Scene.objects.filter(pk=scene.pk).update(updated_at=long_ago)


def scene_being_imported(tiles: Path) -> Scene:
    """The scene of `tiles` as an import in another process leaves it while it runs."""
    return Scene.objects.create(
        name="release", source_kind=Scene.SourceKind.TILES,
        image_path=str(tiles.resolve()), status=Scene.Status.INGESTING,
    )  # fmt: skip


def test_an_import_running_elsewhere_is_left_to_it(tiles, media_root):
    make_release(tiles)
    scene = scene_being_imported(tiles)

    with pytest.raises(IngestError, match="being imported by another process"):
        import_tiles(tiles)

    scene.refresh_from_db()
    assert scene.status == Scene.Status.INGESTING
    assert Patch.objects.count() == 0
    assert scene_files(media_root, scene) == []


def test_an_import_abandoned_by_a_dead_process_is_taken_over(tiles, media_root):
    make_release(tiles)
    scene = scene_being_imported(tiles)
    age_heartbeat(scene)

    result = import_tiles(tiles)

    scene.refresh_from_db()
    assert (scene.status, result.patches_created) == (Scene.Status.READY, 5)


@pytest.mark.django_db(transaction=True)
def test_a_tile_import_whose_process_was_killed_is_taken_over(tiles, media_root):
    expected = make_release(tiles)
    log_path = tiles.parent / "stalling_import.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", STALLING_IMPORT, str(tiles)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={
                **os.environ, "DJANGO_SETTINGS_MODULE": "chatearthnet_site.settings",
                "DATABASE_URL": _database_url(), "MEDIA_ROOT": str(media_root),
                "INGEST_BATCH_SIZE": "4",
            },
        )  # fmt: skip
    try:
        wait_for(
            lambda: process.poll() is not None or Patch.objects.count() == 4,
            what="the first tile's patches",
        )
        assert process.poll() is None, log_path.read_text()
    finally:
        stop_worker(process, kill=True)  # SIGKILL: no clean-up of its own
    scene = Scene.objects.get(name="killed")
    # Dead mid-import: "ingesting", with the progress of its last heartbeat.
    assert (scene.status, scene.patches_done) == (Scene.Status.INGESTING, 4)
    assert len(scene_files(media_root, scene)) == 8

    # Until its heartbeat is stale, it is taken for alive and left to its process.
    with pytest.raises(IngestError, match="being imported by another process"):
        import_tiles(tiles, name="killed")
    age_heartbeat(scene)
    result = import_tiles(tiles, name="killed")

    scene.refresh_from_db()
    assert scene.status == Scene.Status.READY
    assert (result.patches_created, scene.patches_done) == (5, 5)
    patches = Patch.objects.filter(scene=scene)
    assert sorted(patches.values_list("source_name", flat=True)) == sorted(expected)
    # The dead process's rows and files were cleared, not kept beside the new ones.
    assert len(scene_files(media_root, scene)) == 10
    for patch in patches:
        assert np.array_equal(patch.label_codes(), expected[patch.source_name])


# --- Bad inputs ------------------------------------------------------------------


def assert_nothing_left(media_root: Path) -> None:
    assert Patch.objects.count() == 0
    for scene in Scene.objects.all():
        assert scene.status == "failed"
        assert scene_files(media_root, scene) == []


def test_a_missing_folder_is_refused_and_creates_no_scene(tmp_path, media_root):
    with pytest.raises(IngestError, match=r"missing: no such file or folder"):
        import_tiles(tmp_path / "missing")

    assert Scene.objects.count() == 0
    assert not (media_root / "scenes").exists()


def test_an_empty_folder_is_refused_and_creates_no_scene(tiles, media_root):
    with pytest.raises(IngestError, match=r"no PNG tiles found"):
        import_tiles(tiles)

    assert Scene.objects.count() == 0
    assert not (media_root / "scenes").exists()


def test_an_image_without_label_is_reported_and_the_rest_imported(tiles):
    make_release(tiles)
    write_rgb(tiles / "images/lonely.png")

    result = import_tiles(tiles)

    assert result.images_without_label == ("lonely.png",)
    assert result.patches_created == 5
    assert not Patch.objects.filter(source_name="lonely.png").exists()


def test_a_folder_where_no_image_has_a_label_is_refused(tiles):
    write_rgb(tiles / "images/a.png")
    write_rgb(tiles / "images/b.png")

    with pytest.raises(IngestError, match=r"none of its 2 images has a label"):
        import_tiles(tiles)

    assert Scene.objects.count() == 0


@pytest.mark.parametrize(
    ("bad_label", "message"),
    [
        (
            lambda path: write_satlas_label(path, np.full((512, 512), TREE, np.uint8)),
            r"labels/berlin\.png: label is 512x512 but its image berlin\.png is 256",
        ),
        (
            lambda path: Image.fromarray(
                np.full((256, 256, 3), (1, 2, 3), np.uint8)
            ).save(path),
            r"labels/berlin\.png: .*outside the prompt palette: \(1,2,3\)",
        ),
        (
            write_satlas_index_12,
            r"labels/berlin\.png: .*not Satlas indices: \[12\]",
        ),
        (
            lambda path: path.write_bytes(b"not a png"),
            r"labels/berlin\.png: not a readable PNG",
        ),
    ],
    ids=["wrong-size", "colour-not-in-palette", "satlas-index-12", "unreadable"],
)
def test_a_bad_label_fails_the_import_naming_the_file_and_leaves_nothing(
    tiles, media_root, bad_label, message
):
    make_release(tiles)
    bad_label(tiles / "labels/berlin.png")

    with pytest.raises(IngestError, match=message):
        import_tiles(tiles)

    assert_nothing_left(media_root)
    assert "berlin.png" in Scene.objects.get().error


def test_with_skip_bad_a_broken_tile_is_left_out_and_reported(tiles):
    make_release(tiles)
    write_satlas_index_12(tiles / "labels/berlin.png")

    result = import_tiles(tiles, skip_bad=True)

    assert result.patches_created == 4
    (error,) = result.bad_tiles
    assert "labels/berlin.png" in error
    assert "not Satlas indices: [12]" in error
    assert Scene.objects.get().status == "ready"


def test_with_skip_bad_a_folder_of_only_broken_tiles_still_fails(tiles, media_root):
    write_rgb(tiles / "a.png")
    write_satlas_index_12(tiles / "a_label.png")

    with pytest.raises(IngestError, match=r"none of its 1 tiles could be read"):
        import_tiles(tiles, skip_bad=True)

    assert_nothing_left(media_root)


def test_a_folder_of_only_nodata_patches_fails_and_leaves_nothing(tiles, media_root):
    write_rgb(tiles / "a.png")
    write_satlas_label(tiles / "a_label.png", np.zeros((256, 256), np.uint8))

    with pytest.raises(IngestError, match=r"every patch has more than 50% invalid"):
        import_tiles(tiles)

    assert_nothing_left(media_root)


def test_an_unknown_label_kind_is_refused(tiles):
    make_release(tiles)

    with pytest.raises(IngestError, match=r"label kind 'colours' is not one of"):
        import_tiles(tiles, label_kind="colours")


def test_label_kind_satlas_refuses_palette_labels_with_a_hint(tiles):
    make_release(tiles)

    with pytest.raises(IngestError, match=r"berlin\.png: .*try --label-kind palette"):
        import_tiles(tiles, label_kind="satlas")


# --- The command -----------------------------------------------------------------


def test_command_json_prints_one_object_with_the_counts(tiles):
    make_release(tiles)
    write_rgb(tiles / "images/lonely.png")
    out = StringIO()

    call_command("import_tiles", str(tiles), "--json", "--no-progress", stdout=out)

    report = json.loads(out.getvalue())
    assert report == {
        "scene_id": Scene.objects.get().pk,
        "patches_created": 5,
        "patches_skipped": 0,
        "already_ingested": False,
        "tiles_read": 2,
        "images_without_label": ["lonely.png"],
        "bad_tiles": [],
    }


def test_command_names_the_scene_after_the_folder_and_summarises(tiles):
    make_release(tiles)
    write_rgb(tiles / "images/lonely.png")
    out = StringIO()

    call_command("import_tiles", str(tiles), "--no-progress", stdout=out)

    assert Scene.objects.get().name == "tiles"
    assert "5 patches created, 0 skipped" in out.getvalue()
    assert "1 image without a label not imported: lonely.png" in out.getvalue()


def test_command_reports_a_bad_tile_as_one_line_naming_the_file(tiles):
    make_release(tiles)
    write_satlas_index_12(tiles / "labels/berlin.png")

    with pytest.raises(CommandError) as raised:
        call_command("import_tiles", str(tiles), "--no-progress", stdout=StringIO())

    assert "labels/berlin.png" in str(raised.value)
    assert "\n" not in str(raised.value)
