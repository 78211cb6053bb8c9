"""captions/ingest/input_files.py: which user-named files are read, and how (no Django).

The attacks themselves, through the admin form, the commands and the worker, are in
tests/security/test_server_files.py.
"""

from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image

from captions.ingest.input_files import (
    SAFE_GDAL_OPTIONS,
    InputFileError,
    InputPolicy,
    open_input_image,
    open_input_raster,
    resolve_input_file,
    resolve_input_path,
    safe_gdal_env,
)
from tests.captions.raster_fixtures import write_rgb_geotiff


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    """An allowed folder, and the product's own folder inside it."""
    allowed = tmp_path / "imagery"
    own = allowed / "media"
    own.mkdir(parents=True)
    return allowed, own


@pytest.fixture
def policy(roots) -> InputPolicy:
    allowed, own = roots
    return InputPolicy(allowed_roots=(allowed,), protected_roots=(own,))


def test_the_policy_permits_the_allowed_folders_but_not_the_products_own(
    roots, policy, tmp_path
):
    allowed, own = roots
    assert policy.permits(allowed / "scene.tif")
    assert policy.permits(allowed / "deep" / "er" / "scene.tif")
    assert not policy.permits(own / "scene.tif")
    assert not policy.permits(tmp_path / "elsewhere.tif")
    assert not policy.permits(Path("/proc/self/environ"))


def test_without_allowed_folders_anything_but_the_products_own_and_the_kernels(
    roots, tmp_path
):
    _, own = roots
    anywhere = InputPolicy(allowed_roots=(), protected_roots=(own,))
    assert anywhere.permits(tmp_path / "scene.tif")
    assert not anywhere.permits(own / "scene.tif")
    for system in ("/proc/1/mem", "/sys/kernel/notes", "/dev/zero"):
        assert not anywhere.permits(Path(system))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("scene.tif", "give an absolute path"),
        ("MEM:::DATAPOINTER=0x1,PIXELS=1,LINES=1", "give an absolute path"),
        ("/vsicurl/https://example.org/scene.tif", "virtual file systems"),
        ("/vsistdin/", "virtual file systems"),
        ("/srv/scene\x00.tif", "NUL byte"),
    ],
)
def test_names_that_are_not_plain_absolute_paths_are_refused(policy, name, message):
    with pytest.raises(InputFileError, match=message):
        resolve_input_path(name, policy)


def test_dot_dot_and_symlinks_are_judged_by_where_they_lead(roots, policy, tmp_path):
    allowed, own = roots
    outside = write_rgb_geotiff(tmp_path / "outside.tif")
    (allowed / "link.tif").symlink_to(outside)
    (allowed / "into-media.tif").symlink_to(own / "preview.tif")
    for sneaky in (
        allowed / "link.tif",
        allowed / "into-media.tif",
        f"{allowed}/../outside.tif",
        f"{own}/../media/x.tif",
    ):
        with pytest.raises(InputFileError, match="not a path that can be read here"):
            resolve_input_path(sneaky, policy)


def test_outside_the_folders_a_missing_and_an_existing_file_get_the_same_answer(
    policy, tmp_path
):
    existing = write_rgb_geotiff(tmp_path / "existing.tif")
    answers = []
    for path in (existing, tmp_path / "missing.tif"):
        with pytest.raises(InputFileError) as error:
            resolve_input_path(path, policy)
        answers.append(str(error.value).replace(path.name, "NAME"))
    assert answers[0] == answers[1]


def test_inside_the_folders_a_missing_file_and_a_folder_are_named_as_such(
    roots, policy
):
    allowed, _ = roots
    with pytest.raises(InputFileError, match=r"missing\.tif: no such file or folder"):
        resolve_input_file(allowed / "missing.tif", policy)
    with pytest.raises(InputFileError, match="imagery: not a regular file"):
        resolve_input_file(allowed, policy)


def test_a_geotiff_opens_with_the_gtiff_driver_only(roots, policy):
    allowed, _ = roots
    image = write_rgb_geotiff(allowed / "scene.tif")
    with safe_gdal_env(), open_input_raster(image, policy) as dataset:
        assert dataset.driver == "GTiff"
        assert dataset.count == 3


def test_a_png_opens_as_a_png(roots, policy):
    allowed, _ = roots
    Image.new("RGB", (16, 16)).save(allowed / "tile.png")
    with open_input_raster(allowed / "tile.png", policy) as dataset:
        assert dataset.driver == "PNG"
    with open_input_image(allowed / "tile.png", policy) as image:
        assert image.format == "PNG"


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (b'<VRTDataset rasterXSize="1" rasterYSize="1"></VRTDataset>', "a VRT"),
        (b"  \n<VRTDataset/>", "a VRT after blanks"),
        (b"<?xml version='1.0'?><VRTDataset/>", "an XML VRT"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n", "an EPS file (Ghostscript)"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "a JPEG, not among the ingest formats"),
        (b"CDF\x01", "a netCDF file"),
        (b"", "an empty file"),
    ],
)
def test_content_that_is_not_an_allowed_format_is_refused_whatever_the_name(
    roots, policy, content, what
):
    allowed, _ = roots
    for name in ("scene.tif", "tile.png"):
        (allowed / name).write_bytes(content)
        with pytest.raises(InputFileError, match=f"{name}: not a raster"):
            open_input_raster(allowed / name, policy)
    with pytest.raises(InputFileError, match=r"tile\.png: not a readable PNG"):
        open_input_image(allowed / "tile.png", policy)


def test_a_tiff_named_png_is_not_a_tile(roots, policy):
    allowed, _ = roots
    write_rgb_geotiff(allowed / "tile.png")
    with pytest.raises(InputFileError, match=r"tile\.png: not a readable PNG"):
        open_input_image(allowed / "tile.png", policy)


def test_gdal_reads_no_sidecar_beside_a_users_raster(roots, policy, tmp_path):
    # An overview file beside a GeoTIFF is opened with every driver GDAL has: a VRT
    # there would read any file. With the safe options GDAL never looks for one.
    allowed, _ = roots
    image = write_rgb_geotiff(allowed / "scene.tif", width=64, height=64)
    secret = tmp_path / "secret.bin"
    secret.write_bytes(bytes(range(256)) * 16)
    (allowed / "scene.tif.ovr").write_text(
        '<VRTDataset rasterXSize="32" rasterYSize="32">'
        + "".join(
            f'<VRTRasterBand dataType="Byte" band="{band}" '
            f'subClass="VRTRawRasterBand"><SourceFilename>{secret}</SourceFilename>'
            "<ImageOffset>0</ImageOffset><PixelOffset>1</PixelOffset>"
            "<LineOffset>32</LineOffset></VRTRasterBand>"
            for band in (1, 2, 3)
        )
        + "</VRTDataset>"
    )
    with rasterio.open(image) as unsafe:
        assert unsafe.overviews(1) == [2]  # without the options, GDAL finds it
    with safe_gdal_env(), open_input_raster(image, policy) as dataset:
        assert dataset.overviews(1) == []
        small = dataset.read(1, out_shape=(32, 32))
    assert not np.array_equal(small.ravel()[:32], np.arange(32, dtype=np.uint8))
    assert SAFE_GDAL_OPTIONS["GDAL_DISABLE_READDIR_ON_OPEN"] == "EMPTY_DIR"
