"""Query-string filters of the captions API (django-filter).

Every value is checked before it reaches the database: a malformed id, status, class
or bounding box is a 400 naming the parameter, never a 500 or a silently ignored
filter (unknown parameters are refused by `StrictFilterBackend`).
"""

import django_filters
from django import forms
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from captions import selectors
from captions.generation.checks import CHECK_DESCRIPTIONS
from captions.geo.bbox import BadBoundingBox, BoundingBox, parse_bbox
from captions.landcover import CLASSES
from captions.models import Caption, GenerationFailure, GenerationJob, Patch, Scene

# Ids are bigints: a larger number can name nothing, so it is refused up front.
MAX_ID = 2**63 - 1


def is_database_id(number: int) -> bool:
    """Whether a number from a URL fits an id column (a bigger one is no row, and
    would overflow SQLite's integers instead of matching nothing)."""
    return 0 < number <= MAX_ID


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})
class IdFilter(django_filters.Filter):
    """A positive whole number (NumberFilter would take 1.5 and 1e3)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class BoundingBoxField(forms.CharField):
    """`west,south,east,north` in degrees of longitude and latitude
    (captions/geo/bbox.py reads it, for every place that takes an area)."""

    def to_python(self, value: str | None) -> BoundingBox | None:  # type: ignore[override]
        text = super().to_python(value)
        if not text:
            return None
        try:
            return parse_bbox(text)
        except BadBoundingBox as error:
            raise forms.ValidationError(str(error)) from None


@extend_schema_field({"type": "string", "example": "11.9,44.9,12.1,45.1"})
class BoundingBoxFilter(django_filters.Filter):
    field_class = BoundingBoxField

    def filter(self, qs: QuerySet, value: BoundingBox | None) -> QuerySet:
        if value is None:
            return qs
        return selectors.patches_intersecting(qs, box=value)


@extend_schema_field({"type": "string", "example": "11.9,44.9,12.1,45.1"})
class BoundingBoxInputField(serializers.CharField):
    """A bbox in a JSON body (`west,south,east,north`), read and refused as the
    query-string filter is."""

    def to_internal_value(self, data: object) -> BoundingBox:
        text = super().to_internal_value(data)
        try:
            return parse_bbox(text)
        except BadBoundingBox as error:
            raise serializers.ValidationError(str(error)) from None


class SceneFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Scene.Status.choices)
    source_kind = django_filters.ChoiceFilter(choices=Scene.SourceKind.choices)

    class Meta:
        model = Scene
        fields = ["status", "source_kind"]


class PatchFilter(django_filters.FilterSet):
    scene = IdFilter(field_name="scene_id", help_text="Scene id.")
    split = django_filters.ChoiceFilter(choices=Patch.Split.choices)
    split_source = django_filters.ChoiceFilter(
        choices=Patch.SplitSource.choices,
        help_text="Where the split comes from: computed, imported or assigned.",
    )
    status = django_filters.ChoiceFilter(
        choices=Caption.Status.choices,
        method="filter_status",
        help_text="Patches with at least one caption in this status.",
    )
    landcover_class = django_filters.TypedChoiceFilter(
        choices=[(cls.code, f"{cls.code} {cls.worldcover_name}") for cls in CLASSES],
        coerce=int,
        method="filter_landcover_class",
        help_text="Patches where this WorldCover class (code) is present.",
    )
    bbox = BoundingBoxFilter(
        help_text="west,south,east,north in degrees: patches whose footprint meets "
        "the box (west > east crosses the antimeridian).",
    )

    class Meta:
        model = Patch
        fields = ["scene", "split", "split_source", "status", "landcover_class", "bbox"]

    def filter_status(self, patches: QuerySet, name: str, value: str) -> QuerySet:
        return selectors.patches_with_caption_status(patches, status=value)

    def filter_landcover_class(
        self, patches: QuerySet, name: str, value: int
    ) -> QuerySet:
        return selectors.patches_with_class(patches, code=value)


class CaptionFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Caption.Status.choices)
    job = IdFilter(field_name="job_id", help_text="Generation job id.")
    patch = IdFilter(field_name="patch_id", help_text="Patch id.")
    scene = IdFilter(field_name="patch__scene_id", help_text="Scene id.")
    check = django_filters.ChoiceFilter(
        choices=[(name, name) for name in CHECK_DESCRIPTIONS],
        method="filter_check",
        help_text="Captions that fail this check.",
    )
    reviewer = django_filters.CharFilter(
        field_name="reviewed_by__username",
        max_length=150,
        help_text="Username of whoever last approved, edited or rejected it.",
    )

    class Meta:
        model = Caption
        fields = ["status", "job", "patch", "scene", "check", "reviewer"]

    def filter_check(self, captions: QuerySet, name: str, value: str) -> QuerySet:
        return selectors.captions_failing_check(captions, check=value)


class JobFailureFilter(django_filters.FilterSet):
    reason = django_filters.CharFilter(max_length=32)

    class Meta:
        model = GenerationFailure
        fields = ["reason"]


class JobFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=GenerationJob.Status.choices)

    class Meta:
        model = GenerationJob
        fields = ["status"]
