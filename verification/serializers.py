"""Shapes of the review API (verification/api.py)."""

from rest_framework import serializers

from captions.api.common import StrictInputSerializer
from captions.api.filters import MAX_ID
from captions.api.serializers import CheckFindingsField, PatchSerializer
from captions.models import Caption
from verification.services import ReviewDecision

ACTIONS = ("approve", "edit", "reject", "skip")


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


class ReviewActionSerializer(StrictInputSerializer):
    """A review action's input, read the same way from the page and the API."""

    action = serializers.ChoiceField(
        choices=ACTIONS,
        error_messages={
            "invalid_choice": "unknown action '{input}'; use " + ", ".join(ACTIONS)
        },
    )
    version = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        required=False,
        help_text="The caption's version the reviewer started from (all but skip).",
    )
    # Whitespace and length are the service's to judge.
    text = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="The edited caption (edit).",
    )
    reason = serializers.CharField(
        required=False, allow_blank=True, help_text="Why it is rejected (reject)."
    )
    seconds_spent = serializers.FloatField(
        min_value=0, max_value=24 * 3600, required=False, allow_null=True
    )

    def validate(self, values: dict) -> dict:
        action = values["action"]
        if action != "skip" and "version" not in values:
            raise serializers.ValidationError(
                {"version": "send the caption's version you started from"}
            )
        if action == "edit" and "text" not in values:
            raise serializers.ValidationError({"text": "send the edited text"})
        if action == "reject" and "reason" not in values:
            raise serializers.ValidationError({"reason": "say why"})
        return values

    def decision(self) -> ReviewDecision:
        return ReviewDecision(**self.validated_data)
