"""Regenerating rejected captions (issue 12, item 3): which patches, which correction.

A job launched with `Selection.rejected_only` captions the patches that hold a
rejected caption nothing replaces yet. Each new caption *replaces* that caption
(`Caption.replaces`) and keeps the reviewer's reason (`Caption.replace_reason`), which
its prompt carried as a correction hint (`prompts.with_correction`). The new caption
is pending: it goes back into the review queue like any other.

The reasons are read through `Caption.revisions` (the reject revision): captions never
imports verification, which defines revisions (docs/architecture.md).
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, QuerySet, Subquery

from captions.models import Caption, Patch

REJECT_ACTION = "reject"  # verification.models.Revision.Action.REJECT


@dataclass(frozen=True)
class Correction:
    """The caption a new one replaces, and why it was rejected: None if it was not
    (a curator chose it), and then its prompt carries no hint."""

    caption_id: int
    reason: str | None


def unreplaced_rejections() -> QuerySet[Caption]:
    """Rejected captions that no caption replaces yet."""
    return Caption.objects.filter(
        status=Caption.Status.REJECTED, replaced_by__isnull=True
    )


def with_rejections(patches: QuerySet[Patch]) -> QuerySet[Patch]:
    """Those of `patches` holding a rejected caption nothing replaces yet."""
    return patches.filter(
        Exists(unreplaced_rejections().filter(patch_id=OuterRef("pk")))
    )


def with_chosen_captions(
    patches: QuerySet[Patch], caption_ids: Iterable[int]
) -> QuerySet[Patch]:
    """Those of `patches` holding one of the captions a curator chose."""
    chosen = Caption.objects.filter(pk__in=list(caption_ids), patch_id=OuterRef("pk"))
    return patches.filter(Exists(chosen))


def corrections_for(
    patch_ids: Iterable[int], caption_ids: Iterable[int] = ()
) -> dict[int, Correction]:
    """Per patch, the caption its new caption replaces: the newest unreplaced
    rejected one, or (given `caption_ids`) the newest chosen one; with the reason of
    the review that rejected it ("" if none was given, None if it is not rejected)."""
    chosen = list(caption_ids)
    captions = (
        Caption.objects.filter(pk__in=chosen) if chosen else unreplaced_rejections()
    )
    reason = (
        Caption.objects.filter(pk=OuterRef("pk"), revisions__action=REJECT_ACTION)
        .order_by("-revisions__created_at", "-revisions__id")
        .values("revisions__reason")[:1]
    )
    rows = (
        captions.filter(patch_id__in=list(patch_ids))
        .annotate(reject_reason=Subquery(reason))
        .order_by("patch_id", "-id")
        .values_list("patch_id", "id", "status", "reject_reason")
    )
    corrections: dict[int, Correction] = {}
    for patch_id, caption_id, status, text in rows:
        rejected = status == Caption.Status.REJECTED
        corrections.setdefault(
            patch_id, Correction(caption_id, (text or "") if rejected else None)
        )
    return corrections
