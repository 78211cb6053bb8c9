"""Import existing captions (ChatEarthNet's JSON files) as captions awaiting review.

The files run to GBs and come from elsewhere: they are read as a stream of parser
events through `BoundedJsonReader`, so no entry, string or number is held whole
beyond a bound. A caption longer than a reviewer may save (`MAX_CAPTION_CHARS`) is
reported with its position and not imported; memory stays flat whatever its size.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ijson
from django.db import transaction

from captions.generation.bounded_json import BoundedJsonReader
from captions.generation.checks import (
    MAX_CAPTION_CHARS,
    UNSTORABLE_CHARACTERS,
    check_caption,
)
from captions.models import Caption, Patch

BATCH_SIZE = 1000
# A character takes at most 12 bytes of JSON (a surrogate pair as two \uXXXX
# escapes): strings are never cut below a caption's limit, and one that was cut is
# still over it, so it is reported, not imported.
STRING_BYTES_KEPT = 12 * (MAX_CAPTION_CHARS + 1)
EXAMPLES_KEPT = 100
NAME_CHARS_SHOWN = 200


class CaptionImportError(Exception):
    """A caption file that cannot be read; the message names the file."""


@dataclass
class LeftOut:
    """Entries of one kind that were not imported: how many, and the first ones'
    positions in the file's array (from 0) and image names."""

    count: int = 0
    examples: list[tuple[int, str]] = field(default_factory=list)

    def add(self, position: int, image: str) -> None:
        self.count += 1
        if len(self.examples) < EXAMPLES_KEPT:
            self.examples.append((position, image[:NAME_CHARS_SHOWN]))

    def examples_json(self) -> list[dict]:
        return [{"entry": entry, "image": image} for entry, image in self.examples]


@dataclass
class CaptionImportResult:
    source: str
    read: int = 0
    created: int = 0
    already_imported: int = 0
    unmatched: list[str] = field(default_factory=list)
    too_long: LeftOut = field(default_factory=LeftOut)
    # Entries whose image or caption holds NUL or an unpaired surrogate.
    unstorable: LeftOut = field(default_factory=LeftOut)

    def as_json(self) -> dict:
        return {
            "source": self.source,
            "read": self.read,
            "created": self.created,
            "already_imported": self.already_imported,
            "unmatched": len(self.unmatched),
            "unmatched_examples": self.unmatched[:10],
            "too_long": self.too_long.count,
            "too_long_examples": self.too_long.examples_json(),
            "max_caption_chars": MAX_CAPTION_CHARS,
            "unstorable": self.unstorable.count,
            "unstorable_examples": self.unstorable.examples_json(),
        }


def _entries(path: Path) -> Iterator[tuple[int, str, str]]:
    """(position, image, caption) of each entry of a JSON array, read as a stream."""
    try:
        with path.open("rb") as handle:
            if _first_character(handle) != b"[":
                raise CaptionImportError(f"{path}: not a JSON array of captions")
            reader = BoundedJsonReader(handle, max_string_bytes=STRING_BYTES_KEPT)
            yield from _entries_of_events(path, ijson.parse(reader))
    except FileNotFoundError:
        raise CaptionImportError(f"{path}: no such file") from None
    except (ijson.JSONError, UnicodeDecodeError) as error:
        raise CaptionImportError(
            f"{path}: not a JSON array of captions ({error})"
        ) from None


def _entries_of_events(
    path: Path, events: Iterator[tuple[str, str, object]]
) -> Iterator[tuple[int, str, str]]:
    """Entries from ijson's events: only `image` and `caption` are kept, any other
    key's value is passed over without being built."""
    position = -1
    entry: dict[str, object] = {}
    for prefix, event, value in events:
        if prefix == "item":
            if event == "start_map":
                position += 1
                entry = {}
            elif event == "end_map":
                image, caption = entry.get("image"), entry.get("caption")
                if not (isinstance(image, str) and isinstance(caption, str)):
                    raise _not_an_entry(path, position)
                yield position, image, caption
            elif event != "map_key":
                raise _not_an_entry(path, position + 1)
        elif prefix in ("item.image", "item.caption"):
            # Anything but a string (a number, a list, an object) is not an entry.
            entry[prefix[5:]] = value if event == "string" else None


def _not_an_entry(path: Path, position: int) -> CaptionImportError:
    return CaptionImportError(
        f'{path}: entry {position} is not an object with string "image" and "caption"'
    )


def _first_character(handle) -> bytes:
    """The first non-blank byte; the handle is rewound for the parser."""
    while (byte := handle.read(1)) and byte.isspace():
        continue
    handle.seek(0)
    return byte


def captions_import(*, path: Path, source: str) -> CaptionImportResult:
    """Create a pending caption per entry whose image matches an imported tile patch.

    Matching is by file name (`Patch.source_name`, e.g. `xxx_patch01.png`). Importing
    the same file under the same source again creates nothing new. A caption over
    `MAX_CAPTION_CHARS` is counted in `too_long`, an entry holding NUL or an
    unpaired surrogate in `unstorable`; neither is imported.
    """
    if not source.strip():
        raise CaptionImportError("a source name is needed (e.g. chatearthnet-3.5)")
    result = CaptionImportResult(source=source)
    batch: list[tuple[str, str]] = []
    for position, image, text in _entries(path):
        result.read += 1
        if len(text) > MAX_CAPTION_CHARS:
            result.too_long.add(position, image)
            continue
        if UNSTORABLE_CHARACTERS.search(image) or UNSTORABLE_CHARACTERS.search(text):
            # repr: the name itself may hold the NUL
            result.unstorable.add(position, repr(image[:NAME_CHARS_SHOWN]))
            continue
        batch.append((Path(image).name, text))
        if len(batch) >= BATCH_SIZE:
            _import_batch(batch, result)
            batch = []
    _import_batch(batch, result)
    if result.read == 0:
        raise CaptionImportError(f"{path}: holds no captions")
    return result


def _import_batch(batch: list[tuple[str, str]], result: CaptionImportResult) -> None:
    if not batch:
        return
    names = [name for name, _ in batch]
    patches = {
        patch.source_name: patch
        for patch in Patch.objects.filter(source_name__in=names).only(
            "id", "source_name", "landcover"
        )
    }
    done = set(
        Caption.objects.filter(
            source=result.source, job__isnull=True, patch__source_name__in=names
        ).values_list("patch__source_name", flat=True)
    )
    captions = []
    for name, text in batch:
        patch = patches.get(name)
        if patch is None:
            result.unmatched.append(name)
            continue
        if name in done:
            result.already_imported += 1
            continue
        done.add(name)
        findings = check_caption(text, patch.landcover)
        captions.append(
            Caption(
                patch=patch,
                source=result.source,
                generated_text=text,
                text=text,
                checks=findings,
                failed_checks=len(findings),
            )
        )
    with transaction.atomic():
        Caption.objects.bulk_create(captions)
    result.created += len(captions)
