"""The map's data (`GET /api/v1/map/`, verification/map_data.py; issue 14).

The world: five patches with footprints and one without. Two in Venice (an approved
caption that replaced a rejected one; a pending one), one in Berlin without a caption,
two on either side of the antimeridian by Fiji (edited; rejected, with no dominant
class). At zoom 2 (cells of 22.5°) Venice and Berlin share the cell 0..22.5°E,
45..67.5°N; the Fiji pair fall in the last and the first column of the grid.

Personas: Cora curates and Conrad consumes (every patch); Anna annotates and sees
only the patch whose caption she approved, Bob only the one he has a revision of;
Nina has no role.
"""

import pytest
from django.core.cache import cache

from captions.models import Caption, Patch
from tests.api_data import hand_to, make_scene, token_client
from tests.verification.conftest import make_user
from verification import map_data, services
from verification.models import Revision
from verification.roles import ANNOTATOR

pytestmark = pytest.mark.django_db

URL = "/api/v1/map/"
WORLD = "-180,-90,180,90"
VENICE = "11.9,44.9,12.1,45.1"
TREE, GRASS, CROP, WATER = 10, 30, 40, 80


def _patch(scene, n: int, footprint, *, dominant_class, split="train") -> Patch:
    west, south, east, north = footprint or (None, None, None, None)
    return Patch.objects.create(
        scene=scene, row_off=n * 256, col_off=0, width=256, height=256, west=west,
        south=south, east=east, north=north, rgb_preview=f"scenes/{scene.pk}/{n}.webp",
        landcover_preview=f"scenes/{scene.pk}/{n}_landcover.png", landcover={},
        dominant_class=dominant_class, invalid_fraction=0.0, split=split,
    )  # fmt: skip


def _caption(patch: Patch, status: str, source: str = "test") -> Caption:
    return Caption.objects.create(
        patch=patch, source=source, generated_text="Trees.", text="Trees.",
        status=status,
    )  # fmt: skip


@pytest.fixture
def world(annotator):
    scene = make_scene("map-world", west=-180, south=-90, east=180, north=90)
    venice_a = _patch(scene, 0, (12.0, 45.0, 12.02, 45.02), dominant_class=TREE)
    venice_b = _patch(scene, 1, (12.02, 45.0, 12.04, 45.02), dominant_class=WATER)
    berlin = _patch(
        scene, 2, (13.0, 52.0, 13.02, 52.02), dominant_class=GRASS, split="val"
    )
    fiji_east = _patch(scene, 3, (179.5, -17.0, 179.52, -16.98), dominant_class=CROP)
    fiji_west = _patch(scene, 4, (-179.6, -17.0, -179.58, -16.98), dominant_class=None)
    nowhere = _patch(scene, 5, None, dominant_class=TREE)
    _caption(venice_a, Caption.Status.REJECTED, source="first")
    newest = _caption(venice_a, Caption.Status.PENDING, source="regenerated")
    hand_to(newest, annotator)
    services.caption_approve(caption_id=newest.pk, user=annotator, version=1)
    venice_b_caption = _caption(venice_b, Caption.Status.PENDING)
    _caption(fiji_east, Caption.Status.EDITED)
    _caption(fiji_west, Caption.Status.REJECTED)
    _caption(nowhere, Caption.Status.APPROVED)
    return {
        "venice_a": venice_a, "venice_b": venice_b, "berlin": berlin,
        "fiji_east": fiji_east, "fiji_west": fiji_west, "nowhere": nowhere,
        "venice_a_caption": newest, "venice_b_caption": venice_b_caption,
    }  # fmt: skip


def _get(user, **params) -> dict:
    response = token_client(user).get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def _cell(answer: dict, west: float, south: float) -> dict:
    (found,) = [
        cell
        for cell in answer["cells"]
        if cell["west"] == pytest.approx(west) and cell["south"] == pytest.approx(south)
    ]
    return found


def test_the_world_at_zoom_2_is_counted_in_cells_by_status_and_class(world, curator):
    answer = _get(curator, bbox=WORLD, zoom=2)

    assert answer["mode"] == "cells"
    assert answer["patches"] == []
    assert answer["cell_degrees"] == 22.5
    assert answer["total"] == 5  # the patch without a footprint is nowhere
    assert len(answer["cells"]) == 3
    europe = _cell(answer, 0, 45)
    assert europe == {
        "west": 0, "south": 45, "east": 22.5, "north": 67.5, "count": 3,
        # Venice A's newest caption is approved; its older rejected one is not counted.
        "statuses": {"approved": 1, "pending": 1, "uncaptioned": 1},
        "classes": {"10": 1, "80": 1, "30": 1},
    }  # fmt: skip
    east_of_fiji = _cell(answer, 157.5, -22.5)
    assert (east_of_fiji["east"], east_of_fiji["north"]) == (180, 0)
    assert east_of_fiji["statuses"] == {"edited": 1}
    assert east_of_fiji["classes"] == {"40": 1}
    west_of_fiji = _cell(answer, -180, -22.5)
    assert west_of_fiji["statuses"] == {"rejected": 1}
    assert west_of_fiji["classes"] == {"none": 1}
    assert answer["footprint_zoom"] == map_data.FOOTPRINT_ZOOM
    assert answer["preview_zoom"] == map_data.PREVIEW_ZOOM


def test_cells_halve_with_each_zoom_and_stay_on_one_grid(world, curator):
    at_5 = _get(curator, bbox="0,40,20,55", zoom=5)

    size = 90 / 2**5
    assert at_5["cell_degrees"] == size
    # Venice's two patches share a cell; Berlin is in another.
    counts = sorted(cell["count"] for cell in at_5["cells"])
    assert counts == [1, 2]
    for cell in at_5["cells"]:
        assert (cell["west"] + 180) / size == pytest.approx(
            round((cell["west"] + 180) / size)
        )
        assert cell["east"] - cell["west"] == pytest.approx(size)
    # Panning keeps the cells: a box shifted by less than a cell gives the same.
    assert _get(curator, bbox="0.5,40.5,20.5,55.5", zoom=5)["cells"] == at_5["cells"]


def test_split_and_status_narrow_the_cells(world, curator):
    val = _get(curator, bbox=WORLD, zoom=2, split="val")
    assert val["total"] == 1
    assert val["cells"][0]["classes"] == {"30": 1}

    uncaptioned = _get(curator, bbox=WORLD, zoom=3, status="uncaptioned")
    assert uncaptioned["total"] == 1
    assert uncaptioned["cells"][0]["statuses"] == {"uncaptioned": 1}

    # The older, rejected caption of Venice A does not make it "rejected".
    rejected = _get(curator, bbox=WORLD, zoom=2, status="rejected")
    assert rejected["total"] == 1
    assert rejected["cells"][0]["west"] == -180


def test_zoomed_in_the_footprints_are_the_patches_bounds(world, curator):
    answer = _get(curator, bbox=VENICE, zoom=10)

    assert answer["mode"] == "patches"
    assert answer["cells"] == []
    assert "cell_degrees" not in answer
    assert answer["total"] == 2
    venice_a, venice_b = world["venice_a"], world["venice_b"]
    assert answer["patches"] == [
        {
            "id": venice_a.pk, "name": venice_a.source_name,
            "caption_id": world["venice_a_caption"].pk,
            "west": 12.0, "south": 45.0, "east": 12.02, "north": 45.02,
            "status": "approved", "dominant_class": TREE, "rgb_preview": None,
        },
        {
            "id": venice_b.pk, "name": venice_b.source_name,
            "caption_id": world["venice_b_caption"].pk,
            "west": 12.02, "south": 45.0, "east": 12.04, "north": 45.02,
            "status": "pending", "dominant_class": WATER, "rgb_preview": None,
        },
    ]  # fmt: skip


def test_a_tall_footprint_reaching_into_the_viewport_is_among_the_patches(
    world, curator
):
    scene = make_scene("map-tall", west=12.0, south=40.0, east=12.1, north=45.05)
    tall = _patch(scene, 0, (12.05, 40.0, 12.06, 45.05), dominant_class=TREE)

    answer = _get(curator, bbox=VENICE, zoom=10)

    assert tall.pk in {patch["id"] for patch in answer["patches"]}
    assert answer["total"] == 3


def test_previews_come_only_from_the_preview_zoom(world, curator):
    below = _get(curator, bbox=VENICE, zoom=map_data.PREVIEW_ZOOM - 1)
    at = _get(curator, bbox=VENICE, zoom=map_data.PREVIEW_ZOOM)

    assert [patch["rgb_preview"] for patch in below["patches"]] == [None, None]
    assert [patch["rgb_preview"] for patch in at["patches"]] == [
        f"/media/{world['venice_a'].rgb_preview.name}",
        f"/media/{world['venice_b'].rgb_preview.name}",
    ]


def test_a_crowded_viewport_is_counted_in_cells_even_zoomed_in(
    world, curator, monkeypatch
):
    monkeypatch.setattr(map_data, "MAX_FOOTPRINTS", 1)

    answer = _get(curator, bbox=VENICE, zoom=10)

    assert answer["mode"] == "cells"
    assert answer["cell_degrees"] == 90 / 2**10
    assert answer["total"] == 2
    assert sum(cell["statuses"].get("approved", 0) for cell in answer["cells"]) == 1
    assert sum(cell["classes"].get("80", 0) for cell in answer["cells"]) == 1


def test_a_viewport_across_the_antimeridian_holds_both_sides(world, curator):
    footprints = _get(curator, bbox="179,-18,-179,-16", zoom=10)
    assert {patch["id"] for patch in footprints["patches"]} == {
        world["fiji_east"].pk,
        world["fiji_west"].pk,
    }

    cells = _get(curator, bbox="170,-30,-170,0", zoom=5)
    assert cells["total"] == 2
    assert sorted(cell["west"] < 0 for cell in cells["cells"]) == [False, True]


def test_an_annotator_sees_only_the_patches_she_reviewed(world, annotator, curator):
    # A curator's counts, kept for a while, are not what she is shown.
    assert _get(curator, bbox=WORLD, zoom=2)["total"] == 5
    footprints = _get(annotator, bbox=VENICE, zoom=10)
    assert [patch["id"] for patch in footprints["patches"]] == [world["venice_a"].pk]

    cells = _get(annotator, bbox=WORLD, zoom=2)
    assert cells["total"] == 1
    assert cells["cells"][0]["statuses"] == {"approved": 1}


def test_an_annotator_sees_a_patch_she_has_a_revision_of(world):
    bob = make_user("bob", ANNOTATOR)
    caption = world["venice_b_caption"]
    Revision.objects.create(
        caption=caption, user=bob, action=Revision.Action.APPROVE,
        status_before="pending", status_after="approved", text_before="Trees.",
        text_after="Trees.", version_after=2,
    )  # fmt: skip

    footprints = _get(bob, bbox=VENICE, zoom=10)

    assert [patch["id"] for patch in footprints["patches"]] == [world["venice_b"].pk]


@pytest.mark.parametrize("role", ["curator", "consumer"])
def test_curators_and_consumers_see_every_patch(world, role, request):
    user = request.getfixturevalue(role)
    assert _get(user, bbox=WORLD, zoom=2)["total"] == 5
    assert len(_get(user, bbox=VENICE, zoom=10)["patches"]) == 2


def test_no_role_no_map_and_no_token_no_map(world):
    nina = make_user("nina", None)

    refused = token_client(nina).get(URL, {"bbox": WORLD, "zoom": 2})
    assert refused.status_code == 403
    assert "annotators, curators and consumers" in refused.json()["error"]
    assert token_client().get(URL, {"bbox": WORLD, "zoom": 2}).status_code == 401


def test_footprints_follow_a_review_at_once(world, curator):
    caption = world["venice_b_caption"]
    services.caption_reject(
        caption_id=caption.pk, user=curator, version=1, reason="wrong class"
    )

    answer = _get(curator, bbox=VENICE, zoom=10)

    assert [patch["status"] for patch in answer["patches"]] == ["approved", "rejected"]


def test_low_zoom_counts_are_kept_for_a_while(world, curator):
    before = _get(curator, bbox=WORLD, zoom=2)
    services.caption_reject(
        caption_id=world["venice_b_caption"].pk, user=curator, version=1, reason="x"
    )

    assert _get(curator, bbox=WORLD, zoom=2)["cells"] == before["cells"]
    cache.clear()  # as when the minute is over
    after = _cell(_get(curator, bbox=WORLD, zoom=2), 0, 45)
    assert after["statuses"] == {"approved": 1, "rejected": 1, "uncaptioned": 1}


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"zoom": 2}, "bbox"),
        ({"bbox": "1,2,3", "zoom": 2}, "bbox"),
        ({"bbox": "10,50,20,40", "zoom": 2}, "bbox"),
        ({"bbox": "10,40,200,50", "zoom": 2}, "bbox"),
        ({"bbox": "nan,40,20,50", "zoom": 2}, "bbox"),
        ({"bbox": WORLD}, "zoom"),
        ({"bbox": WORLD, "zoom": "two"}, "zoom"),
        ({"bbox": WORLD, "zoom": "2.5"}, "zoom"),
        ({"bbox": WORLD, "zoom": 23}, "zoom"),
        ({"bbox": WORLD, "zoom": -1}, "zoom"),
        ({"bbox": WORLD, "zoom": 2, "split": "holdout"}, "split"),
        ({"bbox": WORLD, "zoom": 2, "status": "verified"}, "status"),
        ({"bbox": WORLD, "zoom": 2, "bboxx": "1"}, "bboxx"),
    ],
)
def test_bad_parameters_are_a_400_naming_them(curator, params, named):
    response = token_client(curator).get(URL, params)

    assert response.status_code == 400
    assert response.json()["error"].startswith(f"{named}: ")


def _more_patches(count: int) -> None:
    scene = make_scene("map-more", west=12.0, south=45.0, east=12.1, north=45.1)
    for n in range(count):
        west = 12.05 + n * 0.001
        patch = _patch(scene, n, (west, 45.05, west + 0.001, 45.051), dominant_class=10)
        _caption(patch, Caption.Status.PENDING)


# The token and the caller's groups, then: footprints, a bounded count and the rows;
# the world, the grid's query (on PostgreSQL in a savepoint with its own settings:
# three more) and, once it is cached, nothing.
@pytest.mark.parametrize(
    ("bbox", "zoom", "most"), [(VENICE, 12, 5), (VENICE, 10, 5), (WORLD, 2, 7)]
)
def test_the_queries_do_not_grow_with_the_patches(
    world, curator, bbox, zoom, most, django_assert_max_num_queries
):
    client = token_client(curator)
    _more_patches(20)
    with django_assert_max_num_queries(most):
        response = client.get(URL, {"bbox": bbox, "zoom": zoom})
    assert response.status_code == 200
    assert response.json()["total"] == (22 if bbox == VENICE else 25)
    with django_assert_max_num_queries(3 if zoom < map_data.FOOTPRINT_ZOOM else most):
        assert client.get(URL, {"bbox": bbox, "zoom": zoom}).status_code == 200


@pytest.mark.parametrize("zoom", [2, 9])
def test_a_centre_just_off_a_grid_line_falls_in_the_cell_before_it(
    curator, zoom, monkeypatch
):
    # The cell index is computed in SQL, one way per database (a CAST on SQLite,
    # FLOOR on PostgreSQL); zoom 9 counts in SQL directly, zoom 2 sums the grid.
    monkeypatch.setattr(map_data, "MAX_FOOTPRINTS", 0)
    scene = make_scene("map-edge", west=-1, south=-1, east=1, north=1)
    _patch(scene, 0, (-0.0002, -0.0002, 0.0, 0.0), dominant_class=TREE)
    size = 90 / 2**zoom

    answer = _get(curator, bbox="-0.1,-0.1,0.1,0.1", zoom=zoom)

    assert answer["mode"] == "cells"
    assert [(cell["west"], cell["south"]) for cell in answer["cells"]] == [
        (pytest.approx(-size), pytest.approx(-size))
    ]
