"""Shapes the captions API shares between endpoints (and with the review API).

Output only: each view's input is its own nested `InputSerializer`. The JSON the
models store (land-cover statistics, checks) is described field by field, so the
OpenAPI schema tells a consumer what a patch's statistics hold.
"""

from django.conf import settings
from django.db.models.fields.files import FieldFile
from django.utils.encoding import filepath_to_uri
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from captions.models import Caption, Patch


def absolute_media_url(request, file: FieldFile) -> str:
    """The preview's URL on this server; the media view wants the same token or
    session as the API (verification/media.py).

    What `request.build_absolute_uri(file.url)` gives, with the absolute media prefix
    built once per request: a list page asks for two URLs a row, and building each
    from scratch was a fifth of the page's time.
    """
    prefix = getattr(request, "_absolute_media_prefix", None)
    if prefix is None:
        prefix = request.build_absolute_uri(settings.MEDIA_URL)
        request._absolute_media_prefix = prefix
    return prefix + filepath_to_uri(file.name)


class ClassShareSerializer(serializers.Serializer):
    code = serializers.IntegerField(help_text="ESA WorldCover code, e.g. 80 (water).")
    name = serializers.CharField(help_text="The word a caption uses, e.g. 'water'.")
    pixels = serializers.IntegerField()
    fraction = serializers.FloatField(help_text="Of the area's valid pixels.")


class RegionsSerializer(serializers.Serializer):
    top_left = ClassShareSerializer(many=True)
    top_right = ClassShareSerializer(many=True)
    bottom_left = ClassShareSerializer(many=True)
    bottom_right = ClassShareSerializer(many=True)
    middle = ClassShareSerializer(many=True)


class LandcoverStatisticsSerializer(serializers.Serializer):
    """A patch's land-cover statistics (DOMAIN.md section 4), most pixels first."""

    height = serializers.IntegerField()
    width = serializers.IntegerField()
    valid_pixels = serializers.IntegerField()
    overall = ClassShareSerializer(many=True)
    first_seen = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        help_text="WorldCover codes of the present classes in the order they first "
        "appear, the patch read row by row (the prompt's order for equal counts); "
        "absent from older statistics whose preview could not be read.",
    )
    regions = RegionsSerializer()


class CheckFindingSerializer(serializers.Serializer):
    check = serializers.CharField(help_text="e.g. absent_class, dominant_missing")
    message = serializers.CharField()
    span = serializers.ListField(
        child=serializers.IntegerField(),
        allow_null=True,
        help_text="[start, end) of the offending words in the text, or null.",
    )


# The statistics and the checks are stored as the domain code wrote them
# (captions/landcover.py, captions/generation/checks.py), so a read hands them on as
# they are:
# going through the nested serializers above, field by field, cost about a
# millisecond per patch, most of a list page's time. The schema still describes them
# with those serializers.
@extend_schema_field(LandcoverStatisticsSerializer)
class LandcoverStatisticsField(serializers.JSONField):
    pass


@extend_schema_field(CheckFindingSerializer(many=True))
class CheckFindingsField(serializers.JSONField):
    pass


class CaptionStatusSerializer(serializers.ModelSerializer):
    class Meta:
        model = Caption
        fields = ["id", "status"]


class PatchSerializer(serializers.ModelSerializer):
    """A patch with its statistics and the absolute URLs of its two previews.

    Reads `scene_name` and `captions` as `captions.selectors.patch_list` prepares
    them.
    """

    scene_name = serializers.CharField(read_only=True)
    landcover = LandcoverStatisticsField(read_only=True)
    rgb_url = serializers.SerializerMethodField()
    landcover_url = serializers.SerializerMethodField()
    captions = CaptionStatusSerializer(many=True, read_only=True, source="caption_list")

    class Meta:
        model = Patch
        fields = [
            "id", "scene", "scene_name", "split", "split_source", "row_off",
            "col_off", "width", "height", "west", "south", "east", "north",
            "source_name", "invalid_fraction", "landcover", "rgb_url",
            "landcover_url", "captions", "created_at",
        ]  # fmt: skip

    @extend_schema_field(OpenApiTypes.URI)
    def get_rgb_url(self, patch: Patch) -> str:
        return absolute_media_url(self.context["request"], patch.rgb_preview)

    @extend_schema_field(OpenApiTypes.URI)
    def get_landcover_url(self, patch: Patch) -> str:
        return absolute_media_url(self.context["request"], patch.landcover_preview)


class SplitChangeSerializer(serializers.Serializer):
    """A patch's split after a curator's move."""

    patch = serializers.IntegerField()
    split = serializers.ChoiceField(choices=Patch.Split.choices)
    split_source = serializers.ChoiceField(choices=Patch.SplitSource.choices)
    changed = serializers.BooleanField(help_text="False if it was in that split.")


# Read through `Caption.revisions`: the model is verification's, which captions does
# not import (docs/architecture.md); `username` as selectors.caption_list annotates it.
class RevisionSerializer(serializers.Serializer):
    """One review of the caption: who did what, the text before and after."""

    id = serializers.IntegerField(read_only=True)
    action = serializers.CharField(read_only=True)
    user = serializers.CharField(source="username", read_only=True, allow_null=True)
    status_before = serializers.CharField(read_only=True)
    status_after = serializers.CharField(read_only=True)
    text_before = serializers.CharField(read_only=True)
    text_after = serializers.CharField(read_only=True)
    version_after = serializers.IntegerField(read_only=True)
    reason = serializers.CharField(read_only=True)
    edit_distance = serializers.FloatField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)

    class Meta:
        ref_name = "Revision"


class CaptionSerializer(serializers.ModelSerializer):
    """A caption with its provenance and its revisions (newest first).

    Reads the template's name and version and the reviewer's username as
    `captions.selectors.caption_list` annotates them.
    """

    template = serializers.SerializerMethodField(
        help_text="Prompt template and version, e.g. 'name v2'."
    )
    reviewed_by = serializers.CharField(
        source="reviewer_username", read_only=True, allow_null=True
    )
    checks = CheckFindingsField(read_only=True)
    revisions = RevisionSerializer(many=True, read_only=True, source="revision_list")

    class Meta:
        model = Caption
        fields = [
            "id", "patch", "job", "source", "replaces", "replace_reason",
            "template", "model", "status", "text",
            "generated_text", "checks", "failed_checks", "version", "finish_reason",
            "prompt_tokens", "completion_tokens", "reviewed_by", "reviewed_at",
            "created_at", "updated_at", "revisions",
        ]  # fmt: skip

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_template(self, caption: Caption) -> str | None:
        if caption.template_name is None:  # type: ignore[attr-defined]
            return None
        return f"{caption.template_name} v{caption.template_version}"  # type: ignore[attr-defined]
