"""Shapes of the review API (verification/api.py)."""

from rest_framework import serializers

from captions.api.serializers import CheckFindingsField, PatchSerializer
from captions.models import Caption


class ReviewPatchSerializer(PatchSerializer):
    """The patch as the review page shows it: statistics and the two previews."""

    class Meta(PatchSerializer.Meta):
        fields = [
            "id", "scene", "split", "width", "height", "west", "south", "east",
            "north", "landcover", "rgb_url", "landcover_url",
        ]  # fmt: skip


class ReviewCaptionSerializer(serializers.ModelSerializer):
    """What a reviewer needs to judge a caption and save a decision: send `version`
    back with the action."""

    checks = CheckFindingsField(read_only=True)
    patch = ReviewPatchSerializer()

    class Meta:
        model = Caption
        fields = [
            "id", "version", "status", "text", "generated_text", "checks",
            "failed_checks", "claim_expires_at", "patch",
        ]  # fmt: skip


class ReviewConflictSerializer(serializers.Serializer):
    """409: someone else saved first (`current` is the caption as it is now), or
    the caption is not claimed by the caller (no `current`)."""

    error = serializers.CharField()
    current = ReviewCaptionSerializer(required=False)
