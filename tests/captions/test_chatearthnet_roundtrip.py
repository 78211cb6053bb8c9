"""The released ChatEarthNet in, the same dataset out (issue 11, items 1-3).

A folder laid out as the release is (256 px PNG patches named `<col>_<row>_patchXY`,
their labels, three caption files `ChatEarthNet_caps_35_{train,val,test}.json`) is
imported; every caption is approved; a release in ChatEarthNet's layout gives back
the same file names, the same pixels and the same JSON.
"""

import io
import json
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from PIL import Image

from captions.export import release_files, releases
from captions.export.filters import export_filters_from
from captions.export.formats import export_chunks
from captions.models import Caption, Patch, Release
from captions.selectors import verified_pairs
from tests.api_data import token_client
from tests.captions.tile_fixtures import (
    BUILT,
    CROP,
    TREE,
    WATER,
    write_rgb,
    write_satlas_label,
)
from verification import services

pytestmark = pytest.mark.django_db

FAMILY = "ChatEarthNet_caps_35"
# Four 256 patches of each of three zoom-13 tiles far apart (so that their computed
# splits need not agree with the files'), captions spread over the three files.
NAMES = {
    "train": [
        "4353_2917_patch00.png", "4353_2917_patch01.png", "1021_600_patch10.png",
        "1021_600_patch11.png", "7000_3000_patch00.png", "7000_3000_patch11.png",
        "4353_2917_patch11.png",
    ],
    "val": ["4353_2917_patch10.png", "1021_600_patch00.png"],
    "test": ["1021_600_patch01.png", "7000_3000_patch01.png", "7000_3000_patch10.png"],
}  # fmt: skip


def label_codes(index: int) -> np.ndarray:
    codes = np.full((256, 256), (TREE, WATER, CROP, BUILT)[index % 4], np.uint8)
    codes[: 32 + 8 * index, :100] = (WATER, CROP, BUILT, TREE)[index % 4]
    return codes


def caption_for(name: str) -> str:
    # Varied text, with a quote and non-ASCII, as the release's captions have.
    return f'The patch {name} shows "mostly" one class — résumé {len(name)}.'


@pytest.fixture
def release_folder(tmp_path: Path) -> Path:
    """The released dataset's layout: images/, labels/ and three caption files."""
    folder = tmp_path / "ChatEarthNet"
    for index, name in enumerate(sorted(n for names in NAMES.values() for n in names)):
        write_rgb(folder / "images" / name, seed=index)
        write_satlas_label(folder / "labels" / name, label_codes(index))
    for split, names in NAMES.items():
        entries = [{"image": name, "caption": caption_for(name)} for name in names]
        (folder / f"{FAMILY}_{split}.json").write_text(
            json.dumps(entries, ensure_ascii=False, indent=2), encoding="utf-8"
        )
    return folder


def run(*args: str) -> dict:
    out = io.StringIO()
    call_command(*args, "--json", stdout=out)
    return json.loads(out.getvalue())


def import_release(folder: Path) -> list[dict]:
    run("import_tiles", str(folder), "--name", "chatearthnet", "--no-progress")
    return [
        run("import_captions", str(folder / f"{FAMILY}_{split}.json"))
        for split in ("train", "val", "test")
    ]


def approve_all(curator) -> None:
    for caption_id in Caption.objects.order_by("id").values_list("id", flat=True):
        services.caption_approve(caption_id=caption_id, user=curator, version=1)


def build(curator, capture, layout: str, **filters) -> Release:
    with capture(execute=True):
        release = releases.release_create(
            filters=export_filters_from(filters), user=curator, layout=layout
        )
    return releases.release_build(release_id=release.pk)


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_the_split_a_caption_file_names_is_recorded_and_wins(release_folder):
    results = import_release(release_folder)

    assert [(r["split"], r["split_named_by"], r["created"]) for r in results] == [
        ("train", "file name", 7), ("val", "file name", 2), ("test", "file name", 3),
    ]  # fmt: skip
    assert {r["source"] for r in results} == {FAMILY}
    for split, names in NAMES.items():
        patches = Patch.objects.filter(source_name__in=names)
        assert sorted(patches.values_list("split", flat=True)) == [split] * len(names)
        assert set(patches.values_list("split_source", flat=True)) == {"imported"}


def test_an_export_of_one_split_holds_exactly_that_file_s_pairs(
    release_folder, curator
):
    import_release(release_folder)
    approve_all(curator)

    for split, names in NAMES.items():
        records = verified_pairs(filters=export_filters_from({"split": split}))
        exported = json.loads(b"".join(export_chunks("chatearthnet", records)))
        # Named as the release names them, nothing from another split.
        assert [entry["image"] for entry in exported] == names


def test_a_chatearthnet_layout_release_gives_the_release_back(
    release_folder, curator, releases_root, enqueued_builds,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    import_release(release_folder)
    approve_all(curator)

    release = build(curator, django_capture_on_commit_callbacks, "chatearthnet")

    assert release.status == Release.Status.DONE, release.error
    out = release_files.release_dir(release.number)
    names = sorted(n for split_names in NAMES.values() for n in split_names)
    assert sorted(p.name for p in (out / "images").iterdir()) == names
    caption_files = sorted(
        p.name for p in out.glob("*.json") if p.name != "manifest.json"
    )
    assert caption_files == sorted(
        path.name for path in release_folder.glob(f"{FAMILY}_*.json")
    )
    for name in caption_files:
        got = json.loads((out / name).read_text(encoding="utf-8"))
        assert got == json.loads((release_folder / name).read_text(encoding="utf-8"))
    for name in names:
        assert (out / "images" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert np.array_equal(
            pixels(out / "images" / name), pixels(release_folder / "images" / name)
        ), name
    manifest = json.loads((out / "manifest.json").read_text())
    listed = {entry["path"] for entry in manifest["files"]}
    assert listed == {
        "README.md",
        "coverage.png",
        *caption_files,
        *(f"images/{n}" for n in names),
    }


def test_a_chatearthnet_layout_release_rebuilds_byte_for_byte(
    release_folder, curator, releases_root, enqueued_builds,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    import_release(release_folder)
    approve_all(curator)
    release = build(curator, django_capture_on_commit_callbacks, "chatearthnet")
    out = release_files.release_dir(release.number)
    before = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}

    releases.release_build(release_id=release.pk, rebuild=True)

    after = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert after == before


def test_two_patches_with_one_name_refuse_the_release_naming_both(
    release_folder, curator, releases_root, enqueued_builds,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    import_release(release_folder)
    # The same tiles imported again as another scene: two patches per name.
    run("import_tiles", str(release_folder), "--name", "again", "--no-progress")
    run(
        "import_captions", str(release_folder / f"{FAMILY}_val.json"),
        "--scene", "again", "--source", "second-look",
    )  # fmt: skip
    approve_all(curator)
    clashing = Patch.objects.filter(source_name="1021_600_patch00.png").order_by("id")

    with pytest.raises(releases.ReleaseError) as refused:
        build(curator, django_capture_on_commit_callbacks, "chatearthnet")

    message = str(refused.value)
    assert "images/1021_600_patch00.png" in message
    for patch in clashing:
        assert f"patch {patch.pk} (scene '{patch.scene.name}')" in message
    assert not Release.objects.exists()
    # The product layout names images by id: the same pairs release there.
    product = build(curator, django_capture_on_commit_callbacks, "product")
    assert product.status == Release.Status.DONE


def test_a_clash_found_when_the_build_freezes_fails_the_release_naming_both(
    release_folder, curator, releases_root, enqueued_builds,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    import_release(release_folder)
    approve_all(curator)
    with django_capture_on_commit_callbacks(execute=True):
        release = releases.release_create(
            filters=export_filters_from({}), user=curator, layout="chatearthnet"
        )
    # Between the release's creation and its freeze, a patch of another scene is
    # approved under a used name in other letter case (file systems that ignore
    # case would write both to one file).
    run("import_tiles", str(release_folder), "--name", "again", "--no-progress")
    other = Patch.objects.filter(scene__name="again").order_by("id").first()
    assert other is not None
    first = Patch.objects.filter(scene__name="chatearthnet").order_by("id").first()
    assert first is not None
    Patch.objects.filter(pk=other.pk).update(source_name=first.source_name.upper())
    Caption.objects.create(
        patch=other, source="x", generated_text="t", text="t", status="approved"
    )

    with pytest.raises(releases.ReleaseError):
        releases.release_build(release_id=release.pk)

    release.refresh_from_db()
    assert release.status == Release.Status.FAILED
    assert f"patch {first.pk}" in release.error and f"patch {other.pk}" in release.error


def test_the_api_creates_a_chatearthnet_layout_release_and_refuses_bad_ones(
    release_folder, curator, consumer, releases_root, enqueued_builds
):
    import_release(release_folder)
    approve_all(curator)
    client = token_client(curator)

    def post(body: dict):
        return client.post("/api/v1/releases/", body, content_type="application/json")

    bad = post({"layout": "zip"})
    created = post({"layout": "chatearthnet", "split": "val"})
    refused = token_client(consumer).post(
        "/api/v1/releases/", {"layout": "chatearthnet"}, content_type="application/json"
    )

    assert bad.status_code == 400 and "zip" in bad.json()["error"]
    assert created.status_code == 202
    assert created.json()["layout"] == "chatearthnet"
    assert refused.status_code == 403
    run("import_tiles", str(release_folder), "--name", "again", "--no-progress")
    run("import_captions", str(release_folder / f"{FAMILY}_val.json"),
        "--scene", "again", "--source", "second-look")  # fmt: skip
    approve_all_pending(curator)
    clash = post({"layout": "chatearthnet", "split": "val"})
    assert clash.status_code == 400
    assert "two images would be written as images/" in clash.json()["error"]
    assert Release.objects.count() == 1


def approve_all_pending(curator) -> None:
    for caption_id in Caption.objects.filter(status="pending").values_list(
        "id", flat=True
    ):
        services.caption_approve(caption_id=caption_id, user=curator, version=1)
