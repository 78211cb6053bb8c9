"""A small dataset for the export and release tests (fixture `export_world`).

Two scenes, eight patches over the three splits (PNG and WebP previews, one patch
without a footprint), captions from two jobs and from an imported file, reviewed
through the verification services by Anna (annotator) and Cora (curator), so that
statuses, reviewers, review times and revisions are what the pages would write:

    patch  scene   split  caption (source)           status
    p0     venice  train  job A                      approved (Anna, 2026-01-10)
    p0     venice  train  job B                      edited   (Cora)
    p1     venice  train  job A                      rejected
    p2     venice  val    job A                      edited   (Cora)
    p3     venice  test   job A                      pending
    p4     berlin  train  chatearthnet-3.5 import    approved (Cora, 2026-01-10)
    p5     berlin  val    chatearthnet-3.5 import    approved (Anna)
    p6     berlin  test   chatearthnet-3.5 import    rejected
    p7     berlin  train  chatearthnet-3.5 import    edited   (Cora): quotes, comma,
                                                     a line break and non-ASCII text
"""

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.utils import timezone

from captions.ingest.previews import encode_landcover_png, encode_rgb_preview
from captions.landcover import landcover_stats
from captions.models import Caption, GenerationJob, Patch, Scene
from tests.api_data import (
    BUILT,
    CROP,
    GRASS,
    TREE,
    WATER,
    hand_to,
    make_caption,
    make_job,
    make_scene,
    two_class_codes,
)
from verification import services

EARLY = dt.datetime(2026, 1, 10, 9, 30, tzinfo=dt.UTC)
TRICKY_TEXT = (
    'Water, "the lagoon", fills the bottom half — and trees the top.\n'
    "Développement urbain: none."
)


@dataclass
class ExportWorld:
    scenes: dict[str, Scene]
    patches: list[Patch]
    job_a: GenerationJob
    job_b: GenerationJob
    captions: dict[str, Caption]  # "p0a", "p0b", "p1a", ..., "p4i", ...

    @property
    def verified(self) -> list[Caption]:
        return sorted(
            (c for c in self.captions.values() if c.status in ("approved", "edited")),
            key=lambda caption: caption.pk,
        )

    @property
    def unverified(self) -> list[Caption]:
        return [
            c for c in self.captions.values() if c.status in ("pending", "rejected")
        ]

    def ids(self, *names: str) -> list[int]:
        return sorted(self.captions[name].pk for name in names)


def make_export_patch(
    scene: Scene, media_root: Path, codes: np.ndarray, *, row_off: int, split: str,
    image_format: str = "png", footprint: tuple[float, ...] | None = None,
) -> Patch:  # fmt: skip
    stem = f"scenes/{scene.pk}/{row_off}_0"
    (media_root / f"scenes/{scene.pk}").mkdir(parents=True, exist_ok=True)
    rgb = np.zeros((*codes.shape, 3), dtype=np.uint8)
    rgb[..., 0] = row_off % 256  # every image different, so their hashes differ
    rgb[..., 1] = 120
    rgb_name = f"{stem}.{image_format}"
    (media_root / rgb_name).write_bytes(encode_rgb_preview(rgb, image_format))
    (media_root / f"{stem}_landcover.png").write_bytes(encode_landcover_png(codes))
    west, south, east, north = footprint or (None, None, None, None)
    return Patch.objects.create(
        scene=scene, row_off=row_off, col_off=0, width=codes.shape[1],
        height=codes.shape[0], west=west, south=south, east=east, north=north,
        rgb_preview=rgb_name, landcover_preview=f"{stem}_landcover.png",
        landcover=landcover_stats(codes), invalid_fraction=0.0, split=split,
        source_name=f"{scene.name}_{row_off}.png" if scene.name == "berlin" else "",
    )  # fmt: skip


def make_export_world(media_root: Path, *, annotator, curator) -> ExportWorld:
    venice = make_scene("venice", west=12.0, south=45.0, east=12.1, north=45.1)
    berlin = make_scene("berlin")
    # (scene, labels, split, preview format, footprint west, south, east, north)
    layout = [
        (venice, (TREE, WATER), "train", "png", (12.0, 45.05, 12.05, 45.1)),
        (venice, (CROP, BUILT), "train", "png", (12.05, 45.05, 12.1, 45.1)),
        (venice, (WATER, WATER), "val", "webp", (12.0, 45.0, 12.05, 45.05)),
        (venice, (GRASS, TREE), "test", "png", (12.05, 45.0, 12.1, 45.05)),
        (berlin, (BUILT, GRASS), "train", "webp", None),
        (berlin, (TREE, TREE), "val", "png", None),
        (berlin, (CROP, WATER), "test", "png", None),
        (berlin, (WATER, TREE), "train", "png", None),
    ]
    patches = [
        make_export_patch(
            scene,
            media_root,
            two_class_codes(*labels),
            row_off=32 * number,
            split=split,
            image_format=image_format,
            footprint=footprint,
        )
        for number, (scene, labels, split, image_format, footprint) in enumerate(layout)
    ]
    job_a = make_job(GenerationJob.Status.FINISHED, total=4, done=4)
    job_b = make_job(GenerationJob.Status.FINISHED, total=1, done=1)
    text = "Trees cover the top of the image and water the bottom."
    captions = {
        "p0a": make_caption(patches[0], text, job=job_a),
        "p0b": make_caption(
            patches[0], "Trees over water, a second opinion.", job=job_b
        ),
        "p1a": make_caption(patches[1], "Crops and buildings.", job=job_a),
        "p2a": make_caption(patches[2], "Water everywhere, possibly.", job=job_a),
        "p3a": make_caption(patches[3], "Grass above trees.", job=job_a),
    }
    for number in (4, 5, 6, 7):
        captions[f"p{number}i"] = Caption.objects.create(
            patch=patches[number], source="chatearthnet-3.5",
            generated_text=f"Imported caption {number}.",
            text=f"Imported caption {number}.",
        )  # fmt: skip

    def approve(name: str, user) -> None:
        if user == annotator:
            hand_to(captions[name], annotator)
        services.caption_approve(caption_id=captions[name].pk, user=user, version=1)

    approve("p0a", annotator)
    approve("p4i", curator)
    approve("p5i", annotator)
    services.caption_edit(
        caption_id=captions["p0b"].pk, user=curator, version=1,
        text="Trees over the lagoon.",
    )  # fmt: skip
    services.caption_edit(
        caption_id=captions["p2a"].pk, user=curator, version=1,
        text="Water covers the whole image.",
    )  # fmt: skip
    services.caption_edit(
        caption_id=captions["p7i"].pk, user=curator, version=1, text=TRICKY_TEXT
    )
    for name in ("p1a", "p6i"):
        services.caption_reject(
            caption_id=captions[name].pk, user=curator, version=1, reason="cut off"
        )
    # Two reviews long ago, for the reviewed_since filter.
    Caption.objects.filter(pk__in=[captions["p0a"].pk, captions["p4i"].pk]).update(
        reviewed_at=EARLY
    )
    for caption in captions.values():
        caption.refresh_from_db()
    assert timezone.now() > EARLY
    return ExportWorld(
        scenes={"venice": venice, "berlin": berlin}, patches=patches,
        job_a=job_a, job_b=job_b, captions=captions,
    )  # fmt: skip
