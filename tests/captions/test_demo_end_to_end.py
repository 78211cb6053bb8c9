"""The demo scene, generated and ingested as `make demo` does it."""

import datetime as dt
import io
import json

import numpy as np
import pytest
import rasterio
from django.core.management import call_command
from PIL import Image

from captions.ingest.rasters import gain_lookup
from captions.landcover import landcover_stats
from captions.models import Patch, Scene

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def demo_pair(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    printed = io.StringIO()
    call_command("make_demo_scene", str(out), "--size", "1024", stdout=printed)
    image, landcover = printed.getvalue().split()
    return image, landcover


def test_the_demo_scene_ingests_end_to_end(demo_pair, client, django_user_model):
    image, landcover = demo_pair
    output = io.StringIO()
    call_command(
        "ingest_scene", image, landcover, "--name", "demo", "--json", "--no-progress",
        stdout=output,
    )  # fmt: skip
    result = json.loads(output.getvalue())
    assert result["patches_created"] == 16
    assert result["patches_skipped"] == 0

    scene = Scene.objects.get(name="demo")
    assert scene.status == Scene.Status.READY
    assert scene.crs == "EPSG:32632"
    assert scene.acquired_on == dt.date(2024, 7, 12)
    assert 11.0 < scene.west < scene.east < 12.0
    assert 45.0 < scene.south < scene.north < 45.6

    patches = list(Patch.objects.filter(scene=scene))
    seen_classes = set()
    for patch in patches:
        codes = patch.label_codes()
        assert patch.landcover == landcover_stats(codes)
        assert patch.invalid_fraction == 0.0
        seen_classes |= {entry["code"] for entry in patch.landcover["overall"]}
    # A landscape, not one class: fields, forest, water and a town at least.
    assert {10, 40, 50, 80} <= seen_classes
    assert {p.split for p in patches} <= {"train", "val", "test"}

    # The preview is the L2A reflectance with the -1000 offset found in the tags,
    # scaled x2.5 (Sentinel Hub's default).
    patch = patches[5]
    with rasterio.open(image) as dataset:
        window = (
            (patch.row_off, patch.row_off + 256),
            (patch.col_off, patch.col_off + 256),
        )
        red_dn = dataset.read(3, window=window)
    with patch.rgb_preview.open("rb") as handle, Image.open(handle) as preview:
        red_preview = np.asarray(preview.convert("RGB"))[..., 0]
    assert np.array_equal(red_preview, gain_lookup(-1000)[red_dn])

    # A curator sees the patch with its previews in the admin.
    curator = django_user_model.objects.create_superuser("alice", password="pw-alice-1")
    client.force_login(curator)
    page = client.get(f"/admin/captions/patch/{patch.pk}/change/")
    assert page.status_code == 200
    assert patch.rgb_preview.url in page.content.decode()
    preview = client.get(patch.rgb_preview.url)
    assert preview.status_code == 200
    assert b"".join(preview.streaming_content)[:4] == b"RIFF"  # WebP


def test_previews_are_not_served_to_anonymous_visitors(demo_pair, client):
    image, landcover = demo_pair
    call_command(
        "ingest_scene", image, landcover, "--name", "demo2", "--no-progress",
        stdout=io.StringIO(),
    )  # fmt: skip
    patch = Patch.objects.first()
    assert patch is not None
    response = client.get(patch.rgb_preview.url)
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_media_paths_outside_the_media_folder_are_refused(client, django_user_model):
    # A superuser: previews are for roles only, and a user without one gets a 403.
    user = django_user_model.objects.create_superuser("bob", password="pw-bob-12")
    client.force_login(user)
    assert client.get("/media/../manage.py").status_code == 404
    assert client.get("/media/scenes/1/missing.webp").status_code == 404
