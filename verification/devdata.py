"""The reviews in the benchmark data: the bench reviewer, and one revision for each
caption it reviewed.

`make_benchmark_data` hands `BenchmarkReviews` to
`captions.devdata.benchmark.benchmark_data_create`, which draws each caption's status
and review time; this side makes the person and the history the review page and the
dashboard read (docs/benchmark_data.md).
"""

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Model, OuterRef, Subquery

from captions.devdata.benchmark_rows import insert_rows
from captions.devdata.benchmark_run import CaptionBatch
from captions.models import Caption
from verification.distance import word_edit_distance
from verification.models import Revision
from verification.roles import ANNOTATOR, ensure_groups
from verification.services import REJECT_REASONS

REVIEWER_USERNAME = "bench-reviewer"

_ACTIONS = {
    Caption.Status.APPROVED: Revision.Action.APPROVE,
    Caption.Status.EDITED: Revision.Action.EDIT,
    Caption.Status.REJECTED: Revision.Action.REJECT,
}


class BenchmarkReviews:
    """The `captions.devdata.benchmark_run.Reviews` of the benchmark data."""

    def __init__(self) -> None:
        # Patches reuse a few hundred caption texts, so a few hundred distances.
        self._distances: dict[tuple[str, str], float] = {}

    def reviewer_id(self) -> int:
        """The annotator who reviewed the benchmark captions, made once."""
        annotators = ensure_groups()[ANNOTATOR]
        user, created = get_user_model().objects.get_or_create(
            username=REVIEWER_USERNAME
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        user.groups.add(annotators)
        return user.pk

    def record(self, batch: CaptionBatch) -> int:
        revision_ids = insert_rows(
            Revision,
            [
                self._revision_row(caption_id, caption, patch_index)
                for caption_id, caption, patch_index in zip(
                    batch.caption_ids, batch.captions, batch.patch_indexes, strict=True
                )
                if caption["status"] != Caption.Status.PENDING
            ],
        )
        if revision_ids and connection.vendor != "postgresql":
            _date_revisions(batch.job_id, revision_ids)
        return len(revision_ids)

    def models(self) -> list[type[Model]]:
        return [Revision]

    def _revision_row(self, caption_id: int, caption: dict, patch_index: int) -> dict:
        status = caption["status"]
        return {
            "caption_id": caption_id,
            "user_id": caption["reviewed_by_id"],
            "action": _ACTIONS[status],
            "status_before": Caption.Status.PENDING,
            "status_after": status,
            "text_before": caption["generated_text"],
            "text_after": caption["text"],
            "version_after": caption["version"],
            "reason": (
                REJECT_REASONS[patch_index % len(REJECT_REASONS)]
                if status == Caption.Status.REJECTED
                else ""
            ),
            # Reading, comparing with the two maps and deciding: 10 s to 2 min.
            "seconds_spent": float(10 + patch_index * 37 % 110),
            # Approving or rejecting keeps the words: word_edit_distance gives 0.
            "edit_distance": (
                self._edit_distance(caption["generated_text"], caption["text"])
                if status == Caption.Status.EDITED
                else 0.0
            ),
            # When it was reviewed (kept by COPY; `_date_revisions` after
            # `bulk_create`).
            "created_at": caption["reviewed_at"],
        }

    def _edit_distance(self, before: str, after: str) -> float:
        key = (before, after)
        if key not in self._distances:
            self._distances[key] = word_edit_distance(before, after)
        return self._distances[key]


def _date_revisions(job_id: int, revision_ids: list[int]) -> None:
    """Date revisions inserted by `bulk_create` when their captions were reviewed.

    `created_at` is `auto_now_add`, which `bulk_create` sets to now whatever the row
    holds (COPY keeps it); the dashboard counts reviews per day by it.
    """
    Revision.objects.filter(
        pk__range=(min(revision_ids), max(revision_ids)), caption__job_id=job_id
    ).update(
        created_at=Subquery(
            Caption.objects.filter(pk=OuterRef("caption_id")).values("reviewed_at")[:1]
        )
    )
