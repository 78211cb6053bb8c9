import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from django.core.management import CommandError, call_command
from PIL import Image

from captions.landcover import landcover_stats
from captions.models import Patch, Scene
from tests.captions.raster_fixtures import (
    blocks_of,
    write_rgb_geotiff,
    write_worldcover_for,
)

pytestmark = pytest.mark.django_db


def ingest(*args: object) -> dict:
    output = __import__("io").StringIO()
    call_command(
        "ingest_scene", *map(str, args), "--json", "--no-progress", stdout=output
    )
    return json.loads(output.getvalue())


@pytest.fixture
def landsat_pair(real_data: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The real Landsat RGB scene (UTM 18N) and a WorldCover map made in EPSG:4326."""
    image = real_data / "RGB.byte.tif"
    landcover = write_worldcover_for(
        tmp_path / "landsat_worldcover.tif",
        image,
        codes_fn=blocks_of((10, 30, 40, 50, 80, 90), block=60),
    )
    return image, landcover


@pytest.fixture
def small_pair(tmp_path: Path) -> tuple[Path, Path]:
    image = write_rgb_geotiff(tmp_path / "small.tif", width=300, height=300)
    return image, write_worldcover_for(tmp_path / "small_wc.tif", image)


def media_files(media_root: Path) -> list[Path]:
    return [path for path in media_root.rglob("*") if path.is_file()]


def test_real_landsat_scene_ingests_into_patches_with_previews_and_statistics(
    landsat_pair, media_root
):
    image, landcover = landsat_pair
    result = ingest(image, landcover, "--patch-size", "128")

    scene = Scene.objects.get(pk=result["scene_id"])
    assert scene.status == Scene.Status.READY
    assert scene.crs == "EPSG:32618"
    assert (scene.width, scene.height) == (791, 718)
    # The scene lies over the Bahamas / Florida Straits.
    assert -79.5 < scene.west < scene.east < -76.0
    assert 23.0 < scene.south < scene.north < 26.0
    # 6 x 5 whole 128-pixel patches; the nodata collar makes some mostly invalid.
    assert result["patches_created"] + result["patches_skipped"] == 30
    assert result["patches_skipped"] > 0
    assert Patch.objects.filter(scene=scene).count() == result["patches_created"]

    patch = Patch.objects.filter(scene=scene).order_by("invalid_fraction").first()
    assert patch is not None
    assert patch.invalid_fraction <= 0.5
    assert scene.west <= patch.west < patch.east <= scene.east
    assert scene.south <= patch.south < patch.north <= scene.north
    # The stored label reads back losslessly and gives the stored statistics.
    codes = patch.label_codes()
    assert codes.shape == (128, 128)
    assert landcover_stats(codes) == patch.landcover
    assert set(np.unique(codes)) <= {0, 10, 30, 40, 50, 80, 90}
    # The RGB preview holds the image's own 8-bit pixels, as they are.
    with rasterio.open(image) as dataset:
        window = (
            (patch.row_off, patch.row_off + 128),
            (patch.col_off, patch.col_off + 128),
        )
        original = np.moveaxis(dataset.read(window=window), 0, -1)
    with Image.open(Path(media_root) / patch.rgb_preview.name) as preview:
        assert np.array_equal(np.asarray(preview.convert("RGB")), original)
    # Every patch has its two files, and nothing else was written.
    assert len(media_files(media_root)) == 2 * result["patches_created"]


def test_label_is_reprojected_onto_the_image_grid_with_nearest_neighbour(
    small_pair, tmp_path
):
    image, _ = small_pair
    # Left half of the map water, right half crop, split at the image's centre line.
    with rasterio.open(image) as dataset:
        centre_x = (dataset.bounds.left + dataset.bounds.right) / 2
        centre_lon, _ = rasterio.warp.transform(
            dataset.crs, "EPSG:4326", [centre_x], [dataset.bounds.top]
        )

    def halves(height: int, width: int) -> np.ndarray:
        return np.full((height, width), 80, dtype=np.uint8)

    landcover = write_worldcover_for(tmp_path / "halves.tif", image, codes_fn=halves)
    with rasterio.open(landcover, "r+") as dataset:
        codes = dataset.read(1)
        col = int(dataset.index(centre_lon[0], dataset.bounds.top)[1])
        codes[:, col:] = 40
        dataset.write(codes, 1)
    result = ingest(image, landcover, "--patch-size", "100")
    patches = Patch.objects.filter(scene_id=result["scene_id"])
    left = patches.get(row_off=0, col_off=0).landcover["overall"]
    right = patches.get(row_off=0, col_off=200).landcover["overall"]
    assert [entry["code"] for entry in left] == [80]
    assert [entry["code"] for entry in right] == [40]
    assert patches.get(row_off=0, col_off=0).dominant_class == 80
    assert patches.get(row_off=0, col_off=200).dominant_class == 40
    # Only the classes of the map, no blend of them (nearest neighbour, not bilinear).
    for patch in patches:
        assert {e["code"] for e in patch.landcover["overall"]} <= {40, 80}


def test_ingesting_the_same_pair_twice_does_not_duplicate_patches(small_pair):
    image, landcover = small_pair
    first = ingest(image, landcover, "--patch-size", "100")
    second = ingest(image, landcover, "--patch-size", "100")
    assert first["patches_created"] == 9
    assert second["scene_id"] == first["scene_id"]
    assert second["patches_created"] == 0
    assert second["already_ingested"] is True
    assert Patch.objects.count() == 9
    assert Scene.objects.count() == 1


def test_a_scene_name_used_by_other_files_is_refused(small_pair, tmp_path):
    image, landcover = small_pair
    ingest(image, landcover, "--patch-size", "100", "--name", "alps")
    other = write_rgb_geotiff(tmp_path / "other.tif", seed=3)
    with pytest.raises(CommandError, match="'alps' is already used"):
        ingest(other, landcover, "--patch-size", "100", "--name", "alps")


def test_splits_are_deterministic_and_cover_train_val_test(tmp_path):
    image = write_rgb_geotiff(tmp_path / "big.tif", width=640, height=640)
    landcover = write_worldcover_for(tmp_path / "big_wc.tif", image)
    # Per patch (a block of one): 400 draws, enough to see the 60/10/30 shares.
    options = ("--patch-size", "32", "--split-block", "1", "--name", "grid")
    first = ingest(image, landcover, *options)
    splits = dict(
        Patch.objects.filter(scene_id=first["scene_id"]).values_list("id", "split")
    )
    assert set(splits.values()) == {"train", "val", "test"}
    by_window = sorted(Patch.objects.values_list("row_off", "col_off", "split"))
    Scene.objects.all().delete()
    ingest(image, landcover, *options)
    assert sorted(Patch.objects.values_list("row_off", "col_off", "split")) == by_window
    train_share = sum(s == "train" for s in splits.values()) / len(splits)
    assert 0.5 < train_share < 0.7  # 60% expected over 400 patches


def test_uint16_reflectance_with_l2a_offset_is_scaled_like_sentinel_hub(tmp_path):
    image = tmp_path / "l2a.tif"
    # Reflectance 0.2 everywhere, stored with the baseline-04.00 offset of +1000.
    pixels = np.full((3, 64, 64), 0.2 * 10000 + 1000, dtype=np.uint16)
    with rasterio.open(
        image, "w", driver="GTiff", width=64, height=64, count=3, dtype="uint16",
        crs="EPSG:32632", transform=rasterio.transform.from_origin(6e5, 5e6, 10, 10),
    ) as dataset:  # fmt: skip
        dataset.write(pixels)
        dataset.update_tags(BOA_ADD_OFFSET="-1000")
    landcover = write_worldcover_for(tmp_path / "l2a_wc.tif", image)
    result = ingest(image, landcover, "--patch-size", "64")
    patch = Patch.objects.get(scene_id=result["scene_id"])
    with patch.rgb_preview.open("rb") as handle, Image.open(handle) as preview:
        values = np.asarray(preview.convert("RGB"))
    assert np.all(values == round(0.2 * 2.5 * 255))  # 128
    # Told there is no offset, the same file renders brighter: 0.3 x 2.5 = 0.75.
    Scene.objects.all().delete()
    result = ingest(image, landcover, "--patch-size", "64", "--l2a-offset", "0")
    patch = Patch.objects.get(scene_id=result["scene_id"])
    with patch.rgb_preview.open("rb") as handle, Image.open(handle) as preview:
        assert np.all(np.asarray(preview.convert("RGB")) == round(0.75 * 255))


# --- Bad input: a one-line error naming the file, nothing left behind ---------------


def assert_nothing_left(media_root: Path) -> None:
    assert Patch.objects.count() == 0
    assert media_files(media_root) == []


def test_a_file_that_is_not_a_raster_is_refused(tmp_path, small_pair, media_root):
    not_raster = tmp_path / "notes.tif"
    not_raster.write_text("these are field notes, not pixels\n")
    with pytest.raises(CommandError) as error:
        ingest(not_raster, small_pair[1])
    message = str(error.value)
    assert "notes.tif: not a raster" in message
    assert "\n" not in message
    assert Scene.objects.count() == 0
    assert_nothing_left(media_root)


def test_a_missing_file_is_named(tmp_path, small_pair):
    with pytest.raises(CommandError, match=r"missing\.tif: no such file"):
        ingest(tmp_path / "missing.tif", small_pair[1])


def test_pixels_failing_half_way_leave_a_failed_scene_and_no_patches(
    real_data, tmp_path, media_root
):
    image = real_data / "corrupt.tif"
    landcover = write_worldcover_for(tmp_path / "corrupt_wc.tif", image)
    with pytest.raises(CommandError) as error:
        ingest(image, landcover)
    message = str(error.value)
    assert "corrupt.tif: pixels failed to read at rows 512-768" in message
    assert "\n" not in message
    scene = Scene.objects.get()
    assert scene.status == Scene.Status.FAILED
    assert "failed to read" in scene.error
    # The first two strips had been written before the failure: all gone again.
    assert_nothing_left(media_root)


def test_an_image_and_label_that_do_not_overlap_are_refused(small_pair, tmp_path):
    image, _ = small_pair
    far_away = write_worldcover_for(tmp_path / "far.tif", image, shift_degrees=5.0)
    with pytest.raises(CommandError, match=r"far\.tif: does not overlap the image"):
        ingest(image, far_away)
    assert Scene.objects.count() == 0


def test_a_label_with_values_that_are_not_worldcover_codes_is_refused(
    small_pair, tmp_path, media_root
):
    image, _ = small_pair

    def with_bad_values(height: int, width: int) -> np.ndarray:
        codes = np.full((height, width), 10, dtype=np.uint8)
        codes[height // 2 :, :] = 7  # the lower half holds a value that is no class
        return codes

    landcover = write_worldcover_for(
        tmp_path / "bad.tif", image, codes_fn=with_bad_values
    )
    with pytest.raises(CommandError, match=r"bad.tif: .*not WorldCover codes: \[7\]"):
        ingest(image, landcover, "--patch-size", "100")
    assert Scene.objects.get().status == Scene.Status.FAILED
    assert_nothing_left(media_root)


def test_a_single_band_image_has_the_wrong_band_count(real_data, tmp_path):
    image = real_data / "rgb1_fake_nir_epsg3857.tif"
    landcover = write_worldcover_for(tmp_path / "wm.tif", image)
    with pytest.raises(CommandError, match="wrong band count: 1 band"):
        ingest(image, landcover)
    assert Scene.objects.count() == 0


def test_bands_out_of_range_are_refused(small_pair):
    with pytest.raises(CommandError, match=r"--bands 5 is out of range: .*3 bands"):
        ingest(*small_pair, "--bands", "5,2,1")
    with pytest.raises(CommandError, match="three band numbers"):
        ingest(*small_pair, "--bands", "3,2")
    with pytest.raises(CommandError, match="1-based band numbers"):
        ingest(*small_pair, "--bands", "red,green,blue")


def test_an_entirely_nodata_image_is_refused_and_leaves_nothing(
    real_data, tmp_path, media_root
):
    image = real_data / "all-nodata.tif"
    landcover = write_worldcover_for(tmp_path / "nd.tif", image)
    with pytest.raises(
        CommandError, match=r"all-nodata\.tif: the image holds only nodata"
    ):
        ingest(image, landcover, "--patch-size", "64")
    assert Scene.objects.get().status == Scene.Status.FAILED
    assert_nothing_left(media_root)


def test_a_patch_size_larger_than_the_image_is_refused(small_pair):
    with pytest.raises(CommandError, match="patch size 512 is larger than the image"):
        ingest(*small_pair, "--patch-size", "512")
    assert Scene.objects.count() == 0


def test_max_invalid_out_of_range_is_refused(small_pair):
    with pytest.raises(CommandError, match=r"--max-invalid 2\.0 must be within 0\.\.1"):
        ingest(*small_pair, "--max-invalid", "2")


def test_a_failed_scene_can_be_ingested_again_once_the_file_is_fixed(
    small_pair, tmp_path
):
    image, _ = small_pair
    broken = tmp_path / "scene.tif"
    shutil.copy(image, broken)
    with rasterio.open(broken, "r+") as dataset:
        dataset.nodata = None
    bad_label = write_worldcover_for(
        tmp_path / "label.tif",
        image,
        codes_fn=lambda h, w: np.full((h, w), 3, np.uint8),
    )
    with pytest.raises(CommandError):
        ingest(broken, bad_label, "--patch-size", "100")
    write_worldcover_for(bad_label, image)  # fixed in place
    result = ingest(broken, bad_label, "--patch-size", "100")
    assert result["patches_created"] == 9
    assert Scene.objects.get().status == Scene.Status.READY
