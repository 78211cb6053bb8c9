"""What curators do to the quality loop (issue 12): settle a QA disagreement, mark
a caption gold, sample second opinions by land-cover class. Each change to a
caption is a revision like any other (the history shows who did what and why).
"""

import random

from django.db import transaction
from django.utils import timezone

from captions.geo.bbox import BoundingBox
from captions.json_lookups import ArrayHasElement
from captions.landcover import CODES
from captions.models import Caption
from captions.selectors import footprint_meets
from verification.blind import STATUS_OF, clean_text, qa_open
from verification.errors import ReviewError
from verification.models import GoldCaption, QaReview, Revision, Verdict
from verification.roles import is_curator
from verification.services import apply_change

CHOICES = ("first", "second", "third")
GOLD_STATUSES = (
    Caption.Status.APPROVED,
    Caption.Status.EDITED,
    Caption.Status.REJECTED,
)
STATUS_FOR_QA = (Caption.Status.APPROVED, Caption.Status.EDITED)
# Verdict revisions whose text a stratified QA review shows as the first one's.
_VERDICT_ACTIONS = (Revision.Action.APPROVE, Revision.Action.EDIT)


class NotCurator(ReviewError):
    status = 403


class WrongState(ReviewError):
    status = 409


def _require_curator(user, what: str) -> None:
    if not is_curator(user):
        raise NotCurator(f"only curators {what}")


def qa_adjudicate(
    *, review_id: int, user, choice: str, version: int, text: str = ""
) -> Caption:
    """Settle a disagreement: keep the first verdict, take the second, or write a
    third text (an edit). The caption changes as any review changes it (guarded by
    the `version` the curator saw); the QA review records who chose what."""
    _require_curator(user, "adjudicate")
    if choice not in CHOICES:
        raise ReviewError(f"choose one of {', '.join(CHOICES)}, not {choice[:20]!r}")
    with transaction.atomic():
        review = QaReview.objects.select_for_update().get(pk=review_id)
        if review.state != QaReview.State.DISAGREED:
            raise WrongState(
                f"QA review {review.pk} is {review.get_state_display().lower()}: "
                "only a disagreement is adjudicated"
            )
        action, kept, reason = _chosen(review, choice, text)
        caption = apply_change(
            caption_id=review.caption_id, user=user, version=version,
            action=Revision.Action.ADJUDICATE, status=STATUS_OF[action], text=kept,
            reason=f"adjudication of QA review {review.pk}: {choice}" + reason,
        )  # fmt: skip
        QaReview.objects.filter(pk=review.pk).update(
            state=QaReview.State.ADJUDICATED,
            adjudicated_by=user,
            adjudicated_at=timezone.now(),
            adjudication=choice,
        )
    return caption


def _chosen(review: QaReview, choice: str, text: str) -> tuple[Verdict, str, str]:
    """The verdict, text and reason suffix the curator's choice stands for."""
    if choice == "first":
        return Verdict(review.first_action), review.first_text, ""
    if choice == "second":
        reason = f" ({review.reason})" if review.reason else ""
        return Verdict(review.action), review.text, reason
    return Verdict.EDIT, clean_text(text), ""


def gold_mark(*, caption_id: int, user) -> GoldCaption:
    """Make a reviewed caption gold: annotators are shown what the model wrote and
    scored against its verdict and text (approve if the text is the model's, edit
    if a reviewer changed it, reject if rejected)."""
    _require_curator(user, "mark gold captions")
    with transaction.atomic():
        caption = Caption.objects.select_for_update().get(pk=caption_id)
        if caption.status not in GOLD_STATUSES:
            raise WrongState(
                f"caption {caption.pk} is {caption.status}: only a reviewed caption "
                "can be gold"
            )
        action = _gold_verdict(caption)
        gold, _ = GoldCaption.objects.update_or_create(
            caption=caption,
            defaults={
                "action": action,
                "text": caption.text,
                "shown_text": caption.generated_text,
                "active": True,
                "marked_by": user,
            },
        )
        _note(caption, user, f"marked gold (answer: {action})")
    return gold


def gold_unmark(*, caption_id: int, user) -> None:
    """Take a caption out of the gold set; its answers stay, no longer served."""
    _require_curator(user, "unmark gold captions")
    with transaction.atomic():
        caption = Caption.objects.select_for_update().get(pk=caption_id)
        if not GoldCaption.objects.filter(caption=caption, active=True).update(
            active=False, claimed_by=None, claim_expires_at=None
        ):
            raise WrongState(f"caption {caption.pk} is not gold")
        _note(caption, user, "gold mark removed")


def _gold_verdict(caption: Caption) -> Verdict:
    if caption.status == Caption.Status.REJECTED:
        return Verdict.REJECT
    if caption.text.split() == caption.generated_text.split():
        return Verdict.APPROVE
    return Verdict.EDIT


def _note(caption: Caption, user, reason: str) -> None:
    """A revision that changes neither text nor status: who did what, and when."""
    Revision.objects.create(
        caption=caption, user=user, action=Revision.Action.GOLD,
        status_before=caption.status, status_after=caption.status,
        text_before=caption.text, text_after=caption.text,
        version_after=caption.version, reason=reason,
    )  # fmt: skip


def qa_sample_by_class(
    *, per_class: int, caption_ids=None, bbox: BoundingBox | None = None
) -> dict[int, int]:
    """Second opinions stratified by land-cover class: for each class present in
    verified captions (of `caption_ids`, if given; of patches whose footprint meets
    `bbox`, if given), open QA reviews on randomly chosen ones without a QA review
    until `per_class` reviews of those captions hold that class.
    Returns how many were opened per class code. Curators' work: the API checks the
    role; `manage.py sample_qa` is the operator's."""
    verified = Caption.objects.filter(status__in=STATUS_FOR_QA)
    if caption_ids is not None:
        verified = verified.filter(pk__in=list(caption_ids))
    if bbox is not None:
        verified = verified.filter(footprint_meets(bbox, patch="patch__"))
    opened: dict[int, int] = {}
    for code in CODES:
        with_class = verified.filter(
            ArrayHasElement("patch__landcover__overall", key="code", value=code)
        )
        have = with_class.filter(qa_review__isnull=False).count()
        if have >= per_class:
            continue
        free = list(
            with_class.filter(qa_review__isnull=True).values_list("pk", flat=True)
        )
        chosen = random.sample(free, min(len(free), per_class - have))
        opened[code] = sum(_open_stratified(pk) for pk in chosen)
    return {code: n for code, n in opened.items() if n}


def _open_stratified(caption_id: int) -> int:
    """Open a QA review of a caption's latest approve or edit: 1, or 0 if it has
    none (e.g. imported as verified) or another process opened one first."""
    revision = (
        Revision.objects.filter(caption_id=caption_id, action__in=_VERDICT_ACTIONS)
        .order_by("-created_at", "-pk")
        .first()
    )
    if revision is None:
        return 0
    return int(qa_open(revision, QaReview.Origin.STRATIFIED)[1])
