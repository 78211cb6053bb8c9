"""Quality figures through the API (issue 12, item 4): what the dashboard shows
curators, as JSON. Curators only, as the figures name people's and jobs' work."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from captions.api.permissions import MayCurate
from verification.quality import ab_comparisons, prompt_quality


class RejectReasonSerializer(serializers.Serializer):
    reason = serializers.CharField()
    count = serializers.IntegerField()


class PromptQualitySerializer(serializers.Serializer):
    label = serializers.CharField()
    source = serializers.CharField(help_text="'job', or the imported file's source")
    template = serializers.CharField(allow_null=True)
    template_version = serializers.IntegerField(allow_null=True)
    model = serializers.CharField()
    reviewed = serializers.IntegerField()
    approved = serializers.IntegerField()
    edited = serializers.IntegerField()
    rejected = serializers.IntegerField()
    approve_rate = serializers.FloatField()
    edit_rate = serializers.FloatField()
    reject_rate = serializers.FloatField()
    kept_rate = serializers.FloatField(help_text="Approved or edited, of reviewed.")
    kept_interval = serializers.ListField(
        child=serializers.FloatField(), help_text="95% Wilson interval of kept_rate."
    )
    reject_reasons = RejectReasonSerializer(many=True)


class PromptQualityListSerializer(serializers.Serializer):
    results = PromptQualitySerializer(many=True)


class PromptQualityApi(APIView):
    """Per prompt template version and model (and imported file): how its captions
    fare with reviewers, most reviewed first."""

    permission_classes = [MayCurate]

    @extend_schema(
        operation_id="quality_prompts", responses={200: PromptQualityListSerializer}
    )
    def get(self, request: Request) -> Response:
        return Response({"results": prompt_quality()})


class ArmSerializer(serializers.Serializer):
    template = serializers.CharField(help_text="Template and version, e.g. 'x v2'.")
    model = serializers.CharField()
    reviewed = serializers.IntegerField()
    kept = serializers.IntegerField()
    kept_rate = serializers.FloatField(allow_null=True)
    kept_interval = serializers.ListField(
        child=serializers.FloatField(), allow_null=True
    )


class DifferenceSerializer(serializers.Serializer):
    kept_rate_b_minus_a = serializers.FloatField()
    interval = serializers.ListField(
        child=serializers.FloatField(),
        help_text="95% interval of the difference (Newcombe's hybrid score).",
    )


class ABComparisonSerializer(serializers.Serializer):
    job = serializers.IntegerField()
    b_share = serializers.FloatField()
    a = ArmSerializer()
    b = ArmSerializer()
    difference = DifferenceSerializer(allow_null=True)


class ABComparisonListSerializer(serializers.Serializer):
    results = ABComparisonSerializer(many=True)


class ABComparisonApi(APIView):
    """Each A/B job's two arms side by side, newest first."""

    permission_classes = [MayCurate]

    @extend_schema(
        operation_id="quality_ab", responses={200: ABComparisonListSerializer}
    )
    def get(self, request: Request) -> Response:
        return Response({"results": ab_comparisons()})
