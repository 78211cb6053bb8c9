"""Hole 1 of issue 9: no server file becomes a preview.

The attack, with only a curator's login: GDAL reads a file holding `<VRTDataset>` in
its first bytes as a VRT whatever its name, and a `VRTRawRasterBand` turns any other
file's bytes into pixels, which the lossless previews hand back byte for byte. A
release's description went into its README.md, so a curator could write such a file
through the API, ingest it from the admin form and download the server's secrets as
a preview. Here the secret is a file planted among the product's own (VAR_DIR), as
the database or `/proc/self/environ` would be.

Cora curates. Each test plays the attack to its end and asserts that no byte of the
secret comes back, then that the step it reaches refuses it with a clear message.
"""

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from PIL import Image
from rasterio.transform import from_bounds

from captions import tasks
from captions.export import release_files, releases
from captions.ingest import scenes
from captions.models import Patch, Release, Scene
from tests.api_data import token_client
from tests.captions.raster_fixtures import write_rgb_geotiff, write_worldcover_for

pytestmark = pytest.mark.django_db

SIDE = 16  # pixels: the smallest patch an ingest takes
WEST, NORTH, STEP = 12.0, 45.0, 0.0001  # degrees


@pytest.fixture
def secret(settings) -> Iterator[bytes]:
    """A file among the product's own, standing for the database or the environment."""
    content = bytes(range(256)) * 4  # every byte value: a lossy path would show
    path = Path(settings.VAR_DIR) / "secret-for-security-tests.env"
    path.write_bytes(content)
    yield content
    path.unlink(missing_ok=True)


@pytest.fixture
def secret_path(secret, settings) -> Path:
    return Path(settings.VAR_DIR) / "secret-for-security-tests.env"


@pytest.fixture
def imagery(tmp_path: Path, settings) -> Path:
    """The one folder curators may ingest from, with a genuine WorldCover map in it."""
    folder = tmp_path / "imagery"
    folder.mkdir()
    settings.INGEST_ROOTS = [str(folder)]
    return folder


def worldcover_under_the_vrt(path: Path) -> Path:
    with rasterio.open(
        path, "w", driver="GTiff", width=SIDE * 2, height=SIDE * 2, count=1,
        dtype="uint8", crs="EPSG:4326", nodata=0,
        transform=from_bounds(
            WEST - SIDE * STEP, NORTH - 3 * SIDE * STEP,
            WEST + 3 * SIDE * STEP, NORTH + SIDE * STEP, SIDE * 2, SIDE * 2,
        ),
    ) as dataset:  # fmt: skip
        dataset.write(np.full((SIDE * 2, SIDE * 2), 10, np.uint8), 1)
    return path


def raw_band_vrt(secret_path: Path) -> str:
    """Three bands, each the secret's bytes as 8-bit pixels, georeferenced."""
    bands = "".join(
        f'<VRTRasterBand dataType="Byte" band="{band}" subClass="VRTRawRasterBand">'
        f'<SourceFilename relativetoVRT="0">{secret_path}</SourceFilename>'
        f"<ImageOffset>{(band - 1) * SIDE}</ImageOffset><PixelOffset>1</PixelOffset>"
        f"<LineOffset>{SIDE}</LineOffset></VRTRasterBand>"
        for band in (1, 2, 3)
    )
    return (
        f'<VRTDataset rasterXSize="{SIDE}" rasterYSize="{SIDE}"><SRS>EPSG:4326</SRS>'
        f"<GeoTransform>{WEST}, {STEP}, 0, {NORTH}, 0, -{STEP}</GeoTransform>"
        f"{bands}</VRTDataset>"
    )


def curator_client(curator) -> Client:
    client = Client()
    client.force_login(curator)
    return client


def ingest_form(image: Path | str, landcover: Path | str) -> dict:
    return {
        "image_path": str(image), "landcover_path": str(landcover), "name": "",
        "patch_size": str(SIDE), "bands": "", "l2a_offset": "auto", "max_invalid": "1",
    }  # fmt: skip


@pytest.fixture
def queued_ingests(monkeypatch) -> list[int]:
    sent: list[int] = []
    monkeypatch.setattr(tasks.ingest_scene, "delay", sent.append)
    return sent


def run_ingests_and_fetch_previews(client: Client) -> Iterator[bytes]:
    """What the attacker does next: let the worker ingest, then download previews."""
    for scene in Scene.objects.all():
        try:
            scenes.scene_queue_ingest(
                scene_id=scene.pk,
                from_statuses=(Scene.Status.QUEUED, Scene.Status.FAILED),
            )
            scenes.scene_ingest(scene_id=scene.pk)
        except scenes.IngestError:
            continue
    for patch in Patch.objects.all():
        for preview in (patch.rgb_preview, patch.landcover_preview):
            response = client.get(preview.url)
            if response.status_code == 200:
                pixels = np.asarray(Image.open(io.BytesIO(b"".join(response))))
                yield pixels.tobytes() + np.moveaxis(pixels, -1, 0).tobytes()


def leaked(secret: bytes, previews: Iterator[bytes]) -> bool:
    return any(secret[:SIDE] in preview for preview in previews)


def test_a_release_description_never_becomes_a_raster_of_server_files(
    curator, export_world, imagery, secret, secret_path, queued_ingests,
    django_capture_on_commit_callbacks, settings,
):  # fmt: skip
    settings.INGEST_ROOTS = []  # development's default: any folder but the product's
    with django_capture_on_commit_callbacks(execute=True):
        created = token_client(curator).post(
            "/api/v1/releases/",
            # An unclosed comment swallows the rest of the card, so the XML parses.
            {"description": raw_band_vrt(secret_path) + "<!--"},
            format="json",
        )
    assert created.status_code == 202, created.content
    release = releases.release_build(release_id=Release.objects.get().pk)
    readme = release_files.release_dir(release.number) / "README.md"
    landcover = worldcover_under_the_vrt(imagery / "worldcover.tif")
    client = curator_client(curator)
    form = client.post(
        reverse("admin:captions_scene_ingest"), ingest_form(readme, landcover)
    )

    assert not leaked(secret, run_ingests_and_fetch_previews(client))
    # The first step refuses: the card carries the curator's words, not their markup.
    card = readme.read_text()
    assert "<VRTDataset" not in card
    assert "&lt;VRTDataset" in card
    # And the next: a release's file is among the product's own, never an input.
    assert "not a path that can be read here" in form.content.decode()
    assert not Scene.objects.filter(name="README").exists()


def test_a_vrt_in_an_ingest_folder_is_not_opened_whatever_its_name(
    curator, imagery, secret, secret_path, queued_ingests
):
    disguised = imagery / "S2A_MSIL2A_T33TUL.tif"
    disguised.write_text(raw_band_vrt(secret_path))
    landcover = worldcover_under_the_vrt(imagery / "worldcover.tif")
    client = curator_client(curator)
    form = client.post(
        reverse("admin:captions_scene_ingest"), ingest_form(disguised, landcover)
    )

    assert not leaked(secret, run_ingests_and_fetch_previews(client))
    assert (
        "S2A_MSIL2A_T33TUL.tif: not a raster (GeoTIFF, PNG or JPEG 2000 only)"
        in form.content.decode()
    )
    assert not Scene.objects.exists()
    with pytest.raises(CommandError, match="not a raster"):
        call_command("ingest_scene", str(disguised), str(landcover), "--no-progress")


@pytest.mark.parametrize(
    "where", ["MEDIA_ROOT", "RELEASES_ROOT", "VAR_DIR", "database folder"]
)
def test_genuine_rasters_among_the_products_own_files_are_refused(
    curator, settings, tmp_path, queued_ingests, where
):
    folders = {
        "MEDIA_ROOT": Path(settings.MEDIA_ROOT),
        "RELEASES_ROOT": Path(settings.RELEASES_ROOT),
        "VAR_DIR": Path(settings.VAR_DIR),
        "database folder": Path(settings.DATABASES["default"]["NAME"]).parent
        if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
        else Path(settings.VAR_DIR),
    }
    folder = folders[where].resolve() / "planted"
    folder.mkdir(parents=True, exist_ok=True)
    image = write_rgb_geotiff(folder / "image.tif")
    landcover = write_worldcover_for(folder / "worldcover.tif", image)
    response = curator_client(curator).post(
        reverse("admin:captions_scene_ingest"),
        {**ingest_form(image, landcover), "patch_size": "64"},
    )
    assert "not a path that can be read here" in response.content.decode()
    assert not Scene.objects.exists()
    with pytest.raises(scenes.IngestError, match="not a path that can be read here"):
        scenes.scene_create(
            name="planted", image_path=image, landcover_path=landcover,
            options=scenes.IngestOptions(),
        )  # fmt: skip


@pytest.mark.parametrize(
    "name",
    [
        "/vsicurl/http://127.0.0.1:9/scene.tif",
        "/vsizip//srv/imagery/scenes.zip/scene.tif",
        "/vsimem/scene.tif",
        "MEM:::DATAPOINTER=0x1000,PIXELS=16,LINES=16",
        "GTIFF_DIR:1:/srv/imagery/scene.tif",
        'NETCDF:"/srv/imagery/scene.nc":band',
        "/proc/self/environ",
        "/dev/zero",
        "relative/scene.tif",
        "/srv/imagery/scene\x00.tif",
    ],
)
def test_gdals_special_names_are_refused_before_any_library_sees_them(
    curator, imagery, queued_ingests, name
):
    landcover = worldcover_under_the_vrt(imagery / "worldcover.tif")
    response = curator_client(curator).post(
        reverse("admin:captions_scene_ingest"), ingest_form(name, landcover)
    )
    assert response.status_code == 200  # the form again, with the reason
    assert "errorlist" in response.content.decode()
    assert not Scene.objects.exists()


def test_a_symlink_out_of_the_ingest_folders_is_refused(
    curator, imagery, tmp_path, queued_ingests
):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    image = write_rgb_geotiff(outside / "image.tif")
    landcover = write_worldcover_for(imagery / "worldcover.tif", image)
    (imagery / "image.tif").symlink_to(image)
    response = curator_client(curator).post(
        reverse("admin:captions_scene_ingest"),
        {**ingest_form(imagery / "image.tif", landcover), "patch_size": "64"},
    )
    assert "not a path that can be read here" in response.content.decode()
    assert not Scene.objects.exists()
    # A symlink that stays inside is followed: the scene keeps the real path.
    inside = imagery / "scenes"
    inside.mkdir()
    real = write_rgb_geotiff(inside / "real.tif")
    (imagery / "alias.tif").symlink_to(real)
    curator_client(curator).post(
        reverse("admin:captions_scene_ingest"),
        {**ingest_form(imagery / "alias.tif", landcover), "patch_size": "64"},
    )
    assert Scene.objects.get().image_path == str(real)


def test_the_form_does_not_tell_whether_a_path_outside_the_folders_exists(
    curator, imagery, tmp_path, queued_ingests
):
    landcover = write_worldcover_for(
        imagery / "worldcover.tif", write_rgb_geotiff(imagery / "image.tif")
    )
    existing = write_rgb_geotiff(tmp_path / "existing.tif")
    missing = tmp_path / "missing.tif"
    client = curator_client(curator)

    def error_for(path: Path) -> str:
        response = client.post(
            reverse("admin:captions_scene_ingest"), ingest_form(path, landcover)
        )
        html = response.content.decode()
        start = html.index('<ul class="errorlist')
        return html[start : html.index("</ul>", start)].replace(path.name, "NAME")

    assert error_for(existing) == error_for(missing)
    assert "not a path that can be read here" in error_for(missing)


def test_the_worker_checks_the_files_again_when_it_opens_them(
    curator, imagery, settings, tmp_path, queued_ingests
):
    image = write_rgb_geotiff(imagery / "image.tif")
    landcover = write_worldcover_for(imagery / "worldcover.tif", image)
    scene = scenes.scene_create(
        name="moved", image_path=image, landcover_path=landcover,
        options=scenes.IngestOptions(patch_size=64),
    )  # fmt: skip
    # Queued while allowed; the operator narrows the folders before a worker runs it.
    settings.INGEST_ROOTS = [str(tmp_path / "other")]
    with pytest.raises(scenes.IngestError, match="not a path that can be read here"):
        scenes.scene_ingest(scene_id=scene.pk)
    scene.refresh_from_db()
    assert scene.status == Scene.Status.FAILED
    assert not Patch.objects.exists()


def test_a_tile_folder_cannot_reach_files_outside_through_symlinks(
    imagery, settings, tmp_path, media_root
):
    from captions.ingest.tile_import import scene_import_tiles
    from tests.captions.tile_fixtures import TREE, write_rgb, write_satlas_label

    outside = tmp_path / "outside"
    outside.mkdir()
    write_rgb(outside / "secret.png")
    tiles = imagery / "tiles"
    tiles.mkdir()
    write_rgb(tiles / "a.png")
    write_satlas_label(tiles / "a_label.png", np.full((256, 256), TREE, np.uint8))
    (tiles / "b.png").symlink_to(outside / "secret.png")
    write_satlas_label(tiles / "b_label.png", np.full((256, 256), TREE, np.uint8))
    (tiles / "c.png").write_text("<VRTDataset/>")  # not a PNG, whatever its name
    write_satlas_label(tiles / "c_label.png", np.full((256, 256), TREE, np.uint8))

    result = scene_import_tiles(directory=tiles, name="tiles", skip_bad=True)

    assert sorted(Patch.objects.values_list("source_name", flat=True)) == ["a.png"]
    assert any("b.png: not a path that can be read here" in e for e in result.bad_tiles)
    assert any("c.png: not a readable PNG" in e for e in result.bad_tiles)
    with pytest.raises(scenes.IngestError, match="not a path that can be read here"):
        scene_import_tiles(directory=tmp_path / "outside", name="outside")
