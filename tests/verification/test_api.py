"""The review queue through the API: the page's services behind token endpoints.

Alice and Bob annotate, Carol curates, Dave consumes the dataset and does not review
(tests/verification/conftest.py).
"""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from captions.generation.checks import check_caption
from captions.models import Caption
from tests.api_data import token_client
from tests.verification.conftest import TEXT, make_captions
from verification import queue, services
from verification.models import Revision

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

NEXT = reverse("api-review-next")


def act(user, caption: Caption, **body):
    return token_client(user).post(
        reverse("api-review-action", args=[caption.pk]), body, format="json"
    )


def claim(user, **body) -> dict:
    response = token_client(user).post(NEXT, body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


# --- claiming ---------------------------------------------------------------------


def test_the_next_caption_is_claimed_with_what_reviewing_needs(alice):
    make_captions(2, failing=1)
    body = claim(alice)
    caption = Caption.objects.get(pk=body["id"])
    assert caption.claimed_by == alice
    assert body["version"] == 1 and body["status"] == "pending"
    assert body["text"] == TEXT
    assert body["failed_checks"] == 1  # the failing one comes first
    assert body["patch"]["landcover"] == caption.patch.landcover
    assert body["patch"]["rgb_url"].startswith("http://testserver/media/")
    assert body["claim_expires_at"]


def test_asking_again_returns_the_caption_already_held(alice, bob):
    make_captions(2)
    first = claim(alice)
    assert claim(alice)["id"] == first["id"]
    assert claim(bob)["id"] != first["id"]


def test_an_empty_queue_is_a_204(alice):
    response = token_client(alice).post(NEXT)
    assert response.status_code == 204
    assert response.content == b""


def test_a_skipped_caption_goes_back_and_is_not_offered_again_at_once(alice):
    make_captions(2)
    first = Caption.objects.get(pk=claim(alice)["id"])
    response = act(alice, first, action="skip")
    assert response.status_code == 200
    first.refresh_from_db()
    assert first.claimed_by is None
    assert claim(alice, skip_ids=[first.pk])["id"] != first.pk


def test_skip_ids_gather_no_more_than_two_claims(alice):
    make_captions(10)
    skip_ids: list[int] = []
    for _ in range(8):
        skip_ids.append(claim(alice, skip_ids=skip_ids)["id"])
    held = Caption.objects.filter(claimed_by=alice)
    assert held.count() == 2
    # The two held are the last two taken: the older skipped claims went back.
    assert set(held.values_list("pk", flat=True)) == set(skip_ids[-2:])


def test_a_curator_may_narrow_the_queue_to_a_scene_or_a_job(alice, carol):
    captions = make_captions(2)
    scene_id = captions[0].patch.scene_id
    response = token_client(carol).post(NEXT, {"scene": scene_id + 1}, format="json")
    assert response.status_code == 204
    assert claim(carol, scene=scene_id)["id"] in {c.pk for c in captions}
    refused = token_client(alice).post(NEXT, {"scene": scene_id}, format="json")
    assert refused.status_code == 403
    assert "curators" in refused.json()["error"]


def test_a_curator_may_narrow_the_queue_to_a_failed_check_or_a_class(alice, carol):
    failing, _ = make_captions(2, failing=1)
    assert claim(carol, check="x")["id"] == failing.pk
    queue.claim_release(caption_id=failing.pk, user=carol)
    # Both patches hold water (80), none cropland (40).
    cropland = token_client(carol).post(NEXT, {"landcover_class": 40}, format="json")
    assert cropland.status_code == 204
    assert claim(carol, landcover_class=80)["id"] == failing.pk
    refused = token_client(alice).post(NEXT, {"check": "x"}, format="json")
    assert refused.status_code == 403


# --- acting -------------------------------------------------------------------------


@pytest.fixture
def held(alice) -> Caption:
    make_captions(3)
    return Caption.objects.get(pk=claim(alice)["id"])


def test_approve_records_a_revision_and_releases_the_claim(alice, held):
    response = act(alice, held, action="approve", version=1, seconds_spent=12.5)
    assert response.status_code == 200
    assert response.json()["status"] == "approved"
    assert response.json()["version"] == 2
    held.refresh_from_db()
    assert held.reviewed_by == alice and held.claimed_by is None
    revision = Revision.objects.get(caption=held)
    assert (revision.action, revision.seconds_spent) == ("approve", 12.5)


def test_edit_saves_the_text_and_rechecks_it(alice, held):
    response = act(alice, held, action="edit", version=1, text="  Only water.  ")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "edited"
    assert body["text"] == "Only water."
    assert body["checks"] == check_caption("Only water.", held.patch.landcover)
    assert body["checks"], "a caption this short fails a check"


def test_reject_keeps_the_reason(alice, held):
    response = act(alice, held, action="reject", version=1, reason="cut off")
    assert response.status_code == 200
    assert response.json()["status"] == "rejected"
    assert Revision.objects.get(caption=held).reason == "cut off"


def test_a_stale_version_is_a_409_with_the_current_caption(alice, carol, held):
    services.caption_edit(caption_id=held.pk, user=carol, version=1, text="Carol's.")
    # Carol's save ended Alice's claim; Alice's client still holds version 1.
    Caption.objects.filter(pk=held.pk).update(
        claimed_by=alice, claim_expires_at=timezone.now() + dt.timedelta(minutes=1)
    )
    response = act(alice, held, action="edit", version=1, text="Alice's.")
    assert response.status_code == 409
    body = response.json()
    assert "changed by someone else" in body["error"]
    assert body["current"]["text"] == "Carol's."
    assert body["current"]["version"] == 2
    assert body["current"]["patch"]["id"] == held.patch_id
    assert Caption.objects.get(pk=held.pk).text == "Carol's."


def test_someone_elses_claim_is_a_409_without_a_change(bob, held):
    response = act(bob, held, action="approve", version=1)
    assert response.status_code == 409
    assert "not claimed by you" in response.json()["error"]
    assert "current" not in response.json()
    assert Caption.objects.get(pk=held.pk).status == "pending"


def test_a_curator_may_act_on_any_caption(carol, held):
    response = act(carol, held, action="approve", version=1)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"action": "edit", "version": 1, "text": ""}, "cannot be empty"),
        ({"action": "edit", "version": 1, "text": "   \n"}, "cannot be empty"),
        ({"action": "edit", "version": 1, "text": "x" * 5001}, "at most 5000"),
        ({"action": "reject", "version": 1, "reason": " "}, "say why"),
        ({"action": "publish", "version": 1}, "action:"),
        ({"action": "approve"}, "version:"),
        ({"action": "approve", "version": 0}, "version:"),
        ({"action": "approve", "version": "one"}, "version:"),
        ({"action": "edit", "version": 1}, "text:"),
        ({"action": "reject", "version": 1}, "reason:"),
        ({"version": 1}, "action:"),
    ],
)
def test_bad_input_is_a_400_and_changes_nothing(alice, held, body, message):
    response = act(alice, held, **body)
    assert response.status_code == 400
    assert message in response.json()["error"]
    held.refresh_from_db()
    assert (held.status, held.version) == ("pending", 1)


def test_a_body_that_is_not_json_is_a_400(alice, held):
    response = token_client(alice).post(
        reverse("api-review-action", args=[held.pk]),
        data="action=approve",
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "error" in response.json()


def test_a_caption_that_does_not_exist_is_a_404(alice, held):
    response = token_client(alice).post(
        reverse("api-review-action", args=[10**6]),
        {"action": "approve", "version": 1},
        format="json",
    )
    assert response.status_code == 404
    assert response.json()["error"] == "no such caption"
    skip = token_client(alice).post(
        reverse("api-review-action", args=[10**6]), {"action": "skip"}, format="json"
    )
    assert skip.status_code == 404


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("api-review-next", {"skip_ids": [], "skip": [1]}),
        ("api-review-action", {"action": "approve", "version": 1, "comment": "ok"}),
        ("api-review-renew", {"minutes": 60}),
    ],
)
def test_an_unknown_key_is_a_400_naming_it_and_changes_nothing(alice, held, name, body):
    args = [] if name == "api-review-next" else [held.pk]
    response = token_client(alice).post(reverse(name, args=args), body, format="json")
    assert response.status_code == 400
    unknown = (set(body) - {"skip_ids", "action", "version"}).pop()
    assert response.json()["error"].startswith(f"{unknown}: unknown key")
    held.refresh_from_db()
    assert (held.status, held.version, held.claimed_by) == ("pending", 1, alice)
    assert Caption.objects.filter(claimed_by=alice).count() == 1


# --- the claim's lease ------------------------------------------------------------


def test_the_holder_renews_a_claim_others_may_not(alice, bob, held):
    url = reverse("api-review-renew", args=[held.pk])
    response = token_client(alice).post(url)
    assert response.status_code == 200
    assert response.json()["id"] == held.pk
    other = token_client(bob).post(url)
    assert other.status_code == 409
    assert "not claimed by you" in other.json()["error"]


# --- who may ------------------------------------------------------------------------


def test_a_consumer_may_not_review(dave, held):
    assert token_client(dave).post(NEXT).status_code == 403
    response = act(dave, held, action="approve", version=1)
    assert response.status_code == 403
    assert Caption.objects.get(pk=held.pk).status == "pending"


def test_anonymous_callers_get_401(held):
    response = APIClient().post(NEXT)
    assert response.status_code == 401
    assert "error" in response.json()


def test_a_browser_session_needs_its_csrf_token(alice, held):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post(NEXT)
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]
