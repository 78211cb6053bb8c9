"""Releases: numbered, frozen snapshots of the verified pairs, built into files.

`release_create` numbers a queued release and enqueues its build once the transaction
commits (refusing it if a land-cover class has fewer second-reviewed pairs than it
asks for). `release_build` (the Celery task `build_release`) claims it
(captions/claims.py), freezes its pairs into `ReleaseItem`s with their quality
statement (once: a rebuild reads the same items and figures), and has
`release_files.write_release` write its folder, which moves into place only when
whole, so a release's folder is either complete or absent; no clock is read after
the freeze, so `release_build(rebuild=True)` can check that building it again gives
the same bytes.
"""

import datetime as dt
import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, reset_queries, transaction
from django.db.models import Max, OuterRef, QuerySet, Subquery
from django.utils import timezone

from captions import access, review_records
from captions.claims import Claim, claim
from captions.export.filters import ExportFilters, export_filters_from
from captions.export.release_files import ReleaseBusy, ReleaseError, write_release
from captions.models import Caption, Release, ReleaseItem
from captions.selectors import (
    export_filters_check,
    image_name_clash,
    verified_captions,
)

logger = logging.getLogger(__name__)

# A build touches its release at least once a second (release_files._Progress); one
# silent for longer belonged to a worker that died, and the redelivered task may take
# it over.
STALE_BUILD_AFTER = dt.timedelta(minutes=10)
FREEZE_BATCH = 2000
# The most second-reviewed pairs a release may ask of each land-cover class.
MAX_QA_PER_CLASS = 10_000


class QaCoverageTooLow(ReleaseError):
    """Some land-cover class of the pairs has fewer second-reviewed pairs than the
    release asks for (`Release.min_qa_per_class`)."""


# --- Create -----------------------------------------------------------------------


def release_create(
    *,
    filters: ExportFilters,
    user,
    description: str = "",
    layout: str = Release.Layout.PRODUCT,
    min_qa_per_class: int = 0,
) -> Release:
    """A queued release numbered one after the last; its build starts on commit.

    In ChatEarthNet's layout, two patches with one file name are refused here,
    naming both (and again when the build freezes the pairs). With
    `min_qa_per_class`, so are pairs of which a land-cover class has fewer
    second-reviewed pairs, naming every such class (`QaCoverageTooLow`)."""
    if not access.may(user, access.CURATE):
        raise PermissionDenied("only curators create releases")
    _check_options(layout, min_qa_per_class)
    export_filters_check(filters=filters)
    captions = verified_captions(filters=filters)
    if not captions.exists():
        raise ReleaseError("no verified pairs match these filters: nothing to release")
    if layout == Release.Layout.CHATEARTHNET:
        _refuse_name_clash(captions)
    _refuse_thin_qa(captions, min_qa_per_class)
    for _attempt in range(5):
        try:
            with transaction.atomic():
                last = Release.objects.aggregate(last=Max("number"))["last"] or 0
                release = Release.objects.create(
                    number=last + 1,
                    filters=filters.as_json(),
                    description=description.strip(),
                    layout=layout,
                    min_qa_per_class=min_qa_per_class,
                    created_by=user,
                )
                _enqueue_build(release.pk)
            return release
        except IntegrityError:
            continue  # another curator took the number at the same moment
    raise ReleaseError("could not number the release (too many at once); try again")


def _check_options(layout: str, min_qa_per_class: int) -> None:
    if layout not in Release.Layout.values:
        raise ReleaseError(
            f"layout {layout!r} is not one of {', '.join(Release.Layout.values)}"
        )
    if not 0 <= min_qa_per_class <= MAX_QA_PER_CLASS:
        raise ReleaseError(
            f"min_qa_per_class {min_qa_per_class} is not between 0 and "
            f"{MAX_QA_PER_CLASS:,}"
        )


def _refuse_thin_qa(captions: QuerySet[Caption], per_class: int) -> None:
    """Refuse pairs of which a class has fewer than `per_class` second-reviewed
    pairs. Checked on the pairs as they are now; the build freezes them later, and
    its card states the coverage it froze."""
    if per_class <= 0:
        return
    short = review_records.qa_coverage_shortfall(
        list(captions.values_list("pk", flat=True)), per_class
    )
    if not short:
        return
    classes = ", ".join(f"{gap.name} {gap.have} of {gap.need}" for gap in short)
    raise QaCoverageTooLow(
        f"QA coverage too low: {classes} second-reviewed pairs; have curators "
        f"sample QA by class (manage.py sample_qa --per-class {per_class}) and "
        "review them"
    )


def _refuse_name_clash(captions: QuerySet[Caption]) -> None:
    clash = image_name_clash(captions)
    if clash is None:
        return
    patches = " and ".join(
        f"patch {patch_id} (scene {scene!r})" for patch_id, scene in clash.patches
    )
    raise ReleaseError(
        f"two images would be written as images/{clash.name}: {patches}; "
        "ChatEarthNet's layout names images by their patch's name"
    )


def release_retry(*, release_id: int) -> bool:
    """Queue a failed release again; returns whether it was failed."""
    with transaction.atomic():
        queued = Release.objects.filter(
            pk=release_id, status=Release.Status.FAILED
        ).update(status=Release.Status.QUEUED, error="", updated_at=timezone.now())
        if queued:
            _enqueue_build(release_id)
    return bool(queued)


def release_queue_rebuild(*, release_id: int) -> bool:
    """Enqueue a rebuild of a done release (restores its files, checks their bytes)."""
    if not Release.objects.filter(pk=release_id, status=Release.Status.DONE).exists():
        return False
    _enqueue_build(release_id, rebuild=True)
    return True


def _enqueue_build(release_id: int, *, rebuild: bool = False) -> None:
    from captions import tasks  # tasks import this module

    transaction.on_commit(
        lambda: tasks.build_release.delay(release_id, rebuild=rebuild)
    )


# --- Build ------------------------------------------------------------------------


def release_build(*, release_id: int, rebuild: bool = False) -> Release:
    """Build a queued release (safe to run twice), or rebuild a done one.

    A rebuild writes every file again and moves them into place only if its manifest
    is the recorded one, byte for byte; otherwise it raises `ReleaseError` and leaves
    the release as it was.
    """
    release = Release.objects.get(pk=release_id)
    if rebuild:
        if release.status != Release.Status.DONE:
            raise ReleaseError(f"release {release.number} is not built yet")
        write_release(release, expected_manifest=release.manifest["manifest_sha256"])
        return release
    if release.status == Release.Status.DONE:
        return release
    taken = _claim(release_id)
    if taken is Claim.BUSY:
        raise ReleaseBusy(f"release {release.number} is being built by another worker")
    if taken is not Claim.TAKEN:
        return release  # it failed meanwhile, or was built
    release.refresh_from_db()
    try:
        _freeze(release)
        summary = write_release(release, expected_manifest=None)
    except ReleaseError as error:
        release_mark_failed(release_id=release_id, reason=str(error))
        raise
    except Exception as error:
        release_mark_failed(
            release_id=release_id, reason=f"unexpected error: {error!r}"
        )
        raise
    Release.objects.filter(pk=release_id).update(
        status=Release.Status.DONE,
        manifest=summary,
        pairs_done=release.pairs_total,
        images_done=release.images_total,
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )
    release.refresh_from_db()
    return release


def _claim(release_id: int) -> Claim:
    """Take a queued release, or one whose builder died (`STALE_BUILD_AFTER`)."""
    taken = claim(
        Release,
        release_id,
        ready=(Release.Status.QUEUED,),
        working=Release.Status.BUILDING,
        stale_after=STALE_BUILD_AFTER,
        started_at=timezone.now(),
        error="",
        pairs_done=0,
        images_done=0,
    )
    return taken


def release_mark_failed(*, release_id: int, reason: str) -> None:
    logger.warning("release build %s failed: %s", release_id, reason)
    Release.objects.filter(pk=release_id).exclude(status=Release.Status.DONE).update(
        status=Release.Status.FAILED,
        error=reason[:2000],
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )


def _freeze(release: Release) -> None:
    """Copy what a review can change of every selected caption, once per release."""
    if release.frozen_at is not None:
        return  # a build taken over from a dead worker: the items are there
    rows = _rows_to_freeze(export_filters_from(release.filters))
    with transaction.atomic():
        # One transaction, one SELECT: the snapshot is the database at one moment,
        # and a crash leaves no half-frozen release.
        frozen_at = timezone.now()
        batch: list[ReleaseItem] = []
        caption_ids: list[int] = []
        for row in rows.iterator(chunk_size=FREEZE_BATCH):
            batch.append(_release_item(release, row))
            caption_ids.append(row[0])
            if len(batch) >= FREEZE_BATCH:
                ReleaseItem.objects.bulk_create(batch)
                batch = []
                # With DEBUG on, Django keeps every query's SQL, and these carry the
                # captions' text: memory would grow with the release.
                reset_queries()
        ReleaseItem.objects.bulk_create(batch)
        items = ReleaseItem.objects.filter(release=release)
        release.pairs_total = items.count()
        release.images_total = items.values("caption__patch_id").distinct().count()
        release.frozen_at = frozen_at
        # Read once, as the pairs are frozen: the card states it, and a rebuild
        # must state the same whatever was reviewed since.
        release.quality = review_records.quality_statement(caption_ids) or {}
        release.save(
            update_fields=[
                "pairs_total",
                "images_total",
                "frozen_at",
                "quality",
                "updated_at",
            ]
        )


_FROZEN_FIELDS = (
    "id", "patch__split", "status", "text", "reviewed_by__username", "reviewed_at",
    "distance",
)  # fmt: skip


def _rows_to_freeze(filters: ExportFilters) -> QuerySet[Caption, tuple[Any, ...]]:
    # The revision that gave the caption its current version holds its edit
    # distance. Read through the caption's `revisions` relation: the captions app
    # never imports verification, which defines the revisions.
    distance = (
        Caption.objects.filter(
            pk=OuterRef("pk"), revisions__version_after=OuterRef("version")
        )
        .order_by("-revisions__created_at", "-revisions__id")
        .values("revisions__edit_distance")[:1]
    )
    return (
        verified_captions(filters=filters)
        .annotate(distance=Subquery(distance))
        .values_list(*_FROZEN_FIELDS)
    )


def _release_item(release: Release, row: tuple[Any, ...]) -> ReleaseItem:
    caption_id, split, status, text, reviewer, reviewed_at, distance = row
    return ReleaseItem(
        release=release,
        caption_id=caption_id,
        split=split,
        status=status,
        text=text,
        reviewer=reviewer or "",
        reviewed_at=reviewed_at,
        edit_distance=distance,
    )
