"""A release's files: written into a hidden folder, hashed, moved into place whole.

`write_release` writes every file of a frozen release (captions/export/releases.py
freezes it): the images copied once each, every format of every split, the dataset
card and the manifest. Layout of `RELEASES_ROOT/<number>/` (docs/export.md):

    README.md                      dataset card (YAML header for Hugging Face)
    manifest.json                  size and sha256 of every other file
    <split>.jsonl, <split>.csv     every split, even an empty one
    chatearthnet_<split>.json, llava_<split>.json
    images/<scene id>/<patch id>.<ext>   the RGB previews, as exported

Everything written depends only on the frozen items and on what never changes about a
caption, in a fixed order, with no clock read: writing a release again gives the same
bytes, which a rebuild checks against the recorded manifest.
"""

import hashlib
import json
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
from django.urls import reverse

from captions.claims import heartbeat
from captions.export.dataset_card import CARD, MANIFEST, ClassTotals, dataset_card_lines
from captions.export.filters import export_filters_from
from captions.export.formats import (
    EXPORT_FORMATS,
    SPLITS,
    export_file_name,
    iso_utc,
    writer_for,
)
from captions.models import Release
from captions.selectors import release_images, release_pairs

PROGRESS_INTERVAL_S = 1.0
COPY_BLOCK = 1024 * 1024
IMAGE_LISTING = ".images.tsv"  # scratch file of the build, never in a release


class ReleaseError(Exception):
    """A release that cannot be created or built; the message says why."""


class ReleaseBusy(ReleaseError):
    """Another worker is building the release and is alive: try again later."""


def releases_root() -> Path:
    return Path(settings.RELEASES_ROOT)


def release_dir(number: int) -> Path:
    return releases_root() / str(number)


def release_file_url_prefix(number: int) -> str:
    """The path (no host) under which the API serves a release's files."""
    return reverse("api-release-detail", args=[number]) + "files/"


@dataclass
class _Progress:
    """Counts written to the release row at most once a second (the admin polls).

    They are also the build's heartbeat (captions/claims.py): a build that writes
    them is alive, and is never taken over.
    """

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
        heartbeat(
            Release,
            self.release_id,
            working=Release.Status.BUILDING,
            images_done=self.images_done,
            pairs_done=self.pairs_done,
        )


@dataclass(frozen=True)
class _FileEntry:
    path: str
    size: int
    sha256: str

    def as_json(self) -> dict:
        return {"path": self.path, "bytes": self.size, "sha256": self.sha256}


def write_release(release: Release, *, expected_manifest: str | None) -> dict:
    """Write all files in a hidden folder, then move it into place; the summary.

    With `expected_manifest` (a rebuild), the folder moves into place only if its
    manifest has that sha256, and the release row's counts are left alone.
    """
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
) -> tuple[ClassTotals, int, int]:
    """Copy each image once, hashing as it goes; list them for the manifest."""
    classes = ClassTotals()
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


def _write_card(release: Release, building: Path, classes: ClassTotals) -> _FileEntry:
    with _HashingFile(building / CARD) as output:
        for line in dataset_card_lines(release, classes):
            output.write(line + "\n")
    return output.entry(building)


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
