"""Scenes and patches through the API: shapes, filters, preview URLs, query counts.

Conrad consumes the dataset with a token; the world (tests/api_data.py) holds a scene
near Venice with two patches, one near Berlin with two (one without a footprint).
"""

import pytest
from django.urls import reverse

from captions.models import Patch
from tests.api_data import (
    TREE,
    WATER,
    make_patch,
    make_scene,
    token_client,
    two_class_codes,
)

pytestmark = pytest.mark.django_db

PATCHES = reverse("api-patch-list")
SCENES = reverse("api-scene-list")


def ids(response) -> set[int]:
    assert response.status_code == 200, response.json()
    return {row["id"] for row in response.json()["results"]}


# --- scenes -------------------------------------------------------------------------


def test_scenes_list_newest_first_without_server_paths(consumer, api_world):
    response = token_client(consumer).get(SCENES)
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["name"] for row in rows] == ["S2B_T33UUU", "S2A_T33TUL"]
    assert rows[1]["west"] == 12.0 and rows[1]["status"] == "ready"
    assert "image_path" not in rows[0]
    assert response.json()["next"] is None


def test_a_scene_in_detail(consumer, api_world):
    scene = api_world.scenes[0]
    response = token_client(consumer).get(reverse("api-scene-detail", args=[scene.pk]))
    assert response.status_code == 200
    assert response.json()["name"] == scene.name


def test_scenes_filter_by_status(consumer, api_world):
    client = token_client(consumer)
    assert len(ids(client.get(SCENES, {"status": "ready"}))) == 2
    assert ids(client.get(SCENES, {"status": "failed"})) == set()
    assert client.get(SCENES, {"status": "done"}).status_code == 400


# --- patches: shape and previews ---------------------------------------------------


def test_a_patch_carries_its_statistics_and_absolute_preview_urls(consumer, api_world):
    patch = api_world.patches[0]
    response = token_client(consumer).get(reverse("api-patch-detail", args=[patch.pk]))
    assert response.status_code == 200
    body = response.json()
    assert body["scene"] == patch.scene_id
    assert body["scene_name"] == "S2A_T33TUL"
    assert body["landcover"] == patch.landcover
    assert [entry["code"] for entry in body["landcover"]["overall"]] == [TREE, WATER]
    assert body["rgb_url"] == f"http://testserver/media/{patch.rgb_preview.name}"
    assert body["landcover_url"].endswith(patch.landcover_preview.name)
    assert body["captions"] == [{"id": api_world.pending.pk, "status": "pending"}]


def test_preview_urls_load_with_the_api_token(consumer, api_world):
    patch_url = reverse("api-patch-detail", args=[api_world.patches[0].pk])
    client = token_client(consumer)
    body = client.get(patch_url).json()
    for url in (body["rgb_url"], body["landcover_url"]):
        response = client.get(url)
        assert response.status_code == 200
        assert b"".join(response.streaming_content).startswith(b"\x89PNG")


def test_preview_urls_refuse_a_wrong_token_and_send_browsers_to_log_in(
    consumer, api_world
):
    url = f"/media/{api_world.patches[0].rgb_preview.name}"
    wrong = token_client(None)
    wrong.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    response = wrong.get(url)
    assert response.status_code == 401
    assert "error" in response.json()
    anonymous = token_client(None).get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/")


def test_the_api_answers_a_browser_session_too(client, consumer, api_world):
    client.force_login(consumer)
    assert len(ids(client.get(PATCHES))) == 4


# --- patches: filters ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"split": "val"}, [1]),
        ({"status": "approved"}, [1]),
        ({"status": "pending"}, [0, 2]),
        ({"status": "rejected"}, [3]),
        ({"landcover_class": WATER}, [0, 3]),
        ({"landcover_class": 50}, [1]),
        ({"landcover_class": 95}, []),
        ({"landcover_class": WATER, "split": "train"}, [0, 3]),
        # Venice's west half: the patch east of 12.035 stays out.
        ({"bbox": "12.0,45.0,12.02,45.03"}, [0]),
        ({"bbox": "11,44,14,53"}, [0, 1, 2]),  # the patch without a footprint: never
        ({"bbox": "13.04,52.04,13.2,52.2"}, [2]),  # touching a corner is meeting
        ({"bbox": "170,-10,-170,10"}, []),  # across the antimeridian
        ({"bbox": "13.02,44,12.99,53"}, [0, 1, 2]),  # west > east: the long way round
    ],
)
def test_patches_filter(consumer, api_world, query, expected):
    response = token_client(consumer).get(PATCHES, query)
    assert ids(response) == {api_world.patches[n].pk for n in expected}


def test_patches_filter_by_scene(consumer, api_world):
    venice = api_world.scenes[0]
    response = token_client(consumer).get(PATCHES, {"scene": venice.pk})
    assert ids(response) == {patch.pk for patch in api_world.patches[:2]}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"bbox": "12,45,13"}, "bbox"),
        ({"bbox": "a,b,c,d"}, "bbox"),
        ({"bbox": "nan,45,13,46"}, "bbox"),
        ({"bbox": "12,46,13,45"}, "bbox"),  # south above north
        ({"bbox": "190,45,200,46"}, "bbox"),
        ({"landcover_class": 11}, "landcover_class"),
        ({"landcover_class": "water"}, "landcover_class"),
        ({"split": "training"}, "split"),
        ({"status": "done"}, "status"),
        ({"scene": "abc"}, "scene"),
        ({"scene": "1.5"}, "scene"),
        ({"scene": 0}, "scene"),
        ({"scene": "9" * 30}, "scene"),
    ],
)
def test_a_malformed_filter_is_a_400_naming_it(consumer, api_world, query, field):
    response = token_client(consumer).get(PATCHES, query)
    assert response.status_code == 400
    body = response.json()
    assert body["error"].startswith(f"{field}:")
    assert field in body["fields"]


# --- query counts ---------------------------------------------------------------------


def add_patches(count: int, media_root) -> None:
    scene = make_scene(
        f"bulk-{Patch.objects.count()}", west=0, south=0, east=1, north=1
    )
    for n in range(count):
        make_patch(scene, media_root, two_class_codes(TREE, WATER), row_off=n * 32)


@pytest.mark.parametrize("url", [PATCHES, SCENES])
def test_a_page_costs_the_same_queries_whatever_its_size(
    consumer, api_world, media_root, django_assert_max_num_queries, url
):
    client = token_client(consumer)
    # token and user, roles, the page, and the patches' captions
    expected = 4 if url == PATCHES else 3
    with django_assert_max_num_queries(expected):
        small = client.get(url, {"page_size": 50})
    add_patches(12, media_root)
    with django_assert_max_num_queries(expected):
        large = client.get(url, {"page_size": 50})
    assert len(large.json()["results"]) > len(small.json()["results"])
