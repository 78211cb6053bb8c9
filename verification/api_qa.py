"""The quality loop's curator endpoints (issue 12): QA reviews and their
adjudication, stratified QA sampling, gold captions, and the QA and gold rates.
Curators only: these name who decided what, and gold texts are the answers."""

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from captions.api.common import NoInputSerializer, StrictInputSerializer
from captions.api.errors import ErrorSerializer
from captions.api.filters import MAX_ID, BoundingBoxInputField, is_database_id
from captions.api.permissions import MayCurate
from captions.models import Caption
from verification import curation
from verification.errors import ReviewError
from verification.models import GoldCaption, QaReview, QualitySettings

MAX_PER_CLASS = 10_000


def _refusal(error: ReviewError) -> Response:
    return Response({"error": error.message}, status=error.status)


class QaReviewSerializer(serializers.ModelSerializer):
    second_action = serializers.CharField(source="action")
    second_text = serializers.CharField(source="text")
    second_reason = serializers.CharField(source="reason")

    class Meta:
        model = QaReview
        fields = [
            "id", "caption", "origin", "state", "shown_text", "first_reviewer",
            "first_action", "first_text", "second_reviewer", "second_action",
            "second_text", "second_reason", "verdict_agrees", "text_distance",
            "answered_at", "adjudicated_by", "adjudicated_at", "adjudication",
            "created_at",
        ]  # fmt: skip


class QaReviewListApi(generics.ListAPIView):
    """QA reviews, newest first; `?state=disagreed` lists those to adjudicate."""

    permission_classes = [MayCurate]
    serializer_class = QaReviewSerializer
    filterset_fields = ["state", "origin", "caption"]

    def get_queryset(self) -> QuerySet[QaReview]:
        return QaReview.objects.all()


class AdjudicationSerializer(StrictInputSerializer):
    choice = serializers.ChoiceField(choices=curation.CHOICES)
    version = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, help_text="The caption's version you saw."
    )
    text = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False,
        help_text="Your own text (choice 'third').",
    )  # fmt: skip


class AdjudicateApi(APIView):
    """Settle a disagreement: keep the first verdict, take the second, or write a
    third text; the caption changes as a revision (`adjudicate`)."""

    permission_classes = [MayCurate]
    parser_classes = [JSONParser]

    @extend_schema(
        request=AdjudicationSerializer,
        responses={200: QaReviewSerializer, 409: ErrorSerializer},
    )
    def post(self, request: Request, review_id: int) -> Response:
        values = _valid(AdjudicationSerializer, request)
        if not is_database_id(review_id):
            raise exceptions.NotFound("no such QA review")
        try:
            curation.qa_adjudicate(review_id=review_id, user=request.user, **values)
        except QaReview.DoesNotExist:
            raise exceptions.NotFound("no such QA review") from None
        except ReviewError as error:
            return _refusal(error)
        return Response(QaReviewSerializer(QaReview.objects.get(pk=review_id)).data)


def _valid(serializer_class, request: Request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class QaSampleSerializer(StrictInputSerializer):
    per_class = serializers.IntegerField(min_value=1, max_value=MAX_PER_CLASS)
    bbox = BoundingBoxInputField(
        required=False,
        help_text="west,south,east,north in degrees: sample only captions of "
        "patches whose footprint meets the box (west > east crosses the "
        "antimeridian).",
    )


class QaSampleApi(APIView):
    """Open QA reviews stratified by land-cover class, until each class present in
    verified captions has `per_class` of them; the number opened per class code.
    With `bbox`, only captions of patches inside the area count and are opened."""

    permission_classes = [MayCurate]
    parser_classes = [JSONParser]

    @extend_schema(request=QaSampleSerializer, responses={200: dict})
    def post(self, request: Request) -> Response:
        values = _valid(QaSampleSerializer, request)
        opened = curation.qa_sample_by_class(
            per_class=values["per_class"], bbox=values.get("bbox")
        )
        return Response({"opened": {str(code): n for code, n in opened.items()}})


class GoldSerializer(serializers.ModelSerializer):
    answers = serializers.IntegerField(source="answers.count", read_only=True)

    class Meta:
        model = GoldCaption
        fields = [
            "caption", "action", "text", "shown_text", "active", "marked_by",
            "marked_at", "answers",
        ]  # fmt: skip


class GoldInputSerializer(StrictInputSerializer):
    caption = serializers.IntegerField(min_value=1, max_value=MAX_ID)


class GoldListApi(generics.ListAPIView):
    """Gold captions (active and retired); POST marks a reviewed caption gold."""

    permission_classes = [MayCurate]
    serializer_class = GoldSerializer
    filterset_fields = ["active"]
    parser_classes = [JSONParser]

    def get_queryset(self) -> QuerySet[GoldCaption]:
        return GoldCaption.objects.all()

    @extend_schema(
        request=GoldInputSerializer,
        responses={201: GoldSerializer, 404: ErrorSerializer, 409: ErrorSerializer},
    )
    def post(self, request: Request) -> Response:
        values = _valid(GoldInputSerializer, request)
        try:
            gold = curation.gold_mark(caption_id=values["caption"], user=request.user)
        except Caption.DoesNotExist:
            raise exceptions.NotFound("no such caption") from None
        except ReviewError as error:
            return _refusal(error)
        return Response(GoldSerializer(gold).data, status=status.HTTP_201_CREATED)


class GoldDetailApi(APIView):
    """DELETE: the caption is no longer gold (its answers are kept)."""

    permission_classes = [MayCurate]

    @extend_schema(request=None, responses={204: None, 409: ErrorSerializer})
    def delete(self, request: Request, caption_id: int) -> Response:
        NoInputSerializer(data=request.data).is_valid(raise_exception=True)
        if not is_database_id(caption_id):
            raise exceptions.NotFound("no such caption")
        try:
            curation.gold_unmark(caption_id=caption_id, user=request.user)
        except Caption.DoesNotExist:
            raise exceptions.NotFound("no such caption") from None
        except ReviewError as error:
            return _refusal(error)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RatesSerializer(serializers.ModelSerializer):
    class Meta:
        model = QualitySettings
        fields = ["qa_rate", "gold_rate", "updated_at"]
        read_only_fields = ["updated_at"]


class RatesInputSerializer(StrictInputSerializer, RatesSerializer):
    class Meta(RatesSerializer.Meta):
        pass


class QualityRatesApi(APIView):
    """The global QA rate (a job's own wins) and gold rate; PATCH changes them."""

    permission_classes = [MayCurate]
    parser_classes = [JSONParser]

    @extend_schema(responses={200: RatesSerializer})
    def get(self, request: Request) -> Response:
        return Response(RatesSerializer(QualitySettings.current()).data)

    @extend_schema(request=RatesInputSerializer, responses={200: RatesSerializer})
    def patch(self, request: Request) -> Response:
        rates = QualitySettings.objects.order_by("pk").first() or QualitySettings()
        serializer = RatesInputSerializer(rates, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(RatesSerializer(serializer.instance).data)
