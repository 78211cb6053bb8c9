"""Which split a patch belongs to, where that came from, and a patch's name.

A patch has one split and one documented source of it (`Patch.SplitSource`,
docs/chatearthnet.md "Splits"):

- **computed** at ingest, per *block*, never per patch: the patches of one tile, or of
  one block of `split_block` x `split_block` patches (GeoTIFF) or SatlasPretrain tiles,
  share a split, so test pairs are not next-door copies of training pairs. A hash of
  the block's key, not a random draw: the same files give the same splits, so a
  release can be rebuilt byte for byte.
- **imported**: the caption file a patch's caption came from names it
  (`…_train.json` or `import_captions --split`), and that wins over a computed one
  (captions/generation/caption_import.py).
- **assigned** by a curator (`patch_split_change`), recorded as a `SplitChange`.
"""

import hashlib
import re

from django.core.exceptions import PermissionDenied
from django.db import transaction

from captions import access
from captions.ingest.tiles import satlas_name_parts
from captions.models import Caption, Patch, SplitChange

# ChatEarthNet's released GPT-3.5 splits: 98,092 / 16,348 / 49,048 = 60% / 10% / 30%.
SPLIT_THRESHOLDS = ((0.6, Patch.Split.TRAIN), (0.7, Patch.Split.VAL))
MAX_SPLIT_BLOCK = 1000
_QUARTER = re.compile(r"_patch[01][01](?=\.png$)", re.IGNORECASE)
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
SCENE_CHARS_IN_NAME = 120
# The split a caption file names: ChatEarthNet_caps_35_train.json, …_val.json, …
_FILE_SPLIT = re.compile(
    r"^(?P<family>.+?)[_.-](?P<split>train|training|val|valid|validation|test)\.json$",
    re.IGNORECASE,
)
_SPLIT_WORDS = {
    "train": Patch.Split.TRAIN,
    "training": Patch.Split.TRAIN,
    "val": Patch.Split.VAL,
    "valid": Patch.Split.VAL,
    "validation": Patch.Split.VAL,
    "test": Patch.Split.TEST,
}
# Verified captions: a patch that has one changes split only by a curator's hand.
VERIFIED = (Caption.Status.APPROVED, Caption.Status.EDITED)


class SplitError(ValueError):
    """A split change that cannot be made; the message says why."""


def split_for(key: str) -> str:
    """Deterministic train/val/test (60/10/30) from a stable key."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    position = int.from_bytes(digest, "big") / 2**64
    for threshold, split in SPLIT_THRESHOLDS:
        if position < threshold:
            return split
    return Patch.Split.TEST


def geotiff_split_key(
    scene_name: str, row_off: int, col_off: int, *, patch_size: int, block: int
) -> str:
    """The key of the block of `block` x `block` patches holding this window."""
    side = patch_size * block
    return f"{scene_name}:block{block}:{row_off // side}:{col_off // side}"


def tile_split_key(source_name: str, *, block: int) -> str:
    """The key of a tile's block: SatlasPretrain tiles by their zoom-13 column and
    row (`block` x `block` tiles share a split, in every scene), other tiles by name
    alone. The quarters of a 512 tile always share their tile's split."""
    parts = satlas_name_parts(source_name)
    if parts is not None:
        col, row, _ = parts
        return f"satlas13:block{block}:{col // block}:{row // block}"
    return f"tile:{_QUARTER.sub('', source_name)}"


def check_split_block(block: int) -> None:
    if not 1 <= block <= MAX_SPLIT_BLOCK:
        raise ValueError(f"split block {block} must be within 1..{MAX_SPLIT_BLOCK}")


def ingested_patch_name(scene_name: str, row_off: int, col_off: int) -> str:
    """The stable file name of a patch cut from a GeoTIFF scene:
    `<scene>_r<row>_c<col>.png`, the scene name reduced to letters, digits, `.`, `_`
    and `-` (other runs become `-`), row and column its pixel offsets in the scene."""
    scene = _NAME_UNSAFE.sub("-", scene_name).strip(".-")[:SCENE_CHARS_IN_NAME]
    return f"{scene or 'scene'}_r{row_off}_c{col_off}.png"


def split_named_by_file(file_name: str) -> tuple[str, str | None]:
    """(family, split) of a caption file's name: `ChatEarthNet_caps_35_val.json` is
    (`ChatEarthNet_caps_35`, `val`); a name that names no split gives (stem, None)."""
    match = _FILE_SPLIT.match(file_name)
    if match is None:
        stem = file_name[:-5] if file_name.lower().endswith(".json") else file_name
        return stem, None
    return match["family"], _SPLIT_WORDS[match["split"].lower()]


# --- A curator's change -------------------------------------------------------------


def patch_split_change(
    *, patch_id: int, split: str, user, reason: str = ""
) -> SplitChange | None:
    """Move a patch to `split` (`assigned`), with a `SplitChange` saying who and why;
    None if it is in that split already. Releases keep the split they froze."""
    if not access.may(user, access.CURATE):
        raise PermissionDenied("only curators change a patch's split")
    if split not in Patch.Split.values:
        raise SplitError(
            f"split {split!r} is not one of {', '.join(Patch.Split.values)}"
        )
    with transaction.atomic():
        patch = Patch.objects.select_for_update().filter(pk=patch_id).first()
        if patch is None:
            raise SplitError(f"no patch with id {patch_id}")
        if patch.split == split:
            return None
        change = SplitChange.objects.create(
            patch=patch,
            user=user,
            split_before=patch.split,
            split_after=split,
            source_before=patch.split_source,
            reason=reason.strip()[:500],
        )
        Patch.objects.filter(pk=patch_id).update(
            split=split, split_source=Patch.SplitSource.ASSIGNED
        )
    return change
