"""An area (`bbox=west,south,east,north`) narrows the export, `export_dataset` and a
release, as it narrows the patches API; a release keeps it and its card says it.

Anna annotates, Cora curates, Conrad consumes the dataset (tests/conftest.py). The
export world (tests/captions/export_data.py) has Venice's verified pairs p0a, p0b
and p2a; here Berlin's approved p4i and p5i are moved to either side of the
antimeridian near Fiji, and its edited p7i keeps no footprint.
"""

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.http import StreamingHttpResponse
from django.test import Client

from captions import tasks
from captions.export import dataset_card, releases
from captions.export.filters import export_filters_from
from captions.models import Patch, Release, ReleaseItem
from tests.api_data import token_client
from verification import services

pytestmark = pytest.mark.django_db

EXPORT = "/api/v1/export/"
VENICE = "11.9,44.9,12.2,45.2"
FIJI = "179,-18,-179,-16"  # west > east: across the antimeridian
MALFORMED = [
    ("12,45,13", "give four numbers: west,south,east,north (degrees)"),
    ("a,b,c,d", "give four numbers: west,south,east,north (degrees)"),
    ("190,45,200,46", "longitudes lie between -180 and 180"),
    ("12,46,13,45", "latitudes lie between -90 and 90, south before north"),
]


@pytest.fixture
def world(export_world):
    for number, footprint in (
        (4, (179.5, -17.0, 180.0, -16.5)),
        (5, (-180.0, -17.0, -179.5, -16.5)),
    ):
        west, south, east, north = footprint
        Patch.objects.filter(pk=export_world.patches[number].pk).update(
            west=west, south=south, east=east, north=north
        )
    return export_world


def exported_ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    assert isinstance(response, StreamingHttpResponse)
    return [json.loads(line)["id"] for line in response.getvalue().splitlines()]


# --- The export API -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("bbox", "inside"),
    [
        (VENICE, ["p0a", "p0b", "p2a"]),
        ("12.0,45.05,12.05,45.1", ["p0a", "p0b", "p2a"]),  # p2 touches its edge
        ("12.06,45.06,12.09,45.09", []),  # p1's caption was rejected: never exported
        (FIJI, ["p4i", "p5i"]),
        ("-180,-90,180,90", ["p0a", "p0b", "p2a", "p4i", "p5i"]),  # p7: no footprint
    ],
)
def test_the_export_holds_the_verified_pairs_whose_footprint_meets_the_area(
    world, consumer, bbox, inside
):
    response = token_client(consumer).get(EXPORT, {"format": "jsonl", "bbox": bbox})
    assert exported_ids(response) == world.ids(*inside)


def test_the_area_goes_with_the_other_filters(world, consumer):
    response = token_client(consumer).get(
        EXPORT, {"format": "jsonl", "bbox": VENICE, "split": "val"}
    )
    assert exported_ids(response) == world.ids("p2a")


@pytest.mark.parametrize(("bbox", "words"), MALFORMED)
def test_a_malformed_export_area_is_a_400_naming_bbox(world, consumer, bbox, words):
    response = token_client(consumer).get(EXPORT, {"format": "jsonl", "bbox": bbox})
    assert response.status_code == 400
    assert response.json()["error"] == f"bbox {bbox!r}: {words}"


@pytest.mark.parametrize(
    ("role", "status"),
    [("anonymous", 401), ("annotator", 403), ("consumer", 200), ("curator", 200)],
)
def test_only_consumers_and_curators_export_by_area(
    world, annotator, curator, consumer, role, status
):
    user = {"anonymous": None, "annotator": annotator, "curator": curator,
            "consumer": consumer}[role]  # fmt: skip
    response = token_client(user).get(EXPORT, {"format": "csv", "bbox": FIJI})
    assert response.status_code == status


# --- export_dataset -----------------------------------------------------------------


def test_export_dataset_takes_the_area(world, tmp_path: Path):
    out = tmp_path / "fiji.jsonl"
    # `--bbox=` with "=": a value starting with "-" is otherwise read as an option.
    call_command(
        "export_dataset", "--format", "jsonl", "--out", str(out),
        "--bbox=-180,-18,-179,-16", stderr=io.StringIO(),
    )  # fmt: skip
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["id"] for row in rows] == world.ids("p5i")
    call_command(
        "export_dataset", "--format", "jsonl", "--out", str(out), "--bbox", FIJI,
        stderr=io.StringIO(),
    )  # fmt: skip
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["id"] for row in rows] == world.ids("p4i", "p5i")


@pytest.mark.parametrize(("bbox", "words"), MALFORMED)
def test_export_dataset_refuses_a_malformed_area_naming_bbox(
    world, tmp_path: Path, bbox, words
):
    out = tmp_path / "out.jsonl"
    with pytest.raises(CommandError) as refused:
        call_command(
            "export_dataset", "--format", "jsonl", "--out", str(out), "--bbox", bbox
        )
    assert str(refused.value) == f"bbox {bbox!r}: {words}"
    assert not out.exists()


# --- Releases -----------------------------------------------------------------------


def test_a_release_by_area_keeps_it_freezes_only_inside_and_rebuilds_the_same(
    world, curator, enqueued_builds, releases_root, django_capture_on_commit_callbacks
):
    client = token_client(curator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/releases/", {"bbox": FIJI}, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["filters"]["bbox"] == FIJI
    release = releases.release_build(release_id=Release.objects.get().pk)
    assert release.status == Release.Status.DONE, release.error
    frozen = ReleaseItem.objects.filter(release=release)
    assert sorted(frozen.values_list("caption_id", flat=True)) == world.ids(
        "p4i", "p5i"
    )
    folder = releases_root / str(release.number)
    card = (folder / "README.md").read_text()
    assert "footprints meeting 179,-18,-179,-16 (west,south,east,north)" in card
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["filters"]["bbox"] == FIJI
    before = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*")
              if p.is_file()}  # fmt: skip
    # Venice's pending caption is approved after the release: a rebuild leaves it out.
    services.caption_approve(
        caption_id=world.captions["p3a"].pk, user=curator, version=1
    )
    Patch.objects.filter(pk=world.patches[3].pk).update(
        west=179.6, south=-17.0, east=179.7, north=-16.9
    )
    (folder / "train.jsonl").write_text("damaged")
    tasks.build_release.run(release.pk, rebuild=True)
    after = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*")
             if p.is_file()}  # fmt: skip
    assert after == before


def test_releases_without_an_area_store_and_describe_their_filters_as_before(
    world, curator, enqueued_builds
):
    release = releases.release_create(
        filters=export_filters_from({"split": "train"}), user=curator
    )
    assert "bbox" not in release.filters
    assert "footprints" not in dataset_card.release_filters_text(release)


@pytest.mark.parametrize(("bbox", "words"), MALFORMED)
def test_a_malformed_release_area_is_a_400_naming_bbox(
    world, curator, enqueued_builds, bbox, words
):
    response = token_client(curator).post(
        "/api/v1/releases/", {"bbox": bbox}, format="json"
    )
    assert response.status_code == 400
    assert f"bbox {bbox!r}: {words}" in response.json()["error"]
    assert not Release.objects.exists()


def test_an_area_with_no_verified_pair_is_no_release(world, curator, enqueued_builds):
    response = token_client(curator).post(
        "/api/v1/releases/", {"bbox": "0,0,1,1"}, format="json"
    )
    assert response.status_code == 400
    assert "no verified pairs match these filters" in response.json()["error"]


@pytest.mark.parametrize("role", ["anonymous", "annotator", "consumer"])
def test_only_curators_release_by_area(world, annotator, consumer, role):
    user = {"anonymous": None, "annotator": annotator, "consumer": consumer}[role]
    response = token_client(user).post(
        "/api/v1/releases/", {"bbox": FIJI}, format="json"
    )
    assert response.status_code in (401, 403)
    assert not Release.objects.exists()


def test_the_admins_release_form_takes_the_area(
    world, curator, enqueued_builds, django_capture_on_commit_callbacks
):
    client = Client()
    client.force_login(curator)
    # The map page's drawn box fills the field in.
    form = client.get("/admin/captions/release/create/", {"bbox": VENICE})
    assert f'value="{VENICE}"'.encode() in form.content
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/captions/release/create/", {"bbox": VENICE})
    assert response.status_code == 302
    release = Release.objects.get()
    assert release.filters["bbox"] == VENICE
    assert "footprints meeting 11.9,44.9,12.2,45.2" in (
        dataset_card.release_filters_text(release)
    )


@pytest.mark.parametrize(("bbox", "words"), MALFORMED)
def test_the_admins_release_form_says_what_is_wrong_with_the_area(
    world, curator, bbox, words
):
    client = Client()
    client.force_login(curator)
    response = client.post("/admin/captions/release/create/", {"bbox": bbox})
    assert response.status_code == 200
    assert response.context["form"].errors == {"bbox": [words]}
    assert not Release.objects.exists()
