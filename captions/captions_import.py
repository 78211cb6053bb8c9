"""Import existing captions (ChatEarthNet's JSON files) as captions awaiting review."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ijson
from django.db import transaction

from captions.checks import check_caption
from captions.models import Caption, Patch

BATCH_SIZE = 1000


class CaptionImportError(Exception):
    """A caption file that cannot be read; the message names the file."""


@dataclass
class CaptionImportResult:
    source: str
    read: int = 0
    created: int = 0
    already_imported: int = 0
    unmatched: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "source": self.source,
            "read": self.read,
            "created": self.created,
            "already_imported": self.already_imported,
            "unmatched": len(self.unmatched),
            "unmatched_examples": self.unmatched[:10],
        }


def _entries(path: Path) -> Iterator[tuple[str, str]]:
    """(image, caption) pairs of a JSON array, read as a stream: files run to GBs."""
    try:
        with path.open("rb") as handle:
            if _first_character(handle) != b"[":
                raise CaptionImportError(f"{path}: not a JSON array of captions")
            for position, entry in enumerate(ijson.items(handle, "item")):
                if (
                    not isinstance(entry, dict)
                    or not isinstance(entry.get("image"), str)
                    or not isinstance(entry.get("caption"), str)
                ):
                    raise CaptionImportError(
                        f"{path}: entry {position} is not an object with string "
                        '"image" and "caption"'
                    )
                yield entry["image"], entry["caption"]
    except FileNotFoundError:
        raise CaptionImportError(f"{path}: no such file") from None
    except ijson.JSONError as error:
        raise CaptionImportError(
            f"{path}: not a JSON array of captions ({error})"
        ) from None


def _first_character(handle) -> bytes:
    """The first non-blank byte; the handle is rewound for the parser."""
    while (byte := handle.read(1)) and byte.isspace():
        continue
    handle.seek(0)
    return byte


def captions_import(*, path: Path, source: str) -> CaptionImportResult:
    """Create a pending caption per entry whose image matches an imported tile patch.

    Matching is by file name (`Patch.source_name`, e.g. `xxx_patch01.png`). Importing
    the same file under the same source again creates nothing new.
    """
    if not source.strip():
        raise CaptionImportError("a source name is needed (e.g. chatearthnet-3.5)")
    result = CaptionImportResult(source=source)
    batch: list[tuple[str, str]] = []
    for image, text in _entries(path):
        result.read += 1
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
