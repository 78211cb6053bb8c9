"""Reads of the verification app, shaped once for the pages and the API."""

from captions.models import Caption
from verification.models import Revision


def caption_for_review(caption_id: int) -> Caption:
    """A caption with its patch and scene in one query (the review page's read)."""
    return Caption.objects.select_related("patch__scene", "job", "template").get(
        pk=caption_id
    )


def caption_history(caption_id: int) -> list[Revision]:
    return list(
        Revision.objects.filter(caption_id=caption_id).select_related("user")[:200]
    )


def caption_as_json(caption: Caption) -> dict:
    """What the review page's script needs to show a caption and save it."""
    patch = caption.patch
    return {
        "id": caption.pk,
        "version": caption.version,
        "status": caption.status,
        "text": caption.text,
        "generated_text": caption.generated_text,
        "checks": caption.checks,
        "rgb_url": patch.rgb_preview.url,
        "landcover_url": patch.landcover_preview.url,
        "landcover": patch.landcover,
    }
