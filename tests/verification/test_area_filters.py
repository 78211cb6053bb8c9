"""An area (`bbox=west,south,east,north`) narrows the review queue and the QA
sample, as it narrows the patches API.

Alice annotates, Carol curates, Dave consumes (tests/verification/conftest.py). Four
pending captions lie on four patches, in the queue's order: one without a
footprint, one each side of the antimeridian near Fiji, one on Venice.
"""

import io
import threading
from collections import Counter
from urllib.parse import quote

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from captions.geo.bbox import parse_bbox
from captions.models import Caption, Patch
from tests.api_data import token_client
from tests.verification.conftest import make_captions, make_user
from tests.verification.test_second_opinions import first_edit, rates
from tests.verification.test_views import client_for
from verification import queue, services
from verification.models import QaReview
from verification.roles import CURATOR

pytestmark = pytest.mark.django_db

FOOTPRINTS = {
    "nowhere": None,
    "fiji_east": (179.5, -17.0, 180.0, -16.5),
    "fiji_west": (-180.0, -17.0, -179.5, -16.5),
    "venice": (12.0, 45.0, 12.1, 45.1),
}
VENICE = "11.9,44.9,12.2,45.2"
FIJI = "179,-18,-179,-16"  # west > east: across the antimeridian
MALFORMED = [
    ("12,45,13", "give four numbers: west,south,east,north (degrees)"),
    ("a,b,c,d", "give four numbers"),
    ("nan,45,13,46", "give four numbers"),
    ("190,45,200,46", "longitudes lie between -180 and 180"),
    ("12,46,13,45", "latitudes lie between -90 and 90, south before north"),
]


def place(captions: list[Caption], names) -> dict[str, Caption]:
    """Give each caption's patch the footprint of its name."""
    placed = dict(zip(names, captions, strict=True))
    for name, caption in placed.items():
        west, south, east, north = FOOTPRINTS[name] or (None,) * 4
        Patch.objects.filter(pk=caption.patch_id).update(
            west=west, south=south, east=east, north=north
        )
    return placed


@pytest.fixture
def world(db) -> dict[str, Caption]:
    return place(make_captions(4), FOOTPRINTS)


def review_all(user, queue_filter: queue.QueueFilter) -> list[int]:
    """Claim and approve captions through the filter until it gives none."""
    reviewed = []
    while caption := queue.queue_claim_next(user=user, queue_filter=queue_filter):
        reviewed.append(caption.pk)
        services.caption_approve(caption_id=caption.pk, user=user, version=1)
    return reviewed


def ids(world: dict[str, Caption], *names: str) -> set[int]:
    return {world[name].pk for name in names}


# --- The queue ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bbox", "inside"),
    [
        (VENICE, ["venice"]),
        (FIJI, ["fiji_east", "fiji_west"]),
        ("12.1,45.1,12.2,45.2", ["venice"]),  # touching a corner is meeting
        ("-180,-90,180,90", ["fiji_east", "fiji_west", "venice"]),
        ("0,0,1,1", []),
    ],
)
def test_a_curators_area_narrows_the_queue_to_footprints_meeting_it(
    world, carol, bbox, inside
):
    reviewed = review_all(carol, queue.QueueFilter(bbox=parse_bbox(bbox)))
    assert set(reviewed) == ids(world, *inside)
    # Outside the box and without a footprint: still pending, for everyone else.
    left = set(Caption.objects.filter(status="pending").values_list("pk", flat=True))
    assert left == ids(world, *(set(FOOTPRINTS) - set(inside)))


def test_the_page_keeps_the_area_from_caption_to_caption(world, carol):
    client = client_for(carol)
    query = f"?bbox={quote(FIJI, safe='')}"
    first = client.get(reverse("review-next") + f"?bbox={FIJI}")
    assert first.status_code == 302
    assert first["Location"] == reverse("review", args=[world["fiji_east"].pk]) + query
    page = client.get(first["Location"])
    assert page.status_code == 200
    assert f'data-query="{query}"'.encode() in page.content
    # The caption claimed ahead is the other one inside, and its page keeps the area.
    ahead = client.post(reverse("review-ahead", args=[world["fiji_east"].pk]) + query)
    assert ahead.json()["next"]["id"] == world["fiji_west"].pk
    assert ahead.json()["next"]["url"].endswith(query)
    for name in ("fiji_east", "fiji_west"):
        services.caption_approve(caption_id=world[name].pk, user=carol, version=1)
    # Nothing is left inside, though Venice and the patch with no footprint wait.
    done = client.get(reverse("review-next") + query)
    assert done.status_code == 200
    assert "verification/queue_empty.html" in [t.name for t in done.templates]
    assert Caption.objects.filter(status="pending").count() == 2


@pytest.mark.parametrize(("bbox", "words"), MALFORMED)
def test_a_malformed_area_is_a_400_naming_bbox_and_claims_nothing(
    world, carol, bbox, words
):
    client = client_for(carol)
    page = client.get(reverse("review-next"), {"bbox": bbox})
    assert page.status_code == 400
    assert f"bbox: {words}".encode() in page.content
    ahead = client.post(
        reverse("review-ahead", args=[world["venice"].pk]) + f"?bbox={quote(bbox)}"
    )
    assert ahead.status_code == 400
    assert ahead.json()["error"].startswith(f"bbox: {words}")
    assert not Caption.objects.filter(claimed_by=carol).exists()


def test_an_annotators_area_is_ignored_as_their_other_filters(world, alice):
    client = client_for(alice)
    # The first caption in the queue's order lies nowhere, outside Venice.
    first = client.get(reverse("review-next"), {"bbox": VENICE})
    assert first["Location"].startswith(
        reverse("review", args=[world["nowhere"].pk]) + "?"
    )
    assert client.get(reverse("review-next"), {"bbox": "x"}).status_code == 302


@pytest.mark.parametrize(("role", "status"), [("anonymous", 302), ("consumer", 403)])
def test_who_does_not_review_gets_no_caption_by_area(world, dave, role, status):
    user = {"anonymous": None, "consumer": dave}[role]
    response = client_for(user).get(reverse("review-next"), {"bbox": VENICE})
    assert response.status_code == status
    assert not Caption.objects.exclude(claimed_by=None).exists()


def test_the_queue_api_takes_the_area_from_curators_only(world, alice, carol):
    url = reverse("api-review-next")
    claimed = token_client(carol).post(url, {"bbox": FIJI}, format="json")
    assert claimed.status_code == 200
    assert claimed.json()["id"] in ids(world, "fiji_east", "fiji_west")
    refused = token_client(alice).post(url, {"bbox": FIJI}, format="json")
    assert refused.status_code == 403
    assert not Caption.objects.filter(claimed_by=alice).exists()


@pytest.mark.parametrize(("bbox", "words"), MALFORMED)
def test_a_malformed_area_through_the_queue_api_is_a_400_naming_bbox(
    world, carol, bbox, words
):
    response = token_client(carol).post(
        reverse("api-review-next"), {"bbox": bbox}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith(f"bbox: {words}")
    assert not Caption.objects.filter(claimed_by=carol).exists()


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SKIP LOCKED claims need PostgreSQL"
)
@pytest.mark.django_db(transaction=True)
def test_curators_claiming_one_area_at_once_get_each_caption_inside_once():
    rates(qa=0.0)
    captions = make_captions(60)
    names = ["fiji_east", "venice", "fiji_west", "nowhere"] * 15
    inside = {c.pk for c, name in zip(captions, names, strict=True) if "fiji" in name}
    for caption, name in zip(captions, names, strict=True):
        place([caption], [name])
    curators = [make_user(f"curator{n}", CURATOR) for n in range(8)]
    area = queue.QueueFilter(bbox=parse_bbox(FIJI))
    claimed: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(len(curators))

    def work(user) -> None:
        try:
            start.wait()
            mine = review_all(user, area)
            with lock:
                claimed.extend(mine)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(user,)) for user in curators]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert [pk for pk, n in Counter(claimed).items() if n > 1] == []
    assert set(claimed) == inside
    assert Caption.objects.filter(status="pending").count() == 30


# --- The QA sample ------------------------------------------------------------------


@pytest.fixture
def edited(alice) -> dict[str, Caption]:
    """Alice has edited each caption of the world (no QA reviews opened by rate)."""
    rates(qa=0.0)
    placed = place(make_captions(4), FOOTPRINTS)
    for _ in placed:
        first_edit(alice)
    return placed


def test_a_qa_sample_by_area_opens_reviews_only_inside(edited, carol):
    api = token_client(carol)
    url = reverse("api-qa-sample")
    # Every caption holds tree cover (10) and water (80).
    fiji = api.post(url, {"per_class": 5, "bbox": FIJI}, format="json")
    assert fiji.status_code == 200
    assert fiji.json() == {"opened": {"10": 2}}
    sampled = set(QaReview.objects.values_list("caption_id", flat=True))
    assert sampled == ids(edited, "fiji_east", "fiji_west")
    venice = api.post(url, {"per_class": 1, "bbox": VENICE}, format="json")
    assert venice.json() == {"opened": {"10": 1}}
    assert QaReview.objects.filter(caption=edited["venice"]).exists()
    # Without an area the patch with no footprint is sampled too.
    everywhere = api.post(url, {"per_class": 4}, format="json")
    assert everywhere.json() == {"opened": {"10": 1}}
    assert QaReview.objects.count() == 4


@pytest.mark.parametrize(("bbox", "words"), MALFORMED)
def test_a_malformed_qa_sample_area_is_a_400_naming_bbox(edited, carol, bbox, words):
    response = token_client(carol).post(
        reverse("api-qa-sample"), {"per_class": 5, "bbox": bbox}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith(f"bbox: {words}")
    assert not QaReview.objects.exists()


@pytest.mark.parametrize(
    ("role", "status"),
    [("anonymous", 401), ("annotator", 403), ("consumer", 403), ("curator", 200)],
)
def test_only_curators_sample_qa_by_area(edited, alice, carol, dave, role, status):
    user = {"anonymous": None, "annotator": alice, "consumer": dave,
            "curator": carol}[role]  # fmt: skip
    response = token_client(user).post(
        reverse("api-qa-sample"), {"per_class": 5, "bbox": FIJI}, format="json"
    )
    assert response.status_code == status
    assert QaReview.objects.exists() == (status == 200)


def test_sample_qa_takes_the_area_too(edited):
    out = io.StringIO()
    call_command(
        "sample_qa", "--per-class", "5", "--bbox=-180,-18,-179,-16", stdout=out
    )
    assert "Tree cover: 1 opened" in out.getvalue()
    sampled = set(QaReview.objects.values_list("caption_id", flat=True))
    assert sampled == ids(edited, "fiji_west")
    with pytest.raises(CommandError, match=r"--bbox: longitudes lie between"):
        call_command("sample_qa", "--per-class", "5", "--bbox", "190,45,200,46")
    assert QaReview.objects.count() == 1
