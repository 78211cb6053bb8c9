"""The scene and patch admin.

Alice curates the data: staff with the captions app's permissions. Bob has an account
but is not staff. Carol is not logged in. Dave is staff with no captions permission.
"""

from pathlib import Path

import numpy as np
import pytest
from django.contrib.admin.models import LogEntry
from django.urls import resolve, reverse

from captions import tasks
from captions.ingest.previews import encode_landcover_png, encode_rgb_preview
from captions.landcover import landcover_stats
from captions.models import Patch, Scene
from tests.captions.raster_fixtures import write_rgb_geotiff, write_worldcover_for

pytestmark = pytest.mark.django_db

LOGIN_URL = "/admin/login/"


# --- rows -----------------------------------------------------------------------------


def make_scene(name: str = "S2A_T32TQM", **fields) -> Scene:
    values = {
        "source_kind": Scene.SourceKind.GEOTIFF,
        "image_path": f"/data/{name}.tif",
        "landcover_path": f"/data/{name}_worldcover.tif",
        "status": Scene.Status.READY,
        "crs": "EPSG:32632",
        "width": 512,
        "height": 512,
        "west": 12.0,
        "south": 45.0,
        "east": 12.07,
        "north": 45.05,
        "patches_total": 4,
        "patches_done": 4,
        "patches_created": 4,
        **fields,
    }
    return Scene.objects.create(name=name, **values)


def tree_and_water(size: int = 32) -> np.ndarray:
    """Tree cover on the left three quarters, water on the right, one nodata row."""
    codes = np.full((size, size), 10, dtype=np.uint8)
    codes[:, 3 * size // 4 :] = 80
    codes[0, :] = 0
    return codes


def make_patch(scene: Scene, media_root: Path, row_off: int = 0, col_off: int = 0):
    codes = tree_and_water()
    rgb = np.zeros((*codes.shape, 3), dtype=np.uint8)
    rgb[..., 1] = 120
    stem = f"scenes/{scene.pk}/{row_off}_{col_off}"
    (media_root / f"scenes/{scene.pk}").mkdir(parents=True, exist_ok=True)
    (media_root / f"{stem}.png").write_bytes(encode_rgb_preview(rgb, "png"))
    (media_root / f"{stem}_landcover.png").write_bytes(encode_landcover_png(codes))
    return Patch.objects.create(
        scene=scene,
        row_off=row_off,
        col_off=col_off,
        width=codes.shape[1],
        height=codes.shape[0],
        rgb_preview=f"{stem}.png",
        landcover_preview=f"{stem}_landcover.png",
        landcover=landcover_stats(codes),
        invalid_fraction=float(np.mean(codes == 0)),
        split=Patch.Split.TRAIN,
    )


@pytest.fixture
def scene() -> Scene:
    return make_scene()


@pytest.fixture
def patch(scene, media_root) -> Patch:
    return make_patch(scene, media_root)


@pytest.fixture
def raster_pair(tmp_path: Path) -> tuple[Path, Path]:
    image = write_rgb_geotiff(tmp_path / "T32TQM_20240601.tif")
    landcover = write_worldcover_for(
        tmp_path / "worldcover.tif",
        image,
        codes_fn=lambda height, width: (
            np.where(np.arange(width) < width // 2, 10, 80)
            .astype(np.uint8)[None, :]
            .repeat(height, axis=0)
        ),
    )
    return image, landcover


@pytest.fixture
def enqueued(monkeypatch) -> list[int]:
    """Scene ids sent to the ingest task, instead of a broker."""
    sent: list[int] = []
    monkeypatch.setattr(tasks.ingest_scene, "delay", sent.append)
    return sent


def ingest_form(image: Path, landcover: Path, **fields) -> dict:
    return {
        "image_path": str(image),
        "landcover_path": str(landcover),
        "name": "",
        "patch_size": "256",
        "bands": "",
        "l2a_offset": "auto",
        "max_invalid": "0.5",
        **fields,
    }


# --- who may see what -----------------------------------------------------------------

PAGES = [
    "scene_changelist",
    "scene_change",
    "scene_progress",
    "scene_ingest",
    "patch_changelist",
    "patch_change",
]


def page_url(page: str, scene: Scene, patch: Patch) -> str:
    return {
        "scene_changelist": reverse("admin:captions_scene_changelist"),
        "scene_change": reverse("admin:captions_scene_change", args=[scene.pk]),
        "scene_progress": reverse("admin:captions_scene_progress", args=[scene.pk]),
        "scene_ingest": reverse("admin:captions_scene_ingest"),
        "patch_changelist": reverse("admin:captions_patch_changelist"),
        "patch_change": reverse("admin:captions_patch_change", args=[patch.pk]),
    }[page]


@pytest.mark.parametrize("page", PAGES)
def test_alice_may_open_every_admin_page(alice_client, scene, patch, page):
    response = alice_client.get(page_url(page, scene, patch))
    assert response.status_code == 200


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("persona", ["bob_client", "carol_client"])
def test_bob_and_carol_are_sent_to_the_login_page(request, persona, scene, patch, page):
    client = request.getfixturevalue(persona)
    response = client.get(page_url(page, scene, patch))
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN_URL)


@pytest.mark.parametrize("page", PAGES)
def test_staff_without_captions_permissions_are_refused(
    dave_client, scene, patch, page
):
    response = dave_client.get(page_url(page, scene, patch))
    assert response.status_code == 403


@pytest.mark.parametrize(
    "persona", ["bob_client", "carol_client", "dave_client"], ids=str
)
def test_only_alice_may_post_an_ingest(request, persona, raster_pair, enqueued):
    client = request.getfixturevalue(persona)
    response = client.post(
        reverse("admin:captions_scene_ingest"), ingest_form(*raster_pair)
    )
    assert response.status_code in (302, 403)
    if response.status_code == 302:
        assert response["Location"].startswith(LOGIN_URL)
    assert not Scene.objects.exists()
    assert enqueued == []


# --- scenes ---------------------------------------------------------------------------


def test_scene_list_shows_status_badge_progress_and_the_ingest_button(alice_client):
    make_scene("ready-scene")
    make_scene(
        "busy-scene",
        status=Scene.Status.INGESTING,
        patches_total=10,
        patches_done=3,
        patches_created=0,
    )
    response = alice_client.get(reverse("admin:captions_scene_changelist"))
    html = response.content.decode()
    assert 'class="scene-status scene-status--ingesting"' in html
    assert '<progress value="3" max="10"></progress>' in html
    assert "3 / 10" in html
    assert reverse("admin:captions_scene_ingest") in html
    assert "captions/scene_progress.js" in html
    # Scenes come only from an ingest: no plain "Add scene" button (the sidebar's
    # "Add" link leads to the ingest page, see the next test).
    assert "Add scene" not in html


def test_the_add_scene_page_sends_alice_to_the_ingest_page(alice_client):
    response = alice_client.get(reverse("admin:captions_scene_add"))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:captions_scene_ingest")


def test_a_scene_name_with_markup_is_escaped(alice_client):
    make_scene("<script>alert('caption')</script>")
    response = alice_client.get(reverse("admin:captions_scene_changelist"))
    assert b"<script>alert(" not in response.content
    assert b"&lt;script&gt;alert(" in response.content


def test_progress_reports_status_and_counts_as_json(alice_client):
    scene = make_scene(status=Scene.Status.INGESTING, patches_total=12, patches_done=5)
    response = alice_client.get(
        reverse("admin:captions_scene_progress", args=[scene.pk])
    )
    assert response.json() == {
        "status": "ingesting",
        "status_label": "Ingesting",
        "active": True,
        "patches_done": 5,
        "patches_total": 12,
        "count_text": "5 / 12",
        "error": "",
    }


def test_progress_of_a_missing_scene_is_404(alice_client):
    response = alice_client.get(reverse("admin:captions_scene_progress", args=[999]))
    assert response.status_code == 404


def test_scene_page_is_read_only_with_thumbnails_and_a_link_to_its_patches(
    alice_client, scene, patch
):
    url = reverse("admin:captions_scene_change", args=[scene.pk])
    response = alice_client.get(url)
    html = response.content.decode()
    assert 'name="_save"' not in html
    assert "512 × 512 px" in html
    assert "lon 12.0000 to 12.0700, lat 45.0000 to 45.0500" in html
    assert f'src="/media/{patch.rgb_preview.name}"' in html
    patches_url = (
        f"{reverse('admin:captions_patch_changelist')}?scene__id__exact={scene.pk}"
    )
    assert patches_url in html
    # A POST cannot write a stale copy of the counters over a worker's updates.
    assert alice_client.post(url, {"name": "renamed"}).status_code == 403
    scene.refresh_from_db()
    assert scene.name == "S2A_T32TQM"


def test_a_failed_scene_shows_its_error_prominently_and_may_be_deleted(alice_client):
    scene = make_scene(
        status=Scene.Status.FAILED,
        error="/data/x.tif: not a raster (not recognized as a supported file format)",
        patches_created=0,
    )
    response = alice_client.get(reverse("admin:captions_scene_change", args=[scene.pk]))
    html = response.content.decode()
    assert '<div class="errornote scene-error">' in html
    assert "/data/x.tif: not a raster" in html
    assert reverse("admin:captions_scene_delete", args=[scene.pk]) in html


def test_a_ready_scene_may_not_be_deleted_from_the_admin(alice_client, scene):
    response = alice_client.post(
        reverse("admin:captions_scene_delete", args=[scene.pk]), {"post": "yes"}
    )
    assert response.status_code == 403
    assert Scene.objects.filter(pk=scene.pk).exists()


def test_requeue_action_queues_only_failed_scenes_after_commit(
    alice_client, enqueued, django_capture_on_commit_callbacks
):
    failed = make_scene("failed", status=Scene.Status.FAILED, error="boom")
    ready = make_scene("ready")
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(
            reverse("admin:captions_scene_changelist"),
            {"action": "requeue_failed", "_selected_action": [failed.pk, ready.pk]},
        )
    assert response.status_code == 302
    failed.refresh_from_db()
    ready.refresh_from_db()
    assert (failed.status, failed.error) == (Scene.Status.QUEUED, "")
    assert ready.status == Scene.Status.READY
    assert enqueued == [failed.pk]


def test_the_failed_scene_page_requeues_it_with_one_button(
    alice_client, enqueued, django_capture_on_commit_callbacks
):
    scene = make_scene(status=Scene.Status.FAILED, error="boom", patches_created=0)
    requeue_url = reverse("admin:captions_scene_requeue", args=[scene.pk])
    page = alice_client.get(reverse("admin:captions_scene_change", args=[scene.pk]))
    assert f'action="{requeue_url}"' in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(requeue_url)
    assert response["Location"] == reverse(
        "admin:captions_scene_change", args=[scene.pk]
    )
    scene.refresh_from_db()
    assert scene.status == Scene.Status.QUEUED
    assert enqueued == [scene.pk]


def test_requeue_leaves_a_ready_scene_alone(alice_client, scene, enqueued):
    alice_client.post(reverse("admin:captions_scene_requeue", args=[scene.pk]))
    scene.refresh_from_db()
    assert scene.status == Scene.Status.READY
    assert enqueued == []


def test_a_failed_tile_import_is_not_requeued_as_a_geotiff_ingest(
    alice_client, enqueued
):
    scene = make_scene(
        source_kind=Scene.SourceKind.TILES, status=Scene.Status.FAILED, error="boom"
    )
    alice_client.post(reverse("admin:captions_scene_requeue", args=[scene.pk]))
    scene.refresh_from_db()
    assert scene.status == Scene.Status.FAILED
    assert enqueued == []


@pytest.mark.parametrize("persona", ["bob_client", "carol_client", "dave_client"])
def test_only_alice_may_requeue_a_scene(request, persona, enqueued):
    scene = make_scene(status=Scene.Status.FAILED, error="boom")
    client = request.getfixturevalue(persona)
    response = client.post(reverse("admin:captions_scene_requeue", args=[scene.pk]))
    assert response.status_code in (302, 403)
    if response.status_code == 302:
        assert response["Location"].startswith(LOGIN_URL)
    scene.refresh_from_db()
    assert scene.status == Scene.Status.FAILED
    assert enqueued == []


def test_scene_list_queries_do_not_grow_with_scenes(
    alice_client, django_assert_max_num_queries
):
    for number in range(30):
        make_scene(f"scene-{number}")
    with django_assert_max_num_queries(7):
        response = alice_client.get(reverse("admin:captions_scene_changelist"))
    assert response.content.count(b'class="scene-progress"') == 30


# --- the ingest page ------------------------------------------------------------------


def test_the_ingest_form_offers_the_ingest_options(alice_client):
    response = alice_client.get(reverse("admin:captions_scene_ingest"))
    html = response.content.decode()
    for field in ("image_path", "landcover_path", "name", "patch_size", "bands"):
        assert f'name="{field}"' in html
    assert 'name="l2a_offset"' in html
    assert 'value="256"' in html
    assert 'value="0.5"' in html


def test_ingesting_a_file_that_is_not_a_raster_shows_why_and_creates_nothing(
    alice_client, raster_pair, tmp_path, enqueued
):
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    response = alice_client.post(
        reverse("admin:captions_scene_ingest"),
        ingest_form(notes, raster_pair[1]),
    )
    assert response.status_code == 200
    assert f"{notes}: not a raster" in response.content.decode()
    assert not Scene.objects.exists()
    assert enqueued == []


def test_a_relative_path_or_bad_bands_are_form_errors(alice_client, raster_pair):
    landcover = raster_pair[1]
    response = alice_client.post(
        reverse("admin:captions_scene_ingest"),
        ingest_form(Path("relative.tif"), landcover, bands="4,3"),
    )
    html = response.content.decode()
    assert "relative.tif: give an absolute path on the server" in html
    assert "Give three 1-based band numbers" in html
    assert not Scene.objects.exists()


def test_paths_outside_the_ingest_roots_are_refused(
    alice_client, raster_pair, settings, tmp_path, enqueued
):
    settings.INGEST_ROOTS = [str(tmp_path / "imagery")]
    response = alice_client.post(
        reverse("admin:captions_scene_ingest"), ingest_form(*raster_pair)
    )
    assert (
        f"not a path that can be read here (only files under {tmp_path / 'imagery'})"
        in response.content.decode()
    )
    assert not Scene.objects.exists()
    assert enqueued == []
    settings.INGEST_ROOTS = [str(raster_pair[0].parent)]
    response = alice_client.post(
        reverse("admin:captions_scene_ingest"), ingest_form(*raster_pair)
    )
    assert response.status_code == 302
    assert Scene.objects.count() == 1


def test_ingesting_a_pair_queues_a_scene_and_its_task_runs_it_to_ready(
    alice, alice_client, raster_pair, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(
            reverse("admin:captions_scene_ingest"), ingest_form(*raster_pair)
        )
    scene = Scene.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "admin:captions_scene_change", args=[scene.pk]
    )
    assert scene.name == "T32TQM_20240601"
    assert scene.status == Scene.Status.QUEUED
    assert enqueued == [scene.pk]
    entry = LogEntry.objects.get(object_id=str(scene.pk))
    assert entry.user == alice
    assert "patch_size=256" in entry.get_change_message()

    # What a worker does with the message.
    tasks.ingest_scene.run(*enqueued)
    scene.refresh_from_db()
    assert scene.status == Scene.Status.READY
    assert scene.patches_created == 1
    page = alice_client.get(response["Location"]).content.decode()
    assert "scene-status--ready" in page
    assert f'src="/media/scenes/{scene.pk}/0_0.' in page


def test_ingest_options_from_the_form_are_kept_on_the_scene(
    alice_client, raster_pair, enqueued
):
    alice_client.post(
        reverse("admin:captions_scene_ingest"),
        ingest_form(
            *raster_pair,
            name="custom",
            patch_size="128",
            bands="3,2,1",
            l2a_offset="-1000",
            max_invalid="0.2",
        ),
    )
    scene = Scene.objects.get()
    assert (scene.name, scene.patch_size, scene.bands) == ("custom", 128, [3, 2, 1])
    assert (scene.l2a_offset, scene.max_invalid) == ("-1000", 0.2)


def test_a_name_taken_by_other_files_is_a_form_error(alice_client, raster_pair):
    make_scene("taken")
    response = alice_client.post(
        reverse("admin:captions_scene_ingest"), ingest_form(*raster_pair, name="taken")
    )
    assert "scene name &#x27;taken&#x27; is already used" in response.content.decode()
    assert Scene.objects.count() == 1


def test_ingesting_a_ready_pair_again_queues_nothing(
    alice_client, raster_pair, enqueued, django_capture_on_commit_callbacks
):
    image, landcover = raster_pair
    make_scene(
        "T32TQM_20240601",
        image_path=str(image.resolve()),
        landcover_path=str(landcover.resolve()),
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(
            reverse("admin:captions_scene_ingest"),
            ingest_form(image, landcover),
            follow=True,
        )
    assert "already ready" in response.content.decode()
    assert enqueued == []


# --- patches --------------------------------------------------------------------------


def test_patch_list_shows_thumbnails_served_by_the_media_view(alice_client, patch):
    response = alice_client.get(reverse("admin:captions_patch_changelist"))
    html = response.content.decode()
    assert patch.rgb_preview.url == f"/media/{patch.rgb_preview.name}"
    assert resolve(patch.rgb_preview.url).url_name == "media"
    assert f'src="{patch.rgb_preview.url}"' in html
    assert f'src="{patch.landcover_preview.url}"' in html
    assert alice_client.get(patch.rgb_preview.url).status_code == 200


def test_patch_list_shows_the_dominant_class_with_its_share(alice_client, patch):
    response = alice_client.get(reverse("admin:captions_patch_changelist"))
    # 31 valid rows: 24 columns of tree, 8 of water.
    assert "tree 75.0 %" in response.content.decode()


def test_patch_list_queries_do_not_grow_with_patches(
    alice_client, media_root, django_assert_max_num_queries
):
    for number in range(3):
        scene = make_scene(f"scene-{number}")
        for row in range(8):
            make_patch(scene, media_root, row_off=row * 32)
    with django_assert_max_num_queries(7):
        response = alice_client.get(reverse("admin:captions_patch_changelist"))
    assert response.content.count(b'class="patch-thumbs"') == 24


def test_patches_are_read_only(alice_client, patch):
    assert alice_client.get(reverse("admin:captions_patch_add")).status_code == 403
    change_url = reverse("admin:captions_patch_change", args=[patch.pk])
    assert alice_client.post(change_url, {"split": "test"}).status_code == 403
    delete_url = reverse("admin:captions_patch_delete", args=[patch.pk])
    assert alice_client.post(delete_url, {"post": "yes"}).status_code == 403
    patch.refresh_from_db()
    assert patch.split == Patch.Split.TRAIN


def test_patch_page_shows_large_previews_and_readable_statistics(alice_client, patch):
    response = alice_client.get(reverse("admin:captions_patch_change", args=[patch.pk]))
    html = response.content.decode()
    assert 'class="patch-preview"' in html
    assert 'class="patch-preview landcover-preview"' in html
    # The overall table: official colour, pixels and share of each class.
    assert 'style="background-color: #006400"' in html
    assert 'style="background-color: #0064c8"' in html
    assert "Tree cover" in html
    assert "744" in html  # 31 rows x 24 columns of tree
    assert "75.0 %" in html
    # The five regions, each in its own table.
    for region in ("top_left", "top_right", "bottom_left", "bottom_right", "middle"):
        assert f"landcover-region--{region}" in html
