"""What curators do in the quality loop (verification/curation.py): adjudicate a
disagreement (page, API), mark and unmark gold, sample QA by class, set the rates.
Each change to a caption is a revision."""

import io

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.urls import reverse

from captions.models import Caption
from tests.api_data import token_client
from tests.verification.conftest import TEXT, make_captions
from tests.verification.test_second_opinions import EDITED, decide, first_edit, rates
from tests.verification.test_views import client_for
from verification import curation, queue
from verification.errors import ReviewError
from verification.models import (
    QUALITY_CACHE_KEY,
    GoldCaption,
    QaReview,
    QualitySettings,
    Revision,
)

pytestmark = pytest.mark.django_db


def disagreement(alice, bob) -> QaReview:
    """Alice edits, Bob (blind) rejects: a disagreement to adjudicate."""
    rates(qa=1.0)
    make_captions(1)
    caption = first_edit(alice)
    assert queue.queue_claim_next(user=bob) is not None
    decide(bob, caption, "reject", version=1, reason="cut off")
    review = QaReview.objects.get(caption=caption)
    assert review.state == "disagreed"
    return review


@pytest.mark.parametrize(
    ("choice", "status", "text"),
    [
        ("first", "edited", EDITED),
        ("second", "rejected", TEXT),
        ("third", "edited", "Trees above, water below."),
    ],
)
def test_adjudication_keeps_first_second_or_a_third(
    alice, bob, carol, choice, status, text
):
    review = disagreement(alice, bob)
    caption = curation.qa_adjudicate(
        review_id=review.pk, user=carol, choice=choice, version=2, text=text
    )
    assert (caption.status, caption.text) == (status, text)
    revision = Revision.objects.get(caption=caption, action="adjudicate")
    assert revision.user == carol and choice in revision.reason
    review.refresh_from_db()
    assert (review.state, review.adjudication) == ("adjudicated", choice)
    with pytest.raises(curation.WrongState):  # settled once
        curation.qa_adjudicate(
            review_id=review.pk, user=carol, choice="first", version=3
        )


def test_only_curators_adjudicate_and_a_stale_version_changes_nothing(
    alice, bob, carol
):
    review = disagreement(alice, bob)
    with pytest.raises(curation.NotCurator):
        curation.qa_adjudicate(review_id=review.pk, user=bob, choice="first", version=2)
    with pytest.raises(ReviewError):
        curation.qa_adjudicate(
            review_id=review.pk, user=carol, choice="first", version=1
        )
    review.refresh_from_db()
    assert review.state == "disagreed"
    assert Caption.objects.get(pk=review.caption_id).text == EDITED


def test_the_adjudication_pages(alice, bob, carol):
    review = disagreement(alice, bob)
    listing = client_for(carol).get(reverse("adjudication-list"))
    assert listing.status_code == 200
    assert reverse("adjudicate", args=[review.pk]) in listing.content.decode()
    page = client_for(carol).get(reverse("adjudicate", args=[review.pk]))
    html = page.content.decode()
    assert EDITED in html and "cut off" in html and "Tree cover" in html
    for who in (alice, bob):
        assert client_for(who).get(reverse("adjudication-list")).status_code == 403
        denied = client_for(who).post(
            reverse("adjudicate", args=[review.pk]), {"choice": "first", "version": 2}
        )
        assert denied.status_code == 403
    refused = client_for(carol).post(
        reverse("adjudicate", args=[review.pk]), {"choice": "third", "version": 2}
    )
    assert refused.status_code == 400 and b"cannot be empty" in refused.content
    done = client_for(carol).post(
        reverse("adjudicate", args=[review.pk]), {"choice": "second", "version": "2"}
    )
    assert done.status_code == 302
    assert Caption.objects.get(pk=review.caption_id).status == "rejected"
    after = client_for(carol).get(reverse("adjudication-list")).content.decode()
    assert reverse("adjudicate", args=[review.pk]) not in after


def test_adjudication_through_the_api(alice, bob, carol):
    review = disagreement(alice, bob)
    url = reverse("api-qa-adjudicate", args=[review.pk])
    body = {"choice": "first", "version": 2}
    assert token_client(bob).post(url, body, format="json").status_code == 403
    response = token_client(carol).post(url, body, format="json")
    assert response.status_code == 200 and response.json()["state"] == "adjudicated"
    again = token_client(carol).post(url, body, format="json")
    assert again.status_code == 409 and "adjudicated" in again.json()["error"]
    listed = token_client(carol).get(reverse("api-qa-list"), {"state": "adjudicated"})
    assert [row["id"] for row in listed.json()["results"]] == [review.pk]


def test_gold_marking_is_a_revision_and_needs_a_reviewed_caption(alice, carol):
    caption = make_captions(1)[0]
    with pytest.raises(curation.WrongState):
        curation.gold_mark(caption_id=caption.pk, user=carol)
    with pytest.raises(curation.NotCurator):
        curation.gold_mark(caption_id=caption.pk, user=alice)
    decide(carol, caption, "reject", version=1, reason="cut off")
    gold = curation.gold_mark(caption_id=caption.pk, user=carol)
    assert (gold.action, gold.shown_text, gold.active) == ("reject", TEXT, True)
    curation.gold_unmark(caption_id=caption.pk, user=carol)
    assert not GoldCaption.objects.get(pk=gold.pk).active
    reasons = list(
        Revision.objects.filter(caption=caption, action="gold").values_list(
            "reason", flat=True
        )
    )
    assert sorted(reasons) == ["gold mark removed", "marked gold (answer: reject)"]
    with pytest.raises(curation.WrongState):
        curation.gold_unmark(caption_id=caption.pk, user=carol)


def test_gold_through_the_page_and_the_api(alice, carol):
    caption = make_captions(1)[0]
    decide(carol, caption, "approve", version=1)
    page = reverse("review-gold", args=[caption.pk])
    assert client_for(alice).post(page, {"gold": "on"}).status_code == 403
    assert client_for(carol).post(page, {"gold": "maybe"}).status_code == 400
    assert client_for(carol).post(page, {"gold": "on"}).status_code == 302
    assert GoldCaption.objects.get(caption=caption).action == "approve"
    html = client_for(carol).get(reverse("review", args=[caption.pk])).content
    assert b"Remove gold" in html
    api = token_client(carol)
    assert api.delete(reverse("api-gold-detail", args=[caption.pk])).status_code == 204
    again = api.post(reverse("api-gold-list"), {"caption": caption.pk}, format="json")
    assert again.status_code == 201 and again.json()["active"] is True
    pending = make_captions(1)[0]
    refused = api.post(reverse("api-gold-list"), {"caption": pending.pk}, format="json")
    assert refused.status_code == 409 and "reviewed" in refused.json()["error"]


def test_sampling_by_class_opens_qa_reviews_per_class(alice, carol):
    rates(qa=0.0)
    make_captions(3)
    for _ in range(3):
        first_edit(alice)
    opened = curation.qa_sample_by_class(per_class=2)
    # Every caption holds tree cover (10) and water (80): two reviews cover both.
    assert opened == {10: 2}
    assert QaReview.objects.filter(origin="stratified").count() == 2
    assert curation.qa_sample_by_class(per_class=2) == {}
    out = io.StringIO()
    call_command("sample_qa", "--per-class", "3", stdout=out)
    assert "Tree cover: 1 opened" in out.getvalue()
    assert QaReview.objects.count() == 3
    with pytest.raises(CommandError, match="at least 1"):
        call_command("sample_qa", "--per-class", "0")


def test_the_rates_through_the_api(alice, carol):
    cache.delete(QUALITY_CACHE_KEY)  # the product's defaults, not the suite's zeros
    url = reverse("api-quality-rates")
    api = token_client(carol)
    assert api.get(url).json()["qa_rate"] == 0.1
    changed = api.patch(url, {"gold_rate": 0.05}, format="json")
    assert changed.status_code == 200 and changed.json()["gold_rate"] == 0.05
    assert QualitySettings.current().gold_rate == 0.05  # the cache is renewed
    for bad in ({"qa_rate": 1.5}, {"gold_rate": -1}, {"qa_rate": "x"}, {"oops": 1}):
        assert api.patch(url, bad, format="json").status_code == 400
    assert QualitySettings.current().qa_rate == 0.1
    assert (
        token_client(alice).patch(url, {"qa_rate": 1}, format="json").status_code == 403
    )


@pytest.mark.parametrize("role", ["anonymous", "annotator", "consumer", "curator"])
def test_who_may_use_the_curators_pages(role, alice, bob, carol, dave):
    review = disagreement(alice, bob)
    caption = Caption.objects.get(pk=review.caption_id)
    user = {"anonymous": None, "annotator": alice, "consumer": dave}.get(role, carol)
    client = client_for(user)
    requests = [
        ("get", reverse("adjudication-list"), {}),
        ("get", reverse("adjudicate", args=[review.pk]), {}),
        ("post", reverse("review-gold", args=[caption.pk]), {"gold": "on"}),
    ]
    for method, url, body in requests:
        response = getattr(client, method)(url, body)
        expected = {"anonymous": 302, "curator": (200, 302)}.get(role, 403)
        assert response.status_code in (
            expected if isinstance(expected, tuple) else (expected,)
        ), (role, url)
        if role == "anonymous":
            assert response["Location"].startswith("/accounts/login/")
    assert GoldCaption.objects.filter(caption=caption).exists() is (role == "curator")
