"""Rows and clients for the REST API tests (fixtures in tests/conftest.py).

The personas, one per role: Anna annotates, Cora curates, Conrad consumes the dataset
through the API (training code, scripts); an anonymous caller has no token.

`make_api_world` writes a small dataset every endpoint has something to show for:
two ready scenes, four patches (three with a footprint, one without) with their
preview files, captions in each status with revisions, and two jobs (one ended, one
queued).
"""

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.utils import timezone
from rest_framework.test import APIClient

from captions.generation.checks import check_caption
from captions.generation.templates import template_get
from captions.ingest.previews import encode_landcover_png, encode_rgb_preview
from captions.landcover import landcover_stats
from captions.models import Caption, GenerationJob, JobChunk, Patch, Scene
from verification import services
from verification.tokens import token_create

TREE, GRASS, CROP, BUILT, WATER = 10, 30, 40, 50, 80


def token_client(user=None) -> APIClient:
    """A client that sends `Authorization: Token …` as scripts do; None: anonymous."""
    client = APIClient()
    if user is not None:
        _, key = token_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def two_class_codes(top: int, bottom: int, size: int = 32) -> np.ndarray:
    codes = np.full((size, size), top, dtype=np.uint8)
    codes[size // 2 :] = bottom
    return codes


def make_scene(name: str, **bounds: float) -> Scene:
    return Scene.objects.create(
        name=name,
        source_kind=Scene.SourceKind.GEOTIFF,
        image_path=f"/data/{name}.tif",
        landcover_path=f"/data/{name}_worldcover.tif",
        status=Scene.Status.READY,
        crs="EPSG:32632",
        width=512,
        height=512,
        patches_total=2,
        patches_created=2,
        **bounds,
    )


def make_patch(
    scene: Scene, media_root: Path, codes: np.ndarray, *, row_off: int,
    split: str = Patch.Split.TRAIN, footprint: tuple[float, ...] | None = None,
) -> Patch:  # fmt: skip
    """A patch with real preview files, so the media URLs the API gives load."""
    stem = f"scenes/{scene.pk}/{row_off}_0"
    (media_root / f"scenes/{scene.pk}").mkdir(parents=True, exist_ok=True)
    rgb = np.zeros((*codes.shape, 3), dtype=np.uint8)
    rgb[..., 1] = 120
    (media_root / f"{stem}.png").write_bytes(encode_rgb_preview(rgb, "png"))
    (media_root / f"{stem}_landcover.png").write_bytes(encode_landcover_png(codes))
    west, south, east, north = footprint or (None, None, None, None)
    return Patch.objects.create(
        scene=scene, row_off=row_off, col_off=0, width=codes.shape[1],
        height=codes.shape[0], west=west, south=south, east=east, north=north,
        rgb_preview=f"{stem}.png", landcover_preview=f"{stem}_landcover.png",
        landcover=landcover_stats(codes), invalid_fraction=0.0, split=split,
    )  # fmt: skip


def make_caption(
    patch: Patch, text: str, *, job: GenerationJob | None = None, source: str = "test"
) -> Caption:
    findings = check_caption(text, patch.landcover)
    return Caption.objects.create(
        patch=patch, job=job, source="job" if job else source, generated_text=text,
        text=text, checks=findings, failed_checks=len(findings),
        template=job.template if job else None, model="offline-1",
        messages=[{"role": "user", "content": "Describe the patch."}],
    )  # fmt: skip


def hand_to(caption: Caption, user) -> None:
    """Let `user` hold the caption, as if they had claimed it from the queue."""
    Caption.objects.filter(pk=caption.pk).update(
        claimed_by=user, claim_expires_at=timezone.now() + dt.timedelta(minutes=5)
    )


@dataclass
class ApiWorld:
    scenes: list[Scene]
    patches: list[Patch]
    pending: Caption  # fails a check: first in the queue
    also_pending: Caption
    approved: Caption
    edited: Caption
    rejected: Caption
    ended_job: GenerationJob
    queued_job: GenerationJob

    @property
    def captions(self) -> list[Caption]:
        return [
            self.pending,
            self.also_pending,
            self.approved,
            self.edited,
            self.rejected,
        ]


def make_job(status: str, **fields) -> GenerationJob:
    selection = {"scene_ids": [], "splits": [], "only_uncaptioned": True, "limit": None}
    return GenerationJob.objects.create(
        backend="offline", model="offline-1", status=status, selection=selection,
        template=template_get("chatearthnet-text"), **fields,
    )  # fmt: skip


def make_api_world(media_root: Path, *, annotator, curator) -> ApiWorld:
    venice = make_scene("S2A_T33TUL", west=12.0, south=45.0, east=12.07, north=45.05)
    berlin = make_scene("S2B_T33UUU", west=13.0, south=52.0, east=13.1, north=52.1)
    patches = [
        make_patch(venice, media_root, two_class_codes(TREE, WATER), row_off=0,
                   footprint=(12.0, 45.025, 12.035, 45.05)),
        make_patch(venice, media_root, two_class_codes(CROP, BUILT), row_off=32,
                   split=Patch.Split.VAL, footprint=(12.035, 45.0, 12.07, 45.025)),
        make_patch(berlin, media_root, two_class_codes(GRASS, GRASS), row_off=0,
                   split=Patch.Split.TEST, footprint=(13.0, 52.0, 13.05, 52.05)),
        # Imported from tiles without georeferencing: no footprint.
        make_patch(berlin, media_root, two_class_codes(TREE, WATER), row_off=32),
    ]  # fmt: skip
    ended_job = make_job(
        GenerationJob.Status.FINISHED, total=2, done=2,
        started_at=timezone.now() - dt.timedelta(minutes=2), finished_at=timezone.now(),
    )  # fmt: skip
    queued_job = make_job(GenerationJob.Status.QUEUED, total=1)
    JobChunk.objects.create(job=queued_job, index=0, patch_ids=[patches[3].pk])
    JobChunk.objects.create(
        job=ended_job, index=0, patch_ids=[patches[0].pk, patches[1].pk],
        status=JobChunk.Status.DONE,
    )  # fmt: skip
    pending = make_caption(
        patches[0], "Snow covers the top of the image.", job=ended_job
    )
    approved = make_caption(
        patches[1], "Cropland fills the top half, developed area the bottom.",
        job=ended_job,
    )  # fmt: skip
    edited = make_caption(patches[2], "Grass everywhere, possibly.")
    also_pending = make_caption(
        patches[2], "Grassland covers the whole image.", job=ended_job
    )
    rejected = make_caption(patches[3], "Water and trees, seen from space.")
    hand_to(approved, annotator)
    services.caption_approve(caption_id=approved.pk, user=annotator, version=1)
    services.caption_edit(
        caption_id=edited.pk, user=curator, version=1, text="Grassland covers it all."
    )
    services.caption_reject(
        caption_id=rejected.pk, user=curator, version=1, reason="cut off"
    )
    for caption in (pending, also_pending, approved, edited, rejected):
        caption.refresh_from_db()
    return ApiWorld(
        scenes=[venice, berlin], patches=patches, pending=pending,
        also_pending=also_pending, approved=approved, edited=edited, rejected=rejected,
        ended_job=ended_job, queued_job=queued_job,
    )  # fmt: skip
