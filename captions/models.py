import numpy as np
from django.db import models

from captions.previews import read_landcover_png


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

    scene = models.ForeignKey(Scene, on_delete=models.CASCADE, related_name="patches")
    row_off = models.PositiveIntegerField()
    col_off = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    west = models.FloatField(null=True, blank=True)
    south = models.FloatField(null=True, blank=True)
    east = models.FloatField(null=True, blank=True)
    north = models.FloatField(null=True, blank=True)
    source_name = models.CharField(
        max_length=300,
        blank=True,
        db_index=True,
        help_text="Original tile file name, if imported",
    )
    rgb_preview = models.FileField(max_length=300)
    landcover_preview = models.FileField(max_length=300)
    landcover = models.JSONField()
    invalid_fraction = models.FloatField()
    split = models.CharField(max_length=8, choices=Split.choices, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scene", "row_off", "col_off"], name="one_patch_per_window"
            )
        ]
        ordering = ["scene", "row_off", "col_off"]
        verbose_name_plural = "patches"

    def __str__(self) -> str:
        return f"{self.scene.name} r{self.row_off} c{self.col_off}"

    def label_codes(self) -> np.ndarray:
        """The WorldCover codes of this patch (uint8, 0 = nodata), read losslessly."""
        with self.landcover_preview.open("rb") as handle:
            return read_landcover_png(handle)
