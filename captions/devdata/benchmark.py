"""Benchmark data: a database filled fast with realistic patches, captions, reviews.

`benchmark_data_create` writes what the export, the API, releases and the review
queue are measured on (issues 4 and 5): scenes of patches on a lon/lat grid, each
patch with land-cover statistics, two preview files and a caption from a finished
offline job, and a share of the captions reviewed (approved, edited, rejected). The
reviewer and the review records come from `Reviews`, which verification provides
(`verification/devdata.py`, whose command `make_benchmark_data` runs this).
docs/benchmark_data.md lists it all.

Speed comes from doing the costly work once per *template* instead of once per patch
(`benchmark_templates.py`): a hundred or so synthetic label patches (`synthetic.py`)
get their statistics, preview files, prompt, and a few captions from the offline
writer checked by `checks.py`. Patches reuse them round-robin, so every stored value
is a real output of that code. Rows are inserted a batch at a time
(`benchmark_run.py`, `benchmark_rows.py`: COPY on PostgreSQL, `bulk_create`
elsewhere), and no more than a batch of them is ever held in memory.
"""

import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection, transaction
from django.db.models import Model, ProtectedError, QuerySet, RestrictedError
from django.utils import timezone

from captions.devdata.benchmark_run import (
    MAX_PATCHES_PER_SCENE,
    MAX_TEMPLATES,
    SCENE_COLUMNS,
    BenchmarkDataSummary,
    BenchmarkRun,
    ProgressCallback,
    Reviews,
)
from captions.devdata.benchmark_templates import MEDIA_SUBDIR, media_path
from captions.models import Caption, GenerationJob, Patch, Scene

DEFAULT_TEMPLATES = 128
DEFAULT_BATCH_SIZE = 2000
DEFAULT_SCENE_NAME = "bench"
# Of the verified captions, the share a person rewrote; of the others, the share they
# rejected (the rest wait in the queue).
EDITED_SHARE = 0.2
REJECTED_SHARE = 0.05

_SCENE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


class BenchmarkDataError(Exception):
    """Arguments that cannot make benchmark data; nothing was written."""


def status_counts(patches: int, verified_fraction: float) -> dict[str, int]:
    """How many of `patches` captions get each status for that verified fraction."""
    verified = round(patches * verified_fraction)
    edited = round(verified * EDITED_SHARE)
    rejected = round((patches - verified) * REJECTED_SHARE)
    return {
        Caption.Status.APPROVED: verified - edited,
        Caption.Status.EDITED: edited,
        Caption.Status.REJECTED: rejected,
        Caption.Status.PENDING: patches - verified - rejected,
    }


def scene_names_for(scene_name: str, patches: int, patches_per_scene: int) -> list[str]:
    count = -(-patches // patches_per_scene)
    return [f"{scene_name}-{index:03d}" for index in range(1, count + 1)]


def benchmark_data_create(
    *, patches: int, verified_fraction: float, reviews: Reviews, seed: int = 0,
    scene_name: str = DEFAULT_SCENE_NAME, replace: bool = False,
    templates: int = DEFAULT_TEMPLATES,
    patches_per_scene: int = MAX_PATCHES_PER_SCENE,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: ProgressCallback | None = None,
) -> BenchmarkDataSummary:  # fmt: skip
    """Write `patches` captioned patches in scenes `<scene_name>-001`, `-002`, ...,
    a `verified_fraction` of the captions approved or edited (`status_counts`);
    `reviews` makes the reviewer and the records of the reviews.

    All or nothing: one transaction, and a failed run removes its preview files.
    Scenes of that name from an earlier run are refused, or with `replace` deleted in
    the same transaction (with their captions, reviews, job and previews). Bad
    arguments raise `BenchmarkDataError` before anything is written. The same
    arguments give the same rows (ids and times aside)."""
    started = time.perf_counter()
    _validate(
        patches=patches, verified_fraction=verified_fraction, scene_name=scene_name,
        templates=templates, patches_per_scene=patches_per_scene,
        batch_size=batch_size,
    )  # fmt: skip
    names = scene_names_for(scene_name, patches, patches_per_scene)
    old_scenes = _earlier_scenes(scene_name, replace=replace)
    media_dir = f"{MEDIA_SUBDIR}/{scene_name}-{timezone.now():%Y%m%dT%H%M%S%f}"
    with _replacing(old_scenes, media_dir):
        run = BenchmarkRun.start(
            counts=status_counts(patches, verified_fraction), templates=templates,
            seed=seed, media_dir=media_dir, reviews=reviews,
        )  # fmt: skip
        run.write_scenes(names, patches, patches_per_scene, batch_size, on_progress)
        run.finish()
    _analyze([Scene, Patch, Caption, *reviews.models()])
    return run.summary(names, seconds=time.perf_counter() - started)


def _validate(
    *, patches: int, verified_fraction: float, scene_name: str, templates: int,
    patches_per_scene: int, batch_size: int,
) -> None:  # fmt: skip
    if patches < 1:
        raise BenchmarkDataError(f"--patches must be at least 1, got {patches}")
    if not 0.0 <= verified_fraction <= 1.0:  # NaN fails this too
        raise BenchmarkDataError(
            f"--verified-fraction must be within 0..1, got {verified_fraction}"
        )
    if not _SCENE_NAME.fullmatch(scene_name):
        raise BenchmarkDataError(
            f"--scene-name {scene_name!r} must be 1-100 letters, digits, '.', '_' or "
            "'-', starting with a letter or digit (it names a media folder too)"
        )
    if not 1 <= templates <= MAX_TEMPLATES:
        raise BenchmarkDataError(
            f"--templates must be within 1..{MAX_TEMPLATES}, got {templates}"
        )
    if not 1 <= patches_per_scene <= MAX_PATCHES_PER_SCENE:
        raise BenchmarkDataError(
            f"--patches-per-scene must be within 1..{MAX_PATCHES_PER_SCENE} (a scene "
            f"is at most {SCENE_COLUMNS} x {SCENE_COLUMNS} patches), "
            f"got {patches_per_scene}"
        )
    if batch_size < 1:
        raise BenchmarkDataError(f"--batch-size must be at least 1, got {batch_size}")


# --- Earlier runs ------------------------------------------------------------------


def benchmark_scenes(scene_name: str) -> QuerySet[Scene]:
    """The scenes a run with this `scene_name` makes: `<scene_name>-NNN`."""
    return Scene.objects.filter(name__regex=rf"^{re.escape(scene_name)}-[0-9]{{3,}}$")


def _made_here(scene: Scene) -> bool:
    """Whether `benchmark_data_create` made the scene: its folder is one of ours."""
    folder = Path(scene.image_path)
    is_tiles = scene.source_kind == Scene.SourceKind.TILES
    return is_tiles and folder.parent == media_path(MEDIA_SUBDIR)


def _earlier_scenes(scene_name: str, *, replace: bool) -> list[Scene]:
    earlier = list(benchmark_scenes(scene_name).order_by("name"))
    if not earlier:
        return []
    listed = ", ".join(scene.name for scene in earlier[:3])
    more = f" and {len(earlier) - 3} more" if len(earlier) > 3 else ""
    if not replace:
        raise BenchmarkDataError(
            f"scenes of --scene-name {scene_name!r} exist already ({listed}{more}); "
            "choose another name, or pass --replace to delete them first"
        )
    foreign = [scene.name for scene in earlier if not _made_here(scene)]
    if foreign:
        raise BenchmarkDataError(
            f"scene {foreign[0]!r} was not made by make_benchmark_data; --replace "
            "deletes only benchmark scenes (choose another --scene-name)"
        )
    return earlier


@contextmanager
def _replacing(old_scenes: list[Scene], media_dir: str) -> Iterator[None]:
    """One transaction that deletes the earlier scenes first. Their preview folders
    go after the commit; this run's go if anything fails."""
    try:
        with transaction.atomic():
            old_folders = _delete_scenes(old_scenes)
            yield
    except BaseException:
        shutil.rmtree(media_path(media_dir), ignore_errors=True)
        raise
    for folder in old_folders:
        shutil.rmtree(folder, ignore_errors=True)


def _delete_scenes(scenes: list[Scene]) -> list[Path]:
    """Delete earlier benchmark scenes and the jobs left without captions; return
    their preview folders. One scene at a time, so that Django's cascade holds one
    scene's rows at most."""
    folders: set[Path] = set()
    job_ids: set[int] = set()
    for scene in scenes:
        job_ids.update(
            Caption.objects.filter(patch__scene=scene, job__isnull=False)
            .values_list("job_id", flat=True)
            .distinct()
        )
        folders.add(Path(scene.image_path))
        try:
            scene.delete()
        except (ProtectedError, RestrictedError):
            raise BenchmarkDataError(
                f"scene {scene.name!r} cannot be replaced: rows that must stay refer "
                "to its captions (a release's items); choose another --scene-name"
            ) from None
    GenerationJob.objects.filter(pk__in=job_ids, captions__isnull=True).delete()
    return sorted(folders)


def _analyze(models: list[type[Model]]) -> None:
    """Fresh planner statistics, so the benchmarks that follow get real query plans
    at once instead of whenever autovacuum gets round to the new rows."""
    tables = [model._meta.db_table for model in models]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {', '.join(tables)}")
        elif connection.vendor == "sqlite":
            for table in tables:
                cursor.execute(f"ANALYZE {table}")
