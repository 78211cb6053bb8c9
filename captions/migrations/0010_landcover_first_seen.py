"""Record, in each patch's statistics, the order its classes first appear.

The prompt lists equal overall counts in the order the classes first appear in the
patch read row by row (DOMAIN.md 4); `landcover_stats` now stores that order as
``first_seen``. Patches made before get it here from their land-cover preview, the
lossless label. A patch whose preview is missing, unreadable or not the label its
statistics were computed from is left without the key: prompts then fall back to the
stored order (`overall_recipe_order`).

The decoding and the order are copies of captions/ingest/previews.py and
captions/landcover.py as they were written with this migration: a migration must not
change when the code does.
"""

import numpy as np
from django.db import migrations
from PIL import Image

BATCH = 500
# The WorldCover codes (captions/landcover.py CODES).
_CODES = (10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100)


def _read_label(field_file) -> np.ndarray | None:
    """The codes in a land-cover preview (a palette PNG whose indices are the
    WorldCover codes), or None if there is no readable preview."""
    if not field_file.name:
        return None
    try:
        with field_file.open("rb") as handle, Image.open(handle) as image:
            if image.mode != "P":
                return None
            return np.asarray(image, dtype=np.uint8).copy()
    except (OSError, ValueError):  # missing file, not an image, truncated
        return None


def _first_seen(codes: np.ndarray, landcover: dict) -> list[int] | None:
    """The stored overall classes in row-major first-appearance order, or None if
    the label does not give exactly the stored counts (a preview replaced since)."""
    if list(codes.shape) != [landcover.get("height"), landcover.get("width")]:
        return None
    counts = np.bincount(codes.ravel(), minlength=256)
    stored = {entry["code"]: entry["pixels"] for entry in landcover.get("overall", [])}
    if {code: int(counts[code]) for code in _CODES if counts[code]} != stored:
        return None
    row_major = codes.tobytes()
    return sorted(stored, key=lambda code: row_major.find(bytes((code,))))


def _rewrite_statistics(apps, change) -> None:
    """Store `change(patch)` as each patch's statistics, where it is not None."""
    Patch = apps.get_model("captions", "Patch")
    patches = Patch.objects.order_by("pk").only("id", "landcover", "landcover_preview")
    batch = []
    # Only the JSON changes, never the order or what the query selects, so writing
    # while the iterator reads is safe on SQLite too.
    for patch in patches.iterator(chunk_size=BATCH):
        landcover = change(patch)
        if landcover is None:
            continue
        patch.landcover = landcover
        batch.append(patch)
        if len(batch) >= BATCH:
            Patch.objects.bulk_update(batch, ["landcover"])
            batch = []
    Patch.objects.bulk_update(batch, ["landcover"])


def _with_first_seen(patch) -> dict | None:
    if not isinstance(patch.landcover, dict) or "first_seen" in patch.landcover:
        return None
    codes = _read_label(patch.landcover_preview)
    first_seen = None if codes is None else _first_seen(codes, patch.landcover)
    if first_seen is None:
        return None
    return {**patch.landcover, "first_seen": first_seen}


def _without_first_seen(patch) -> dict | None:
    """The statistics' old shape, which the code before this migration reads."""
    if not isinstance(patch.landcover, dict) or "first_seen" not in patch.landcover:
        return None
    return {key: value for key, value in patch.landcover.items() if key != "first_seen"}


def backfill_first_seen(apps, schema_editor):
    _rewrite_statistics(apps, _with_first_seen)


def remove_first_seen(apps, schema_editor):
    _rewrite_statistics(apps, _without_first_seen)


class Migration(migrations.Migration):
    dependencies = [
        ("captions", "0009_patch_names_and_splits"),
    ]

    operations = [
        migrations.RunPython(backfill_first_seen, remove_first_seen),
    ]
