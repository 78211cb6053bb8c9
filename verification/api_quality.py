"""Quality figures through the API (issue 12, item 4): what the dashboard shows, as
JSON. The prompts' and A/B jobs' figures are for curators only; each person's
figures for curators (everyone's) and annotators (their own)."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from captions.api.permissions import MayCurate
from verification.annotator_quality import annotator_quality, gold_lag
from verification.permissions import IsReviewer
from verification.quality import ab_comparisons, prompt_quality
from verification.roles import is_curator


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


class AnnotatorQualitySerializer(serializers.Serializer):
    user = serializers.IntegerField(allow_null=True, help_text="Null: a deleted user.")
    username = serializers.CharField(allow_null=True)
    reviews = serializers.IntegerField(help_text="Approvals, edits and rejects.")
    edits = serializers.IntegerField()
    edit_rate = serializers.FloatField(
        allow_null=True,
        help_text="Mean word edit distance of their reviews from the model's text "
        "(0 kept as written, 1 rewritten).",
    )
    seconds_per_item = serializers.FloatField(allow_null=True)
    second_opinions = serializers.IntegerField(
        help_text="QA reviews of others' verdicts they answered."
    )
    agreement_n = serializers.IntegerField(
        help_text="Their verdicts a second reviewer answered."
    )
    agreement_agreed = serializers.IntegerField()
    agreement = serializers.FloatField(
        allow_null=True, help_text="agreement_agreed / agreement_n."
    )
    agreement_interval = serializers.ListField(
        child=serializers.FloatField(), allow_null=True, help_text="95% Wilson."
    )
    gold_answers = serializers.IntegerField()
    gold_correct = serializers.IntegerField(help_text="With the gold verdict.")
    gold_accuracy = serializers.FloatField(allow_null=True)
    gold_accuracy_interval = serializers.ListField(
        child=serializers.FloatField(), allow_null=True, help_text="95% Wilson."
    )
    gold_text_distance = serializers.FloatField(
        allow_null=True,
        help_text="Mean word edit distance of their edit answers from the gold text.",
    )


class AnnotatorQualityListSerializer(serializers.Serializer):
    results = AnnotatorQualitySerializer(many=True)


class AnnotatorQualityApi(APIView):
    """Per person, all time: reviews, edit rate, time per item, agreement with
    second reviewers and gold accuracy. Curators get everyone's rows, annotators
    their own (numbers only: never a gold text)."""

    permission_classes = [IsReviewer]

    @extend_schema(
        operation_id="quality_annotators",
        responses={200: AnnotatorQualityListSerializer},
    )
    def get(self, request: Request) -> Response:
        only = None if is_curator(request.user) else request.user
        rows = annotator_quality(
            only_user=only, gold_before=gold_lag(request.user, timezone.now())
        )
        # Through the serializer: only the figures it names go out.
        return Response(AnnotatorQualityListSerializer({"results": rows}).data)
