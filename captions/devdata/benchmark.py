"""Benchmark data: a database filled fast with realistic patches, captions, reviews.

`benchmark_data_create` writes what the export, the API, releases and the review
queue are measured on (issues 4 and 5): scenes of patches on a lon/lat grid, each
patch with land-cover statistics, two preview files and a caption from a finished
offline job, and a share of the captions reviewed (approved, edited, rejected) by a
benchmark annotator, with one revision each. docs/benchmark_data.md lists it all.

Speed comes from doing the costly work once per *template* instead of once per patch:
a hundred or so synthetic label patches (`synthetic_patches.py`) get their statistics
(`landcover.py`), their preview files (`previews.py`), their prompt, and a few captions
from the offline writer checked by `checks.py`. Patches reuse them round-robin, so
every stored value is a real output of that code. Rows are inserted a batch at a time
(COPY on PostgreSQL, `bulk_create` elsewhere: `_insert_rows`), and no more than a
batch of them is ever held in memory.
"""

import datetime as dt
import hashlib
import itertools
import json
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, models, reset_queries, transaction
from django.db.models import (
    OuterRef,
    ProtectedError,
    QuerySet,
    RestrictedError,
    Subquery,
)
from django.utils import timezone

from captions.devdata.synthetic import synthetic_patch
from captions.generation.checks import check_caption
from captions.generation.jobs import (
    DEFAULT_MODELS,
    JobOptions,
    Selection,
    spec_of,
    template_get,
)
from captions.generation.prompts import estimate_tokens, render_messages
from captions.ingest.previews import (
    PREVIEW_EXTENSIONS,
    encode_landcover_png,
    encode_rgb_preview,
)
from captions.ingest.scenes import split_for
from captions.landcover import NODATA, landcover_stats
from captions.llm.base import ChatRequest
from captions.llm.registry import get_backend
from captions.models import Caption, GenerationJob, Patch, PromptTemplate, Scene
from verification.models import Revision
from verification.roles import ANNOTATOR, ensure_groups
from verification.services import REJECT_REASONS, word_edit_distance

ProgressCallback = Callable[[int, int], None]

PATCH_SIZE = 256
DEGREES_PER_PIXEL = 1 / 12000  # ESA WorldCover's 10 m grid
SCENE_COLUMNS = 128  # patches a row: 128 x 256 px = 2.73 degrees, inside a 3° cell
MAX_PATCHES_PER_SCENE = SCENE_COLUMNS * SCENE_COLUMNS
DEFAULT_TEMPLATES = 128
MAX_TEMPLATES = 4096
CAPTIONS_PER_TEMPLATE = 8  # distinct offline captions of each template
DEFAULT_BATCH_SIZE = 2000
DEFAULT_SCENE_NAME = "bench"
PROMPT_TEMPLATE = "chatearthnet-text"  # the GPT-3.5 style: ChatEarthNet's bulk
OFFLINE_MODEL = DEFAULT_MODELS["offline"]
REVIEWER_USERNAME = "bench-reviewer"
MEDIA_SUBDIR = "benchmark"
# Of the verified captions, the share a person rewrote; of the others, the share they
# rejected (the rest wait in the queue).
EDITED_SHARE = 0.2
REJECTED_SHARE = 0.05
# Reviews are spread over the dashboard's last two weeks, up to when the data is made.
REVIEW_SPAN = dt.timedelta(days=14)
# Scenes sit in 3-degree WorldCover cells, 20 a row from N60W009 (Ireland) eastwards,
# rows going south; past 25 rows they start again at the top.
FIRST_WEST, FIRST_NORTH = -9.0, 60.0
CELL_DEGREES = 3.0
CELLS_PER_ROW, CELL_ROWS = 20, 25
ACQUIRED_ON = dt.date(2021, 7, 15)  # WorldCover v200 maps 2021

_STATUSES = (
    Caption.Status.APPROVED,
    Caption.Status.EDITED,
    Caption.Status.REJECTED,
    Caption.Status.PENDING,
)
_ACTIONS = {
    Caption.Status.APPROVED: Revision.Action.APPROVE,
    Caption.Status.EDITED: Revision.Action.EDIT,
    Caption.Status.REJECTED: Revision.Action.REJECT,
}
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_SCENE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


class BenchmarkDataError(Exception):
    """Arguments that cannot make benchmark data; nothing was written."""


@dataclass(frozen=True)
class BenchmarkDataSummary:
    scene_names: tuple[str, ...]
    job_id: int
    patches: int
    captions: dict[str, int]  # by status
    revisions: int
    templates: int
    media_dir: str  # under MEDIA_ROOT
    seconds: float

    @property
    def rows(self) -> int:
        """Patches, captions and revisions inserted."""
        return self.patches + sum(self.captions.values()) + self.revisions

    def as_json(self) -> dict:
        return {
            "scenes": list(self.scene_names),
            "job_id": self.job_id,
            "patches": self.patches,
            "captions": self.captions,
            "revisions": self.revisions,
            "templates": self.templates,
            "media_dir": self.media_dir,
            "seconds": round(self.seconds, 2),
            "patches_per_s": round(self.patches / self.seconds, 1),
            "rows_per_s": round(self.rows / self.seconds, 1),
        }


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
    *,
    patches: int,
    verified_fraction: float,
    seed: int = 0,
    scene_name: str = DEFAULT_SCENE_NAME,
    replace: bool = False,
    templates: int = DEFAULT_TEMPLATES,
    patches_per_scene: int = MAX_PATCHES_PER_SCENE,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: ProgressCallback | None = None,
) -> BenchmarkDataSummary:
    """Write `patches` captioned patches in scenes `<scene_name>-001`, `-002`, ...,
    a `verified_fraction` of the captions approved or edited (`status_counts`).

    All or nothing: the rows go in one transaction, and a failed run removes its
    preview files. Scenes of that name from an earlier run are refused, or with
    `replace` deleted in the same transaction (with their captions, reviews, job and
    previews). Bad arguments raise `BenchmarkDataError` before anything is written.
    The same arguments give the same patches, statistics, captions and statuses
    (ids and times aside).
    """
    started = time.perf_counter()
    _validate(
        patches=patches, verified_fraction=verified_fraction, scene_name=scene_name,
        templates=templates, patches_per_scene=patches_per_scene,
        batch_size=batch_size,
    )  # fmt: skip
    names = scene_names_for(scene_name, patches, patches_per_scene)
    old_scenes = _earlier_scenes(scene_name, replace=replace)
    media_dir = f"{MEDIA_SUBDIR}/{scene_name}-{timezone.now():%Y%m%dT%H%M%S%f}"
    try:
        with transaction.atomic():
            old_folders = _delete_scenes(old_scenes)
            run = _Run.start(
                counts=status_counts(patches, verified_fraction),
                templates=templates,
                seed=seed,
                media_dir=media_dir,
            )
            for index, name in enumerate(names):
                count = min(patches_per_scene, patches - index * patches_per_scene)
                run.write_scene(index, name, count, batch_size, on_progress)
            run.finish()
    except BaseException:
        shutil.rmtree(_media_path(media_dir), ignore_errors=True)
        raise
    for folder in old_folders:
        shutil.rmtree(folder, ignore_errors=True)
    _analyze()
    return BenchmarkDataSummary(
        scene_names=tuple(names),
        job_id=run.job.pk,
        patches=patches,
        captions={status.value: run.written[status] for status in _STATUSES},
        revisions=run.revisions,
        templates=templates,
        media_dir=media_dir,
        seconds=time.perf_counter() - started,
    )


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


def _media_path(name: str) -> Path:
    return Path(settings.MEDIA_ROOT) / name


# --- Earlier runs ------------------------------------------------------------------


def benchmark_scenes(scene_name: str) -> QuerySet[Scene]:
    """The scenes a run with this `scene_name` makes: `<scene_name>-NNN`."""
    return Scene.objects.filter(name__regex=rf"^{re.escape(scene_name)}-[0-9]{{3,}}$")


def _made_here(scene: Scene) -> bool:
    """Whether `benchmark_data_create` made the scene: its folder is one of ours."""
    folder = Path(scene.image_path)
    is_tiles = scene.source_kind == Scene.SourceKind.TILES
    return is_tiles and folder.parent == _media_path(MEDIA_SUBDIR)


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


# --- Templates ---------------------------------------------------------------------


@dataclass(frozen=True)
class _CaptionText:
    """One offline caption of a template, and the edit a reviewer made of it."""

    generated: str
    checks: list[dict]
    completion_tokens: int
    latency_ms: int
    edited: str
    edited_checks: list[dict]
    edit_distance: float  # of the edit, as the review service computes it


@dataclass(frozen=True)
class _Template:
    """What the patches that reuse one synthetic label patch share."""

    landcover: dict
    invalid_fraction: float
    rgb_name: str
    landcover_name: str
    messages: list[dict]
    prompt_tokens: int
    captions: tuple[_CaptionText, ...]


def _prepare_templates(
    count: int, seed: int, media_dir: str, prompt: PromptTemplate
) -> list[_Template]:
    """Label patches, their statistics, preview files, prompts and offline captions."""
    folder = _media_path(media_dir)
    folder.mkdir(parents=True, exist_ok=True)
    image_format = settings.PREVIEW_FORMAT
    extension = PREVIEW_EXTENSIONS[image_format]
    spec = spec_of(prompt)
    templates = []
    for index in range(count):
        patch = synthetic_patch(np.random.default_rng([seed, index]), PATCH_SIZE)
        rgb_name = f"{media_dir}/t{index:04d}.{extension}"
        landcover_name = f"{media_dir}/t{index:04d}_landcover.png"
        _media_path(rgb_name).write_bytes(encode_rgb_preview(patch.rgb, image_format))
        _media_path(landcover_name).write_bytes(encode_landcover_png(patch.codes))
        landcover = landcover_stats(patch.codes)
        messages = render_messages(spec, landcover)
        invalid = np.count_nonzero(patch.codes == NODATA) / patch.codes.size
        templates.append(
            _Template(
                landcover=landcover,
                invalid_fraction=round(float(invalid), 6),
                rgb_name=rgb_name,
                landcover_name=landcover_name,
                messages=messages,
                prompt_tokens=estimate_tokens(messages),
                captions=_caption_texts(landcover, messages, seed, index),
            )
        )
    return templates


def _caption_texts(
    landcover: dict, messages: list[dict], seed: int, index: int
) -> tuple[_CaptionText, ...]:
    """`CAPTIONS_PER_TEMPLATE` captions of the offline backend, each with an edit."""
    backend = get_backend("offline")
    results = [
        backend.complete(
            ChatRequest(
                messages=messages,
                model=OFFLINE_MODEL,
                landcover=landcover,
                seed=_caption_seed(seed, index, variant),
            )
        )
        for variant in range(CAPTIONS_PER_TEMPLATE + 1)
    ]
    texts = []
    for result, other in itertools.pairwise(results):
        edited, edited_checks = _edit(result.text, other.text, landcover)
        texts.append(
            _CaptionText(
                generated=result.text,
                checks=check_caption(
                    result.text, landcover, finish_reason=result.finish_reason
                ),
                completion_tokens=result.completion_tokens,
                latency_ms=round(result.latency_s * 1000),
                edited=edited,
                edited_checks=edited_checks,
                edit_distance=word_edit_distance(result.text, edited),
            )
        )
    return tuple(texts)


def _caption_seed(seed: int, template: int, variant: int) -> int:
    key = f"{seed}:{template}:{variant}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")


def _edit(text: str, other: str, landcover: dict) -> tuple[str, list[dict]]:
    """What a reviewer might make of `text`, and its checks: its closing sentence
    replaced by that of `other`, another caption of the same patch; all of `other`
    when the two close alike or the mix fails a check."""
    sentences, others = _SENTENCE_BREAK.split(text), _SENTENCE_BREAK.split(other)
    if len(sentences) > 1 and sentences[-1] != others[-1]:
        edited = " ".join([*sentences[:-1], others[-1]])
        findings = check_caption(edited, landcover)
        if not findings:
            return edited, findings
    if other == text:
        other = f"{text} This is the whole scene."
    return other, check_caption(other, landcover)


# --- Writing -----------------------------------------------------------------------


def _reviewer() -> Any:
    """The annotator who reviewed the benchmark captions, made once."""
    annotators = ensure_groups()[ANNOTATOR]
    user, created = get_user_model().objects.get_or_create(username=REVIEWER_USERNAME)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    user.groups.add(annotators)
    return user


def _create_scene(index: int, name: str, count: int, folder: Path) -> Scene:
    """A ready tile scene of `count` patches, laid `SCENE_COLUMNS` to a row in the
    `index`th 3-degree cell."""
    rows, columns = -(-count // SCENE_COLUMNS), min(count, SCENE_COLUMNS)
    step = PATCH_SIZE * DEGREES_PER_PIXEL
    west = FIRST_WEST + CELL_DEGREES * (index % CELLS_PER_ROW)
    north = FIRST_NORTH - CELL_DEGREES * (index // CELLS_PER_ROW % CELL_ROWS)
    return Scene.objects.create(
        name=name,
        # A tile scene: the ingest task leaves it alone (there is no GeoTIFF to read).
        source_kind=Scene.SourceKind.TILES,
        image_path=str(folder),
        crs="EPSG:4326",
        width=columns * PATCH_SIZE,
        height=rows * PATCH_SIZE,
        west=west,
        south=north - rows * step,
        east=west + columns * step,
        north=north,
        acquired_on=ACQUIRED_ON,
        patch_size=PATCH_SIZE,
        status=Scene.Status.READY,
        patches_total=count,
        patches_done=count,
        patches_created=count,
    )


def _insert_rows(model: type[models.Model], rows: list[dict]) -> list[int]:
    """Insert `rows` (attname -> value, the same keys in each); return their ids.

    On PostgreSQL through COPY: `bulk_create` there has psycopg bind every value
    into the SQL text on the client (Django's default binding), and on these rows of
    JSON and long texts it measured 4-5 times slower than COPY
    (docs/benchmark_data.md). Elsewhere `bulk_create`.
    """
    if not rows:
        return []
    if connection.vendor == "postgresql":
        return _copy_rows(model, rows)
    created = model._default_manager.bulk_create([model(**row) for row in rows])
    # Every INSERT's SQL would otherwise stay in memory under DEBUG.
    reset_queries()
    return [instance.pk for instance in created]


def _copy_rows(model: type[models.Model], rows: list[dict]) -> list[int]:
    """COPY `rows` into `model`'s table, with ids taken from its sequence first.

    Fields a row leaves out get what `bulk_create` would give them: their default,
    or now for `auto_now` / `auto_now_add` dates.
    """
    meta = model._meta
    fields = [
        model_field for model_field in meta.concrete_fields if model_field != meta.pk
    ]
    given = rows[0].keys()
    now = timezone.now()
    missing = {
        model_field.attname: (
            now
            if getattr(model_field, "auto_now", False)
            or getattr(model_field, "auto_now_add", False)
            else model_field.get_default()
        )
        for model_field in fields
        if model_field.attname not in given
    }
    names = [model_field.attname for model_field in fields]
    is_json = [isinstance(model_field, models.JSONField) for model_field in fields]
    pk_column = str(meta.pk.column)
    columns = [pk_column, *(str(model_field.column) for model_field in fields)]
    quote = connection.ops.quote_name
    # The rows share their JSON values (a template's statistics, prompt, checks):
    # each is serialised once, keyed by the object, which the rows keep alive.
    serialised: dict[int, str] = {}

    def as_json(value: object) -> str:
        key = id(value)
        if key not in serialised:
            serialised[key] = json.dumps(value)
        return serialised[key]

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) "
            "FROM generate_series(1, %s)",
            [meta.db_table, pk_column, len(rows)],
        )
        ids = [found for (found,) in cursor.fetchall()]
        statement = (
            f"COPY {quote(meta.db_table)} ({', '.join(map(quote, columns))}) FROM STDIN"
        )
        with cursor.copy(statement) as copy:
            for pk, row in zip(ids, rows, strict=True):
                values = (row[name] if name in row else missing[name] for name in names)
                copy.write_row(
                    (
                        pk,
                        *(
                            as_json(value) if json_column else value
                            for value, json_column in zip(values, is_json, strict=True)
                        ),
                    )
                )
    return ids


def _date_revisions(job: GenerationJob, revision_ids: list[int]) -> None:
    """Date revisions inserted by `bulk_create` when their captions were reviewed.

    `created_at` is `auto_now_add`, which `bulk_create` sets to now whatever the row
    holds (COPY keeps it); the dashboard counts reviews per day by it.
    """
    Revision.objects.filter(
        pk__range=(min(revision_ids), max(revision_ids)), caption__job=job
    ).update(
        created_at=Subquery(
            Caption.objects.filter(pk=OuterRef("caption_id")).values("reviewed_at")[:1]
        )
    )


@dataclass
class _Run:
    """One run's templates, job and reviewer, and the rows it has written so far."""

    templates: list[_Template]
    prompt: PromptTemplate
    job: GenerationJob
    reviewer_id: int
    rng: np.random.Generator
    remaining: np.ndarray  # captions of each status left to write, _STATUSES order
    media_dir: str
    reviewed_until: dt.datetime
    written: dict[str, int]
    patch_index: int = 0
    revisions: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    scene_ids: list[int] = field(default_factory=list)

    @classmethod
    def start(
        cls, *, counts: dict[str, int], templates: int, seed: int, media_dir: str
    ) -> "_Run":
        prompt = template_get(PROMPT_TEMPLATE)
        now = timezone.now()
        return cls(
            templates=_prepare_templates(templates, seed, media_dir, prompt),
            prompt=prompt,
            job=GenerationJob.objects.create(
                backend="offline",
                model=OFFLINE_MODEL,
                template=prompt,
                options=JobOptions().as_json(),
                status=GenerationJob.Status.RUNNING,
                started_at=now,
                total=sum(counts.values()),
            ),
            reviewer_id=_reviewer().pk,
            rng=np.random.default_rng([seed, MAX_TEMPLATES]),
            remaining=np.array([counts[status] for status in _STATUSES], np.int64),
            media_dir=media_dir,
            reviewed_until=now,
            written=dict.fromkeys(_STATUSES, 0),
        )

    def write_scene(
        self, index: int, name: str, count: int, batch_size: int,
        on_progress: ProgressCallback | None,
    ) -> None:  # fmt: skip
        scene = _create_scene(index, name, count, _media_path(self.media_dir))
        self.scene_ids.append(scene.pk)
        for first in range(0, count, batch_size):
            self._write_batch(scene, first, min(batch_size, count - first))
            if on_progress is not None:
                on_progress(self.patch_index, self.job.total)

    def _write_batch(self, scene: Scene, first: int, size: int) -> None:
        # Statuses are drawn batch by batch from what is left: exact totals, spread
        # at random over the patches, and only a batch of them in memory.
        drawn = self.rng.multivariate_hypergeometric(self.remaining, size)
        self.remaining -= drawn
        statuses = np.repeat(np.arange(len(_STATUSES)), drawn)
        self.rng.shuffle(statuses)
        review_ages = (self.rng.random(size) * REVIEW_SPAN.total_seconds()).tolist()
        indexes = range(self.patch_index, self.patch_index + size)
        patch_ids = _insert_rows(
            Patch,
            [
                self._patch_row(scene, first + offset, patch_index)
                for offset, patch_index in enumerate(indexes)
            ],
        )
        caption_rows = [
            self._caption_row(
                patch_id,
                patch_index,
                _STATUSES[status],
                self.reviewed_until - dt.timedelta(seconds=review_age_s),
            )
            for patch_id, patch_index, status, review_age_s in zip(
                patch_ids, indexes, statuses.tolist(), review_ages, strict=True
            )
        ]
        caption_ids = _insert_rows(Caption, caption_rows)
        revision_ids = _insert_rows(
            Revision,
            [
                self._revision_row(caption_id, caption, patch_index)
                for caption_id, caption, patch_index in zip(
                    caption_ids, caption_rows, indexes, strict=True
                )
                if caption["status"] != Caption.Status.PENDING
            ],
        )
        if revision_ids and connection.vendor != "postgresql":
            _date_revisions(self.job, revision_ids)
        self.patch_index += size
        self.revisions += len(revision_ids)

    def _template(self, patch_index: int) -> tuple[_Template, _CaptionText]:
        template = self.templates[patch_index % len(self.templates)]
        variant = (patch_index // len(self.templates)) % CAPTIONS_PER_TEMPLATE
        return template, template.captions[variant]

    def _patch_row(self, scene: Scene, index_in_scene: int, patch_index: int) -> dict:
        template, _ = self._template(patch_index)
        row, column = divmod(index_in_scene, SCENE_COLUMNS)
        step = PATCH_SIZE * DEGREES_PER_PIXEL
        assert scene.west is not None and scene.north is not None
        west, north = scene.west + column * step, scene.north - row * step
        row_off, col_off = row * PATCH_SIZE, column * PATCH_SIZE
        return {
            "scene_id": scene.pk,
            "row_off": row_off,
            "col_off": col_off,
            "width": PATCH_SIZE,
            "height": PATCH_SIZE,
            "west": west,
            "south": north - step,
            "east": west + step,
            "north": north,
            # A file name of its own, as an imported tile has: exports name images
            # by it, though the preview files are shared.
            "source_name": f"{scene.name}_{row:03d}_{column:03d}.png",
            "rgb_preview": template.rgb_name,
            "landcover_preview": template.landcover_name,
            "landcover": template.landcover,
            "invalid_fraction": template.invalid_fraction,
            "split": split_for(f"{scene.name}:{row_off}:{col_off}"),
        }

    def _caption_row(
        self, patch_id: int, patch_index: int, status: str,
        reviewed_at: dt.datetime,
    ) -> dict:  # fmt: skip
        template, text = self._template(patch_index)
        reviewed = status != Caption.Status.PENDING
        edited = status == Caption.Status.EDITED
        checks = text.edited_checks if edited else text.checks
        self.tokens_in += template.prompt_tokens
        self.tokens_out += text.completion_tokens
        self.written[status] += 1
        return {
            "patch_id": patch_id,
            "job_id": self.job.pk,
            "source": "job",
            "template_id": self.prompt.pk,
            "generated_text": text.generated,
            "text": text.edited if edited else text.generated,
            "status": status,
            "messages": template.messages,
            "model": OFFLINE_MODEL,
            "parameters": self.prompt.parameters,
            "finish_reason": "stop",
            "prompt_tokens": template.prompt_tokens,
            "completion_tokens": text.completion_tokens,
            "latency_ms": text.latency_ms,
            "checks": checks,
            "failed_checks": len(checks),
            "version": 2 if reviewed else 1,
            "reviewed_by_id": self.reviewer_id if reviewed else None,
            "reviewed_at": reviewed_at if reviewed else None,
        }

    def _revision_row(self, caption_id: int, caption: dict, patch_index: int) -> dict:
        _, text = self._template(patch_index)
        status = caption["status"]
        return {
            "caption_id": caption_id,
            "user_id": self.reviewer_id,
            "action": _ACTIONS[status],
            "status_before": Caption.Status.PENDING,
            "status_after": status,
            "text_before": caption["generated_text"],
            "text_after": caption["text"],
            "version_after": caption["version"],
            "reason": (
                REJECT_REASONS[patch_index % len(REJECT_REASONS)]
                if status == Caption.Status.REJECTED
                else ""
            ),
            # Reading, comparing with the two maps and deciding: 10 s to 2 min.
            "seconds_spent": float(10 + patch_index * 37 % 110),
            # Approving or rejecting keeps the words: word_edit_distance gives 0.
            "edit_distance": (
                text.edit_distance if status == Caption.Status.EDITED else 0.0
            ),
            # When it was reviewed (kept by COPY; `_date_revisions` after
            # `bulk_create`).
            "created_at": caption["reviewed_at"],
        }

    def finish(self) -> None:
        now = timezone.now()
        GenerationJob.objects.filter(pk=self.job.pk).update(
            status=GenerationJob.Status.FINISHED,
            finished_at=now,
            selection=Selection(scene_ids=tuple(self.scene_ids)).as_json(),
            done=sum(self.written.values()),
            tokens_in=self.tokens_in,
            tokens_out=self.tokens_out,
            updated_at=now,
        )


def _analyze() -> None:
    """Fresh planner statistics, so the benchmarks that follow get real query plans
    at once instead of whenever autovacuum gets round to the new rows."""
    tables = [model._meta.db_table for model in (Scene, Patch, Caption, Revision)]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {', '.join(tables)}")
        elif connection.vendor == "sqlite":
            for table in tables:
                cursor.execute(f"ANALYZE {table}")
