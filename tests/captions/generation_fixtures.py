"""Patches and jobs for the generation tests (test_generation*, test_chunk_claims).

`launch` starts an offline job of 10-patch chunks unless told otherwise;
`run_all_chunks` plays the worker for every chunk of a job, in order.
"""

import datetime as dt
from typing import Any

import numpy as np
from django.utils import timezone

from captions.generation.jobs import job_launch
from captions.generation.options import JobOptions, Selection
from captions.generation.runner import chunk_stale_after, job_run_chunk
from captions.landcover import landcover_stats
from captions.models import GenerationJob, Patch, Scene

KEY = "sk-test-key"


def make_patches(count: int, *, scene_name: str = "alps", seed: int = 0) -> list[Patch]:
    """Rows with real statistics; no preview files (text prompts do not need them)."""
    scene = Scene.objects.create(
        name=scene_name, source_kind=Scene.SourceKind.GEOTIFF, image_path="/x.tif",
        status=Scene.Status.READY,
    )  # fmt: skip
    rng = np.random.default_rng(seed)
    patches = []
    for number in range(count):
        small = rng.choice(np.array([0, 10, 30, 40, 50, 80], np.uint8), size=(8, 8))
        codes = np.kron(small, np.ones((32, 32), np.uint8))
        patches.append(
            Patch(
                scene=scene,
                row_off=number * 256,
                col_off=0,
                width=256,
                height=256,
                rgb_preview=f"x/{number}.webp",
                landcover_preview=f"x/{number}.png",
                landcover=landcover_stats(codes),
                invalid_fraction=0.0,
                split=("train", "val", "test")[number % 3],
            )
        )
    return Patch.objects.bulk_create(patches)


def long_ago() -> dt.datetime:
    """A heartbeat older than a chunk may go without one."""
    return timezone.now() - chunk_stale_after() - dt.timedelta(seconds=1)


def run_all_chunks(job: GenerationJob) -> None:
    """Run each chunk of `job` once, in order, as a worker would."""
    for index in job.chunks.order_by("index").values_list("index", flat=True):
        job_run_chunk(job_id=job.pk, index=index)
    job.refresh_from_db()


def job_status(job: GenerationJob) -> str:
    """The job's status now (read again: workers change it in other processes)."""
    job.refresh_from_db()
    return job.status


def launch(**overrides) -> GenerationJob:
    """An offline job over every ready patch, in chunks of 10; `overrides` are
    `job_launch`'s arguments."""
    arguments: dict[str, Any] = {
        "selection": Selection(),
        "backend": "offline",
        "model": "offline-1",
        "template": "chatearthnet-text",
        "options": JobOptions(chunk_size=10),
    }
    arguments.update(overrides)
    return job_launch(**arguments)
