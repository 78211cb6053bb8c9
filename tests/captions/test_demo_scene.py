"""The synthetic demo scene: valid files, a real-looking landscape, same bytes twice.

No database: the generator is pure domain code, and the command only wraps it.
"""

import hashlib
from contextlib import ExitStack
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
import rasterio
from django.core.management import call_command
from django.core.management.base import CommandError
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds

from captions.devdata.demo.scene import DemoScene, make_demo_scene
from captions.ingest.input_files import InputPolicy
from captions.ingest.scene_pair import open_scene_pair
from captions.landcover import CODES

BLUE, GREEN, RED, NIR = 1, 2, 3, 4
TREE, CROP, BUILT_UP, WATER = 10, 40, 50, 80


@pytest.fixture(scope="module")
def small_scene(tmp_path_factory: pytest.TempPathFactory) -> DemoScene:
    return make_demo_scene(tmp_path_factory.mktemp("small"), size=512)


@pytest.fixture(scope="module")
def scene_1024(tmp_path_factory: pytest.TempPathFactory) -> DemoScene:
    return make_demo_scene(tmp_path_factory.mktemp("big"), size=1024)


def label_on_image_grid(scene: DemoScene) -> np.ndarray:
    """The WorldCover map warped back onto the image grid, as the ingest does."""
    with (
        rasterio.open(scene.image_path) as image,
        rasterio.open(scene.landcover_path) as label,
        WarpedVRT(
            label,
            crs=image.crs,
            transform=image.transform,
            width=image.width,
            height=image.height,
            resampling=Resampling.nearest,
        ) as warped,
    ):
        return warped.read(1)


def reflectance(scene: DemoScene) -> np.ndarray:
    with rasterio.open(scene.image_path) as image:
        return (image.read().astype(np.float32) - 1000) / 10000


def has_solid_block(mask: np.ndarray, side: int) -> bool:
    """Whether some side x side window of `mask` is all True (an integral image)."""
    total = np.pad(mask.astype(np.int32).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    windows = (
        total[side:, side:]
        - total[:-side, side:]
        - total[side:, :-side]
        + total[:-side, :-side]
    )
    return bool((windows == side * side).any())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_image_is_a_four_band_sentinel2_l2a_geotiff_in_utm(small_scene: DemoScene):
    assert small_scene.image_path.name == "demo_S2L2A.tif"
    with rasterio.open(small_scene.image_path) as image:
        assert image.crs.to_epsg() == 32632
        assert (image.width, image.height, image.count) == (512, 512, 4)
        assert image.res == (10.0, 10.0)
        assert image.dtypes == ("uint16",) * 4
        assert image.descriptions == ("B02", "B03", "B04", "B08")
        assert image.nodata is None
        assert image.block_shapes[0] in ((256, 256), (512, 512))
        tags = image.tags()
        pixels = image.read()
    assert tags["BOA_ADD_OFFSET"] == "-1000"
    assert tags["PROCESSING_BASELINE"] == "05.10"
    assert tags["PRODUCT_TYPE"] == "S2MSI2A"
    assert tags["ACQUISITION_DATE"] == "2024-07-12"
    assert tags["DATATAKE_SENSING_START"].startswith("2024-07-12T")
    # DN = reflectance x 10000 + 1000, reflectance clipped to [0, 1]; 0 never occurs.
    assert pixels.min() >= 1000 and pixels.max() <= 11000


def test_image_lies_in_northern_italy(small_scene: DemoScene):
    with rasterio.open(small_scene.image_path) as image:
        west, south, east, north = transform_bounds(
            image.crs, "EPSG:4326", *image.bounds
        )
    assert 11.0 < west < east < 12.0
    assert 44.5 < south < north < 46.0


def test_ingest_reads_the_scene_as_l2a_with_true_colour_bands_and_date(
    small_scene: DemoScene,
):
    with ExitStack() as stack:
        pair = open_scene_pair(
            stack,
            small_scene.image_path,
            small_scene.landcover_path,
            policy=InputPolicy(allowed_roots=(), protected_roots=()),
        )
        assert pair.bands == (3, 2, 1)
        assert pair.l2a_offset == -1000
        assert str(pair.acquired_on()) == "2024-07-12"


def test_worldcover_map_is_uint8_lonlat_at_worldcover_resolution(
    small_scene: DemoScene,
):
    assert small_scene.landcover_path.name == "demo_WorldCover.tif"
    with rasterio.open(small_scene.landcover_path) as label:
        assert label.crs.to_epsg() == 4326
        assert label.count == 1
        assert label.dtypes == ("uint8",)
        assert label.nodata == 0
        assert label.res == pytest.approx((1 / 12000, 1 / 12000))
        codes = label.read(1)
    assert set(np.unique(codes).tolist()) <= set(CODES)


def test_worldcover_map_covers_the_image_footprint(small_scene: DemoScene):
    with (
        rasterio.open(small_scene.image_path) as image,
        rasterio.open(small_scene.landcover_path) as label,
    ):
        west, south, east, north = transform_bounds(
            image.crs, "EPSG:4326", *image.bounds, densify_pts=21
        )
        assert label.bounds.left <= west and label.bounds.right >= east
        assert label.bounds.bottom <= south and label.bounds.top >= north
    assert np.count_nonzero(label_on_image_grid(small_scene) == 0) == 0


def test_scene_of_1024_pixels_has_six_classes_among_them_water_tree_crop_built_up(
    scene_1024: DemoScene,
):
    codes = label_on_image_grid(scene_1024)
    present = set(np.unique(codes).tolist())
    assert len(present) >= 6
    assert {WATER, TREE, CROP, BUILT_UP} <= present


def test_land_cover_forms_coherent_areas_not_noise(scene_1024: DemoScene):
    codes = label_on_image_grid(scene_1024)
    same_as_right_neighbour = np.mean(codes[:, 1:] == codes[:, :-1])
    assert same_as_right_neighbour > 0.85
    # No class is a sprinkle: each one present fills a 5x5 block somewhere.
    for code in np.unique(codes).tolist():
        assert has_solid_block(codes == code, 5), f"class {code} is only a sprinkle"


def test_classes_have_their_own_spectral_signatures(scene_1024: DemoScene):
    codes = label_on_image_grid(scene_1024)
    bands = reflectance(scene_1024)

    def mean(band: int, code: int) -> float:
        return float(bands[band - 1][codes == code].mean())

    assert mean(NIR, TREE) > mean(NIR, WATER)
    assert mean(RED, BUILT_UP) > mean(RED, TREE)
    assert mean(NIR, CROP) > 3 * mean(RED, CROP)  # vegetation: NIR far above red
    assert mean(NIR, WATER) < mean(GREEN, WATER)  # water absorbs the near infrared


def test_same_seed_writes_identical_files(small_scene: DemoScene, tmp_path: Path):
    again = make_demo_scene(tmp_path, size=512, seed=0)
    assert sha256(again.image_path) == sha256(small_scene.image_path)
    assert sha256(again.landcover_path) == sha256(small_scene.landcover_path)


def test_another_seed_gives_another_landscape(small_scene: DemoScene, tmp_path: Path):
    other = make_demo_scene(tmp_path, size=512, seed=1, name="other")
    assert other.image_path.name == "other_S2L2A.tif"
    other_codes = label_on_image_grid(other)
    assert not np.array_equal(other_codes, label_on_image_grid(small_scene))
    assert not np.array_equal(reflectance(other), reflectance(small_scene))


def test_size_below_256_pixels_is_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="at least 256"):
        make_demo_scene(tmp_path, size=255)
    assert list(tmp_path.iterdir()) == []


def test_name_that_is_a_path_is_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="name"):
        make_demo_scene(tmp_path, size=256, name="../escape")


def test_command_creates_the_folder_and_prints_image_then_map_path(tmp_path: Path):
    out_dir = tmp_path / "new" / "folder"
    stdout = StringIO()
    call_command(
        "make_demo_scene", str(out_dir), "--size", "256", "--seed", "3", stdout=stdout
    )
    assert stdout.getvalue().splitlines() == [
        str(out_dir / "demo_S2L2A.tif"),
        str(out_dir / "demo_WorldCover.tif"),
    ]
    assert (out_dir / "demo_S2L2A.tif").is_file()
    assert (out_dir / "demo_WorldCover.tif").is_file()


def test_command_uses_the_given_name(tmp_path: Path):
    stdout = StringIO()
    call_command(
        "make_demo_scene", str(tmp_path), "--size", "256", "--name", "alps",
        stdout=stdout,
    )  # fmt: skip
    assert stdout.getvalue().splitlines()[0] == str(tmp_path / "alps_S2L2A.tif")


def test_command_refuses_a_size_below_256_in_one_line(tmp_path: Path):
    with pytest.raises(CommandError) as error:
        call_command("make_demo_scene", str(tmp_path / "out"), "--size", "100")
    assert str(error.value) == "--size must be at least 256 pixels, got 100"
    assert not (tmp_path / "out").exists()
