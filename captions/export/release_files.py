"""A release's files: written into a hidden folder, hashed, moved into place whole.

`write_release` writes every file of a frozen release (captions/export/releases.py
freezes it) in its layout, in a hidden folder beside the releases (local storage)
or in a scratch folder of the worker's (an object store), then moves the folder into
place, or uploads it with its manifest last. The product layout of `<number>/` in
the releases storage (RELEASES_ROOT, or `releases/` in the bucket; docs/export.md):

    README.md                      dataset card (YAML header for Hugging Face)
    manifest.json                  size and sha256 of every other file
    <split>.jsonl, <split>.csv     every split, even an empty one
    chatearthnet_<split>.json, llava_<split>.json
    images/<scene id>/<patch id>.<ext>   the RGB previews, as exported

ChatEarthNet's layout (images by patch name, one caption file per split and source)
is captions/export/chatearthnet_release.py's.

Everything written depends only on the frozen items and on what never changes about a
caption, in a fixed order, with no clock read: writing a release again gives the same
bytes, which a rebuild checks against the recorded manifest.
"""

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.urls import reverse

from captions import storage
from captions.export import chatearthnet_release
from captions.export.dataset_card import CARD, MANIFEST, ClassTotals, dataset_card_lines
from captions.export.filters import export_filters_from
from captions.export.formats import (
    RELEASE_FORMATS,
    SPLITS,
    export_file_name,
    iso_utc,
    writer_for,
)
from captions.export.release_coverage import (
    has_coverage,
    release_coverage,
    write_coverage_image,
)
from captions.export.release_io import (
    FileEntry,
    HashingFile,
    Progress,
    ReleaseError,
    copy_hashed,
)
from captions.export.release_io import (
    ReleaseBusy as ReleaseBusy,
)
from captions.models import Release
from captions.selectors import ReleaseImage, release_images, release_pairs

IMAGE_LISTING = ".images.tsv"  # scratch file of the build, never in a release
COPY_THREADS = min(4, os.cpu_count() or 1)
COPY_WINDOW = 64
UPLOAD_THREADS = 16


def releases_root() -> Path | None:
    """The local folder of the releases; None when they live in an object store."""
    return storage.local_root(storage.releases_storage())


def release_dir(number: int) -> Path:
    """A release's local folder (local storage only)."""
    root = releases_root()
    assert root is not None, "releases are in an object store"
    return root / str(number)


def release_file_name(number: int, path: str) -> str:
    """The storage name of a file of release `number`."""
    return f"{number}/{path}"


def release_file_url_prefix(number: int) -> str:
    """The path (no host) under which the API serves a release's files."""
    return reverse("api-release-detail", args=[number]) + "files/"


def write_release(release: Release, *, expected_manifest: str | None) -> dict:
    """Write all files in a hidden folder, then move it into place; the summary.

    With `expected_manifest` (a rebuild), the folder moves into place only if its
    manifest has that sha256, and the release row's counts are left alone.
    """
    root = releases_root()
    # An object store's release is built in this worker's scratch folder first.
    scratch = root if root is not None else Path(settings.VAR_DIR) / "release-builds"
    scratch.mkdir(parents=True, exist_ok=True)
    building = Path(
        tempfile.mkdtemp(prefix=f".building-{release.number}-", dir=scratch)
    )
    by_name = release.layout == Release.Layout.CHATEARTHNET
    try:
        progress = Progress(release.pk, enabled=expected_manifest is None)
        images = _copy_images(release, building, progress, by_name=by_name)
        data_files = (
            chatearthnet_release.write_caption_files(release.pk, building, progress)
            if by_name
            else _write_splits(release, building, progress)
        )
        card_files = _write_card_and_coverage(
            release, building, images.classes, data_files,
            with_coverage=has_coverage(release, rebuild=expected_manifest is not None),
        )  # fmt: skip
        data_files += card_files
        manifest = _write_manifest(release, building, data_files)
        (building / IMAGE_LISTING).unlink()
        if expected_manifest is not None and manifest.sha256 != expected_manifest:
            raise ReleaseError(
                f"release {release.number} rebuilt differently: manifest sha256 "
                f"{manifest.sha256}, recorded {expected_manifest}; the files in "
                "place are left as they were"
            )
        progress.write()
        if root is not None:
            _move_into_place(building, release_dir(release.number))
        else:
            _upload(building, release.number)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return {
        "manifest_sha256": manifest.sha256,
        "manifest_bytes": manifest.size,
        "files": [entry.as_json() for entry in sorted(data_files, key=_by_path)],
        "images": {"count": images.count, "bytes": images.bytes},
    }


def _by_path(entry: FileEntry) -> str:
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


def _upload(building: Path, number: int) -> None:
    """Every file into the releases store, several at a time, the manifest last: a
    release whose manifest is in the store has all its files there. A store that
    fails takes back what was sent (as far as it lets)."""
    store = storage.releases_storage()
    files = sorted(
        path.relative_to(building).as_posix()
        for path in building.rglob("*")
        if path.is_file() and path.name != MANIFEST
    )
    try:
        with ThreadPoolExecutor(max_workers=UPLOAD_THREADS) as pool:
            for sent in [pool.submit(_send, store, building, number, p) for p in files]:
                sent.result()
        _send(store, building, number, MANIFEST)
    except storage.StorageError as error:
        with suppress(storage.StorageError):
            storage.delete_folder(store, str(number))
        raise ReleaseError(f"release {number}: {error}") from None


def _send(store, building: Path, number: int, path: str) -> None:
    storage.save_file(store, release_file_name(number, path), building / path)


@dataclass
class _Images:
    classes: ClassTotals = field(default_factory=ClassTotals)
    count: int = 0
    bytes: int = 0


def _copy_images(
    release: Release, building: Path, progress: Progress, *, by_name: bool
) -> _Images:
    """Copy each image once (as PNG named by its patch `by_name`), hashing as it
    goes; list them for the manifest, in the order of `release_images`."""
    images = _Images()
    with (building / IMAGE_LISTING).open("w", encoding="utf-8") as listing:
        for image, path, (size, digest) in _copied(release, building, by_name):
            listing.write(f"{path}\t{size}\t{digest}\n")
            images.classes.add(image.landcover)
            images.count += 1
            images.bytes += size
            progress.tick(images=1)
    return images


def _copied(
    release: Release, building: Path, by_name: bool
) -> Iterator[tuple[ReleaseImage, str, tuple[int, str]]]:
    """(image, path in the release, (size, sha256)) of each image, in order.

    Copies and PNG encodings run on `COPY_THREADS` threads (Pillow and file copies
    leave the GIL), a window of `COPY_WINDOW` images at a time: encoding PNG is most of
    a ChatEarthNet-layout build's time."""
    names = chatearthnet_release.NameRegister()
    with ThreadPoolExecutor(max_workers=COPY_THREADS) as pool:
        window: list[tuple[ReleaseImage, str, Future]] = []
        for image in release_images(release_id=release.pk):
            path = image.path
            if by_name:
                path = chatearthnet_release.image_name_path(image)
                names.add(image, path)
            copy = pool.submit(_copy_image, image.preview, building, path, by_name)
            window.append((image, path, copy))
            if len(window) >= COPY_WINDOW:
                yield from _results(window)
                window = []
        yield from _results(window)


def _results(
    window: list[tuple[ReleaseImage, str, Future]],
) -> Iterator[tuple[ReleaseImage, str, tuple[int, str]]]:
    for image, path, copy in window:
        yield image, path, copy.result()


def _copy_image(
    preview: str, building: Path, path: str, as_png: bool
) -> tuple[int, str]:
    target = building / path
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with storage.open_stored(storage.media_storage(), preview) as source:
            if as_png:
                return chatearthnet_release.write_png_image(source, preview, target)
            return copy_hashed(source, target)
    except FileNotFoundError:
        raise ReleaseError(f"the preview of {path} is missing: {preview}") from None
    except storage.StorageError as error:
        raise ReleaseError(f"the preview of {path}: {error}") from None


def _write_splits(
    release: Release, building: Path, progress: Progress
) -> list[FileEntry]:
    """Every format of every split, all four written in one pass over the pairs."""
    prefix = release_file_url_prefix(release.number)
    entries = []
    for split in SPLITS:
        paths = {
            fmt: building / export_file_name(fmt, split) for fmt in RELEASE_FORMATS
        }
        with ExitStack() as stack:
            outputs = {
                fmt: (
                    # Its images are this release's files: named by their path.
                    writer_for(fmt, images_by_path=True),
                    stack.enter_context(HashingFile(paths[fmt])),
                )
                for fmt in RELEASE_FORMATS
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


def _write_card_and_coverage(
    release: Release,
    building: Path,
    classes: ClassTotals,
    data_files: list[FileEntry],
    *,
    with_coverage: bool,
) -> list[FileEntry]:
    """The dataset card and (`with_coverage`) the coverage map it shows."""
    caption_files = None
    if release.layout == Release.Layout.CHATEARTHNET:
        caption_files = sorted(entry.path for entry in data_files)
    written = []
    coverage = None
    if with_coverage:
        coverage = release_coverage(release)
        written.append(write_coverage_image(release, coverage, building))
    card = dataset_card_lines(
        release, classes, caption_files=caption_files, coverage=coverage
    )
    with HashingFile(building / CARD) as output:
        for line in card:
            output.write(line + "\n")
    return [output.entry(building), *written]


def _write_manifest(
    release: Release, building: Path, data_files: list[FileEntry]
) -> FileEntry:
    """manifest.json, streamed: the data files by name, then the images in order."""
    header = {
        "release": release.number,
        "frozen_at": iso_utc(release.frozen_at),
        "filters": export_filters_from(release.filters).as_json(),
        "pairs": release.pairs_total,
        "images": release.images_total,
        "hash": "sha256",
    }
    with HashingFile(building / MANIFEST) as output:
        output.write(json.dumps(header, indent=1)[:-2] + ',\n "files": [')
        separator = "\n"
        for entry in _manifest_entries(building, data_files):
            output.write(separator + "  " + json.dumps(entry, ensure_ascii=False))
            separator = ",\n"
        output.write("\n ]\n}\n")
    return output.entry(building)


def _manifest_entries(building: Path, data_files: list[FileEntry]) -> Iterator[dict]:
    for entry in sorted(data_files, key=_by_path):
        yield entry.as_json()
    with (building / IMAGE_LISTING).open(encoding="utf-8") as listing:
        for line in listing:
            path, size, digest = line.rstrip("\n").split("\t")
            yield {"path": path, "bytes": int(size), "sha256": digest}
