"""Second opinions and gold items (issue 12): sampling, the blind copy, answers and
their agreement, the claim rules over all kinds, and what stays hidden until then.
The curators' side (adjudication, gold marking, sampling by class) is in
test_curation.py; the browser flows in test_quality_browser.py."""

import threading
from collections import Counter

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from captions.models import Caption, GenerationJob, PromptTemplate
from tests.api_data import token_client
from tests.verification.conftest import TEXT, make_captions, make_user
from tests.verification.test_views import client_for
from verification import blind, curation, queue, services
from verification.errors import NotYourClaim
from verification.models import GoldAnswer, QaReview, QualitySettings, Revision
from verification.roles import ANNOTATOR, CONSUMER, ensure_groups

pytestmark = pytest.mark.django_db
EDITED = "Water covers the bottom half; trees the top."


def rates(qa: float = 1.0, gold: float = 0.0) -> None:
    QualitySettings.objects.create(qa_rate=qa, gold_rate=gold)


def decide(user, caption: Caption, action: str, **fields) -> Caption | None:
    return services.review_act(
        caption_id=caption.pk,
        user=user,
        decision=services.ReviewDecision(action=action, **fields),
    )


def first_edit(user) -> Caption:
    """`user` claims the only pending caption and edits it."""
    caption = queue.queue_claim_next(user=user)
    assert caption is not None
    saved = decide(user, caption, "edit", version=caption.version, text=EDITED)
    assert saved is not None
    return saved


def test_a_first_edit_is_offered_blind_to_someone_else(alice, bob):
    rates(qa=1.0)
    make_captions(1)
    edited = first_edit(alice)
    review = QaReview.objects.get(caption=edited)
    assert (review.first_action, review.first_text) == ("edit", EDITED)
    assert review.shown_text == TEXT and review.first_reviewer == alice
    assert queue.queue_claim_next(user=alice) is None  # never her own back
    offered = queue.queue_claim_next(user=bob)
    assert offered is not None and offered.pk == edited.pk
    shown = blind.caption_seen_by(bob, offered)
    assert (shown.text, shown.generated_text) == (TEXT, TEXT)
    assert (shown.status, shown.version) == ("pending", 1)
    assert shown.claimed_by_id == bob.pk


def test_no_second_opinion_at_rate_zero_and_a_jobs_rate_wins(alice):
    rates(qa=0.0)
    make_captions(1)
    assert not QaReview.objects.filter(caption=first_edit(alice)).exists()
    template = PromptTemplate.objects.first()
    job = GenerationJob.objects.create(
        backend="offline", model="m", template=template, qa_rate=1.0
    )
    captions = make_captions(1)
    Caption.objects.filter(pk=captions[0].pk).update(job=job)
    assert QaReview.objects.filter(caption=first_edit(alice)).exists()


def test_the_qa_draw_is_fixed_by_the_caption_and_near_the_rate():
    draws = [blind.qa_draw(n) for n in range(1, 4001)]
    assert draws == [blind.qa_draw(n) for n in range(1, 4001)]
    assert 0.08 < sum(d < 0.1 for d in draws) / len(draws) < 0.12


def test_agreement_same_verdict_and_text_or_not(alice, bob):
    rates(qa=1.0)
    make_captions(2)
    for second, state in (("edit", "agreed"), ("approve", "disagreed")):
        first_edit(alice)
        held = queue.queue_claim_next(user=bob)
        assert held is not None
        answered = decide(bob, held, second, version=1, text=EDITED + " ")
        assert answered is not None and answered.status == blind.STATUS_OF[second]
        review = QaReview.objects.get(caption=held)
        assert review.state == state and review.second_reviewer == bob
        assert review.verdict_agrees is (second == "edit")
        assert review.text_distance == (
            0.0 if second == "edit" else pytest.approx(1.0, abs=0.6)
        )
        # The caption itself is as Alice left it: a second opinion changes nothing.
        assert Caption.objects.get(pk=held.pk).text == EDITED


def test_two_edits_into_different_texts_disagree(alice, bob):
    rates(qa=1.0)
    make_captions(1)
    first_edit(alice)
    held = queue.queue_claim_next(user=bob)
    assert held is not None
    decide(bob, held, "edit", version=1, text="Snow and ice everywhere, no trees.")
    review = QaReview.objects.get(caption=held)
    assert review.verdict_agrees is True
    assert review.text_distance is not None
    assert review.text_distance > blind.QA_TEXT_TOLERANCE
    assert review.state == "disagreed"


def test_curators_are_never_offered_blind_items(alice, carol):
    rates(qa=1.0, gold=0.5)
    make_captions(1)
    first_edit(alice)
    assert queue.queue_claim_next(user=carol) is None


def test_at_most_two_items_held_over_all_kinds(alice, bob):
    rates(qa=1.0)
    make_captions(4)
    for _ in range(2):
        first_edit(alice)
    first = queue.queue_claim_next(user=bob)  # QA reviews come first
    assert first is not None
    second = queue.queue_claim_next(user=bob, skip_ids=(first.pk,))
    assert second is not None
    third = queue.queue_claim_next(user=bob, skip_ids=(first.pk, second.pk))
    assert third is not None
    held = queue.held_claims(bob, timezone.now())
    kinds = {item.kind for item in held}
    assert len(held) == queue.MAX_CLAIMS_PER_PERSON
    assert {item.caption_id for item in held} == {second.pk, third.pk}
    assert kinds == {queue.QA, queue.PENDING}  # a QA review beside a pending one


def test_the_verdict_is_hidden_until_answered(alice, bob):
    rates(qa=1.0)
    make_captions(1)
    edited = first_edit(alice)
    eve = make_user("eve", ANNOTATOR)
    page = reverse("review", args=[edited.pk])
    assert client_for(eve).get(page).status_code == 404
    assert client_for(alice).get(page).status_code == 200  # her own verdict
    assert queue.queue_claim_next(user=bob) is not None
    html = client_for(bob).get(page).content.decode()
    assert EDITED not in html and "alice" not in html and "Edited" not in html
    # A save from a version Bob never saw: "not yours", not the caption as it is.
    with pytest.raises(NotYourClaim):
        decide(eve, edited, "approve", version=1)
    decide(bob, edited, "approve", version=1)
    assert EDITED in client_for(bob).get(page).content.decode()


def test_the_api_shows_the_blind_copy_and_hides_the_rest(alice, bob):
    rates(qa=1.0)
    make_captions(1)
    edited = first_edit(alice)
    eve = make_user("eve", ANNOTATOR)
    skip = reverse("api-review-action", args=[edited.pk])
    response = token_client(eve).post(skip, {"action": "skip"}, format="json")
    assert response.status_code == 404
    offered = token_client(bob).post(reverse("api-review-next"), {}, format="json")
    assert offered.status_code == 200
    body = offered.json()
    assert (body["id"], body["text"], body["status"]) == (edited.pk, TEXT, "pending")
    skipped = token_client(bob).post(skip, {"action": "skip"}, format="json")
    assert skipped.status_code == 200
    assert skipped.json()["text"] == TEXT and skipped.json()["claim_expires_at"] is None


def mark_gold(carol) -> Caption:
    """One caption, edited by a curator, marked gold."""
    caption = make_captions(1)[0]
    services.caption_edit(caption_id=caption.pk, user=carol, version=1, text=EDITED)
    curation.gold_mark(caption_id=caption.pk, user=carol)
    return caption


def test_gold_is_served_unannounced_and_scored(monkeypatch, carol, alice, bob):
    rates(qa=0.0, gold=0.5)
    monkeypatch.setattr(queue.random, "random", lambda: 0.0)
    gold = mark_gold(carol)
    offered = queue.queue_claim_next(user=alice)
    assert offered is not None and offered.pk == gold.pk
    html = client_for(alice).get(reverse("review", args=[gold.pk])).content.decode()
    assert TEXT in html and EDITED not in html
    decide(alice, offered, "edit", version=1, text=EDITED + " Indeed.")
    answer = GoldAnswer.objects.get(user=alice)
    assert answer.verdict_agrees is True and 0 < answer.text_distance < 0.5
    assert queue.queue_claim_next(user=alice) is None  # answered once, not again
    # Back on it ("previous"): her answer, never the gold text or a 404.
    again = client_for(alice).get(reverse("review", args=[gold.pk]))
    assert again.status_code == 200 and EDITED + " Indeed." in again.content.decode()
    offered = queue.queue_claim_next(user=bob)
    assert offered is not None
    decide(bob, offered, "approve", version=1)
    assert GoldAnswer.objects.get(user=bob).verdict_agrees is False


def test_gold_is_not_served_to_who_reviewed_or_marked_it(monkeypatch, carol):
    rates(qa=0.0, gold=0.5)
    monkeypatch.setattr(queue.random, "random", lambda: 0.0)
    caption = make_captions(1)[0]
    reviewer = make_user("rita", ANNOTATOR)
    queue.queue_claim_next(user=reviewer)
    decide(reviewer, caption, "approve", version=1)
    curation.gold_mark(caption_id=caption.pk, user=carol)
    assert queue.queue_claim_next(user=reviewer) is None
    page = client_for(reviewer).get(reverse("review", args=[caption.pk]))
    assert page.status_code == 200  # she reviewed it: nothing to hide from her


def test_gold_held_by_one_annotator_at_a_time(monkeypatch, carol, alice, bob):
    rates(qa=0.0, gold=0.5)
    monkeypatch.setattr(queue.random, "random", lambda: 0.0)
    mark_gold(carol)
    assert queue.queue_claim_next(user=alice) is not None
    assert queue.queue_claim_next(user=bob) is None


def test_who_can_read_the_dataset_is_never_offered_blind_items(alice):
    """An annotator who is also a consumer reads verdicts through the dataset API:
    they get pending captions only, as curators do."""
    rates(qa=1.0)
    make_captions(2)
    first_edit(alice)
    both = make_user("bea", ANNOTATOR)
    both.groups.add(ensure_groups()[CONSUMER])
    offered = queue.queue_claim_next(user=both)
    assert offered is not None and offered.status == "pending"
    assert not QaReview.objects.filter(claimed_by=both).exists()


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent claims need PostgreSQL"
)
@pytest.mark.django_db(transaction=True)
def test_many_annotators_at_once_never_hold_one_item_together(carol):
    """20 threads claim and answer until nothing is left, QA and gold mixed in: no
    item held by two at once, each pending caption approved once, each QA review
    answered once by someone else, each gold item answered at most once a person."""
    rates(qa=1.0, gold=0.2)  # the gold captions' own edits are sampled for QA too
    for _ in range(4):
        mark_gold(carol)
    make_captions(150)
    people = [make_user(f"annotator{n}", ANNOTATOR) for n in range(20)]
    holding: set[int] = set()
    clashes: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(len(people))

    def work(user) -> None:
        try:
            start.wait()
            while (item := queue.queue_claim_next(user=user)) is not None:
                with lock:
                    if item.pk in holding:
                        clashes.append(item.pk)
                    holding.add(item.pk)
                seen = blind.caption_seen_by(user, item)
                with lock:  # let go before the save lets someone else take it
                    holding.discard(item.pk)
                decide(user, item, "approve", version=seen.version)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(user,)) for user in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert clashes == []
    approvals = Counter(
        Revision.objects.filter(action="approve", user__in=people).values_list(
            "caption_id", flat=True
        )
    )
    assert len(approvals) == 150 and set(approvals.values()) == {1}
    reviews = QaReview.objects.all()
    assert reviews.filter(caption__gold__isnull=True, state="open").count() == 0
    assert reviews.filter(caption__gold__isnull=False, state="open").count() == 4
    assert all(r.second_reviewer_id != r.first_reviewer_id for r in reviews)
    assert GoldAnswer.objects.count() > 0


def test_a_gold_captions_qa_review_waits(monkeypatch, carol, alice):
    """A caption made gold after its verdict was sampled: served as gold, never also
    as a QA review (one item per caption out at a time)."""
    rates(qa=1.0, gold=0.5)
    gold = mark_gold(carol)
    assert QaReview.objects.filter(caption=gold, state="open").exists()
    monkeypatch.setattr(queue.random, "random", lambda: 0.9)  # no gold this time
    assert queue.queue_claim_next(user=alice) is None
