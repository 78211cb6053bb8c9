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
from captions.ingest.splits import VERIFIED, split_named_by_file
from captions.models import Caption, Patch, Scene

BATCH_SIZE = 1000
# A character takes at most 12 bytes of JSON (a surrogate pair as two \uXXXX
# escapes): strings are never cut below a caption's limit, and one that was cut is
# still over it, so it is reported, not imported.
STRING_BYTES_KEPT = 12 * (MAX_CAPTION_CHARS + 1)
EXAMPLES_KEPT = 100
NAME_CHARS_SHOWN = 200
SOURCE_CHARS = 100  # Caption.source


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
    split: str
    split_named_by: str
    read: int = 0
    created: int = 0
    already_imported: int = 0
    patches_split: int = 0  # patches whose split the file now names
    unmatched: LeftOut = field(default_factory=LeftOut)
    ambiguous: LeftOut = field(default_factory=LeftOut)
    split_conflicts: LeftOut = field(default_factory=LeftOut)
    too_long: LeftOut = field(default_factory=LeftOut)
    # Entries whose image or caption holds NUL or an unpaired surrogate.
    unstorable: LeftOut = field(default_factory=LeftOut)

    def left_out(self) -> int:
        return sum(
            kind.count
            for kind in (
                self.unmatched, self.ambiguous, self.split_conflicts, self.too_long,
                self.unstorable,
            )
        )  # fmt: skip

    def as_json(self) -> dict:
        return {
            "source": self.source,
            "split": self.split,
            "split_named_by": self.split_named_by,
            "read": self.read,
            "created": self.created,
            "already_imported": self.already_imported,
            "patches_split": self.patches_split,
            "unmatched": self.unmatched.count,
            "unmatched_examples": self.unmatched.examples_json(),
            "ambiguous": self.ambiguous.count,
            "ambiguous_examples": self.ambiguous.examples_json(),
            "split_conflicts": self.split_conflicts.count,
            "split_conflict_examples": self.split_conflicts.examples_json(),
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


@dataclass(frozen=True)
class ImportTarget:
    """Where a file's captions go: their source, split, and optionally one scene."""

    source: str
    split: str
    split_named_by: str  # "file name" or "--split"
    scene_id: int | None = None


def import_target(
    *, path: Path, source: str | None, split: str | None, scene: str | None
) -> ImportTarget:
    """The source, split and scene of an import, or `CaptionImportError` before
    anything is read: a file whose split cannot be told is refused.

    The split is `split` if given, else the one the file's name ends with
    (`ChatEarthNet_caps_35_val.json`: val); the source is `source` if given, else the
    file's name without its split (`ChatEarthNet_caps_35`), which a ChatEarthNet-layout
    release uses again to name its caption files.
    """
    family, named = split_named_by_file(path.name)
    if split is not None and split not in Patch.Split.values:
        raise CaptionImportError(
            f"--split {split!r} is not one of {', '.join(Patch.Split.values)}"
        )
    if split is None and named is None:
        raise CaptionImportError(
            f"{path}: cannot tell which split its captions belong to; name the file "
            "…_train.json, …_val.json or …_test.json, or pass --split"
        )
    source = (source if source is not None else family).strip()
    if not source:
        raise CaptionImportError("a source name is needed (e.g. chatearthnet-3.5)")
    if len(source) > SOURCE_CHARS:
        raise CaptionImportError(f"a source name holds at most {SOURCE_CHARS} chars")
    return ImportTarget(
        source=source,
        split=split or named or "",
        split_named_by="--split" if split is not None else "file name",
        scene_id=_scene_id(scene),
    )


def _scene_id(scene: str | None) -> int | None:
    if scene is None:
        return None
    found = Scene.objects.filter(name=scene).values_list("pk", flat=True).first()
    if found is None and scene.isdigit() and len(scene) < 12:
        found = Scene.objects.filter(pk=int(scene)).values_list("pk", flat=True).first()
    if found is None:
        raise CaptionImportError(f"no scene named {scene[:NAME_CHARS_SHOWN]!r}")
    return found


def captions_import(
    *,
    path: Path,
    source: str | None = None,
    split: str | None = None,
    scene: str | None = None,
) -> CaptionImportResult:
    """Create a pending caption per entry whose image names a patch, and put that
    patch in the file's split (`import_target` says which).

    Matching is by file name (`Patch.source_name`, e.g. `xxx_patch01.png`), within
    `scene` if given. Importing the same file under the same source again creates
    nothing new. Left out, each with its position in the file: an image no patch is
    named (`unmatched`), or that names patches of several scenes (`ambiguous`: pass a
    scene); a patch already in another split that the file may not change
    (`split_conflicts`: named by another file, assigned by a curator, or holding a
    verified caption); a caption over `MAX_CAPTION_CHARS` (`too_long`); NUL or an
    unpaired surrogate (`unstorable`).
    """
    target = import_target(path=path, source=source, split=split, scene=scene)
    result = CaptionImportResult(
        source=target.source, split=target.split, split_named_by=target.split_named_by
    )
    batch: list[_Entry] = []
    for position, image, text in _entries(path):
        result.read += 1
        if not _storable(position, image, text, result):
            continue
        batch.append(_Entry(position, Path(image).name, text))
        if len(batch) >= BATCH_SIZE:
            _BatchImport(target, result).run(batch)
            batch = []
    _BatchImport(target, result).run(batch)
    if result.read == 0:
        raise CaptionImportError(f"{path}: holds no captions")
    return result


def _storable(
    position: int, image: str, text: str, result: CaptionImportResult
) -> bool:
    """Whether an entry may be stored; one that may not is counted where it goes."""
    if len(text) > MAX_CAPTION_CHARS:
        result.too_long.add(position, image)
        return False
    if UNSTORABLE_CHARACTERS.search(image) or UNSTORABLE_CHARACTERS.search(text):
        # repr: the name itself may hold the NUL
        result.unstorable.add(position, repr(image[:NAME_CHARS_SHOWN]))
        return False
    return True


@dataclass(frozen=True)
class _Entry:
    position: int
    name: str
    text: str


@dataclass
class _PatchRow:
    id: int
    scene_id: int
    landcover: dict
    split: str
    split_source: str
    verified: bool = False


class _BatchImport:
    """One batch of entries: match, check splits, create captions, move patches."""

    def __init__(self, target: ImportTarget, result: CaptionImportResult) -> None:
        self.target = target
        self.result = result
        self.captions: list[Caption] = []
        self.to_move: set[int] = set()

    def run(self, batch: list[_Entry]) -> None:
        if not batch:
            return
        names = sorted({entry.name for entry in batch})
        patches = self._patches(names)
        done = self._already_imported(names)
        for entry in batch:
            self._add(entry, patches.get(entry.name, []), done)
        with transaction.atomic():
            Caption.objects.bulk_create(self.captions)
            moved = (
                Patch.objects.filter(pk__in=self.to_move)
                .exclude(split_source=Patch.SplitSource.ASSIGNED)
                .update(
                    split=self.target.split, split_source=Patch.SplitSource.IMPORTED
                )
            )
        self.result.created += len(self.captions)
        self.result.patches_split += moved

    def _patches(self, names: list[str]) -> dict[str, list[_PatchRow]]:
        patches = Patch.objects.filter(source_name__in=names)
        if self.target.scene_id is not None:
            patches = patches.filter(scene_id=self.target.scene_id)
        rows = patches.values_list(
            "id", "scene_id", "landcover", "split", "split_source", "source_name"
        )
        found: dict[str, list[_PatchRow]] = {}
        for *fields, name in rows:
            found.setdefault(name, []).append(_PatchRow(*fields))
        verified = set(
            Caption.objects.filter(
                patch_id__in=[row.id for rows in found.values() for row in rows],
                status__in=VERIFIED,
            ).values_list("patch_id", flat=True)
        )
        for rows_of_name in found.values():
            for row in rows_of_name:
                row.verified = row.id in verified
        return found

    def _already_imported(self, names: list[str]) -> set[int]:
        return set(
            Caption.objects.filter(
                source=self.target.source,
                job__isnull=True,
                patch__source_name__in=names,
            ).values_list("patch_id", flat=True)
        )

    def _add(self, entry: _Entry, rows: list[_PatchRow], done: set[int]) -> None:
        result = self.result
        if not rows:
            result.unmatched.add(entry.position, entry.name)
            return
        if len(rows) > 1:
            result.ambiguous.add(entry.position, entry.name)
            return
        patch = rows[0]
        if not self._split_agrees(patch):
            result.split_conflicts.add(
                entry.position, f"{entry.name} (in {patch.split}, {patch.split_source})"
            )
            return
        if patch.id in done:
            result.already_imported += 1
            return
        done.add(patch.id)
        findings = check_caption(entry.text, patch.landcover)
        self.captions.append(
            Caption(
                patch_id=patch.id,
                source=self.target.source,
                generated_text=entry.text,
                text=entry.text,
                checks=findings,
                failed_checks=len(findings),
            )
        )

    def _split_agrees(self, patch: _PatchRow) -> bool:
        """Whether the patch is, or may be put, in the file's split; a patch that
        may is put there (later entries of the batch see it)."""
        split = self.target.split
        if patch.split == split:
            if patch.split_source == Patch.SplitSource.COMPUTED:
                self.to_move.add(patch.id)  # now named by a file: imported
                patch.split_source = Patch.SplitSource.IMPORTED
            return True
        if patch.verified or patch.split_source != Patch.SplitSource.COMPUTED:
            return False
        self.to_move.add(patch.id)
        patch.split, patch.split_source = split, Patch.SplitSource.IMPORTED
        return True
