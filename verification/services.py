"""What people do to captions: approve, edit, reject, revert.

Every change is a guarded `UPDATE ... WHERE version = <the version the person saw>`,
so two people saving at once never overwrite each other: the second gets
`StaleVersion` (HTTP 409) with the current text. Who holds what is the queue's
(verification/queue.py); answers on blind items (QA, gold) are blind.py's.
"""

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from captions.generation.checks import check_caption
from captions.models import Caption
from verification import blind
from verification.distance import word_edit_distance
from verification.errors import NotYourClaim, ReviewError, StaleVersion
from verification.models import Revision
from verification.queue import CLAIM_TTL, claim_release
from verification.roles import is_curator

REJECT_REASONS = (
    "names a class that is not there",
    "misses the dominant class",
    "wrong positions or sizes",
    "not fluent / garbled",
    "cut off",
)


def _require_may_change(caption: Caption, user) -> None:
    """Annotators change only what they hold; curators may change any caption."""
    if is_curator(user):
        return
    held = (
        caption.claimed_by_id == user.pk
        and caption.claim_expires_at is not None
        and caption.claim_expires_at >= timezone.now()
    )
    if not held:
        raise NotYourClaim(
            f"caption {caption.pk} is not claimed by you (claims last "
            f"{CLAIM_TTL.seconds // 60} minutes); open the next caption from the queue"
        )


def apply_change(
    *, caption_id: int, user, version: int, action: str, status: str, text: str,
    reason: str = "", seconds_spent: float | None = None,
) -> Caption:  # fmt: skip
    """Change a caption if it is still at `version`, and record the revision. A
    first approve or edit may offer it for a second opinion (blind.qa_sample)."""
    with transaction.atomic():
        caption = Caption.objects.select_related("patch", "job").get(pk=caption_id)
        # A stale version first: a person whose claim went with someone else's save
        # gets the merge view (their text beside the other), not a bare refusal.
        if caption.version != version:
            raise _stale(caption, user)
        _require_may_change(caption, user)
        findings = check_caption(text, caption.patch.landcover)
        now = timezone.now()
        reviewed = status != Caption.Status.PENDING
        changed = Caption.objects.filter(pk=caption_id, version=version).update(
            status=status,
            text=text,
            checks=findings,
            failed_checks=len(findings),
            version=F("version") + 1,
            claimed_by=None,
            claim_expires_at=None,
            reviewed_by=user if reviewed else None,
            reviewed_at=now if reviewed else None,
            updated_at=now,
        )
        if not changed:
            caption.refresh_from_db()
            raise _stale(caption, user)
        revision = _record_revision(
            caption, user, action, status, text, reason, seconds_spent
        )
        blind.qa_sample(caption, revision)
    caption.refresh_from_db()
    return caption


def _stale(caption: Caption, user) -> ReviewError:
    """The merge view (the caption as it is now), but for someone who may yet be
    offered it blind: only "not yours" (blind.py)."""
    if blind.under_blind_review(user, caption):
        return NotYourClaim(f"caption {caption.pk} is not claimed by you")
    return StaleVersion(caption)


def _record_revision(
    caption: Caption, user, action: str, status: str, text: str, reason: str,
    seconds_spent: float | None,
) -> Revision:  # fmt: skip
    """The revision of a change `apply_change` made; `caption` is as it was before."""
    return Revision.objects.create(
        caption_id=caption.pk,
        user=user,
        action=action,
        status_before=caption.status,
        status_after=status,
        text_before=caption.text,
        text_after=text,
        version_after=caption.version + 1,
        reason=reason[:500],
        seconds_spent=seconds_spent,
        edit_distance=word_edit_distance(caption.generated_text, text),
    )


def caption_approve(
    *, caption_id: int, user, version: int, seconds_spent: float | None = None
) -> Caption:
    caption = Caption.objects.only("text").get(pk=caption_id)
    return apply_change(
        caption_id=caption_id, user=user, version=version,
        action=Revision.Action.APPROVE, status=Caption.Status.APPROVED,
        text=caption.text, seconds_spent=seconds_spent,
    )  # fmt: skip


def caption_edit(
    *, caption_id: int, user, version: int, text: str,
    seconds_spent: float | None = None,
) -> Caption:  # fmt: skip
    return apply_change(
        caption_id=caption_id, user=user, version=version,
        action=Revision.Action.EDIT, status=Caption.Status.EDITED,
        text=blind.clean_text(text), seconds_spent=seconds_spent,
    )  # fmt: skip


def caption_reject(
    *, caption_id: int, user, version: int, reason: str,
    seconds_spent: float | None = None,
) -> Caption:  # fmt: skip
    reason = blind.clean_reason(reason)
    caption = Caption.objects.only("text").get(pk=caption_id)
    return apply_change(
        caption_id=caption_id, user=user, version=version,
        action=Revision.Action.REJECT, status=Caption.Status.REJECTED,
        text=caption.text, reason=reason, seconds_spent=seconds_spent,
    )  # fmt: skip


@dataclass(frozen=True)
class ReviewDecision:
    """A reviewer's decision on one caption, as the page and the API send it."""

    action: str  # approve, edit, reject or skip
    version: int | None = None  # the version the reviewer started from (not skip)
    text: str = ""  # edit
    reason: str = ""  # reject
    seconds_spent: float | None = None


def review_act(*, caption_id: int, user, decision: ReviewDecision) -> Caption | None:
    """The one path of a review action, from the page and from the API: the caption
    as saved (for a blind item, the copy as answered: blind.py), or None after a
    skip (the claim is given back)."""
    if decision.action == "skip":
        claim_release(caption_id=caption_id, user=user)
        return None
    item = blind.blind_item(user, caption_id)
    if item is not None:
        return blind.blind_answer(item, user, decision)
    if decision.version is None:
        raise ReviewError("send the caption's version you started from")
    common: dict[str, Any] = {
        "caption_id": caption_id,
        "user": user,
        "version": decision.version,
        "seconds_spent": decision.seconds_spent,
    }
    if decision.action == "approve":
        return caption_approve(**common)
    if decision.action == "edit":
        return caption_edit(**common, text=decision.text)
    if decision.action == "reject":
        return caption_reject(**common, reason=decision.reason)
    raise ReviewError(f"unknown action {decision.action!r}")


def caption_revert(*, revision_id: int, user) -> Caption:
    """Curators only: put a caption back as it was before a revision."""
    if not is_curator(user):
        raise ReviewError("only curators may revert")
    revision = Revision.objects.select_related("caption").get(pk=revision_id)
    caption = revision.caption
    return apply_change(
        caption_id=caption.pk, user=user, version=caption.version,
        action=Revision.Action.REVERT, status=revision.status_before,
        text=revision.text_before, reason=f"revert of revision {revision.pk}",
    )  # fmt: skip
