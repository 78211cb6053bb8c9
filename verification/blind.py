"""Second opinions and gold items: shown blind, answered, compared (issue 12).

A QA review offers a verified caption to a second annotator as the first reviewer
was shown it: the text before their verdict, status pending, version 1, no history.
A gold item shows a caption as the model wrote it; the gold verdict and text are the
answer. Both are held like a pending caption (verification/queue.py) and named by the
caption's id, so nothing on the page or in the API tells them apart from new work.
Until a person has answered, they cannot read the verdict: the page and the API
answer 404, a stale save "not claimed by you" (`under_blind_review`), and the answer
to a save is the blind copy as answered, not the caption.
"""

import copy
import datetime as dt
import hashlib
from typing import cast

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from captions.generation.checks import (
    MAX_CAPTION_CHARS,
    UNSTORABLE_CHARACTERS,
    check_caption,
)
from captions.models import Caption
from verification.distance import word_edit_distance
from verification.errors import NotYourClaim, ReviewError
from verification.models import (
    GoldAnswer,
    GoldCaption,
    QaReview,
    QualitySettings,
    Revision,
    Verdict,
)
from verification.queue import GOLD, QA, held_rows
from verification.roles import reads_every_verdict

# Two answers of the same verdict whose texts differ by more than this share of
# words disagree (docs/quality.md): "edit" and "edit" into two different captions.
QA_TEXT_TOLERANCE = 0.25
STATUS_OF = {
    Verdict.APPROVE: Caption.Status.APPROVED,
    Verdict.EDIT: Caption.Status.EDITED,
    Verdict.REJECT: Caption.Status.REJECTED,
}
Item = QaReview | GoldCaption


def clean_text(text: str) -> str:
    """An edited caption as it may be saved, or a `ReviewError` saying why not."""
    text = text.strip()
    if not text:
        raise ReviewError("a caption cannot be empty")
    _refuse_unstorable(text, "a caption")
    if len(text) > MAX_CAPTION_CHARS:
        raise ReviewError(
            f"a caption holds at most {MAX_CAPTION_CHARS} characters, this one "
            f"{len(text)}"
        )
    return text


def clean_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise ReviewError("say why the caption is rejected")
    _refuse_unstorable(reason, "a reason")
    return reason[:500]


def _refuse_unstorable(text: str, what: str) -> None:
    if UNSTORABLE_CHARACTERS.search(text):
        raise ReviewError(f"{what} cannot hold NUL or unpaired surrogate characters")


def qa_draw(caption_id: int) -> float:
    """A number in [0, 1) fixed by the caption: whether its verdict gets a second
    opinion at a given rate, the same however often it is reviewed."""
    digest = hashlib.blake2b(f"qa:{caption_id}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big") / 2**64


def qa_rate_for(caption: Caption) -> float:
    job_rate = caption.job.qa_rate if caption.job_id and caption.job else None
    return job_rate if job_rate is not None else QualitySettings.current().qa_rate


def qa_sample(caption: Caption, revision: Revision) -> QaReview | None:
    """After a first approve or edit, offer the caption for a second opinion at its
    job's QA rate (or the global one). A caption is sampled at most once."""
    if revision.action not in (Verdict.APPROVE, Verdict.EDIT):
        return None
    if qa_draw(caption.pk) >= qa_rate_for(caption):
        return None
    return qa_open(revision)[0]


def qa_open(
    revision: Revision, origin: str = QaReview.Origin.RATE
) -> tuple[QaReview, bool]:
    """The QA review of the verdict `revision` made (opened now if the caption has
    none), and whether it was opened now."""
    return QaReview.objects.get_or_create(
        caption_id=revision.caption_id,
        defaults={
            "origin": origin,
            "shown_text": revision.text_before,
            "first_revision": revision,
            "first_reviewer_id": revision.user_id,
            "first_action": revision.action,
            "first_text": revision.text_after,
        },
    )


def blind_item(
    user, caption_id: int, now: dt.datetime | None = None, *, with_caption=True
) -> Item | None:
    """The QA review or gold item on this caption that `user` holds now: one query
    when there is none (every review page and save asks); with its caption and
    patch unless the caller has them (`with_caption=False`)."""
    if reads_every_verdict(user):
        return None
    kinds = (QA, GOLD)
    held = held_rows(kinds, user, now or timezone.now(), caption_id=caption_id)
    if not held:
        return None
    # One QA review and one gold item per caption at most (one-to-one): found by
    # the caption, the row is there even if the claim ended a moment ago.
    model = kinds[held[0][2]].model
    items = model._default_manager.filter(caption_id=caption_id)
    if with_caption:
        items = items.select_related("caption__patch")
    return cast(Item, items.get())


def blind_copy(
    item: Item,
    *,
    caption: Caption | None = None,
    answered: Verdict | None = None,
    text: str = "",
) -> Caption:
    """The caption (`caption`, read with what the page needs, or the item's) as the
    blind reviewer sees it: the text they judge, pending, as if new; or (`answered`)
    as their answer left it. Never saved."""
    shown = copy.copy(caption or item.caption)
    text = text or item.shown_text
    shown.generated_text = item.shown_text
    shown.text = text
    shown.status = STATUS_OF[answered] if answered else Caption.Status.PENDING
    shown.version = 2 if answered else 1
    shown.checks = check_caption(text, shown.patch.landcover)
    shown.failed_checks = len(shown.checks)
    held = answered is None
    shown.claimed_by_id = item.claimed_by_id if held else None
    shown.claim_expires_at = item.claim_expires_at if held else None
    shown.reviewed_by_id = None
    shown.reviewed_at = None
    shown.updated_at = shown.created_at
    shown._blind_copy = True  # type: ignore[attr-defined]
    return shown


def is_blind_copy(caption: Caption) -> bool:
    return getattr(caption, "_blind_copy", False)


def caption_seen_by(user, caption: Caption) -> Caption:
    """`caption` as this person may see it: the blind copy of an item they hold;
    `Caption.DoesNotExist` if it is under blind review they may be offered, so the
    page and the API answer 404 as for a caption that is not there."""
    item = blind_item(user, caption.pk, with_caption=False)
    if item is not None:
        return blind_copy(item, caption=caption)
    if caption.status == Caption.Status.PENDING or not under_blind_review(
        user, caption
    ):
        return caption
    # Back to a gold item they answered ("previous"): their answer, as a caption
    # they reviewed would show it; never the gold text or a 404 that gives it away.
    answer = (
        GoldAnswer.objects.select_related("gold")
        .filter(gold__caption_id=caption.pk, user=user)
        .first()
    )
    if answer is None:
        raise Caption.DoesNotExist
    return blind_copy(
        answer.gold, caption=caption, answered=Verdict(answer.action), text=answer.text
    )


def under_blind_review(user, caption: Caption) -> bool:
    """Whether `user` may still be offered this caption blind: an open QA review of
    someone else's verdict, or an active gold item they did not review. Until then
    its verdict, text and history are hidden from them: the page and the API answer
    404, a stale save "not yours" instead of the caption as it is now."""
    if reads_every_verdict(user):
        return False
    qa = QaReview.objects.filter(
        caption_id=OuterRef("pk"), state=QaReview.State.OPEN
    ).exclude(first_reviewer=user)
    gold = GoldCaption.objects.filter(caption_id=OuterRef("pk"), active=True)
    reviewed = Revision.objects.filter(caption_id=OuterRef("pk"), user=user)
    return (
        Caption.objects.filter(pk=caption.pk)
        .filter(Exists(qa) | (Exists(gold) & ~Exists(reviewed)))
        .exists()
    )


def blind_answer(item: Item, user, decision) -> Caption:
    """Record `user`'s answer on a blind item they hold; the copy as answered."""
    action = Verdict(decision.action)
    text = clean_text(decision.text) if action == Verdict.EDIT else item.shown_text
    reason = clean_reason(decision.reason) if action == Verdict.REJECT else ""
    answer = {
        "action": action,
        "text": text,
        "reason": reason,
        "seconds_spent": decision.seconds_spent,
        "answered_at": timezone.now(),
    }
    if isinstance(item, QaReview):
        _answer_qa(item, user, answer)
    else:
        _answer_gold(item, user, answer)
    return blind_copy(item, answered=action, text=text)


def _answer_qa(review: QaReview, user, answer: dict) -> None:
    agrees = answer["action"] == review.first_action
    distance = word_edit_distance(review.first_text, answer["text"])
    agreed = agrees and distance <= QA_TEXT_TOLERANCE
    state = QaReview.State.AGREED if agreed else QaReview.State.DISAGREED
    saved = QaReview.objects.filter(
        pk=review.pk, state=QaReview.State.OPEN, claimed_by=user
    ).update(
        **answer,
        state=state,
        second_reviewer=user,
        verdict_agrees=agrees,
        text_distance=distance,
        claimed_by=None,
        claim_expires_at=None,
    )
    if not saved:
        raise NotYourClaim(f"caption {review.caption_id} is not claimed by you")


def _answer_gold(gold: GoldCaption, user, answer: dict) -> None:
    edited = answer["action"] == Verdict.EDIT
    try:
        with transaction.atomic():
            GoldAnswer.objects.create(
                **answer,
                gold=gold,
                user=user,
                verdict_agrees=answer["action"] == gold.action,
                text_distance=word_edit_distance(gold.text, answer["text"])
                if edited
                else None,
            )
    except IntegrityError:
        raise NotYourClaim(f"caption {gold.caption_id} was answered already") from None
    GoldCaption.objects.filter(pk=gold.pk, claimed_by=user).update(
        claimed_by=None, claim_expires_at=None
    )
