"""Splits that hold and names that hold (issue 11, items 1 and 2): where a patch's
split comes from (computed per block, imported from a caption file, assigned by a
curator), what a caption file may not change, and the names of ingested patches."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.test import Client

from captions.ingest.splits import (
    geotiff_split_key,
    ingested_patch_name,
    patch_split_change,
    split_for,
    split_named_by_file,
    tile_split_key,
)
from captions.ingest.tile_import import scene_import_tiles
from captions.models import Caption, Patch, SplitChange
from tests.api_data import token_client
from tests.captions.raster_fixtures import write_rgb_geotiff, write_worldcover_for
from tests.captions.tile_fixtures import TREE, WATER, write_rgb, write_satlas_label
from verification import services

# --- Pure rules -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        ("ChatEarthNet_caps_35_train.json", ("ChatEarthNet_caps_35", "train")),
        ("ChatEarthNet_caps_4v_val.json", ("ChatEarthNet_caps_4v", "val")),
        ("ChatEarthNet_caps_35_test.json", ("ChatEarthNet_caps_35", "test")),
        ("captions-validation.JSON", ("captions", "val")),
        ("captions.json", ("captions", None)),
        ("train.json", ("train", None)),  # no family before the split: not named
        ("latest_contest.json", ("latest_contest", None)),
    ],
)
def test_the_split_a_caption_file_name_names(file_name, expected):
    assert split_named_by_file(file_name) == expected


def test_ingested_patches_are_named_by_scene_and_window():
    assert ingested_patch_name("S2A_T32TQM", 256, 512) == "S2A_T32TQM_r256_c512.png"
    # Nothing of a hostile scene name leaves the images folder or hides the file.
    assert ingested_patch_name("../../etc/passwd", 0, 0) == "etc-passwd_r0_c0.png"
    assert ingested_patch_name("…", 0, 256) == "scene_r0_c256.png"
    assert ingested_patch_name("a b/c", 0, 0) == "a-b-c_r0_c0.png"


def test_the_quarters_of_a_tile_and_the_tiles_of_a_block_share_a_split():
    quarters = {
        tile_split_key(f"4353_2917_patch{quarter}.png", block=4)
        for quarter in ("00", "01", "10", "11")
    }
    assert len(quarters) == 1
    # 4352..4355 x 2916..2919 is one block of 4 x 4 zoom-13 tiles.
    block = {
        tile_split_key(f"{col}_{row}.png", block=4)
        for col in range(4352, 4356)
        for row in range(2916, 2920)
    }
    assert block == quarters
    assert tile_split_key("4356_2917.png", block=4) not in block
    assert tile_split_key("4353_2917.PNG", block=4) in block
    # Other tile names: a tile is its own block, its quarters with it.
    assert tile_split_key("berlin_patch01.png", block=4) == tile_split_key(
        "berlin.png", block=4
    )


def test_geotiff_patches_of_a_block_share_a_split_and_blocks_differ():
    keys = {
        (row, col): geotiff_split_key(
            "s", row * 256, col * 256, patch_size=256, block=4
        )
        for row in range(8)
        for col in range(8)
    }
    assert len(set(keys.values())) == 4
    assert keys[(0, 0)] == keys[(3, 3)] != keys[(0, 4)]
    # 1 is per patch, as an option.
    one = {
        geotiff_split_key("s", r * 256, 0, patch_size=256, block=1) for r in range(8)
    }
    assert len(one) == 8


# --- Ingest ---------------------------------------------------------------------------


def ingest(*args: object) -> dict:
    out = io.StringIO()
    call_command("ingest_scene", *map(str, args), "--json", "--no-progress", stdout=out)
    return json.loads(out.getvalue())


@pytest.mark.django_db
def test_an_ingest_names_its_patches_and_splits_them_per_block(tmp_path: Path):
    image = write_rgb_geotiff(tmp_path / "big.tif", width=640, height=640)
    landcover = write_worldcover_for(tmp_path / "big_wc.tif", image)
    ingest(image, landcover, "--patch-size", "32", "--split-block", "5", "--name", "g")

    patches = list(Patch.objects.values("row_off", "col_off", "split", "source_name"))
    assert len(patches) == 400
    for patch in patches:
        row, col = patch["row_off"], patch["col_off"]
        assert patch["source_name"] == f"g_r{row}_c{col}.png"
        key = geotiff_split_key("g", row, col, patch_size=32, block=5)
        assert patch["split"] == split_for(key)
    blocks: dict[tuple[int, int], set[str]] = {}
    for patch in patches:
        block = (patch["row_off"] // 160, patch["col_off"] // 160)
        blocks.setdefault(block, set()).add(patch["split"])
    assert len(blocks) == 16
    assert all(len(splits) == 1 for splits in blocks.values())
    assert set(Patch.objects.values_list("split_source", flat=True)) == {"computed"}


@pytest.mark.django_db
def test_a_split_block_out_of_range_is_refused(tmp_path: Path):
    image = write_rgb_geotiff(tmp_path / "a.tif", width=64, height=64)
    landcover = write_worldcover_for(tmp_path / "a_wc.tif", image)
    with pytest.raises(CommandError, match=r"split block 0 must be within 1\.\.1000"):
        ingest(image, landcover, "--patch-size", "32", "--split-block", "0")


# --- Caption files --------------------------------------------------------------------


@pytest.fixture
def tiles(tmp_path: Path, db) -> Path:
    """Three 256 tiles far apart: a.png, b.png (own names) and 100_200.png."""
    folder = tmp_path / "tiles"
    for index, name in enumerate(("a.png", "b.png", "100_200.png")):
        write_rgb(folder / "images" / name, seed=index)
        codes = np.full((256, 256), (TREE, WATER)[index % 2], np.uint8)
        write_satlas_label(folder / "labels" / name, codes)
    scene_import_tiles(directory=folder, name="tiles")
    return tmp_path


def write_captions(path: Path, names: list[str]) -> Path:
    path.write_text(json.dumps([{"image": n, "caption": f"About {n}."} for n in names]))
    return path


def import_captions(path: Path, *options: str) -> dict:
    out = io.StringIO()
    call_command("import_captions", str(path), *options, "--json", stdout=out)
    return json.loads(out.getvalue())


def split_of(name: str) -> tuple[str, str]:
    patch = Patch.objects.get(source_name=name)
    return patch.split, patch.split_source


def other_split(split: str) -> str:
    return {"train": "test", "val": "train", "test": "val"}[split]


def test_a_file_whose_split_cannot_be_told_is_refused_before_anything_is_written(
    tiles,
):
    before = list(Patch.objects.values_list("id", "split", "split_source"))
    path = write_captions(tiles / "captions.json", ["a.png", "b.png"])

    with pytest.raises(CommandError, match=r"cannot tell which split.*--split"):
        import_captions(path)

    assert not Caption.objects.exists()
    assert list(Patch.objects.values_list("id", "split", "split_source")) == before


def test_split_option_wins_over_the_file_name(tiles):
    path = write_captions(tiles / "caps_train.json", ["a.png"])
    result = import_captions(path, "--split", "test")
    assert (result["split"], result["split_named_by"]) == ("test", "--split")
    assert split_of("a.png") == ("test", "imported")


def test_an_image_in_two_splits_files_is_reported_and_keeps_its_first_split(tiles):
    import_captions(write_captions(tiles / "caps_train.json", ["a.png", "b.png"]))

    result = import_captions(
        write_captions(tiles / "caps_val.json", ["100_200.png", "a.png", "zz.png"])
    )

    assert result["created"] == 1
    assert result["split_conflicts"] == 1
    assert result["split_conflict_examples"] == [
        {"entry": 1, "image": "a.png (in train, imported)"}
    ]
    assert result["unmatched_examples"] == [{"entry": 2, "image": "zz.png"}]
    assert split_of("a.png") == ("train", "imported")
    assert split_of("100_200.png") == ("val", "imported")
    assert Caption.objects.filter(patch__source_name="a.png").count() == 1


def test_a_verified_patch_keeps_its_split_against_a_caption_file(tiles, curator):
    patch = Patch.objects.get(source_name="b.png")
    caption = Caption.objects.create(
        patch=patch, source="earlier", generated_text="t", text="t"
    )
    services.caption_approve(caption_id=caption.pk, user=curator, version=1)
    other = other_split(patch.split)

    result = import_captions(
        write_captions(tiles / "more.json", ["b.png"]), "--split", other
    )

    assert (result["created"], result["split_conflicts"]) == (0, 1)
    assert split_of("b.png") == (patch.split, "computed")


def test_a_curator_s_assignment_is_not_undone_by_a_caption_file(tiles, curator):
    patch = Patch.objects.get(source_name="a.png")
    patch_split_change(patch_id=patch.pk, split="val", user=curator, reason="held out")

    result = import_captions(write_captions(tiles / "x_test.json", ["a.png"]))

    assert result["split_conflicts"] == 1
    assert split_of("a.png") == ("val", "assigned")


def test_a_name_in_several_scenes_needs_a_scene(tiles):
    scene_import_tiles(directory=tiles / "tiles", name="copy")
    path = write_captions(tiles / "caps_val.json", ["a.png"])

    assert import_captions(path)["ambiguous_examples"] == [
        {"entry": 0, "image": "a.png"}
    ]
    assert import_captions(path, "--scene", "copy")["created"] == 1
    assert Patch.objects.get(source_name="a.png", scene__name="copy").split == "val"
    with pytest.raises(CommandError, match="no scene named 'nowhere'"):
        import_captions(path, "--scene", "nowhere")


# --- A curator's change ---------------------------------------------------------------


def test_a_curator_moves_a_patch_with_a_revision(tiles, curator, annotator):
    patch = Patch.objects.get(source_name="a.png")
    target = other_split(patch.split)

    change = patch_split_change(
        patch_id=patch.pk, split=target, user=curator, reason="near a test tile"
    )

    assert change is not None
    assert (change.split_before, change.split_after) == (patch.split, target)
    assert (change.source_before, change.user, change.reason) == (
        "computed", curator, "near a test tile"
    )  # fmt: skip
    assert split_of("a.png") == (target, "assigned")
    assert patch_split_change(patch_id=patch.pk, split=target, user=curator) is None
    assert SplitChange.objects.count() == 1
    with pytest.raises(PermissionDenied):
        patch_split_change(patch_id=patch.pk, split="train", user=annotator)


def test_the_api_moves_a_patch_and_refuses_a_bad_split(tiles, curator, consumer):
    patch = Patch.objects.get(source_name="b.png")
    target = other_split(patch.split)
    client = token_client(curator)
    url = f"/api/v1/patches/{patch.pk}/split/"

    def post(body: dict, to: str = url):
        return client.post(to, body, content_type="application/json")

    bad = post({"split": "holdout", "reason": "r"})
    no_reason = post({"split": target})
    moved = post({"split": target, "reason": "r"})
    missing = post({"split": "val", "reason": "r"}, "/api/v1/patches/999999/split/")

    assert (bad.status_code, no_reason.status_code) == (400, 400)
    assert "holdout" in bad.json()["error"]
    assert moved.status_code == 200
    assert moved.json() == {
        "patch": patch.pk, "split": target, "split_source": "assigned",
        "changed": True,
    }  # fmt: skip
    assert missing.status_code == 404
    detail = token_client(consumer).get(f"/api/v1/patches/{patch.pk}/").json()
    assert (detail["split"], detail["split_source"]) == (target, "assigned")
    listed = token_client(consumer).get("/api/v1/patches/?split_source=assigned")
    assert [row["id"] for row in listed.json()["results"]] == [patch.pk]


def test_the_admin_shows_the_split_source_and_history_and_lets_curators_move(
    tiles, curator, annotator
):
    patch = Patch.objects.get(source_name="a.png")
    target = other_split(patch.split)
    url = f"/admin/captions/patch/{patch.pk}/split/"
    annotator_client, curator_client = Client(), Client()
    annotator_client.force_login(annotator)
    curator_client.force_login(curator)

    refused_role = annotator_client.post(url, {"split": target, "reason": "x"})
    assert refused_role.status_code in (302, 403)
    assert split_of("a.png")[0] == patch.split
    refused = curator_client.post(url, {"split": target, "reason": ""})
    assert refused.status_code == 200 and b"This field is required" in refused.content
    moved = curator_client.post(url, {"split": target, "reason": "<b>near</b> test"})
    assert moved.status_code == 302
    page = curator_client.get(f"/admin/captions/patch/{patch.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Assigned by a curator" in text
    assert "&lt;b&gt;near&lt;/b&gt; test" in text and "<b>near</b>" not in text
    assert split_of("a.png") == (target, "assigned")


def test_the_move_is_offered_to_curators_only(tiles, curator):
    """Staff who may look at patches in the admin, without the curator role, see the
    split but no link to a move they would be refused."""
    patch = Patch.objects.get(source_name="a.png")
    viewer = get_user_model().objects.create_user(
        "vera", password="pw-vera-123", is_staff=True
    )
    viewer.user_permissions.add(Permission.objects.get(codename="view_patch"))
    page_url = f"/admin/captions/patch/{patch.pk}/change/"
    viewer_client, curator_client = Client(), Client()
    viewer_client.force_login(viewer)
    curator_client.force_login(curator)

    seen = viewer_client.get(page_url)
    assert seen.status_code == 200
    assert "Move to another split" not in seen.content.decode()
    assert f"{patch.split} (Computed from its tile or block at ingest)" in (
        seen.content.decode()
    )
    assert "Move to another split" in curator_client.get(page_url).content.decode()
    refused = viewer_client.post(
        f"/admin/captions/patch/{patch.pk}/split/",
        {"split": other_split(patch.split), "reason": "x"},
    )
    assert refused.status_code == 403
