"""GeoJSON: the patches list (`?format=geojson`) and the `geojson` export format.

Conrad consumes the dataset with a token, Cora curates, Anna annotates (and may not
read the dataset), an anonymous caller has no token. The patches world
(tests/api_data.py) holds a scene near Venice with two patches and one near Berlin
with two, one of them without a footprint; the export world
(tests/captions/export_data.py) has verified, pending and rejected captions.

Every file is parsed by a kept GeoJSON library (`geojson`), not by our own code.
"""

import itertools
from io import StringIO
from pathlib import Path

import geojson
import pytest
from django.core.management import call_command
from django.http import StreamingHttpResponse

from captions.geo.footprints import (
    MEDIA_TYPE,
    feature_collection_chunks,
    footprint_feature,
    footprint_geometry,
)
from captions.landcover import dominant_class
from captions.models import Caption, Patch
from tests.api_data import (
    GRASS,
    TREE,
    WATER,
    make_patch,
    token_client,
    two_class_codes,
)

pytestmark = pytest.mark.django_db

PATCHES = "/api/v1/patches/"
EXPORT = "/api/v1/export/"
# An island of Fiji's on the antimeridian: west of it at 179.9 E, east at 179.9 W.
ACROSS = (179.9, -16.9, -179.9, -16.8)


def collection(response) -> geojson.FeatureCollection:
    """The streamed body, parsed and checked by the `geojson` library."""
    assert response.status_code == 200, response.content
    assert isinstance(response, StreamingHttpResponse)
    parsed = geojson.loads(response.getvalue().decode())
    assert isinstance(parsed, geojson.FeatureCollection)
    assert parsed.is_valid, parsed.errors()
    return parsed


def feature_ids(response) -> list[int]:
    return [feature["id"] for feature in collection(response)["features"]]


def corners(geometry: dict) -> list[list[float]]:
    if geometry["type"] == "Polygon":
        return geometry["coordinates"][0]
    return [point for polygon in geometry["coordinates"] for point in polygon[0]]


def signed_area(ring: list[list[float]]) -> float:
    """Twice the signed area of a ring: positive when it runs counter-clockwise."""
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise(ring))


@pytest.fixture
def world(api_world):
    """The API world with each patch's dominant class kept, as ingest keeps it."""
    for patch in api_world.patches:
        patch.dominant_class = dominant_class(patch.landcover)
        patch.save(update_fields=["dominant_class"])
    return api_world


@pytest.fixture
def conrad(consumer, world):
    return token_client(consumer)


@pytest.fixture
def fiji(world, media_root: Path) -> Patch:
    """An uncaptioned patch whose footprint crosses the antimeridian."""
    patch = make_patch(
        world.scenes[1], media_root, two_class_codes(WATER, WATER), row_off=64,
        footprint=ACROSS,
    )  # fmt: skip
    patch.dominant_class = WATER
    patch.save(update_fields=["dominant_class"])
    return patch


# --- The patches as GeoJSON --------------------------------------------------------


def test_patches_geojson_is_a_valid_stream_of_every_patch_with_a_footprint(
    conrad, world
):
    response = conrad.get(PATCHES, {"format": "geojson"})
    assert response["Content-Type"] == MEDIA_TYPE
    assert 'filename="patches.geojson"' in response["Content-Disposition"]
    # The fourth patch has no footprint: it has no place in the file.
    assert feature_ids(response) == [patch.pk for patch in world.patches[:3]]


def test_each_patch_carries_split_newest_status_and_dominant_class(conrad, world, fiji):
    features = collection(conrad.get(PATCHES, {"format": "geojson"}))["features"]
    by_id = {feature["id"]: feature["properties"] for feature in features}
    venice, farmland, grass = world.patches[:3]
    assert by_id[venice.pk] == {
        "id": venice.pk, "name": venice.source_name, "scene": venice.scene_id,
        "scene_name": "S2A_T33TUL", "split": "train", "status": "pending",
        "dominant_class": TREE, "dominant_class_name": "Tree cover",
        "caption_id": world.pending.pk,
    }  # fmt: skip
    assert by_id[farmland.pk]["status"] == "approved"
    assert by_id[farmland.pk]["split"] == "val"
    # Edited first, then captioned again: the newest caption is the pending one.
    assert by_id[grass.pk]["status"] == "pending"
    assert by_id[grass.pk]["caption_id"] == world.also_pending.pk
    assert by_id[grass.pk]["dominant_class_name"] == "Grassland"
    assert by_id[fiji.pk]["status"] == "uncaptioned"
    assert by_id[fiji.pk]["caption_id"] is None


def test_footprints_round_trip_to_the_patches_bounds_exactly(conrad, world):
    for feature in collection(conrad.get(PATCHES, {"format": "geojson"}))["features"]:
        patch = Patch.objects.get(pk=feature["id"])
        bounds = [patch.west, patch.south, patch.east, patch.north]
        ring = feature["geometry"]["coordinates"][0]
        longitudes, latitudes = zip(*ring, strict=True)
        assert feature["geometry"]["type"] == "Polygon"
        assert [min(longitudes), min(latitudes), max(longitudes), max(latitudes)] == (
            bounds
        )
        assert feature["bbox"] == bounds
        assert ring[0] == ring[-1] == [patch.west, patch.south]  # closed
        assert signed_area(ring) > 0  # counter-clockwise, RFC 7946 section 3.1.6


def test_an_antimeridian_footprint_is_a_valid_multipolygon_of_its_halves(conrad, fiji):
    features = collection(conrad.get(PATCHES, {"format": "geojson"}))["features"]
    [feature] = [feature for feature in features if feature["id"] == fiji.pk]
    geometry = geojson.loads(geojson.dumps(feature["geometry"]))
    assert isinstance(geometry, geojson.MultiPolygon) and geometry.is_valid
    west_half, east_half = (
        polygon[0] for polygon in feature["geometry"]["coordinates"]
    )
    assert {tuple(point) for point in west_half} == {
        (179.9, -16.9), (180.0, -16.9), (180.0, -16.8), (179.9, -16.8)
    }  # fmt: skip
    assert {tuple(point) for point in east_half} == {
        (-180.0, -16.9), (-179.9, -16.9), (-179.9, -16.8), (-180.0, -16.8)
    }  # fmt: skip
    assert all(signed_area(ring) > 0 for ring in (west_half, east_half))
    assert feature["bbox"] == list(ACROSS)  # west > east, as RFC 7946 5.2 writes it


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # Venice's west half: the patch east of 12.035 stays out.
        ({"bbox": "12.0,45.0,12.02,45.03"}, [0]),
        ({"bbox": "11,44,14,53"}, [0, 1, 2]),
        ({"bbox": "-179.8,-17,-179,-16"}, []),  # just east of Fiji's patch
        # Fiji's patch by a box east of the antimeridian, and by one across it.
        ({"bbox": "-179.95,-17,-179,-16"}, ["fiji"]),
        ({"bbox": "179,-17,-179,-16"}, ["fiji"]),
        ({"bbox": "179.95,-17,180,-16"}, ["fiji"]),  # its western part alone
        ({"split": "val"}, [1]),
        ({"status": "approved"}, [1]),
        ({"landcover_class": GRASS}, [2]),
        ({"landcover_class": WATER, "bbox": "11,44,14,53"}, [0]),
        ({"scene": "berlin"}, [2, "fiji"]),
    ],
)
def test_the_patches_filters_narrow_the_geojson(conrad, world, fiji, query, expected):
    if "scene" in query:
        query = {"scene": world.scenes[1].pk}  # the Berlin scene's id
    named = {"fiji": fiji.pk} | {n: patch.pk for n, patch in enumerate(world.patches)}
    response = conrad.get(PATCHES, {"format": "geojson", **query})
    assert feature_ids(response) == [named[name] for name in expected]


def test_a_filter_with_nothing_to_show_is_an_empty_valid_collection(conrad, world):
    response = conrad.get(PATCHES, {"format": "geojson", "bbox": "-10,-10,-9,-9"})
    assert collection(response)["features"] == []


def test_the_geojson_reads_its_patches_in_a_fixed_number_of_queries(
    conrad, world, media_root, django_assert_max_num_queries
):
    def features() -> int:
        response = conrad.get(PATCHES, {"format": "geojson"})
        return len(collection(response)["features"])

    # token, user's roles, and one query for every patch with its newest caption
    with django_assert_max_num_queries(3):
        assert features() == 3
    for number in range(5):
        patch = make_patch(
            world.scenes[0], media_root, two_class_codes(TREE, TREE),
            row_off=96 + 32 * number, footprint=(12.0, 45.0, 12.01, 45.01),
        )  # fmt: skip
        Caption.objects.create(patch=patch, text="Trees.", generated_text="Trees.")
    with django_assert_max_num_queries(3):
        assert features() == 8


def test_the_collection_is_written_in_chunks_one_feature_at_a_time():
    features = (
        footprint_feature(n, (n / 10, 0.0, n / 10 + 0.05, 0.05), {"n": n})
        for n in range(500)
    )
    chunks = list(feature_collection_chunks(features, chunk_bytes=4096))
    assert len(chunks) > 10
    assert all(len(chunk) < 4096 + 400 for chunk in chunks)
    parsed = geojson.loads(b"".join(chunks).decode())
    assert parsed.is_valid and len(parsed["features"]) == 500


def test_footprints_on_the_antimeridian_itself_stay_single_polygons():
    assert footprint_geometry(180.0, 0.0, -179.0, 1.0)["coordinates"] == [
        [[-180.0, 0.0], [-179.0, 0.0], [-179.0, 1.0], [-180.0, 1.0], [-180.0, 0.0]]
    ]
    assert footprint_geometry(179.0, 0.0, -180.0, 1.0)["coordinates"] == [
        [[179.0, 0.0], [180.0, 0.0], [180.0, 1.0], [179.0, 1.0], [179.0, 0.0]]
    ]


# --- Who may, and what is refused ---------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [("anonymous", 401), ("annotator", 403), ("consumer", 200), ("curator", 200)],
)
def test_only_consumers_and_curators_get_the_patches_geojson(
    role, status, world, annotator, curator, consumer
):
    user = {"anonymous": None, "annotator": annotator, "curator": curator,
            "consumer": consumer}[role]  # fmt: skip
    response = token_client(user).get(PATCHES, {"format": "geojson"})
    assert response.status_code == status
    if status == 200:
        assert len(collection(response)["features"]) == 3
    else:
        # An error is no FeatureCollection: JSON, as every other error of the API.
        assert response["Content-Type"] == "application/json"
        assert "error" in response.json()


def test_an_unknown_format_is_still_refused(conrad, world):
    response = conrad.get(PATCHES, {"format": "shapefile"})
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    # and the list as JSON is what it was: pages of patches
    assert len(conrad.get(PATCHES, {"format": "json"}).json()["results"]) == 4


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"bbox": "12,45,13"}, "bbox"),
        ({"split": "holdout"}, "split"),
        ({"cursor": "cD0xMA=="}, "cursor"),
        ({"page_size": "10"}, "page_size"),
        ({"sort": "name"}, "unknown_parameters"),
    ],
)
def test_bad_input_is_a_json_400_naming_the_parameter(conrad, query, parameter):
    response = conrad.get(PATCHES, {"format": "geojson", **query})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert parameter in response.json()["fields"]


# --- The export's geojson format ----------------------------------------------------


@pytest.fixture
def exporter(consumer, export_world):
    for patch in export_world.patches:
        patch.dominant_class = dominant_class(patch.landcover)
        patch.save(update_fields=["dominant_class"])
    return token_client(consumer)


def test_the_geojson_export_holds_only_the_verified_pairs(exporter, export_world):
    response = exporter.get(EXPORT, {"format": "geojson"})
    assert response["Content-Type"].startswith(MEDIA_TYPE)
    assert 'filename="all.geojson"' in response["Content-Disposition"]
    features = collection(response)["features"]
    assert [feature["id"] for feature in features] == [
        caption.pk for caption in export_world.verified
    ]
    texts = {feature["properties"]["caption"] for feature in features}
    assert not texts & {caption.text for caption in export_world.unverified}
    assert {feature["properties"]["status"] for feature in features} == {
        "approved", "edited"
    }  # fmt: skip


def test_an_exported_pair_has_its_footprint_caption_and_image_urls(
    exporter, export_world
):
    features = collection(exporter.get(EXPORT, {"format": "geojson"}))["features"]
    lines = exporter.get(EXPORT, {"format": "jsonl"}).getvalue().splitlines()
    jsonl = {row["id"]: row for row in map(geojson.loads, lines)}
    for feature in features:
        line = jsonl[feature["id"]]
        properties = feature["properties"]
        patch = Patch.objects.get(pk=line["patch_id"])
        # The JSONL line's fields, named alike, but the footprint and statistics.
        assert properties == {
            **{k: v for k, v in line.items() if k not in ("footprint", "landcover")},
            "dominant_class": patch.dominant_class,
            "dominant_class_name": properties["dominant_class_name"],
        }
        assert properties["image_url"].startswith("http://testserver/api/v1/export/")
        if line["footprint"] is None:
            assert feature["geometry"] is None and "bbox" not in feature
        else:
            box = line["footprint"]
            bounds = [box["west"], box["south"], box["east"], box["north"]]
            assert feature["bbox"] == bounds
            longitudes, latitudes = zip(*corners(feature["geometry"]), strict=True)
            assert [min(longitudes), min(latitudes), max(longitudes)] == bounds[:3]
            assert max(latitudes) == bounds[3]
    edited = next(f for f in features if f["properties"]["status"] == "edited")
    assert edited["properties"]["split"] == "train"
    assert edited["properties"]["dominant_class_name"] is not None


def test_the_geojson_export_takes_the_export_filters(exporter, export_world):
    response = exporter.get(EXPORT, {"format": "geojson", "split": "val"})
    assert {
        feature["properties"]["split"] for feature in collection(response)["features"]
    } == {"val"}
    # Venice's north-west patch only: Berlin's patches have no footprint.
    response = exporter.get(
        EXPORT, {"format": "geojson", "bbox": "12,45.06,12.04,45.1"}
    )
    assert {
        feature["properties"]["patch_id"]
        for feature in collection(response)["features"]
    } == {export_world.patches[0].pk}


def test_export_dataset_writes_the_same_features(exporter, export_world, tmp_path):
    path = tmp_path / "all.geojson"
    call_command("export_dataset", "--format", "geojson", "--out", str(path),
                 "--base-url", "http://testserver", stderr=StringIO())  # fmt: skip
    written = geojson.loads(path.read_text(encoding="utf-8"))
    assert written.is_valid, written.errors()
    served = collection(exporter.get(EXPORT, {"format": "geojson"}))
    assert written == served


@pytest.mark.parametrize(
    ("role", "status"),
    [("anonymous", 401), ("annotator", 403), ("consumer", 200), ("curator", 200)],
)
def test_only_consumers_and_curators_export_geojson(
    role, status, export_world, annotator, curator, consumer
):
    user = {"anonymous": None, "annotator": annotator, "curator": curator,
            "consumer": consumer}[role]  # fmt: skip
    response = token_client(user).get(EXPORT, {"format": "geojson"})
    assert response.status_code == status
    if status != 200:
        assert "error" in response.json()


def test_the_geojson_export_reads_in_a_fixed_number_of_queries(
    exporter, export_world, django_assert_max_num_queries
):
    with django_assert_max_num_queries(3):
        features = collection(exporter.get(EXPORT, {"format": "geojson"}))["features"]
        assert len(features) == len(export_world.verified)
    Caption.objects.filter(status="pending").update(status="approved")
    with django_assert_max_num_queries(3):
        features = collection(exporter.get(EXPORT, {"format": "geojson"}))["features"]
        assert len(features) == len(export_world.verified) + 1
