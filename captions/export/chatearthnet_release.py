"""A release in ChatEarthNet's own layout: code written for the released dataset reads
it unchanged (docs/chatearthnet.md).

    images/<name>                 every image as PNG, named as its patch
                                  (`4353_2917_patch00.png`; `Patch.source_name`)
    <source>_<split>.json         one caption file per split and source, a JSON array
                                  of {"image": <name>, "caption": <text>} in the order
                                  the captions were imported or generated
    README.md, manifest.json      the dataset card and the sha256 of every file

An imported caption's source is the file family it came from (`import_captions`
keeps `ChatEarthNet_caps_35` of `ChatEarthNet_caps_35_train.json`), so importing the
release's files, approving them and releasing gives back the same file names.
Generated captions go to `ChatEarthNet_caps_<model>_<split>.json`. Two patches with
one name, or two sources with one file name, refuse the build, naming both.
"""

import io
import re
from pathlib import Path
from typing import IO

from PIL import Image

from captions.export.formats import ChatEarthNetWriter, ExportRecord
from captions.export.release_io import (
    FileEntry,
    HashingFile,
    Progress,
    ReleaseError,
    copy_hashed,
    write_hashed,
)
from captions.selectors import ReleaseImage, release_pairs_by_caption_file

IMAGE_FOLDER = "images"
GENERATED_FAMILY = "ChatEarthNet_caps_{model}"
_FILE_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_JOB_SOURCE = "job"  # Caption.source of a generated caption


def image_name_path(image: ReleaseImage) -> str:
    """Where an image goes: `images/<its patch's name>`; `ReleaseError` for a name
    that is not a plain file name (it would leave the images folder)."""
    name = image.name
    if (
        not name
        or name.startswith(".")
        or any(character in name for character in "/\\\0")
    ):
        raise ReleaseError(
            f"patch {image.patch_id} (scene {image.scene!r}) has no usable file "
            f"name ({name!r}); ChatEarthNet's layout names images by it"
        )
    return f"{IMAGE_FOLDER}/{name}"


class NameRegister:
    """The image names written so far: a second patch with a name already taken
    (compared without case, as some file systems do) refuses the build. Only the
    patch id and scene of each name are kept, so memory stays small per image."""

    def __init__(self) -> None:
        self.owners: dict[str, tuple[int, str]] = {}

    def add(self, image: ReleaseImage, path: str) -> None:
        owner = self.owners.setdefault(path.casefold(), (image.patch_id, image.scene))
        if owner[0] != image.patch_id:
            raise ReleaseError(
                f"two images would be written as {path}: patch {owner[0]} "
                f"(scene {owner[1]!r}) and patch {image.patch_id} (scene "
                f"{image.scene!r}); rename one of them or leave one out of the release"
            )


def write_png_image(source: IO[bytes], name: str, target: Path) -> tuple[int, str]:
    """The preview `name`, open as `source`, as PNG: copied if it is one, else
    decoded and encoded losslessly (a lossless WebP preview gives the tile's pixels
    back exactly)."""
    if name.lower().endswith(".png"):
        return copy_hashed(source, target)
    with Image.open(source) as image:
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, "PNG", compress_level=1)
    return write_hashed(buffer.getvalue(), target)


def caption_file_name(record: ExportRecord) -> str:
    """`<source>_<split>.json`: the imported file's family, or for generated
    captions `ChatEarthNet_caps_<model>`, in file-name-safe characters."""
    family = (
        GENERATED_FAMILY.format(model=record.model)
        if record.source == _JOB_SOURCE
        else record.source
    )
    safe = _FILE_UNSAFE.sub("-", family).strip(".-") or "captions"
    return f"{safe}_{record.split}.json"


def _file_key(record: ExportRecord) -> tuple[str, str, str]:
    model = record.model if record.source == _JOB_SOURCE else ""
    return (record.split, record.source, model)


def write_caption_files(
    release_id: int, building: Path, progress: Progress
) -> list[FileEntry]:
    """One ChatEarthNet caption file per split and source of the release."""
    files = _CaptionFiles(building)
    try:
        for record in release_pairs_by_caption_file(release_id=release_id):
            files.write(record)
            progress.tick(pairs=1)
        files.finish()
    finally:
        files.abandon()
    return files.entries


class _CaptionFiles:
    """The caption file being written (the pairs of one file come together) and the
    ones written before it."""

    def __init__(self, building: Path) -> None:
        self.building = building
        self.entries: list[FileEntry] = []
        self.owners: dict[str, tuple[str, str, str]] = {}
        self.name: str | None = None
        self.writer = ChatEarthNetWriter()
        self.output: HashingFile | None = None

    def write(self, record: ExportRecord) -> None:
        name = caption_file_name(record)
        if self.output is None or name != self.name:
            self.finish()
            self._claim(name, _file_key(record))
            self.name, self.writer = name, ChatEarthNetWriter()
            self.output = HashingFile(self.building / name).__enter__()
            self.output.write(self.writer.begin())
        self.output.write(self.writer.item(record))

    def finish(self) -> None:
        """Close the file being written, whole."""
        if self.output is None:
            return
        self.output.write(self.writer.end())
        self.output.__exit__(None, None, None)
        self.entries.append(self.output.entry(self.building))
        self.output = None

    def abandon(self) -> None:
        """Close a file left open by an error (the build's folder is dropped)."""
        if self.output is not None:
            self.output.__exit__(None, None, None)
            self.output = None

    def _claim(self, name: str, key: tuple[str, str, str]) -> None:
        owner = self.owners.setdefault(name, key)
        if owner != key:
            raise ReleaseError(
                f"the captions of source {owner[1]!r} and of source {key[1]!r} "
                f"would both be written to {name}; give one of them another source "
                "name"
            )
