import numpy as np
from django.conf import settings
from django.db import models

from captions.ingest.previews import read_landcover_png


class Scene(models.Model):
    """One ingested source: a GeoTIFF image + WorldCover pair, or a folder of tiles."""

    class SourceKind(models.TextChoices):
        GEOTIFF = "geotiff", "GeoTIFF image + WorldCover map"
        TILES = "tiles", "ChatEarthNet / SatlasPretrain PNG tiles"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        INGESTING = "ingesting", "Ingesting"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    name = models.CharField(max_length=200, unique=True)
    source_kind = models.CharField(max_length=16, choices=SourceKind.choices)
    image_path = models.CharField(
        max_length=1000, help_text="Image file or tile folder"
    )
    landcover_path = models.CharField(max_length=1000, blank=True)
    crs = models.CharField(
        max_length=2000, blank=True, help_text="Image CRS (WKT/EPSG)"
    )
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    west = models.FloatField(null=True, blank=True)
    south = models.FloatField(null=True, blank=True)
    east = models.FloatField(null=True, blank=True)
    north = models.FloatField(null=True, blank=True)
    acquired_on = models.DateField(null=True, blank=True)
    # Ingest options, kept so that a queued ingest runs exactly as it was asked for.
    patch_size = models.PositiveIntegerField(default=256)
    bands = models.JSONField(null=True, blank=True, help_text="1-based R,G,B bands")
    l2a_offset = models.CharField(max_length=8, default="auto")
    max_invalid = models.FloatField(default=0.5)
    # Patches (GeoTIFF) or SatlasPretrain tiles per side of a block whose patches
    # share a split (captions/ingest/splits.py): neighbours land in one split.
    split_block = models.PositiveIntegerField(default=4)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    error = models.TextField(blank=True)
    patches_total = models.PositiveIntegerField(default=0)
    patches_done = models.PositiveIntegerField(default=0)
    patches_created = models.PositiveIntegerField(default=0)
    patches_skipped = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class Patch(models.Model):
    """A fixed-size window of a scene, with its previews and land-cover statistics.

    The land-cover preview is a palette PNG whose palette indices *are* the WorldCover
    codes: it is the lossless label patch (read it back with `label_codes()`) and, as
    the palette holds the official colours with 0 transparent, the coloured map too.
    """

    class Split(models.TextChoices):
        TRAIN = "train", "Train"
        VAL = "val", "Validation"
        TEST = "test", "Test"

    class SplitSource(models.TextChoices):
        """Where a patch's split comes from (docs/chatearthnet.md, "Splits")."""

        COMPUTED = "computed", "Computed from its tile or block at ingest"
        IMPORTED = "imported", "Named by the caption file it was imported from"
        ASSIGNED = "assigned", "Assigned by a curator"

    scene = models.ForeignKey(Scene, on_delete=models.CASCADE, related_name="patches")
    row_off = models.PositiveIntegerField()
    col_off = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    west = models.FloatField(null=True, blank=True)
    south = models.FloatField(null=True, blank=True)
    east = models.FloatField(null=True, blank=True)
    north = models.FloatField(null=True, blank=True)
    # The patch's file name, which caption files match and the chatearthnet export
    # and releases use: the tile's own name if imported (`4353_2917_patch00.png`),
    # `<scene>_r<row>_c<col>.png` if cut from a GeoTIFF (captions/ingest/splits.py).
    source_name = models.CharField(
        "file name",
        max_length=300,
        blank=True,
        db_index=True,
        help_text="The patch's file name: its tile's, or made from scene and window",
    )
    rgb_preview = models.FileField(max_length=300)
    landcover_preview = models.FileField(max_length=300)
    landcover = models.JSONField()
    # The class with the most pixels (`landcover.dominant_class`), kept beside the
    # statistics so the map can count patches by it without reading their JSON.
    dominant_class = models.PositiveSmallIntegerField(null=True, blank=True)
    invalid_fraction = models.FloatField()
    split = models.CharField(max_length=8, choices=Split.choices, db_index=True)
    split_source = models.CharField(
        max_length=10, choices=SplitSource.choices, default=SplitSource.COMPUTED
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scene", "row_off", "col_off"], name="one_patch_per_window"
            )
        ]
        indexes = [
            # The map's reads (verification/map_data.py): the footprint first, and
            # all they need of a patch, so a viewport is read from the index alone,
            # not from rows that carry the statistics' JSON.
            models.Index(
                fields=[
                    "south",
                    "north",
                    "west",
                    "east",
                    "dominant_class",
                    "split",
                    "id",
                ],
                name="patch_map_footprint",
            ),
        ]
        ordering = ["scene", "row_off", "col_off"]
        verbose_name_plural = "patches"

    def __str__(self) -> str:
        return f"{self.scene.name} r{self.row_off} c{self.col_off}"

    def label_codes(self) -> np.ndarray:
        """The WorldCover codes of this patch (uint8, 0 = nodata), read losslessly."""
        with self.landcover_preview.open("rb") as handle:
            return read_landcover_png(handle)


class SplitChange(models.Model):
    """A curator moved a patch to another split: who, when, why, from where."""

    patch = models.ForeignKey(
        Patch, on_delete=models.CASCADE, related_name="split_changes"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    split_before = models.CharField(max_length=8)
    split_after = models.CharField(max_length=8)
    source_before = models.CharField(max_length=10)
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Patch {self.patch_id}: {self.split_before} -> {self.split_after}"


class PromptTemplate(models.Model):
    """A versioned prompt. Never edited in place: a change is a new version."""

    class Kind(models.TextChoices):
        TEXT = "text", "Text (statistics only, GPT-3.5 style)"
        VISION = "vision", "Vision (land-cover map as an image, GPT-4V style)"

    name = models.CharField(max_length=100)
    version = models.PositiveIntegerField()
    kind = models.CharField(max_length=8, choices=Kind.choices)
    system_template = models.TextField()
    user_template = models.TextField()
    parameters = models.JSONField(default=dict, blank=True)
    is_builtin = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["name", "version"], name="one_template_per_version"
            )
        ]
        ordering = ["name", "-version"]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class GenerationJob(models.Model):
    """Captions for a selection of patches, generated by Celery workers in chunks."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        CANCELLING = "cancelling", "Cancelling"
        CANCELLED = "cancelled", "Cancelled"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Failed"

    ACTIVE = (Status.QUEUED, Status.RUNNING, Status.CANCELLING)
    # The statuses in which the job's chunks send requests.
    RUNNABLE = (Status.QUEUED, Status.RUNNING)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    selection = models.JSONField(default=dict, help_text="Scenes, splits, limit, ...")
    backend = models.CharField(max_length=16)
    # A name of settings.LLM_ENDPOINTS, resolved by each worker when it runs the job
    # (its own settings hold the key); empty for the offline backend.
    endpoint = models.CharField(max_length=50, blank=True)
    # Provenance: the endpoint's URL when the job was launched.
    base_url = models.CharField(max_length=500, blank=True)
    model = models.CharField(max_length=100)
    template = models.ForeignKey(PromptTemplate, on_delete=models.PROTECT)
    # An A/B job: this share of its patches, drawn at random (a hash of job and
    # patch), goes to template_b with model_b; each caption records its arm.
    template_b = models.ForeignKey(
        PromptTemplate, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    model_b = models.CharField(max_length=100, blank=True)
    b_share = models.FloatField(default=0.0)
    # The share of this job's verified captions a second annotator reviews blind;
    # empty: the curators' global rate (verification's quality settings).
    qa_rate = models.FloatField(null=True, blank=True)
    # in_flight_per_worker, requests/tokens per minute, prices, include_rgb, ...
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    tokens_in = models.PositiveBigIntegerField(default=0)
    tokens_out = models.PositiveBigIntegerField(default=0)
    estimated_cost = models.FloatField(null=True, blank=True, help_text="USD")
    actual_cost = models.FloatField(default=0.0, help_text="USD")
    error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Job {self.pk} ({self.backend}/{self.model})"


class JobChunk(models.Model):
    """A slice of a job's patches: the unit a Celery task works on.

    Claimed by one worker at a time (captions/claims.py): `updated_at` is the
    heartbeat of the worker running it, `attempts` counts the runs.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        # Broke on something unexpected as many times as a chunk may: no worker runs
        # it again (its job failed with the error; retrying the job re-queues its
        # patches in new chunks).
        FAILED = "failed", "Failed"

    job = models.ForeignKey(
        GenerationJob, on_delete=models.CASCADE, related_name="chunks"
    )
    index = models.PositiveIntegerField()
    patch_ids = models.JSONField()
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    # What broke its last run, if one broke (`job_chunk_failed`).
    error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "index"], name="one_chunk_per_index")
        ]
        indexes = [models.Index(fields=["job", "status"])]

    def __str__(self) -> str:
        return f"Job {self.job_id} chunk {self.index}"


class Caption(models.Model):
    """A caption of a patch, generated by a job or imported, with its provenance."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending review"
        APPROVED = "approved", "Approved"
        EDITED = "edited", "Edited"
        REJECTED = "rejected", "Rejected"

    patch = models.ForeignKey(Patch, on_delete=models.CASCADE, related_name="captions")
    job = models.ForeignKey(
        GenerationJob, null=True, blank=True, on_delete=models.CASCADE,
        related_name="captions",
    )  # fmt: skip
    source = models.CharField(
        max_length=100, help_text="'job' or the name of an imported caption file"
    )
    template = models.ForeignKey(
        PromptTemplate, null=True, blank=True, on_delete=models.PROTECT
    )
    # Lineage of a regenerated caption: the rejected caption it replaces and the
    # reviewer's reason, which its prompt carried as a correction hint.
    replaces = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="replaced_by",
    )  # fmt: skip
    replace_reason = models.CharField(max_length=500, blank=True)
    # The arm of an A/B job that wrote it ("a" or "b"); empty outside A/B jobs.
    arm = models.CharField(max_length=1, blank=True)
    generated_text = models.TextField()
    text = models.TextField(help_text="The current text, after any edits")
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING
    )
    messages = models.JSONField(default=list, blank=True, help_text="Exactly as sent")
    model = models.CharField(max_length=100, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    finish_reason = models.CharField(max_length=32, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    checks = models.JSONField(default=list, blank=True)
    failed_checks = models.PositiveSmallIntegerField(default=0)
    version = models.PositiveIntegerField(default=1)
    # The review queue's lease (verification/queue.py): who holds the caption, until
    # when. On the row itself, so claiming the next caption is one indexed query.
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    claim_expires_at = models.DateTimeField(null=True, blank=True)
    # The last person who approved, edited or rejected it, and when: on the row so the
    # export and the API filter on them without reading the history (cleared when a
    # revert puts the caption back to pending).
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    reviewed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["job", "patch"],
                condition=models.Q(job__isnull=False),
                name="one_caption_per_patch_per_job",
            ),
            models.UniqueConstraint(
                fields=["source", "patch"],
                condition=models.Q(job__isnull=True),
                name="one_caption_per_patch_per_import",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "failed_checks", "job", "patch"]),
            # The queue's order over pending captions only: its size stays that of
            # the work left, and the next caption is the first unclaimed entry.
            models.Index(
                models.F("failed_checks").desc(),
                "job",
                "patch",
                name="review_queue_order",
                condition=models.Q(status="pending"),
            ),
            # A patch's newest caption and its status, from the index alone (the
            # map's status of a patch).
            models.Index(
                fields=["patch", "id", "status"], name="caption_newest_status"
            ),
        ]

    def __str__(self) -> str:
        return f"Caption {self.pk} of patch {self.patch_id}"


class GenerationFailure(models.Model):
    """A patch a job could not caption, with the reason (never stored as a caption)."""

    job = models.ForeignKey(
        GenerationJob, on_delete=models.CASCADE, related_name="failures"
    )
    patch = models.ForeignKey(Patch, on_delete=models.CASCADE)
    reason = models.CharField(max_length=32)
    message = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["job", "patch"], name="one_failure_per_patch_per_job"
            )
        ]

    def __str__(self) -> str:
        return f"Job {self.job_id} patch {self.patch_id}: {self.reason}"


class Release(models.Model):
    """A numbered, frozen snapshot of the verified pairs, built into files by a worker.

    The pairs are frozen into `ReleaseItem`s when the build starts; the files are
    written from them alone, so a rebuild gives the same bytes whatever was reviewed
    since. Never changed once done (captions/export/releases.py owns every change).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        BUILDING = "building", "Building"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Layout(models.TextChoices):
        # jsonl, csv, chatearthnet and llava files of every split, images by id
        PRODUCT = "product", "Product: every format, images by scene and patch id"
        # ChatEarthNet's own: PNG images by patch name, a caption JSON per split and
        # source (captions/export/release_files.py)
        CHATEARTHNET = (
            "chatearthnet",
            "ChatEarthNet's: PNG images by patch name, a caption file per split",
        )

    number = models.PositiveIntegerField(unique=True)
    layout = models.CharField(
        max_length=16, choices=Layout.choices, default=Layout.PRODUCT
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    filters = models.JSONField(default=dict, blank=True, help_text="As exported")
    description = models.TextField(blank=True, help_text="Shown in the dataset card")
    frozen_at = models.DateTimeField(null=True, blank=True)
    pairs_total = models.PositiveIntegerField(default=0)
    pairs_done = models.PositiveIntegerField(default=0)
    images_total = models.PositiveIntegerField(default=0)
    images_done = models.PositiveIntegerField(default=0)
    # The data files with their sha256 and a summary of the images; the full list,
    # one sha256 per image too, is the release's manifest.json.
    manifest = models.JSONField(default=dict, blank=True)
    # The fewest second-reviewed pairs each land-cover class of the release must have
    # for it to be created (0: no minimum; captions/export/releases.py).
    min_qa_per_class = models.PositiveIntegerField(default=0)
    # The quality statement of the frozen pairs (captions/review_records.py), read
    # when they are frozen so that a rebuild's card says the same; {} for a release
    # frozen before there was one, whose card has no quality section.
    quality = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-number"]

    def __str__(self) -> str:
        return f"Release {self.number}"


class ReleaseItem(models.Model):
    """A verified caption as it was when its release was frozen.

    Only what a review can change is copied (status, text, reviewer, time); the rest
    (patch, image, statistics, model, prompt) never changes once written. A caption
    in a release cannot be deleted (PROTECT): the release would lose a pair.
    """

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="items")
    caption = models.ForeignKey(Caption, on_delete=models.PROTECT, related_name="+")
    split = models.CharField(max_length=8)
    status = models.CharField(max_length=10)
    text = models.TextField()
    reviewer = models.CharField(max_length=150, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    # Of the revision that gave the caption its state (Revision.edit_distance).
    edit_distance = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["release", "caption"], name="one_item_per_caption_per_release"
            )
        ]
        # A release's files are written split by split in caption order.
        indexes = [models.Index(fields=["release", "split", "caption"])]

    def __str__(self) -> str:
        return f"Release {self.release_id} caption {self.caption_id}"


class WorkerHeartbeat(models.Model):
    """A Celery worker that is, or was lately, alive (captions/workers.py).

    Each worker rewrites its row every few seconds while it runs and removes it when
    it stops cleanly; a row that stopped moving belongs to a worker that died. Works
    with any broker: the file-system broker has no remote control to ping workers.
    """

    hostname = models.CharField(max_length=255, unique=True)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["hostname"]

    def __str__(self) -> str:
        return self.hostname


class LLMBatch(models.Model):
    """A part of a batch job sent through OpenAI's Batch API (docs/generation.md).

    Everything needed to pick the work up again is here, not in a process: a worker
    that restarts, or another one, polls the batch by its id and ingests its results.
    `status` mirrors the provider's, with two states of its own before it: planned (a
    row, nothing sent yet) and submitting (a worker writes and uploads its requests).
    """

    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        SUBMITTING = "submitting", "Submitting"
        VALIDATING = "validating", "Validating"
        IN_PROGRESS = "in_progress", "In progress"
        FINALIZING = "finalizing", "Finalizing"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"
        CANCELLING = "cancelling", "Cancelling"
        CANCELLED = "cancelled", "Cancelled"

    # At the provider, not ended yet: the poll asks about these.
    OPEN = (
        Status.VALIDATING,
        Status.IN_PROGRESS,
        Status.FINALIZING,
        Status.CANCELLING,
    )
    # Ended at the provider: whatever it wrote is ingested, the rest listed as failed.
    ENDED = (Status.COMPLETED, Status.FAILED, Status.EXPIRED, Status.CANCELLED)

    job = models.ForeignKey(
        GenerationJob, on_delete=models.CASCADE, related_name="batches"
    )
    index = models.PositiveIntegerField()
    patch_ids = models.JSONField()
    requests = models.PositiveIntegerField(default=0, help_text="len(patch_ids)")
    # A name of settings.LLM_ENDPOINTS, as the job's (kept here: a retry as a new
    # batch goes to the endpoint of now).
    endpoint = models.CharField(max_length=50)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.PLANNED, db_index=True
    )
    input_file_id = models.CharField(max_length=100, blank=True)
    input_bytes = models.PositiveBigIntegerField(default=0)
    batch_id = models.CharField(max_length=100, blank=True, db_index=True)
    output_file_id = models.CharField(max_length=100, blank=True)
    error_file_id = models.CharField(max_length=100, blank=True)
    # The provider's request counts, as last polled.
    requests_total = models.PositiveIntegerField(default=0)
    requests_completed = models.PositiveIntegerField(default=0)
    requests_failed = models.PositiveIntegerField(default=0)
    # What ingesting its results wrote, and result lines it could not use.
    captions_written = models.PositiveIntegerField(default=0)
    failures_written = models.PositiveIntegerField(default=0)
    unreadable_lines = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    polled_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    # The ingest's claim: set by the worker ingesting, moved as it goes (its
    # heartbeat); a stale one belonged to a worker that died.
    ingest_beat_at = models.DateTimeField(null=True, blank=True)
    ingested_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "index"], name="one_batch_per_index")
        ]
        ordering = ["job", "index"]

    def __str__(self) -> str:
        return f"Job {self.job_id} batch {self.index}"
