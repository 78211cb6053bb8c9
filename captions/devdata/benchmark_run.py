"""One run of the benchmark data: its scenes, and their patches and captions written a
batch at a time, with the reviews of them handed to `Reviews`."""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from django.db.models import Model
from django.utils import timezone

from captions.devdata.benchmark_rows import insert_rows
from captions.devdata.benchmark_templates import (
    CAPTIONS_PER_TEMPLATE,
    OFFLINE_MODEL,
    PATCH_SIZE,
    CaptionText,
    Template,
    media_path,
    prepare_templates,
)
from captions.generation.options import JobOptions, Selection
from captions.generation.templates import template_get
from captions.ingest.splits import geotiff_split_key, ingested_patch_name, split_for
from captions.landcover import dominant_class
from captions.models import Caption, GenerationJob, Patch, PromptTemplate, Scene

ProgressCallback = Callable[[int, int], None]

DEGREES_PER_PIXEL = 1 / 12000  # ESA WorldCover's 10 m grid
SCENE_COLUMNS = 128  # patches a row: 128 x 256 px = 2.73 degrees, inside a 3° cell
MAX_PATCHES_PER_SCENE = SCENE_COLUMNS * SCENE_COLUMNS
MAX_TEMPLATES = 4096
PROMPT_TEMPLATE = "chatearthnet-text"  # the GPT-3.5 style: ChatEarthNet's bulk
# Reviews are spread over the dashboard's last two weeks, up to when the data is made.
REVIEW_SPAN = dt.timedelta(days=14)
# Scenes sit in 3-degree WorldCover cells, 20 a row from N60W009 (Ireland) eastwards,
# rows going south; past 25 rows they start again at the top.
FIRST_WEST, FIRST_NORTH = -9.0, 60.0
CELL_DEGREES = 3.0
CELLS_PER_ROW, CELL_ROWS = 20, 25
ACQUIRED_ON = dt.date(2021, 7, 15)  # WorldCover v200 maps 2021

STATUSES = (
    Caption.Status.APPROVED,
    Caption.Status.EDITED,
    Caption.Status.REJECTED,
    Caption.Status.PENDING,
)


@dataclass(frozen=True)
class CaptionBatch:
    """Captions just inserted, for the records of their reviews."""

    job_id: int
    caption_ids: list[int]
    captions: list[dict]  # the rows inserted, in caption_ids order
    patch_indexes: range  # each caption's patch, counted over the whole run


class Reviews(Protocol):
    """Who reviewed the benchmark captions, and the record of each review.

    verification provides it (`verification.devdata.BenchmarkReviews`), as captions
    never imports verification: the statuses and review times are drawn here, the
    reviewer and the review records are made there.
    """

    def reviewer_id(self) -> int:
        """The reviewer, made if need be (inside the run's transaction)."""
        ...

    def record(self, batch: CaptionBatch) -> int:
        """Insert the records of the batch's reviewed captions; return how many."""
        ...

    def models(self) -> list[type[Model]]:
        """The models `record` writes, analysed at the end of the run."""
        ...


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


@dataclass
class BenchmarkRun:
    """One run's templates, job and reviews, and the rows it has written so far."""

    templates: list[Template]
    prompt: PromptTemplate
    job: GenerationJob
    reviews: Reviews
    reviewer_id: int
    rng: np.random.Generator
    remaining: np.ndarray  # captions of each status left to write, STATUSES order
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
        cls, *, counts: dict[str, int], templates: int, seed: int, media_dir: str,
        reviews: Reviews,
    ) -> "BenchmarkRun":  # fmt: skip
        prompt = template_get(PROMPT_TEMPLATE)
        now = timezone.now()
        return cls(
            templates=prepare_templates(templates, seed, media_dir, prompt),
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
            reviews=reviews,
            reviewer_id=reviews.reviewer_id(),
            rng=np.random.default_rng([seed, MAX_TEMPLATES]),
            remaining=np.array([counts[status] for status in STATUSES], np.int64),
            media_dir=media_dir,
            reviewed_until=now,
            written=dict.fromkeys(STATUSES, 0),
        )

    def write_scenes(
        self, names: list[str], patches: int, patches_per_scene: int,
        batch_size: int, on_progress: ProgressCallback | None,
    ) -> None:  # fmt: skip
        """`patches` patches in scenes of `patches_per_scene`, a batch at a time."""
        for index, name in enumerate(names):
            count = min(patches_per_scene, patches - index * patches_per_scene)
            scene = _create_scene(index, name, count, self.media_dir)
            self.scene_ids.append(scene.pk)
            for first in range(0, count, batch_size):
                self._write_batch(scene, first, min(batch_size, count - first))
                if on_progress is not None:
                    on_progress(self.patch_index, self.job.total)

    def _write_batch(self, scene: Scene, first: int, size: int) -> None:
        statuses, reviewed_at = self._draw_reviews(size)
        indexes = range(self.patch_index, self.patch_index + size)
        patch_ids = insert_rows(
            Patch,
            [
                self._patch_row(scene, first + offset, patch_index)
                for offset, patch_index in enumerate(indexes)
            ],
        )
        caption_rows = [
            self._caption_row(patch_id, patch_index, status, when)
            for patch_id, patch_index, status, when in zip(
                patch_ids, indexes, statuses, reviewed_at, strict=True
            )
        ]
        caption_ids = insert_rows(Caption, caption_rows)
        self.revisions += self.reviews.record(
            CaptionBatch(self.job.pk, caption_ids, caption_rows, indexes)
        )
        self.patch_index += size

    def _draw_reviews(self, size: int) -> tuple[list[str], list[dt.datetime]]:
        """The statuses of the next `size` captions, and when each was reviewed."""
        # Drawn batch by batch from what is left: exact totals, spread at random over
        # the patches, and only a batch of them in memory.
        drawn = self.rng.multivariate_hypergeometric(self.remaining, size)
        self.remaining -= drawn
        statuses = np.repeat(np.arange(len(STATUSES)), drawn)
        self.rng.shuffle(statuses)
        review_ages = (self.rng.random(size) * REVIEW_SPAN.total_seconds()).tolist()
        return (
            [STATUSES[status] for status in statuses.tolist()],
            [self.reviewed_until - dt.timedelta(seconds=age) for age in review_ages],
        )

    def _template(self, patch_index: int) -> tuple[Template, CaptionText]:
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
            # The name an ingest gives it: exports name images by it, though the
            # preview files are shared.
            "source_name": ingested_patch_name(scene.name, row_off, col_off),
            "rgb_preview": template.rgb_name,
            "landcover_preview": template.landcover_name,
            "landcover": template.landcover,
            "dominant_class": dominant_class(template.landcover),
            "invalid_fraction": template.invalid_fraction,
            "split": split_for(
                geotiff_split_key(
                    scene.name,
                    row_off,
                    col_off,
                    patch_size=PATCH_SIZE,
                    block=scene.split_block,
                )
            ),
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

    def summary(self, names: list[str], *, seconds: float) -> BenchmarkDataSummary:
        return BenchmarkDataSummary(
            scene_names=tuple(names),
            job_id=self.job.pk,
            patches=self.patch_index,
            captions={status.value: self.written[status] for status in STATUSES},
            revisions=self.revisions,
            templates=len(self.templates),
            media_dir=self.media_dir,
            seconds=seconds,
        )

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


def _create_scene(index: int, name: str, count: int, media_dir: str) -> Scene:
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
        image_path=str(media_path(media_dir)),
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
