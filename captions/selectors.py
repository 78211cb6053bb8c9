"""Reads of the captions app, shaped once for pages, the API and commands."""

from collections.abc import Iterator
from typing import NamedTuple

from django.db.models import (
    Count,
    Exists,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    TextField,
)
from django.db.models.functions import Cast
from django.utils import timezone

from captions.export.filters import ExportFilters
from captions.export.formats import (
    ExportError,
    ExportRecord,
    footprint_of,
    image_path,
    iso_utc,
)
from captions.geo.bbox import BoundingBox
from captions.geo.footprints import PatchFootprint
from captions.json_lookups import ArrayHasElement
from captions.models import (
    Caption,
    GenerationFailure,
    GenerationJob,
    LLMBatch,
    Patch,
    ReleaseItem,
    Scene,
)


def job_summary(job: GenerationJob) -> dict:
    """A job as one JSON object: counts, rate, ETA, tokens and cost."""
    processed = job.done + job.failed
    rate = None
    eta_s = None
    if job.started_at and processed:
        end = job.finished_at or timezone.now()
        elapsed = max((end - job.started_at).total_seconds(), 1e-6)
        rate = processed / elapsed
        running = (GenerationJob.Status.QUEUED, GenerationJob.Status.RUNNING)
        if job.status in running and rate > 0:
            eta_s = max(job.total - processed, 0) / rate
    return {
        "id": job.pk,
        "status": job.status,
        "backend": job.backend,
        "endpoint": job.endpoint,
        "base_url": job.base_url,
        "model": job.model,
        "template": str(job.template),
        "template_b": str(job.template_b) if job.template_b_id else None,
        "model_b": job.model_b,
        "b_share": job.b_share,
        "qa_rate": job.qa_rate,
        "selection": job.selection,
        "options": job.options,
        "total": job.total,
        "done": job.done,
        "failed": job.failed,
        "rate_per_s": round(rate, 2) if rate is not None else None,
        "eta_s": round(eta_s, 1) if eta_s is not None else None,
        "tokens_in": job.tokens_in,
        "tokens_out": job.tokens_out,
        "batch": bool(job.options.get("batch")),
        "estimated_cost": job.estimated_cost,
        "actual_cost": round(job.actual_cost, 6),
        "error": job.error,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


BATCH_FIELDS = (
    "index", "status", "requests", "batch_id", "input_file_id", "output_file_id",
    "error_file_id", "requests_completed", "requests_failed", "captions_written",
    "failures_written", "unreadable_lines", "error", "submitted_at", "polled_at",
    "cancel_requested_at", "ingested_at",
)  # fmt: skip


def job_batches(job: GenerationJob) -> list[dict]:
    """A batch job's batches as the job page and the API show them (one query; the
    patch ids, up to 50,000 a batch, are left out)."""
    return list(
        LLMBatch.objects.filter(job=job).order_by("index").values(*BATCH_FIELDS)
    )


def job_failures(job_id: int) -> QuerySet[GenerationFailure]:
    """The patches a job could not caption, with the reasons, oldest first."""
    return GenerationFailure.objects.filter(job_id=job_id).annotate(
        patch_name=F("patch__source_name")
    )


# --- REST API reads (captions/api/) --------------------------------------------------
# A page of each list costs the same few queries whatever its size: the API tests pin
# them (tests/captions/test_api_*.py).


def scene_list() -> QuerySet[Scene]:
    return Scene.objects.all()


def patch_list() -> QuerySet[Patch]:
    """Patches with their scene's name and the id and status of each caption."""
    captions = Caption.objects.only("id", "patch_id", "status").order_by("id")
    return Patch.objects.annotate(scene_name=F("scene__name")).prefetch_related(
        # to_attr: a plain list per patch; through the related manager Django builds
        # a queryset per row, a measurable share of a list page.
        Prefetch("captions", queryset=captions, to_attr="caption_list")
    )


def patches_with_caption_status(
    patches: QuerySet[Patch], *, status: str
) -> QuerySet[Patch]:
    """Patches with at least one caption in `status` (one row each, not one per
    caption as a join would give)."""
    return patches.filter(
        Exists(Caption.objects.filter(patch=OuterRef("pk"), status=status))
    )


def patches_with_class(patches: QuerySet[Patch], *, code: int) -> QuerySet[Patch]:
    """Patches where the WorldCover class `code` is present at all."""
    return patches.filter(ArrayHasElement("landcover__overall", key="code", value=code))


def patches_intersecting(
    patches: QuerySet[Patch], *, box: BoundingBox
) -> QuerySet[Patch]:
    """Patches whose footprint meets the box; patches without one never do."""
    return patches.filter(footprint_meets(box))


SIDES = ("west", "south", "east", "north")


def footprint_meets(box: BoundingBox, *, patch: str = "") -> Q:
    """The condition that a patch's footprint meets the box (touching counts), for
    a query of patches (`patch=""`) or of rows reaching one (`patch="patch__"`):
    the queue, the export and the QA sample take the patches API's rule. A patch
    without a footprint never meets a box (NULL compares false)."""
    west, south, east, north = (f"{patch}{side}" for side in SIDES)
    latitudes = Q(**{f"{south}__lte": box.north, f"{north}__gte": box.south})
    # Either side of the antimeridian: [west, 180] or [-180, east].
    reaches_either_part = Q(**{f"{west}__lte": box.east}) | Q(
        **{f"{east}__gte": box.west}
    )
    # A footprint whose west is east of its east crosses the antimeridian too.
    crosses = Q(**{f"{west}__gt": F(east)})
    if not box.crosses_antimeridian:
        within = Q(**{f"{west}__lte": box.east, f"{east}__gte": box.west})
        longitudes = within | (crosses & reaches_either_part)
    else:
        # Both hold the antimeridian when both cross it.
        longitudes = reaches_either_part | crosses
    return latitudes & longitudes


def patch_footprints() -> QuerySet[Patch]:
    """The patches that have a footprint: the others have no place on a map."""
    return Patch.objects.filter(
        west__isnull=False, south__isnull=False, east__isnull=False, north__isnull=False
    )


def newest_captions() -> QuerySet[Caption]:
    """The captions of the patch of the outer query (`OuterRef("pk")`), newest
    (highest id) first: a patch's status on the map and in its GeoJSON is its
    newest caption's."""
    return Caption.objects.filter(patch=OuterRef("pk")).order_by("-id")


# PatchFootprint's fields, in order, from a patch annotated with its newest caption.
_FOOTPRINT_FIELDS = (
    "id", "source_name", "scene_id", "scene__name", "split", "dominant_class",
    "newest_caption_id", "newest_caption_status", "west", "south", "east", "north",
)  # fmt: skip
FOOTPRINT_CHUNK_SIZE = 2000


def patch_footprint_rows(
    patches: QuerySet[Patch], *, chunk_size: int = FOOTPRINT_CHUNK_SIZE
) -> Iterator[PatchFootprint]:
    """`patches` (from `patch_footprints()`, filtered) in id order with their newest
    caption, read in chunks from a database cursor: one query, whatever their
    number."""
    newest = newest_captions()
    rows = (
        patches.annotate(
            newest_caption_id=Subquery(newest.values("id")[:1]),
            newest_caption_status=Subquery(newest.values("status")[:1]),
        )
        .order_by("id")
        .values_list(*_FOOTPRINT_FIELDS)
        .iterator(chunk_size=chunk_size)
    )
    for row in rows:
        yield PatchFootprint(*row)


def caption_list(*, with_messages: bool = False) -> QuerySet[Caption]:
    """Captions with their template, reviewer and revisions (newest first).

    The prompt messages are left out of lists: a vision prompt carries its images.
    """
    # The related rows the list shows one field of come as annotations, not objects:
    # building a template, a user and a revision user per caption was a third of a
    # list page's time.
    # The revisions' model, through the relation: verification defines it, and the
    # captions app never imports verification.
    revision_model = Caption._meta.get_field("revisions").related_model
    revisions = revision_model._default_manager.annotate(username=F("user__username"))
    captions = Caption.objects.annotate(
        template_name=F("template__name"),
        template_version=F("template__version"),
        reviewer_username=F("reviewed_by__username"),
    ).prefetch_related(
        Prefetch("revisions", queryset=revisions, to_attr="revision_list")
    )
    return captions if with_messages else captions.defer("messages", "parameters")


def captions_failing_check(
    captions: QuerySet[Caption], *, check: str
) -> QuerySet[Caption]:
    return captions.filter(ArrayHasElement("checks", key="check", value=check))


def job_list() -> QuerySet[GenerationJob]:
    return GenerationJob.objects.select_related("template", "template_b", "created_by")


# --- Export: the verified pairs, row by row (captions/export/formats.py writes them)
# --------

EXPORT_CHUNK_SIZE = 2000
# Record field -> lookup from a Caption: one query with its joins, no per-row reads.
_PAIR_LOOKUPS = {
    "id": "id",
    "patch_id": "patch_id",
    "scene_id": "patch__scene_id",
    "scene": "patch__scene__name",
    "preview": "patch__rgb_preview",
    "source_name": "patch__source_name",
    "caption": "text",
    "generated_caption": "generated_text",
    "status": "status",
    "split": "patch__split",
    "west": "patch__west",
    "south": "patch__south",
    "east": "patch__east",
    "north": "patch__north",
    "model": "model",
    "prompt_template": "template__name",
    "prompt_version": "template__version",
    "job": "job_id",
    "source": "source",
    "reviewer": "reviewed_by__username",
    "reviewed_at": "reviewed_at",
    "dominant_class": "patch__dominant_class",
}
# A release item froze what a review can change; the rest is read from its caption.
_FROZEN_LOOKUPS = {
    "id": "caption_id",
    "caption": "text",
    "status": "status",
    "split": "split",
    "reviewer": "reviewer",
    "reviewed_at": "reviewed_at",
}
_RELEASE_LOOKUPS = {
    name: _FROZEN_LOOKUPS.get(name, f"caption__{lookup}")
    for name, lookup in _PAIR_LOOKUPS.items()
}


def export_filters_check(*, filters: ExportFilters) -> None:
    """Refuse a scene or job id that does not exist (`ExportError`): an empty export
    would not say that the id was wrong."""
    if (
        filters.scene is not None
        and not Scene.objects.filter(pk=filters.scene).exists()
    ):
        raise ExportError(f"no scene with id {filters.scene}")
    if (
        filters.job is not None
        and not GenerationJob.objects.filter(pk=filters.job).exists()
    ):
        raise ExportError(f"no job with id {filters.job}")


def verified_captions(*, filters: ExportFilters) -> QuerySet[Caption]:
    """The captions an export holds: approved or edited, never pending or rejected."""
    captions = Caption.objects.filter(status__in=filters.statuses)
    if filters.split is not None:
        captions = captions.filter(patch__split=filters.split)
    if filters.scene is not None:
        captions = captions.filter(patch__scene_id=filters.scene)
    if filters.job is not None:
        captions = captions.filter(job_id=filters.job)
    if filters.reviewed_since is not None:
        captions = captions.filter(reviewed_at__gte=filters.reviewed_since)
    if filters.bbox is not None:
        captions = captions.filter(footprint_meets(filters.bbox, patch="patch__"))
    return captions.order_by("id")


def verified_pairs(
    *,
    filters: ExportFilters,
    image_url_prefix: str = "",
    with_landcover: bool = True,
    chunk_size: int = EXPORT_CHUNK_SIZE,
) -> Iterator[ExportRecord]:
    """The verified pairs in caption id order, read in chunks from a database cursor.

    `image_url_prefix` + a record's `image` is its URL (the export's image endpoint);
    `with_landcover=False` leaves the statistics in the database (only jsonl has them).
    """
    rows = _pair_rows(
        verified_captions(filters=filters), _PAIR_LOOKUPS,
        "patch__landcover" if with_landcover else None, chunk_size,
    )  # fmt: skip
    for row in rows:
        yield _export_record(row, image_url_prefix)


def release_pairs(
    *,
    release_id: int,
    split: str,
    image_url_prefix: str = "",
    chunk_size: int = EXPORT_CHUNK_SIZE,
) -> Iterator[ExportRecord]:
    """A release's pairs of one split, as frozen, in caption id order."""
    items = ReleaseItem.objects.filter(release_id=release_id, split=split).order_by(
        "caption_id"
    )
    rows = _pair_rows(items, _RELEASE_LOOKUPS, "caption__patch__landcover", chunk_size)
    for row in rows:
        yield _export_record(row, image_url_prefix)


def _pair_rows(
    queryset: QuerySet, lookups: dict[str, str], landcover: str | None,
    chunk_size: int,
) -> Iterator[dict]:  # fmt: skip
    names, paths = list(lookups), list(lookups.values())
    if landcover is not None:
        # As text: the JSONL line copies it, with no decoding and encoding again.
        queryset = queryset.annotate(
            landcover_json=Cast(landcover, output_field=TextField())
        )
        names.append("landcover_json")
        paths.append("landcover_json")
    for row in queryset.values_list(*paths).iterator(chunk_size=chunk_size):
        yield dict(zip(names, row, strict=True))


def _export_record(row: dict, image_url_prefix: str) -> ExportRecord:
    image = image_path(
        scene_id=row["scene_id"], patch_id=row["patch_id"], preview_name=row["preview"]
    )
    return ExportRecord(
        id=row["id"],
        patch_id=row["patch_id"],
        scene_id=row["scene_id"],
        scene=row["scene"],
        image=image,
        image_url=image_url_prefix + image,
        source_name=row["source_name"],
        caption=row["caption"],
        generated_caption=row["generated_caption"],
        status=row["status"],
        split=row["split"],
        footprint=footprint_of(row["west"], row["south"], row["east"], row["north"]),
        landcover_json=row.get("landcover_json"),
        model=row["model"],
        prompt_template=row["prompt_template"],
        prompt_version=row["prompt_version"],
        job=row["job"],
        source=row["source"],
        reviewer=row["reviewer"] or None,
        reviewed_at=iso_utc(row["reviewed_at"]),
        dominant_class=row["dominant_class"],
    )


class ReleaseImage(NamedTuple):
    path: str  # image_path(), relative to the release
    preview: str  # the preview's name in MEDIA_ROOT
    landcover: dict
    name: str  # the patch's file name (Patch.source_name)
    patch_id: int
    scene: str


def release_images(
    *, release_id: int, chunk_size: int = EXPORT_CHUNK_SIZE
) -> Iterator[ReleaseImage]:
    """Each image of a release once, by scene then patch id."""
    rows = (
        ReleaseItem.objects.filter(release_id=release_id)
        .order_by("caption__patch__scene_id", "caption__patch_id")
        .values_list(
            "caption__patch__scene_id",
            "caption__patch_id",
            "caption__patch__rgb_preview",
            "caption__patch__landcover",
            "caption__patch__source_name",
            "caption__patch__scene__name",
        )
        .iterator(chunk_size=chunk_size)
    )
    previous = None
    for scene_id, patch_id, preview, landcover, name, scene in rows:
        # Sorted by patch: the captions of one patch come together, so skipping
        # repeats needs no set of every patch seen.
        if patch_id == previous:
            continue
        previous = patch_id
        yield ReleaseImage(
            image_path(scene_id=scene_id, patch_id=patch_id, preview_name=preview),
            preview,
            landcover or {},
            name,
            patch_id,
            scene,
        )


def release_pairs_by_caption_file(
    *, release_id: int, chunk_size: int = EXPORT_CHUNK_SIZE
) -> Iterator[ExportRecord]:
    """A release's pairs, those of one split and source together (one caption file
    of a ChatEarthNet-layout release), each file's in caption id order."""
    items = ReleaseItem.objects.filter(release_id=release_id).order_by(
        "split", "caption__source", "caption__model", "caption_id"
    )
    for row in _pair_rows(items, _RELEASE_LOOKUPS, None, chunk_size):
        yield _export_record(row, "")


class NameClash(NamedTuple):
    name: str
    patches: list[tuple[int, str]]  # (patch id, scene name) of two of them


def image_name_clash(captions: QuerySet[Caption]) -> NameClash | None:
    """Two patches of these captions with one file name (`Patch.source_name`), or
    None: a release that names images by it cannot hold both."""
    clash = (
        Patch.objects.filter(pk__in=captions.values("patch_id"))
        .values("source_name")
        .annotate(patches=Count("id"))
        .filter(patches__gt=1)
        .order_by("source_name")
        .values_list("source_name", flat=True)
        .first()
    )
    if clash is None:
        return None
    two = (
        Patch.objects.filter(pk__in=captions.values("patch_id"), source_name=clash)
        .order_by("id")
        .values_list("id", "scene__name")[:2]
    )
    return NameClash(clash, list(two))
