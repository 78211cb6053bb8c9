"""Revisions for what other apps do to captions: a regeneration job replacing a
caption is a curator's action, kept in the replaced caption's history (issue 12)."""

from typing import Any

from captions.models import Caption
from verification.models import Revision


def record_replacements(
    *, job: Any, replacements: list[tuple[int, int, str]], **_: Any
) -> None:
    """One `regenerate` revision per replaced caption, by whoever launched the job;
    text, status and version unchanged (the new caption goes to the queue)."""
    replaced = {
        pk: (status, text, version)
        for pk, status, text, version in Caption.objects.filter(
            pk__in=[old for old, _, _ in replacements]
        ).values_list("pk", "status", "text", "version")
    }
    Revision.objects.bulk_create(
        [
            _revision(job, old, new, reason, *replaced[old])
            for old, new, reason in replacements
            if old in replaced
        ]
    )


def _revision(
    job: Any, old: int, new: int, reason: str, status: str, text: str, version: int
) -> Revision:
    return Revision(
        caption_id=old, user_id=job.created_by_id, action=Revision.Action.REGENERATE,
        status_before=status, status_after=status, text_before=text, text_after=text,
        version_after=version, reason=_reason(job.pk, new, reason),
    )  # fmt: skip


def _reason(job_id: int, new_id: int, reason: str) -> str:
    why = f": {reason}" if reason else ""
    return f"replaced by caption {new_id} of job {job_id}{why}"[:500]
