"""What people do to captions: claim from the queue, approve, edit, reject, revert.

Every change is a guarded `UPDATE ... WHERE version = <the version the person saw>`,
so two people saving at once never overwrite each other: the second gets
`StaleVersion` (HTTP 409) with the current text. Claims are leases on the caption row:
on PostgreSQL the next caption is taken with `SELECT ... FOR UPDATE SKIP LOCKED`,
elsewhere with a guarded update, and two annotators never hold the same caption.
"""

import datetime as dt
import difflib
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from captions.generation.checks import (
    MAX_CAPTION_CHARS,
    UNSTORABLE_CHARACTERS,
    check_caption,
)
from captions.json_lookups import ArrayHasElement
from captions.models import Caption
from verification.models import Revision
from verification.roles import is_curator

CLAIM_TTL = dt.timedelta(minutes=5)
# The caption on screen and the one claimed ahead of it (docs/review.md).
MAX_CLAIMS_PER_PERSON = 2
REJECT_REASONS = (
    "names a class that is not there",
    "misses the dominant class",
    "wrong positions or sizes",
    "not fluent / garbled",
    "cut off",
)


class ReviewError(Exception):
    """A review action that cannot be done; `status` is the HTTP code to answer."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotYourClaim(ReviewError):
    status = 409


class StaleVersion(ReviewError):
    """Someone changed the caption since this person loaded it."""

    status = 409

    def __init__(self, caption: Caption) -> None:
        super().__init__(
            f"caption {caption.pk} was changed by someone else (now version "
            f"{caption.version}); compare and save again"
        )
        self.caption = caption


@dataclass(frozen=True)
class QueueFilter:
    """A curator's narrowing of the queue; empty: everything pending."""

    scene_id: int | None = None
    job_id: int | None = None
    check: str = ""
    class_code: int | None = None

    def apply(self, captions: QuerySet[Caption]) -> QuerySet[Caption]:
        if self.scene_id:
            captions = captions.filter(patch__scene_id=self.scene_id)
        if self.job_id:
            captions = captions.filter(job_id=self.job_id)
        # ArrayHasElement, not JSON __contains: the latter is PostgreSQL-only and the
        # zero-setup default runs on SQLite.
        if self.check:
            captions = captions.filter(
                ArrayHasElement("checks", key="check", value=self.check)
            )
        if self.class_code:
            captions = captions.filter(
                ArrayHasElement(
                    "patch__landcover__overall", key="code", value=self.class_code
                )
            )
        return captions


def _claimable(now: dt.datetime) -> QuerySet[Caption]:
    return Caption.objects.filter(status=Caption.Status.PENDING).filter(
        Q(claimed_by__isnull=True) | Q(claim_expires_at__lt=now)
    )


QUEUE_ORDER = (F("failed_checks").desc(), "job_id", "patch_id")


def queue_claim_next(
    *, user, queue_filter: QueueFilter | None = None, skip_ids: tuple[int, ...] = ()
) -> Caption | None:
    """The caption this person should review now, claimed for them; None: all done.

    A claim they still hold and do not skip comes first, so a reload never takes a
    second caption. A person holds at most `MAX_CLAIMS_PER_PERSON`: the caption on
    screen and the one claimed ahead of it (the page skips the first to get the
    second). Asking for another at the cap gives back the skipped claim that would
    expire first: skipping a caption hands it back, whatever the client keeps.
    """
    now = timezone.now()
    with transaction.atomic():
        _lock_claims_of(user)
        held = list(
            Caption.objects.filter(
                claimed_by=user,
                claim_expires_at__gte=now,
                status=Caption.Status.PENDING,
            ).order_by("pk")
        )
        skipped = set(skip_ids)
        kept = next((caption for caption in held if caption.pk not in skipped), None)
        if kept is not None:
            return _renew(kept, user, now)
        surplus = len(held) - (MAX_CLAIMS_PER_PERSON - 1)
        if surplus > 0:
            by_expiry = sorted(held, key=lambda c: (c.claim_expires_at, c.pk))
            Caption.objects.filter(
                pk__in=[caption.pk for caption in by_expiry[:surplus]],
                claimed_by=user,
            ).update(claimed_by=None, claim_expires_at=None)
        return _claim_first(user, queue_filter, skipped, now)


def _lock_claims_of(user) -> None:
    """Serialise one person's claims, so two requests at once cannot both see one
    claim held and each take another. On PostgreSQL the person's row is locked
    until the claim commits; SQLite's transactions here begin IMMEDIATE, which
    already serialises every writer."""
    if connection.vendor == "postgresql":
        get_user_model().objects.select_for_update().filter(pk=user.pk).values_list(
            "pk", flat=True
        ).first()


def _claim_first(
    user, queue_filter: QueueFilter | None, skipped: set[int], now: dt.datetime
) -> Caption | None:
    """Claim the first claimable caption in queue order (inside the caller's
    transaction)."""
    candidates = _claimable(now).exclude(pk__in=skipped)
    if queue_filter is not None:
        candidates = queue_filter.apply(candidates)
    candidates = candidates.order_by(*QUEUE_ORDER)
    if connection.vendor == "postgresql":
        caption = candidates.select_for_update(skip_locked=True, of=("self",)).first()
        if caption is None:
            return None
        Caption.objects.filter(pk=caption.pk).update(
            claimed_by=user, claim_expires_at=now + CLAIM_TTL
        )
        caption.claimed_by = user
        caption.claim_expires_at = now + CLAIM_TTL
        return caption
    # Without SKIP LOCKED: take the first candidate with a guarded update; if someone
    # else took it in between, the update changes nothing and the next one is tried.
    for caption_id in candidates.values_list("id", flat=True)[:20]:
        taken = (
            _claimable(now)
            .filter(pk=caption_id)
            .update(claimed_by=user, claim_expires_at=now + CLAIM_TTL)
        )
        if taken:
            return Caption.objects.get(pk=caption_id)
    return None


def _renew(caption: Caption, user, now: dt.datetime) -> Caption:
    Caption.objects.filter(pk=caption.pk, claimed_by=user).update(
        claim_expires_at=now + CLAIM_TTL
    )
    caption.claim_expires_at = now + CLAIM_TTL
    return caption


def claim_renew(*, caption_id: int, user) -> dt.datetime:
    """Extend a lease while the review page is open."""
    now = timezone.now()
    expires = now + CLAIM_TTL
    renewed = Caption.objects.filter(
        pk=caption_id, claimed_by=user, status=Caption.Status.PENDING
    ).update(claim_expires_at=expires)
    if not renewed:
        raise NotYourClaim(f"caption {caption_id} is not claimed by you")
    return expires


def claim_release(*, caption_id: int, user) -> None:
    """Give a caption back to the queue (skip)."""
    Caption.objects.filter(pk=caption_id, claimed_by=user).update(
        claimed_by=None, claim_expires_at=None
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


def _apply(
    *, caption_id: int, user, version: int, action: str, status: str, text: str,
    reason: str = "", seconds_spent: float | None = None,
) -> Caption:  # fmt: skip
    """Change a caption if it is still at `version`, and record the revision."""
    with transaction.atomic():
        caption = Caption.objects.select_related("patch").get(pk=caption_id)
        # A stale version first: a person whose claim went with someone else's save
        # gets the merge view (their text beside the other), not a bare refusal.
        if caption.version != version:
            raise StaleVersion(caption)
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
            raise StaleVersion(caption)
        _record_revision(caption, user, action, status, text, reason, seconds_spent)
    caption.refresh_from_db()
    return caption


def _record_revision(
    caption: Caption, user, action: str, status: str, text: str, reason: str,
    seconds_spent: float | None,
) -> None:  # fmt: skip
    """The revision of a change `_apply` made; `caption` is as it was before."""
    Revision.objects.create(
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


def word_edit_distance(before: str, after: str) -> float:
    """0 when the words are the same, 1 when none are kept (1 - difflib ratio)."""
    if before == after:
        return 0.0
    ratio = difflib.SequenceMatcher(None, before.split(), after.split()).ratio()
    return round(1.0 - ratio, 4)


def _refuse_unstorable(text: str, what: str) -> None:
    if UNSTORABLE_CHARACTERS.search(text):
        raise ReviewError(f"{what} cannot hold NUL or unpaired surrogate characters")


def caption_approve(
    *, caption_id: int, user, version: int, seconds_spent: float | None = None
) -> Caption:
    caption = Caption.objects.only("text").get(pk=caption_id)
    return _apply(
        caption_id=caption_id, user=user, version=version,
        action=Revision.Action.APPROVE, status=Caption.Status.APPROVED,
        text=caption.text, seconds_spent=seconds_spent,
    )  # fmt: skip


def caption_edit(
    *, caption_id: int, user, version: int, text: str,
    seconds_spent: float | None = None,
) -> Caption:  # fmt: skip
    text = text.strip()
    if not text:
        raise ReviewError("a caption cannot be empty")
    _refuse_unstorable(text, "a caption")
    if len(text) > MAX_CAPTION_CHARS:
        raise ReviewError(
            f"a caption holds at most {MAX_CAPTION_CHARS} characters, this one "
            f"{len(text)}"
        )
    return _apply(
        caption_id=caption_id, user=user, version=version,
        action=Revision.Action.EDIT, status=Caption.Status.EDITED, text=text,
        seconds_spent=seconds_spent,
    )  # fmt: skip


def caption_reject(
    *, caption_id: int, user, version: int, reason: str,
    seconds_spent: float | None = None,
) -> Caption:  # fmt: skip
    reason = reason.strip()
    if not reason:
        raise ReviewError("say why the caption is rejected")
    _refuse_unstorable(reason, "a reason")
    caption = Caption.objects.only("text").get(pk=caption_id)
    return _apply(
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
    as saved, or None after a skip (the claim is given back)."""
    if decision.action == "skip":
        claim_release(caption_id=caption_id, user=user)
        return None
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
    return _apply(
        caption_id=caption.pk, user=user, version=caption.version,
        action=Revision.Action.REVERT, status=revision.status_before,
        text=revision.text_before, reason=f"revert of revision {revision.pk}",
    )  # fmt: skip
