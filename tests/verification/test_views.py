"""Who may use each review page and endpoint, and what bad input gets."""

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from captions.generation.checks import MAX_CAPTION_CHARS
from captions.models import Caption, Patch
from tests.verification.conftest import make_captions
from verification import queue, services, views
from verification.models import Revision

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def post_action(client: Client, caption: Caption, **body) -> tuple[int, dict]:
    response = client.post(
        reverse("review-action", args=[caption.pk]),
        data=json.dumps(body),
        content_type="application/json",
    )
    return response.status_code, response.json()


@pytest.fixture
def held(alice) -> Caption:
    make_captions(3)
    caption = queue.queue_claim_next(user=alice)
    assert caption is not None
    return caption


# --- who may -------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login_page(held):
    client = client_for(None)
    for url in (
        reverse("review-next"),
        reverse("review", args=[held.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
    response = client.post(reverse("review-action", args=[held.pk]))
    assert response.status_code == 302


def test_a_consumer_may_not_review(held, dave):
    client = client_for(dave)
    assert client.get(reverse("review-next")).status_code == 403
    assert client.get(reverse("review", args=[held.pk])).status_code == 403
    status, _ = post_action(client, held, action="approve", version=1)
    assert status == 403
    assert Caption.objects.get(pk=held.pk).status == "pending"


def test_the_next_caption_is_claimed_and_opened(alice, bob):
    make_captions(2)
    response = client_for(alice).get(reverse("review-next"))
    assert response.status_code == 302
    caption_id = int(response["Location"].split("/")[2])
    assert Caption.objects.get(pk=caption_id).claimed_by == alice
    other = client_for(bob).get(reverse("review-next"))
    assert int(other["Location"].split("/")[2]) != caption_id


def test_an_empty_queue_says_so(alice):
    response = client_for(alice).get(reverse("review-next"))
    assert response.status_code == 200
    assert b"Nothing left to review" in response.content


def test_a_curator_may_review_and_filter_the_queue(carol):
    captions = make_captions(3)
    wanted = captions[2]
    response = client_for(carol).get(
        reverse("review-next") + f"?job=&scene={wanted.patch.scene_id}"
    )
    assert response.status_code == 302


# --- actions --------------------------------------------------------------------


def test_approve_through_the_endpoint(alice, held):
    status, body = post_action(client_for(alice), held, action="approve", version=1)
    assert status == 200
    assert body["caption"]["status"] == "approved"
    assert body["next"] == reverse("review-next")


def test_a_stale_save_gets_409_with_the_current_text(alice, carol, held):
    services.caption_edit(caption_id=held.pk, user=carol, version=1, text="Carol's.")
    # Carol's save ended Alice's claim; Alice's page is still open and renews it.
    Caption.objects.filter(pk=held.pk).update(
        claimed_by=alice, claim_expires_at=timezone.now() + dt.timedelta(minutes=1)
    )
    status, body = post_action(
        client_for(alice), held, action="edit", version=1, text="Alice's."
    )
    assert status == 409
    assert body["current"]["text"] == "Carol's."
    assert body["current"]["version"] == 2
    assert Caption.objects.get(pk=held.pk).text == "Carol's."


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"action": "dance", "version": 1}, "unknown action 'dance'"),
        ({"action": "approve"}, "send the caption's version"),
        ({"action": "edit", "version": 1, "text": "  "}, "cannot be empty"),
        ({"action": "edit", "version": 1, "text": "x" * 5001}, "at most 5000"),
        ({"action": "edit", "version": 1}, "send the edited text"),
        ({"action": "reject", "version": 1, "reason": ""}, "say why"),
    ],
)
def test_bad_input_gets_a_clear_400_and_changes_nothing(alice, held, body, message):
    status, answer = post_action(client_for(alice), held, **body)
    assert status == 400
    assert message in answer["error"]
    caption = Caption.objects.get(pk=held.pk)
    assert (caption.status, caption.version, caption.text) == ("pending", 1, held.text)
    assert not Revision.objects.exists()


def test_a_body_that_is_not_json_is_a_400(alice, held):
    response = client_for(alice).post(
        reverse("review-action", args=[held.pk]),
        data="{",
        content_type="application/json",
    )
    assert response.status_code == 400


def test_another_users_claim_gets_409_and_changes_nothing(bob, held):
    status, answer = post_action(client_for(bob), held, action="approve", version=1)
    assert status == 409
    assert "not claimed by you" in answer["error"]
    assert Caption.objects.get(pk=held.pk).status == "pending"


def test_an_unknown_caption_is_404(alice):
    response = client_for(alice).post(
        reverse("review-action", args=[999999]),
        data=json.dumps({"action": "approve", "version": 1}),
        content_type="application/json",
    )
    assert response.status_code == 404


def test_actions_need_the_csrf_token(alice, held):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post(
        reverse("review-action", args=[held.pk]),
        data=json.dumps({"action": "approve", "version": 1}),
        content_type="application/json",
    )
    assert response.status_code == 403
    assert Caption.objects.get(pk=held.pk).status == "pending"


def test_skip_releases_the_claim_and_the_next_caption_is_another(alice, held):
    client = client_for(alice)
    status, _ = post_action(client, held, action="skip")
    assert status == 200
    assert Caption.objects.get(pk=held.pk).claimed_by is None
    response = client.get(reverse("review-next"))
    assert int(response["Location"].split("/")[2]) != held.pk


def test_renew_extends_only_ones_own_claim(alice, bob, held):
    assert (
        client_for(alice).post(reverse("review-renew", args=[held.pk])).status_code
        == 200
    )
    assert (
        client_for(bob).post(reverse("review-renew", args=[held.pk])).status_code == 409
    )


def test_claim_ahead_holds_one_more_caption_and_answers_the_same_when_asked_again(
    alice, bob, held
):
    url = reverse("review-ahead", args=[held.pk])
    first = client_for(alice).post(url)
    assert first.status_code == 200
    following = first.json()["next"]
    assert following["id"] != held.pk
    assert following["url"] == reverse("review", args=[following["id"]])
    assert len(following["images"]) == 2
    assert Caption.objects.get(pk=following["id"]).claimed_by == alice
    # Asking again (a reload) does not take a third caption.
    assert client_for(alice).post(url).json()["next"]["id"] == following["id"]
    assert Caption.objects.filter(claimed_by=alice).count() == 2
    # Bob's queue goes around both of Alice's claims.
    bob_next = client_for(bob).get(reverse("review-next"))
    assert int(bob_next["Location"].split("/")[2]) not in (held.pk, following["id"])


def test_claim_ahead_at_the_end_of_the_queue_says_there_is_none(alice):
    make_captions(1)
    caption = queue.queue_claim_next(user=alice)
    assert caption is not None
    response = client_for(alice).post(reverse("review-ahead", args=[caption.pk]))
    assert response.status_code == 200
    assert response.json() == {"next": None}


def test_claim_ahead_is_for_reviewers_only(dave, held):
    url = reverse("review-ahead", args=[held.pk])
    assert client_for(dave).post(url).status_code == 403
    assert client_for(None).post(url).status_code == 302
    assert client_for(dave).get(url).status_code == 405
    assert Caption.objects.filter(claimed_by=dave).count() == 0


def test_claim_ahead_never_takes_a_third_caption_whichever_id_it_names(alice, held):
    client = client_for(alice)
    others = make_captions(4)
    assert client.post(reverse("review-ahead", args=[held.pk])).status_code == 200
    for caption in others:
        assert (
            client.post(reverse("review-ahead", args=[caption.pk])).status_code == 200
        )
    assert Caption.objects.filter(claimed_by=alice).count() == 2


@pytest.mark.parametrize(
    "query",
    [
        f"scene={2**64}",
        f"job={2**63}",
        "class=256",
        "scene=0",
        "scene=-1",
        "job=١٢",
        "class=²",
        "scene=abc",
        "check=" + "x" * 41,
        "check=absent%00class",
    ],
)
def test_a_malformed_queue_filter_is_a_400_page_and_claims_nothing(carol, query):
    make_captions(2)
    response = client_for(carol).get(reverse("review-next") + "?" + query)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert query.split("=")[0].encode() in response.content
    ahead = client_for(carol).post(reverse("review-ahead", args=[1]) + "?" + query)
    assert ahead.status_code == 400
    assert query.split("=")[0] in ahead.json()["error"]
    assert not Caption.objects.filter(claimed_by=carol).exists()


def test_an_annotators_queue_filters_are_ignored(alice):
    make_captions(1)
    response = client_for(alice).get(reverse("review-next") + f"?scene={2**64}")
    assert response.status_code == 302


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"action": "approve", "version": 1, "status": "approved"}, "status"),
        ({"action": "edit", "version": 1, "text": "Water.", "txt": "x"}, "txt"),
        ({"action": "skip", "next": 3}, "next"),
    ],
)
def test_an_unknown_key_in_an_action_is_a_400_and_changes_nothing(
    alice, held, body, key
):
    status, answer = post_action(client_for(alice), held, **body)
    assert status == 400
    assert f"unknown key '{key}'" in answer["error"]
    caption = Caption.objects.get(pk=held.pk)
    assert (caption.status, caption.version, caption.claimed_by) == (
        "pending",
        1,
        alice,
    )


@pytest.mark.parametrize("name", ["review-renew", "review-ahead"])
def test_renew_and_claim_ahead_take_no_keys(alice, held, name):
    client = client_for(alice)
    url = reverse(name, args=[held.pk])
    refused = client.post(
        url, data='{"until": "2099-01-01"}', content_type="application/json"
    )
    assert refused.status_code == 400
    assert "unknown key 'until'" in refused.json()["error"]
    assert Caption.objects.filter(claimed_by=alice).count() == 1
    assert (
        client.post(url, data="{}", content_type="application/json").status_code == 200
    )


def test_an_action_body_over_the_limit_is_a_json_413(alice, held, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    status, answer = post_action(
        client_for(alice), held, action="edit", version=1, text="x" * 2000
    )
    assert status == 413
    assert "over 1,000 bytes" in answer["error"]
    assert Caption.objects.get(pk=held.pk).version == 1


def test_reverting_a_revision_that_does_not_exist_is_a_404(carol):
    for revision_id in (999_999, 2**64):
        url = reverse("review-revert", args=[revision_id])
        assert client_for(carol).post(url).status_code == 404


def test_only_curators_may_revert(alice, carol, held):
    services.caption_edit(caption_id=held.pk, user=alice, version=1, text="Changed.")
    revision = Revision.objects.get()
    url = reverse("review-revert", args=[revision.pk])
    assert client_for(alice).post(url).status_code == 403
    response = client_for(carol).post(url)
    assert response.status_code == 302
    assert Caption.objects.get(pk=held.pk).text == held.text


def test_the_review_page_and_claim_use_a_fixed_number_of_queries(
    alice, django_assert_max_num_queries
):
    captions = make_captions(3)
    client = client_for(alice)
    for caption in captions[:2]:
        services.caption_edit(
            caption_id=caption.pk, user=make_user_curator(), version=caption.version,
            text="Changed once.",
        )  # fmt: skip
    # Session, user, roles, then the claim in a savepoint (two statements): on
    # PostgreSQL the person's row locked, the items they hold (one UNION over the
    # three kinds), the QA reviews open to them (none), SELECT ... FOR UPDATE SKIP
    # LOCKED and UPDATE, then the caption with its patch; on SQLite the held items,
    # QA, candidates, UPDATE, the caption. The quality settings come from the cache
    # after the first claim (here: this one reads them, then caches them).
    with django_assert_max_num_queries(12):
        response = client.get(reverse("review-next"))
    caption_id = int(response["Location"].split("/")[2])
    # Session, user, roles (once for both role checks), caption with patch, the
    # blind items held on it (none: one UNION), history.
    with django_assert_max_num_queries(6):
        assert client.get(reverse("review", args=[caption_id])).status_code == 200
    # A verified caption: one more, whether it is under blind review (one EXISTS).
    with django_assert_max_num_queries(7):
        assert client.get(reverse("review", args=[captions[0].pk])).status_code == 200


def make_user_curator():
    from django.contrib.auth import get_user_model

    from tests.verification.conftest import make_user
    from verification.roles import CURATOR

    existing = get_user_model().objects.filter(username="curator-q").first()
    return existing or make_user("curator-q", CURATOR)


def test_the_review_page_preloads_every_module_of_its_script(alice, held):
    """A module the page does not preload is fetched only when its importer has
    loaded: one more round trip before the page works."""
    page = client_for(alice).get(reverse("review", args=[held.pk])).content.decode()
    folder = Path(settings.BASE_DIR) / "static" / "verification" / "review"
    modules = sorted(path.name for path in folder.glob("*.js"))
    assert modules
    preloaded = sorted(
        re.findall(r'rel="modulepreload" href="[^"]*/review/([^"/]+)"', page)
    )
    assert preloaded == modules


def test_the_edit_box_holds_as_many_characters_as_a_save_takes(alice, monkeypatch):
    """The textarea's limit is the check's (MAX_CAPTION_CHARS), not a second number."""
    make_captions(1)
    client = client_for(alice)
    page = client.get(client.get(reverse("review-next"))["Location"])
    assert f'maxlength="{MAX_CAPTION_CHARS}"' in page.content.decode()
    monkeypatch.setattr(views, "MAX_CAPTION_CHARS", 1234)
    page = client.get(client.get(reverse("review-next"))["Location"])
    assert 'maxlength="1234"' in page.content.decode()


def test_a_narrowed_queue_says_so_on_the_page_and_when_it_is_empty(carol):
    """A curator who came from the map's box sees the area on every caption, and
    an empty narrowed queue says it is the area that is done, not the queue."""
    captions = make_captions(1)
    Patch.objects.update(west=2.3, south=48.8, east=2.4, north=48.9)  # Paris
    client = client_for(carol)
    query = "?bbox=-10,40,5,50&class=80"
    page = client.get(client.get(reverse("review-next") + query)["Location"])
    text = page.content.decode()
    assert "Queue narrowed to class Permanent water bodies, area -10,40,5,50" in text
    assert 'href="/review/next/">whole queue' in text
    plain = client.get(client.get(reverse("review-next"))["Location"])
    assert "data-queue-narrowed" not in plain.content.decode()

    Caption.objects.filter(pk__in=[c.pk for c in captions]).update(status="approved")
    empty = client.get(reverse("review-next") + query)
    assert empty.status_code == 200
    assert "Nothing is left in the queue narrowed to class Permanent water bodies" in (
        empty.content.decode()
    )
