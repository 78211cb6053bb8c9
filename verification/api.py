"""The review queue through the API: claim the next caption, act on it, keep the claim.

The same services as the review page (verification/views.py): a claim is a lease on
the caption, every save names the version the reviewer started from, and a stale
version is a 409 carrying the caption as it is now. Annotators and curators only.

The page remembers skipped captions in the session; an API client has none, so it
sends the ids it skipped in `skip_ids` of its next claim. Bodies are JSON only, as in
captions/api/jobs.py.
"""

from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from captions.api.common import NoInputSerializer, StrictInputSerializer
from captions.api.filters import MAX_ID, BoundingBoxInputField, is_database_id
from captions.models import Caption
from verification import blind, queue, selectors, services
from verification.permissions import IsReviewer
from verification.roles import is_curator
from verification.serializers import (
    ReviewActionSerializer,
    ReviewCaptionSerializer,
    ReviewConflictSerializer,
)

SKIP_IDS_KEPT = 50  # as many as the page keeps in the session
FILTER_FIELDS = frozenset({"scene", "job", "check", "landcover_class", "bbox"})


def _require_database_id(caption_id: int) -> None:
    """An id no row can have is a 404 before it reaches a query (SQLite cannot even
    bind it), as on the review page."""
    if not is_database_id(caption_id):
        raise exceptions.NotFound("no such caption")


def _caption_out(caption: Caption, request: Request) -> dict:
    return ReviewCaptionSerializer(caption, context={"request": request}).data


class ReviewNextApi(APIView):
    """Claim the next caption of the queue: 200 with it, 204 when nothing is left.

    A caption the caller still holds comes back first, so asking twice never takes a
    second one. A caller holds at most two captions: skipping the one held gets a
    second beside it (to fetch ahead, as the page does); at two, the skipped claim
    that would expire first is given back before another is taken. Curators may
    narrow the queue as on the page: scene, job, failed check, class present, area.
    """

    permission_classes = [IsReviewer]
    parser_classes = [JSONParser]

    @extend_schema_serializer(component_name="ReviewNext")
    class InputSerializer(StrictInputSerializer):
        skip_ids = serializers.ListField(
            child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
            max_length=SKIP_IDS_KEPT,
            default=list,
            help_text="Captions the caller skipped and does not want again now.",
        )
        scene = serializers.IntegerField(
            min_value=1, max_value=MAX_ID, required=False, help_text="Curators only."
        )
        job = serializers.IntegerField(
            min_value=1, max_value=MAX_ID, required=False, help_text="Curators only."
        )
        check = serializers.CharField(
            max_length=40,
            required=False,
            help_text="Curators only: captions failing this check, e.g. absent_class.",
        )
        landcover_class = serializers.IntegerField(
            min_value=1,
            max_value=255,
            required=False,
            help_text="Curators only: patches where this WorldCover class is present.",
        )
        bbox = BoundingBoxInputField(
            required=False,
            help_text="Curators only: west,south,east,north in degrees, patches "
            "whose footprint meets the box (west > east crosses the antimeridian).",
        )

    @extend_schema(
        request=InputSerializer,
        responses={
            200: ReviewCaptionSerializer,
            204: OpenApiResponse(description="The queue is empty: nothing to review."),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        queue_filter = None
        if FILTER_FIELDS & set(values):
            if not is_curator(request.user):
                raise exceptions.PermissionDenied("only curators narrow the queue")
            queue_filter = queue.QueueFilter(
                scene_id=values.get("scene"),
                job_id=values.get("job"),
                check=values.get("check", ""),
                class_code=values.get("landcover_class"),
                bbox=values.get("bbox"),
            )
        caption = queue.queue_claim_next(
            user=request.user,
            queue_filter=queue_filter,
            skip_ids=tuple(values["skip_ids"]),
        )
        if caption is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(
            _caption_out(blind.caption_seen_by(request.user, caption), request)
        )


class ReviewActionApi(APIView):
    """approve / edit / reject / skip one caption, naming the version it started from.

    Annotators act on captions they hold (claimed through review/next/); curators on
    any. `skip` gives the claim back and needs no version.
    """

    permission_classes = [IsReviewer]
    parser_classes = [JSONParser]

    @extend_schema(
        request=ReviewActionSerializer,
        responses={
            200: ReviewCaptionSerializer,
            409: OpenApiResponse(
                ReviewConflictSerializer,
                description="A stale version (with the current caption), or not "
                "the caller's claim.",
            ),
        },
    )
    def post(self, request: Request, caption_id: int) -> Response:
        serializer = ReviewActionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        _require_database_id(caption_id)
        try:
            decision = serializer.decision()
            seen = blind.caption_seen_by(
                request.user, selectors.caption_for_review(caption_id)
            )
            caption = services.review_act(
                caption_id=caption_id, user=request.user, decision=decision
            )
            # Skipped: the caption as it is now (or as its blind copy), not held.
            caption = caption or _after_skip(seen)
        except Caption.DoesNotExist:
            raise exceptions.NotFound("no such caption") from None
        except services.StaleVersion as stale:
            return Response(
                {
                    "error": stale.message,
                    "current": _caption_out(stale.caption, request),
                },
                status=status.HTTP_409_CONFLICT,
            )
        except services.ReviewError as error:
            return Response({"error": error.message}, status=error.status)
        return Response(_caption_out(caption, request))


def _after_skip(seen: Caption) -> Caption:
    if blind.is_blind_copy(seen):
        seen.claimed_by_id = None
        seen.claim_expires_at = None
        return seen
    return selectors.caption_for_review(seen.pk)


class ReviewRenewApi(APIView):
    """Extend the caller's claim on a caption (claims last five minutes)."""

    permission_classes = [IsReviewer]
    parser_classes = [JSONParser]

    @extend_schema_serializer(component_name="ReviewClaim")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        claim_expires_at = serializers.DateTimeField()

    @extend_schema(
        request=None,
        responses={
            200: OutputSerializer,
            409: OpenApiResponse(
                ReviewConflictSerializer, description="Not claimed by the caller."
            ),
        },
    )
    def post(self, request: Request, caption_id: int) -> Response:
        NoInputSerializer(data=request.data).is_valid(raise_exception=True)
        _require_database_id(caption_id)
        try:
            expires = queue.claim_renew(caption_id=caption_id, user=request.user)
        except services.ReviewError as error:
            return Response({"error": error.message}, status=error.status)
        return Response(
            self.OutputSerializer({"id": caption_id, "claim_expires_at": expires}).data
        )
