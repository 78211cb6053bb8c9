"""Releases: numbered, frozen snapshots of the verified pairs, built into files.

`release_create` numbers a queued release and enqueues its build once the transaction
commits. `release_build` (the Celery task `build_release`) claims it with a guarded
update, freezes its pairs into `ReleaseItem`s (once: a rebuild reads the same items),
writes every file into a hidden folder beside the releases, and moves the folder into
place when it is whole, so a release's folder is either complete or absent.

Everything written depends only on the frozen items and on what never changes about a
caption (its patch, image, statistics, model, prompt), in a fixed order, with no clock
read after the freeze: building a release again gives the same bytes, and
`release_build(rebuild=True)` checks that it does against the recorded manifest.

Layout of `RELEASES_ROOT/<number>/` (docs/export.md):

    README.md                      dataset card (YAML header for Hugging Face)
    manifest.json                  size and sha256 of every other file
    <split>.jsonl, <split>.csv     every split, even an empty one
    chatearthnet_<split>.json, llava_<split>.json
    images/<scene id>/<patch id>.<ext>   the RGB previews, as exported
"""

import datetime as dt
import hashlib
import html
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, reset_queries, transaction
from django.db.models import Count, Max, OuterRef, Q, Subquery
from django.urls import reverse
from django.utils import timezone

from captions.export.formats import (
    EXPORT_FORMATS,
    SPLITS,
    ExportFilters,
    export_file_name,
    export_filters_from,
    iso_utc,
    writer_for,
)
from captions.landcover import CLASS_BY_CODE, CODES
from captions.models import Release, ReleaseItem
from captions.selectors import (
    export_filters_check,
    release_images,
    release_pairs,
    verified_captions,
)
from verification.models import Revision
from verification.roles import is_curator

logger = logging.getLogger(__name__)

# A build touches its release at least this often; one silent for longer belonged to
# a worker that died, and the redelivered task may take it over.
STALE_BUILD_AFTER = dt.timedelta(minutes=10)
PROGRESS_INTERVAL_S = 1.0
FREEZE_BATCH = 2000
COPY_BLOCK = 1024 * 1024
MANIFEST = "manifest.json"
CARD = "README.md"
IMAGE_LISTING = ".images.tsv"  # scratch file of the build, never in a release


class ReleaseError(Exception):
    """A release that cannot be created or built; the message says why."""


def releases_root() -> Path:
    return Path(settings.RELEASES_ROOT)


def release_dir(number: int) -> Path:
    return releases_root() / str(number)


def release_file_url_prefix(number: int) -> str:
    """The path (no host) under which the API serves a release's files."""
    return reverse("api-release-detail", args=[number]) + "files/"


# --- Create -----------------------------------------------------------------------


def release_create(*, filters: ExportFilters, user, description: str = "") -> Release:
    """A queued release numbered one after the last; its build starts on commit."""
    if not is_curator(user):
        raise PermissionDenied("only curators create releases")
    export_filters_check(filters=filters)
    if not verified_captions(filters=filters).exists():
        raise ReleaseError("no verified pairs match these filters: nothing to release")
    for _attempt in range(5):
        try:
            with transaction.atomic():
                last = Release.objects.aggregate(last=Max("number"))["last"] or 0
                release = Release.objects.create(
                    number=last + 1,
                    filters=filters.as_json(),
                    description=description.strip(),
                    created_by=user,
                )
                _enqueue_build(release.pk)
            return release
        except IntegrityError:
            continue  # another curator took the number at the same moment
    raise ReleaseError("could not number the release (too many at once); try again")


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
        _write_release(release, expected_manifest=release.manifest["manifest_sha256"])
        return release
    if release.status == Release.Status.DONE:
        return release
    if not _claim(release_id):
        return release  # another worker is building it, or it failed
    release.refresh_from_db()
    try:
        _freeze(release)
        summary = _write_release(release, expected_manifest=None)
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


def _claim(release_id: int) -> bool:
    now = timezone.now()
    claimed = (
        Release.objects.filter(pk=release_id)
        .filter(
            Q(status=Release.Status.QUEUED)
            | Q(status=Release.Status.BUILDING, updated_at__lt=now - STALE_BUILD_AFTER)
        )
        .update(
            status=Release.Status.BUILDING,
            started_at=now,
            error="",
            pairs_done=0,
            images_done=0,
            updated_at=now,
        )
    )
    return claimed == 1


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
    filters = export_filters_from(release.filters)
    # The revision that gave the caption its current version holds its edit distance.
    distance = Revision.objects.filter(
        caption=OuterRef("pk"), version_after=OuterRef("version")
    ).values("edit_distance")[:1]
    rows = (
        verified_captions(filters=filters)
        .annotate(distance=Subquery(distance))
        .values_list(
            "id",
            "patch__split",
            "status",
            "text",
            "reviewed_by__username",
            "reviewed_at",
            "distance",
        )
    )
    with transaction.atomic():
        # One transaction, one SELECT: the snapshot is the database at one moment,
        # and a crash leaves no half-frozen release.
        frozen_at = timezone.now()
        batch: list[ReleaseItem] = []
        for (
            caption_id,
            split,
            status,
            text,
            reviewer,
            reviewed_at,
            distance_value,
        ) in rows.iterator(chunk_size=FREEZE_BATCH):
            batch.append(
                ReleaseItem(
                    release=release,
                    caption_id=caption_id,
                    split=split,
                    status=status,
                    text=text,
                    reviewer=reviewer or "",
                    reviewed_at=reviewed_at,
                    edit_distance=distance_value,
                )
            )
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
        release.save(
            update_fields=["pairs_total", "images_total", "frozen_at", "updated_at"]
        )


@dataclass
class _Progress:
    """Counts written to the release row at most once a second (the admin polls)."""

    release_id: int
    enabled: bool = True  # a rebuild leaves the done release's counts alone
    images_done: int = 0
    pairs_done: int = 0
    written_at: float = field(default_factory=time.monotonic)

    def tick(self, *, images: int = 0, pairs: int = 0) -> None:
        self.images_done += images
        self.pairs_done += pairs
        if time.monotonic() - self.written_at >= PROGRESS_INTERVAL_S:
            self.write()

    def write(self) -> None:
        self.written_at = time.monotonic()
        if not self.enabled:
            return
        Release.objects.filter(pk=self.release_id).update(
            images_done=self.images_done,
            pairs_done=self.pairs_done,
            updated_at=timezone.now(),
        )


@dataclass
class _ClassTotals:
    """Pixels of each class over a release's images, and how many images hold it."""

    pixels: dict[int, int] = field(default_factory=dict)
    images: dict[int, int] = field(default_factory=dict)

    def add(self, landcover: dict) -> None:
        for entry in landcover.get("overall") or []:
            code = int(entry["code"])
            self.pixels[code] = self.pixels.get(code, 0) + int(entry["pixels"])
            self.images[code] = self.images.get(code, 0) + 1


@dataclass(frozen=True)
class _FileEntry:
    path: str
    size: int
    sha256: str

    def as_json(self) -> dict:
        return {"path": self.path, "bytes": self.size, "sha256": self.sha256}


def _write_release(release: Release, *, expected_manifest: str | None) -> dict:
    """Write all files in a hidden folder, then move it into place; the summary."""
    root = releases_root()
    root.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".building-{release.number}-", dir=root))
    try:
        progress = _Progress(release.pk, enabled=expected_manifest is None)
        classes, image_count, image_bytes = _copy_images(release, building, progress)
        data_files = [
            *_write_splits(release, building, progress),
            _write_card(release, building, classes),
        ]
        manifest = _write_manifest(release, building, data_files)
        (building / IMAGE_LISTING).unlink()
        if expected_manifest is not None and manifest.sha256 != expected_manifest:
            raise ReleaseError(
                f"release {release.number} rebuilt differently: manifest sha256 "
                f"{manifest.sha256}, recorded {expected_manifest}; the files in "
                "place are left as they were"
            )
        progress.write()
        _move_into_place(building, release_dir(release.number))
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return {
        "manifest_sha256": manifest.sha256,
        "manifest_bytes": manifest.size,
        "files": [entry.as_json() for entry in sorted(data_files, key=_by_path)],
        "images": {"count": image_count, "bytes": image_bytes},
    }


def _by_path(entry: _FileEntry) -> str:
    return entry.path


def _move_into_place(building: Path, final: Path) -> None:
    if not final.exists():
        building.rename(final)
        return
    # The same release written again (a rebuild, or a build that had moved its files
    # before its worker died): swap, then drop the old copy.
    retired = final.with_name(f".retired-{final.name}-{os.getpid()}-{time.time_ns()}")
    final.rename(retired)
    building.rename(final)
    shutil.rmtree(retired, ignore_errors=True)


def _copy_images(
    release: Release, building: Path, progress: _Progress
) -> tuple[_ClassTotals, int, int]:
    """Copy each image once, hashing as it goes; list them for the manifest."""
    classes = _ClassTotals()
    count = total_bytes = 0
    media = Path(settings.MEDIA_ROOT)
    with (building / IMAGE_LISTING).open("w", encoding="utf-8") as listing:
        for image in release_images(release_id=release.pk):
            source = media / image.preview
            target = building / image.path
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                size, digest = _copy_hashed(source, target)
            except FileNotFoundError:
                raise ReleaseError(
                    f"the preview of {image.path} is missing: {source}"
                ) from None
            listing.write(f"{image.path}\t{size}\t{digest}\n")
            classes.add(image.landcover)
            count += 1
            total_bytes += size
            progress.tick(images=1)
    return classes, count, total_bytes


def _copy_hashed(source: Path, target: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with source.open("rb") as reader, target.open("wb") as writer:
        while block := reader.read(COPY_BLOCK):
            digest.update(block)
            writer.write(block)
            size += len(block)
    return size, digest.hexdigest()


def _write_splits(
    release: Release, building: Path, progress: _Progress
) -> list[_FileEntry]:
    """Every format of every split, all four written in one pass over the pairs."""
    prefix = release_file_url_prefix(release.number)
    entries = []
    for split in SPLITS:
        paths = {fmt: building / export_file_name(fmt, split) for fmt in EXPORT_FORMATS}
        with ExitStack() as stack:
            outputs = {
                fmt: (
                    writer_for(fmt),
                    stack.enter_context(_HashingFile(paths[fmt])),
                )
                for fmt in EXPORT_FORMATS
            }
            for writer, output in outputs.values():
                output.write(writer.begin())
            for record in release_pairs(
                release_id=release.pk, split=split, image_url_prefix=prefix
            ):
                for writer, output in outputs.values():
                    output.write(writer.item(record))
                progress.tick(pairs=1)
            for writer, output in outputs.values():
                output.write(writer.end())
        entries += [output.entry(building) for _, output in outputs.values()]
    return entries


class _HashingFile:
    """A UTF-8 text file that knows its size and sha256 once closed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.digest = hashlib.sha256()
        self.size = 0
        self.handle: IO[bytes] | None = None

    def __enter__(self) -> "_HashingFile":
        self.handle = self.path.open("wb")
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self.handle is not None
        self.handle.close()

    def write(self, text: str) -> None:
        assert self.handle is not None
        content = text.encode()
        self.handle.write(content)
        self.digest.update(content)
        self.size += len(content)

    def entry(self, root: Path) -> _FileEntry:
        return _FileEntry(
            self.path.relative_to(root).as_posix(), self.size, self.digest.hexdigest()
        )


def _write_manifest(
    release: Release, building: Path, data_files: list[_FileEntry]
) -> _FileEntry:
    """manifest.json, streamed: the data files by name, then the images in order."""
    header = {
        "release": release.number,
        "frozen_at": iso_utc(release.frozen_at),
        "filters": export_filters_from(release.filters).as_json(),
        "pairs": release.pairs_total,
        "images": release.images_total,
        "hash": "sha256",
    }
    with _HashingFile(building / MANIFEST) as output:
        output.write(json.dumps(header, indent=1)[:-2] + ',\n "files": [')
        separator = "\n"
        for entry in _manifest_entries(building, data_files):
            output.write(separator + "  " + json.dumps(entry, ensure_ascii=False))
            separator = ",\n"
        output.write("\n ]\n}\n")
    return output.entry(building)


def _manifest_entries(building: Path, data_files: list[_FileEntry]) -> Iterator[dict]:
    for entry in sorted(data_files, key=_by_path):
        yield entry.as_json()
    with (building / IMAGE_LISTING).open(encoding="utf-8") as listing:
        for line in listing:
            path, size, digest = line.rstrip("\n").split("\t")
            yield {"path": path, "bytes": int(size), "sha256": digest}


# --- Dataset card -----------------------------------------------------------------


def _write_card(release: Release, building: Path, classes: _ClassTotals) -> _FileEntry:
    with _HashingFile(building / CARD) as output:
        for line in dataset_card_lines(release, classes):
            output.write(line + "\n")
    return output.entry(building)


def dataset_card_lines(release: Release, classes: _ClassTotals) -> Iterator[str]:
    """The README.md of a release: what is in it, from its frozen items alone."""
    items = ReleaseItem.objects.filter(release=release)
    by_split_status = {
        (row["split"], row["status"]): row["pairs"]
        for row in items.values("split", "status").annotate(pairs=Count("id"))
    }
    images_by_split = {
        row["split"]: row["images"]
        for row in items.values("split").annotate(
            images=Count("caption__patch_id", distinct=True)
        )
    }
    present = [split for split in SPLITS if images_by_split.get(split)]
    yield from _card_header(release, present)
    yield f"# ChatEarthNet Studio release {release.number}"
    yield ""
    if release.description:
        yield markdown_text(release.description)
        yield ""
    yield (
        f"Verified image-text pairs (approved or edited by a person) frozen at "
        f"{iso_utc(release.frozen_at)}, selected by: {release_filters_text(release)}."
    )
    yield ""
    yield "## Pairs by split and status"
    yield ""
    yield "| split | approved | edited | pairs | images |"
    yield "| --- | ---: | ---: | ---: | ---: |"
    for split in SPLITS:
        approved = by_split_status.get((split, "approved"), 0)
        edited = by_split_status.get((split, "edited"), 0)
        yield (
            f"| {split} | {approved:,} | {edited:,} | {approved + edited:,} | "
            f"{images_by_split.get(split, 0):,} |"
        )
    approved = sum(
        n for (_, status), n in by_split_status.items() if status == "approved"
    )
    edited = sum(n for (_, status), n in by_split_status.items() if status == "edited")
    yield (
        f"| **all** | {approved:,} | {edited:,} | {approved + edited:,} | "
        f"{release.images_total:,} |"
    )
    yield ""
    yield from _class_table(classes)
    yield from _review_lines(items, approved + edited, edited)
    yield from _model_table(items)
    yield from _files_lines()


def markdown_text(text: str) -> str:
    """A curator's text as plain text in Markdown: no markup of theirs reaches the
    card (an HTML tag, or a `<VRTDataset>` that GDAL would read the file as)."""
    return html.escape(text, quote=False)


def _card_header(release: Release, splits: list[str]) -> Iterator[str]:
    """YAML front matter: `datasets.load_dataset(<folder>)` reads the JSONL splits."""
    yield "---"
    yield f"pretty_name: ChatEarthNet Studio release {release.number}"
    yield "task_categories:"
    yield "- image-to-text"
    yield "language:"
    yield "- en"
    if splits:
        yield "configs:"
        yield "- config_name: default"
        yield "  data_files:"
        for split in splits:
            yield f"  - split: {split}"
            yield f"    path: {export_file_name('jsonl', split)}"
    yield "---"
    yield ""


def release_filters_text(release: Release) -> str:
    """The filters a release was made from, in words (dataset card and admin)."""
    filters = export_filters_from(release.filters)
    parts = [
        f"status {filters.status}" if filters.status else "approved and edited",
        f"split {filters.split}" if filters.split else "all splits",
        f"scene {filters.scene}" if filters.scene else "all scenes",
        f"job {filters.job}" if filters.job else "all jobs and imports",
    ]
    if filters.reviewed_since:
        parts.append(f"reviewed since {iso_utc(filters.reviewed_since)}")
    return ", ".join(parts)


def _class_table(classes: _ClassTotals) -> Iterator[str]:
    total = sum(classes.pixels.values())
    yield "## Land cover (ESA WorldCover classes)"
    yield ""
    yield "| class | WorldCover code | share of valid pixels | images holding it |"
    yield "| --- | ---: | ---: | ---: |"
    for code in CODES:
        pixels = classes.pixels.get(code, 0)
        share = 100 * pixels / total if total else 0.0
        yield (
            f"| {CLASS_BY_CODE[code].term} | {code} | {share:.2f} % | "
            f"{classes.images.get(code, 0):,} |"
        )
    yield ""


def _review_lines(items, pairs: int, edited: int) -> Iterator[str]:
    distances = items.exclude(edit_distance=None)
    measured = distances.count()
    total_distance = sum(
        distance for distance in distances.values_list("edit_distance", flat=True)
        .order_by("caption_id").iterator(chunk_size=FREEZE_BATCH)
    )  # fmt: skip
    yield "## Review"
    yield ""
    rate = 100 * edited / pairs if pairs else 0.0
    yield (
        f"- Edit rate: {edited:,} of {pairs:,} pairs edited by a reviewer "
        f"({rate:.1f} %)."
    )
    if measured:
        yield (
            f"- Mean edit distance: {total_distance / measured:.3f} over the "
            f"{measured:,} pairs with a recorded review (0: kept as the model wrote "
            "it, 1: rewritten; one minus difflib's word ratio)."
        )
    else:
        yield "- Mean edit distance: no review history recorded for these pairs."
    yield ""


def _model_table(items) -> Iterator[str]:
    rows = (
        items.values(
            "caption__model", "caption__template__name", "caption__template__version"
        )
        .annotate(pairs=Count("id"))
        .order_by(
            "caption__model", "caption__template__name", "caption__template__version"
        )
    )
    yield "## Models and prompts"
    yield ""
    yield "| model | prompt template | version | pairs |"
    yield "| --- | --- | ---: | ---: |"
    for row in rows:
        yield (
            f"| {row['caption__model'] or '(imported)'} | "
            f"{row['caption__template__name'] or '—'} | "
            f"{row['caption__template__version'] or '—'} | {row['pairs']:,} |"
        )
    yield ""


def _files_lines() -> Iterator[str]:
    yield "## Files"
    yield ""
    yield "- `<split>.jsonl`: one JSON object per pair with every field (caption,"
    yield "  generated caption, status, land-cover statistics, footprint, scene,"
    yield "  model, prompt, reviewer, review time)."
    yield "- `chatearthnet_<split>.json`: ChatEarthNet's layout,"
    yield '  `[{"image", "caption"}]`.'
    yield "- `llava_<split>.json`: LLaVA's conversation layout."
    yield "- `<split>.csv`: id, image, caption, status, split."
    yield "- `images/<scene id>/<patch id>.<ext>`: the true-colour Sentinel-2"
    yield "  previews; every file above names its images by this path."
    yield f"- `{MANIFEST}`: the size and sha256 of every other file."
    yield ""
    yield "Imagery: contains modified Copernicus Sentinel data. Land cover: ESA"
    yield "WorldCover (CC-BY-4.0). Caption recipe: ChatEarthNet (Yuan et al., 2024)."
