"""The review queue and review actions (verification/services.py)."""

import datetime as dt
import threading
from collections import Counter

import pytest
from django.db import connection
from django.utils import timezone

from captions.models import Caption, Patch, Scene
from tests.verification.conftest import TEXT, make_captions, make_user
from verification import queue, services
from verification.models import QualitySettings, Revision
from verification.roles import ANNOTATOR

pytestmark = pytest.mark.django_db


def test_the_queue_serves_captions_with_failed_checks_first(alice):
    captions = make_captions(5, failing=0)
    failing = make_captions(2, failing=2)
    first = queue.queue_claim_next(user=alice)
    assert first is not None and first.pk in {c.pk for c in failing}
    assert first.claimed_by_id == alice.pk
    assert captions  # the others come after


def test_a_reload_returns_the_caption_already_held(alice):
    make_captions(3)
    first = queue.queue_claim_next(user=alice)
    again = queue.queue_claim_next(user=alice)
    assert first is not None and again is not None
    assert again.pk == first.pk


def test_two_annotators_get_different_captions(alice, bob):
    make_captions(2)
    mine = queue.queue_claim_next(user=alice)
    theirs = queue.queue_claim_next(user=bob)
    assert mine is not None and theirs is not None
    assert mine.pk != theirs.pk
    assert queue.queue_claim_next(user=make_user("eve", ANNOTATOR)) is None


def test_an_expired_claim_returns_to_the_queue(alice, bob):
    make_captions(1)
    held = queue.queue_claim_next(user=alice)
    assert held is not None
    assert queue.queue_claim_next(user=bob) is None
    Caption.objects.filter(pk=held.pk).update(
        claim_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    taken = queue.queue_claim_next(user=bob)
    assert taken is not None and taken.pk == held.pk


def test_skipped_captions_are_passed_over(alice):
    captions = make_captions(2)
    first = queue.queue_claim_next(user=alice)
    assert first is not None
    queue.claim_release(caption_id=first.pk, user=alice)
    second = queue.queue_claim_next(user=alice, skip_ids=(first.pk,))
    assert second is not None and second.pk != first.pk
    assert {first.pk, second.pk} == {c.pk for c in captions}


def held_by(user) -> set[int]:
    return set(
        Caption.objects.filter(
            claimed_by=user, claim_expires_at__gte=timezone.now()
        ).values_list("pk", flat=True)
    )


def test_skipping_the_held_caption_claims_a_second_beside_it(alice):
    make_captions(3)
    on_screen = queue.queue_claim_next(user=alice)
    assert on_screen is not None
    ahead = queue.queue_claim_next(user=alice, skip_ids=(on_screen.pk,))
    assert ahead is not None and ahead.pk != on_screen.pk
    # The page asks again (a reload): the same one, not a third.
    again = queue.queue_claim_next(user=alice, skip_ids=(on_screen.pk,))
    assert again is not None and again.pk == ahead.pk
    assert held_by(alice) == {on_screen.pk, ahead.pk}


def test_at_two_claims_the_skipped_claim_expiring_first_is_given_back(alice):
    make_captions(4)
    first = queue.queue_claim_next(user=alice)
    assert first is not None
    second = queue.queue_claim_next(user=alice, skip_ids=(first.pk,))
    assert second is not None
    Caption.objects.filter(pk=first.pk).update(
        claim_expires_at=timezone.now() + dt.timedelta(minutes=1)
    )
    third = queue.queue_claim_next(user=alice, skip_ids=(first.pk, second.pk))
    assert third is not None and third.pk not in (first.pk, second.pk)
    assert held_by(alice) == {second.pk, third.pk}
    assert Caption.objects.get(pk=first.pk).claimed_by is None


def test_a_person_never_holds_more_than_two_claims_whatever_they_skip(alice, bob):
    make_captions(12)
    skipped: list[int] = []
    for _ in range(10):
        caption = queue.queue_claim_next(user=alice, skip_ids=tuple(skipped))
        assert caption is not None
        skipped.append(caption.pk)
        assert len(held_by(alice)) <= queue.MAX_CLAIMS_PER_PERSON
    # What Alice gave back is in the queue for Bob.
    assert queue.queue_claim_next(user=bob) is not None


def test_approve_records_a_revision_and_frees_the_claim(alice):
    make_captions(1)
    caption = queue.queue_claim_next(user=alice)
    assert caption is not None
    done = services.caption_approve(
        caption_id=caption.pk, user=alice, version=1, seconds_spent=4.2
    )
    assert (done.status, done.version, done.claimed_by_id) == ("approved", 2, None)
    revision = Revision.objects.get(caption=caption)
    assert (revision.action, revision.user, revision.seconds_spent) == (
        "approve",
        alice,
        4.2,
    )


def test_edit_recomputes_the_checks(alice):
    make_captions(1)
    caption = queue.queue_claim_next(user=alice)
    assert caption is not None
    edited = services.caption_edit(
        caption_id=caption.pk, user=alice, version=1,
        text="A town possibly sits here, among forests.",
    )  # fmt: skip
    assert edited.status == "edited"
    assert {f["check"] for f in edited.checks} >= {"forbidden_word", "absent_class"}
    assert edited.failed_checks == len(edited.checks)
    revision = Revision.objects.get(caption=caption)
    assert (revision.text_before, revision.text_after) == (TEXT, edited.text)


def test_a_stale_save_is_refused_and_changes_nothing(alice, carol):
    make_captions(1)
    caption = queue.queue_claim_next(user=alice)
    assert caption is not None
    # Carol, a curator, edits it first.
    services.caption_edit(caption_id=caption.pk, user=carol, version=1, text="Theirs.")
    Caption.objects.filter(pk=caption.pk).update(
        claimed_by=alice, claim_expires_at=timezone.now() + dt.timedelta(minutes=1)
    )
    with pytest.raises(services.StaleVersion) as stale:
        services.caption_edit(
            caption_id=caption.pk, user=alice, version=1, text="Mine."
        )
    assert stale.value.caption.text == "Theirs."
    assert stale.value.status == 409
    assert Caption.objects.get(pk=caption.pk).text == "Theirs."
    assert Revision.objects.filter(caption=caption).count() == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("   ", "cannot be empty"),
        ("x" * 5001, "at most 5000 characters"),
        ("Water.\x00", "cannot hold NUL"),
        ("Water \ud800.", "unpaired surrogate"),
    ],
)
def test_empty_oversized_or_unstorable_edits_are_refused(alice, text, message):
    make_captions(1)
    caption = queue.queue_claim_next(user=alice)
    assert caption is not None
    with pytest.raises(services.ReviewError, match=message):
        services.caption_edit(caption_id=caption.pk, user=alice, version=1, text=text)
    assert Caption.objects.get(pk=caption.pk).version == 1


def test_an_annotator_cannot_change_a_caption_claimed_by_someone_else(alice, bob):
    make_captions(1)
    caption = queue.queue_claim_next(user=alice)
    assert caption is not None
    with pytest.raises(services.NotYourClaim):
        services.caption_approve(caption_id=caption.pk, user=bob, version=1)
    assert Caption.objects.get(pk=caption.pk).status == "pending"


def test_reject_needs_a_reason(alice):
    make_captions(1)
    caption = queue.queue_claim_next(user=alice)
    assert caption is not None
    with pytest.raises(services.ReviewError, match="say why"):
        services.caption_reject(caption_id=caption.pk, user=alice, version=1, reason="")
    rejected = services.caption_reject(
        caption_id=caption.pk, user=alice, version=1, reason="cut off"
    )
    assert rejected.status == "rejected"
    assert Revision.objects.get(caption=caption).reason == "cut off"


def test_a_curator_reverts_an_edit_and_an_annotator_may_not(alice, carol):
    make_captions(1)
    caption = queue.queue_claim_next(user=alice)
    assert caption is not None
    services.caption_edit(caption_id=caption.pk, user=alice, version=1, text="Wrong.")
    revision = Revision.objects.get(caption=caption)
    with pytest.raises(services.ReviewError, match="only curators"):
        services.caption_revert(revision_id=revision.pk, user=alice)
    reverted = services.caption_revert(revision_id=revision.pk, user=carol)
    assert (reverted.text, reverted.status, reverted.version) == (TEXT, "pending", 3)
    assert Revision.objects.filter(caption=caption, action="revert").exists()


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SKIP LOCKED claims need PostgreSQL"
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_from_many_threads_never_give_a_caption_twice():
    # No second opinions here: a QA review brings a caption back to someone else
    # (tests/verification/test_second_opinions.py counts holders per kind).
    QualitySettings.objects.create(qa_rate=0.0, gold_rate=0.0)
    make_captions(300)
    annotators = [make_user(f"annotator{n}", ANNOTATOR) for n in range(20)]
    claimed: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(len(annotators))

    def work(user) -> None:
        try:
            start.wait()
            while True:
                caption = queue.queue_claim_next(user=user)
                if caption is None:
                    return
                with lock:
                    claimed.append(caption.pk)
                services.caption_approve(
                    caption_id=caption.pk, user=user, version=caption.version
                )
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(user,)) for user in annotators]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    duplicates = [pk for pk, n in Counter(claimed).items() if n > 1]
    assert duplicates == []
    assert len(claimed) == 300
    assert Caption.objects.filter(status="approved").count() == 300


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent claims need PostgreSQL"
)
@pytest.mark.django_db(transaction=True)
def test_one_person_claiming_from_many_threads_at_once_holds_at_most_two():
    make_captions(40)
    mallory = make_user("mallory", ANNOTATOR)
    start = threading.Barrier(16)

    def work() -> None:
        try:
            start.wait()
            for _ in range(5):
                held = tuple(held_by(mallory))
                queue.queue_claim_next(user=mallory, skip_ids=held)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(held_by(mallory)) <= queue.MAX_CLAIMS_PER_PERSON


def test_a_curator_filter_narrows_the_queue_by_check_class_scene_and_job(carol):
    failing, passing = make_captions(2, failing=1)
    elsewhere = Scene.objects.create(
        name="other-scene", source_kind="geotiff", image_path="/o.tif", status="ready"
    )
    Patch.objects.filter(pk=passing.patch_id).update(scene=elsewhere)

    by_check = queue.QueueFilter(check="x")
    assert queue.queue_claim_next(user=carol, queue_filter=by_check) == failing
    queue.claim_release(caption_id=failing.pk, user=carol)

    # Water (80) is in both patches, cropland (40) in neither.
    water, cropland = (
        queue.QueueFilter(class_code=80),
        queue.QueueFilter(class_code=40),
    )
    assert queue.queue_claim_next(user=carol, queue_filter=cropland) is None
    assert queue.queue_claim_next(user=carol, queue_filter=water) is not None
    Caption.objects.update(claimed_by=None, claim_expires_at=None)

    by_scene = queue.QueueFilter(scene_id=elsewhere.pk)
    assert queue.queue_claim_next(user=carol, queue_filter=by_scene) == passing
