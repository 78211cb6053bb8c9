"""Second opinions and gold items in a real browser (issue 12): Debian's Chromium
driven by Playwright on a live server.

Alice, Bob, Carol and Dave annotate; Cora curates. Alice's verdict goes to Bob blind;
Carol, who does not hold it, may not look; Cora settles the disagreement and marks a
caption gold, which Dave then answers without ever seeing the gold text.
"""

import json
import re

import pytest
from playwright.sync_api import Page, expect

from captions.models import Caption
from tests.api_data import token_client
from tests.verification.test_review_browser import (
    TEXT,
    caption_on,
    log_in,
    make_captions,
    make_user,
    moved_on,
)
from tests.verification.test_views import client_for
from verification import queue, services
from verification.distance import word_edit_distance
from verification.models import (
    GoldAnswer,
    GoldCaption,
    QaReview,
    QualitySettings,
    Revision,
)
from verification.roles import ANNOTATOR, CURATOR

OTHER_TEXT = "Water lies in the bottom half of the image, below dense tree cover."
EDITED = "Dense forest covers the northern half; a lake fills the southern half."
THIRD_TEXT = "Trees cover the upper half of the image and a lake the lower half."
ADDED = " A small town sits at the edge."


@pytest.fixture
def alice(transactional_db):
    return make_user("alice", ANNOTATOR)


@pytest.fixture
def bob(transactional_db):
    return make_user("bob", ANNOTATOR)


@pytest.fixture
def carol(transactional_db):
    return make_user("carol", ANNOTATOR)


@pytest.fixture
def dave(transactional_db):
    return make_user("dave", ANNOTATOR)


@pytest.fixture
def cora(transactional_db):
    return make_user("cora", CURATOR)


def rates(*, qa: float, gold: float) -> None:
    QualitySettings.objects.create(qa_rate=qa, gold_rate=gold)


def html_of(page: Page) -> list[str]:
    """The page as the script left it, and as the server sends it."""
    return [page.content(), page.request.get(page.url).text()]


def shown_as_new(page: Page, text: str) -> None:
    """The caption on screen looks like fresh work: pending, version 1, no history."""
    expect(page.locator("[data-caption-text]")).to_have_text(text)
    expect(page.locator("[data-status]")).to_have_text("Pending review")
    expect(page.locator("[data-version]")).to_have_text("1")
    expect(page.locator(".history__item")).to_have_count(0)
    expect(page.get_by_text("Already reviewed")).to_have_count(0)
    shown = json.loads(page.locator("#review-caption").text_content() or "")
    assert (shown["status"], shown["version"]) == ("pending", 1)
    assert (shown["text"], shown["generated_text"]) == (text, TEXT)


def test_the_second_reviewer_sees_no_trace_of_the_first_verdict_until_answering(
    new_context, alice, bob, carol, media_root
):
    rates(qa=1.0, gold=0.0)
    make_captions(media_root, [TEXT, OTHER_TEXT])
    alice_page = log_in(new_context(), "alice")
    caption = caption_on(alice_page)
    alice_page.keyboard.press("e")
    alice_page.get_by_label("Caption", exact=True).fill(EDITED)
    alice_page.keyboard.press("Control+Enter")
    moved_on(alice_page, caption)
    review = QaReview.objects.get(caption=caption, state=QaReview.State.OPEN)
    assert (review.first_reviewer, review.first_action) == (alice, "edit")
    assert (review.shown_text, review.first_text) == (TEXT, EDITED)

    bob_page = log_in(new_context(), "bob")

    assert caption_on(bob_page) == caption
    shown_as_new(bob_page, TEXT)
    for html in html_of(bob_page):
        assert EDITED not in html
        assert "alice" not in html.lower() and "edited" not in html.lower()
    api = token_client(bob).post("/api/v1/review/next/", {}, format="json")
    assert api.status_code == 200
    assert EDITED not in api.content.decode()
    assert "edited" not in api.content.decode().lower()
    body = api.json()
    assert (body["id"], body["status"], body["version"]) == (caption.pk, "pending", 1)
    assert (body["text"], body["generated_text"]) == (TEXT, TEXT)
    assert client_for(carol).get(f"/review/{caption.pk}/").status_code == 404

    bob_page.keyboard.press("a")

    moved_on(bob_page, caption)
    review.refresh_from_db()
    assert review.state == QaReview.State.DISAGREED
    assert (review.second_reviewer, review.action) == (bob, "approve")
    assert review.verdict_agrees is False and review.text == TEXT
    caption.refresh_from_db()  # a second opinion does not change the caption
    assert (caption.status, caption.text, caption.version) == ("edited", EDITED, 2)
    bob_page.goto(f"/review/{caption.pk}/")
    expect(bob_page.locator("[data-caption-text]")).to_have_text(EDITED)
    expect(bob_page.locator("[data-status]")).to_have_text("Edited")
    expect(bob_page.locator(".history__item")).to_have_count(1)
    expect(bob_page.locator(".history__item")).to_contain_text("by alice")


@pytest.fixture
def disagreement(alice, bob, media_root) -> QaReview:
    """Alice edited the only caption; Bob, shown it blind, approved it."""
    rates(qa=1.0, gold=0.0)
    caption = make_captions(media_root, [TEXT])[0]
    assert queue.queue_claim_next(user=alice) == caption
    services.caption_edit(caption_id=caption.pk, user=alice, version=1, text=EDITED)
    assert queue.queue_claim_next(user=bob) == caption
    services.review_act(
        caption_id=caption.pk, user=bob, decision=services.ReviewDecision("approve")
    )
    return QaReview.objects.get(caption=caption, state=QaReview.State.DISAGREED)


def open_adjudication(new_context, review: QaReview) -> Page:
    """Cora finds the disagreement in the list and opens it."""
    page = log_in(new_context(), "cora", then=f"/review/{review.caption_id}/")
    page.goto("/review/adjudicate/")
    row = page.get_by_role("row").filter(has_text="Edit by alice")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Approve by bob")
    row.get_by_role("link", name="Adjudicate").click()
    expect(page).to_have_url(re.compile(rf"/review/adjudicate/{review.pk}/$"))
    return page


def adjudicated(review: QaReview, cora) -> Caption:
    """The QA review settled by Cora, and its caption as that left it."""
    review.refresh_from_db()
    assert review.state == QaReview.State.ADJUDICATED and review.adjudicated_by == cora
    revision = Revision.objects.get(caption_id=review.caption_id, action="adjudicate")
    assert revision.user == cora and revision.text_before == EDITED
    return Caption.objects.get(pk=review.caption_id)


def test_a_curator_sees_both_versions_side_by_side_and_takes_the_second(
    new_context, cora, disagreement
):
    page = open_adjudication(new_context, disagreement)

    expect(page.locator("[data-shown]")).to_have_text(TEXT)
    first, second = (
        page.locator("[data-version=first]"),
        page.locator("[data-version=second]"),
    )
    expect(first.locator(".caption__text")).to_have_text(EDITED)
    expect(second.locator(".caption__text")).to_have_text(TEXT)
    left, right = first.bounding_box(), second.bounding_box()
    assert left and right
    assert left["x"] + left["width"] <= right["x"] and left["y"] == right["y"]
    legend = page.locator("[data-legend] li")
    expect(legend).to_have_text(["tree 50.0%", "water 50.0%"])
    expect(page.get_by_role("img", name="Land cover map")).to_be_visible()

    page.get_by_role("button", name="Take the second").click()

    expect(page).to_have_url(re.compile(r"/review/adjudicate/$"))
    expect(page.get_by_text("No disagreements wait")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="Edit by alice")).to_have_count(0)
    caption = adjudicated(disagreement, cora)
    assert disagreement.adjudication == "second"
    assert (caption.status, caption.text, caption.version) == ("approved", TEXT, 3)


def test_a_curator_writes_a_third_text_and_it_is_saved_as_an_edit(
    new_context, cora, disagreement
):
    page = open_adjudication(new_context, disagreement)
    box = page.get_by_label("Or write a third")
    expect(box).to_have_value(EDITED)

    box.fill(THIRD_TEXT)
    page.get_by_role("button", name="Save the third").click()

    expect(page).to_have_url(re.compile(r"/review/adjudicate/$"))
    expect(page.get_by_text("No disagreements wait")).to_be_visible()
    caption = adjudicated(disagreement, cora)
    assert disagreement.adjudication == "third"
    assert (caption.status, caption.text) == ("edited", THIRD_TEXT)


def test_an_annotator_may_not_adjudicate(alice, disagreement):
    annotator = client_for(alice)
    assert annotator.get("/review/adjudicate/").status_code == 403
    page = f"/review/adjudicate/{disagreement.pk}/"
    assert annotator.get(page).status_code == 403
    assert annotator.post(page, {"choice": "first", "version": 2}).status_code == 403
    disagreement.refresh_from_db()
    assert disagreement.state == QaReview.State.DISAGREED


def test_a_gold_item_is_shown_as_the_model_wrote_it_and_the_answer_scored(
    new_context, cora, dave, media_root, monkeypatch
):
    rates(qa=0.0, gold=0.5)
    caption = make_captions(media_root, [TEXT])[0]
    services.caption_edit(caption_id=caption.pk, user=cora, version=1, text=EDITED)
    cora_page = log_in(new_context(), "cora", then=f"/review/{caption.pk}/")
    cora_page.get_by_role("button", name="Mark gold").click()
    expect(cora_page.get_by_role("button", name="Remove gold")).to_be_visible()
    gold = GoldCaption.objects.get(caption=caption, active=True)
    assert (gold.action, gold.text, gold.shown_text) == ("edit", EDITED, TEXT)
    # Only gold is left, and the draw always falls under the gold rate: otherwise
    # Dave would find the queue empty half the time.
    monkeypatch.setattr(queue.random, "random", lambda: 0.0)

    dave_page = log_in(new_context(), "dave")

    assert caption_on(dave_page) == caption
    shown_as_new(dave_page, TEXT)
    assert all(EDITED not in html for html in html_of(dave_page))
    dave_page.keyboard.press("e")
    dave_page.get_by_label("Caption", exact=True).press("End")
    dave_page.keyboard.type(ADDED)
    dave_page.keyboard.press("Control+Enter")

    moved_on(dave_page, caption)
    answer = GoldAnswer.objects.get(gold=gold, user=dave)
    assert (answer.action, answer.text, answer.verdict_agrees) == (
        "edit",
        TEXT + ADDED,
        True,
    )
    assert answer.text_distance == word_edit_distance(EDITED, TEXT + ADDED)
    assert 0 < answer.text_distance < 1
    assert all(EDITED not in html for html in html_of(dave_page))
    # Back on the caption he answered: his answer, never the gold text.
    dave_page.goto(f"/review/{caption.pk}/")
    expect(dave_page.locator("[data-caption-text]")).to_have_text(TEXT + ADDED)
    expect(dave_page.locator("[data-status]")).to_have_text("Edited")
    assert all(EDITED not in html for html in html_of(dave_page))
    caption.refresh_from_db()
    assert (caption.text, caption.version) == (EDITED, 2)
