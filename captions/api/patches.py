"""Patches: list (filtered by scene, split, caption status, class, bounding box) and
detail, each with its statistics and preview URLs, for consumers and curators; a
curator moves a patch to another split (kept as a `SplitChange`).

`?format=geojson` gives the list, with the same filters, as one GeoJSON file of the
patches' footprints (captions/geo/footprints.py), streamed row by row and not paged:
a file for QGIS, not pages for a script (docs/api.md).
"""

from typing import Any

from django.http import StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import generics, serializers
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from captions import selectors
from captions.api.common import StrictInputSerializer
from captions.api.errors import ErrorSerializer
from captions.api.filters import PatchFilter
from captions.api.permissions import MayCurate, MayReadDataset
from captions.api.serializers import PatchSerializer, SplitChangeSerializer
from captions.geo import footprints
from captions.ingest.splits import SplitError, patch_split_change
from captions.models import Patch


class GeoJsonRenderer(JSONRenderer):
    """Makes `?format=geojson` (or `Accept: application/geo+json`) a format DRF
    negotiates, as `json` and `api` are. The list view streams the file itself;
    what DRF renders (the errors) goes out as JSON (see `finalize_response`)."""

    media_type = footprints.MEDIA_TYPE
    format = footprints.FILE_EXTENSION


@extend_schema_serializer(many=False)  # one file: never wrapped in a page
class FeatureCollectionSerializer(serializers.Serializer):
    """A GeoJSON FeatureCollection (RFC 7946): one Feature per patch with a
    footprint; properties id, name, scene, scene_name, split, status,
    dominant_class, dominant_class_name, caption_id (docs/api.md)."""

    type = serializers.CharField(help_text='Always "FeatureCollection".')
    features = serializers.ListField(child=serializers.DictField())


PAGING_PARAMETERS = ("cursor", "page_size")


class PatchListApi(generics.ListAPIView):
    permission_classes = [MayReadDataset]
    filterset_class = PatchFilter
    serializer_class = PatchSerializer
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, GeoJsonRenderer]

    def get_queryset(self):
        return selectors.patch_list()

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "format",
                str,
                enum=["json", footprints.FILE_EXTENSION],
                description="geojson: every matching patch with a footprint as one "
                "GeoJSON FeatureCollection, streamed, not paged (no cursor or "
                "page_size).",
            )
        ],
        responses={
            200: PatchSerializer(many=True),
            (200, footprints.MEDIA_TYPE): FeatureCollectionSerializer,
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.accepted_renderer.format == GeoJsonRenderer.format:
            return self.footprints_file(request)
        return super().get(request, *args, **kwargs)

    def footprints_file(self, request: Request) -> StreamingHttpResponse:
        paging = [name for name in PAGING_PARAMETERS if name in request.query_params]
        if paging:
            raise serializers.ValidationError(
                {name: ["format=geojson is one file, not pages"] for name in paging}
            )
        patches = self.filter_queryset(selectors.patch_footprints())
        response = StreamingHttpResponse(
            footprints.feature_collection_chunks(
                footprints.patch_feature(row)
                for row in selectors.patch_footprint_rows(patches)
            ),
            content_type=footprints.MEDIA_TYPE,
        )
        response["Content-Disposition"] = 'attachment; filename="patches.geojson"'
        response["Cache-Control"] = "private, no-store"  # statuses change by review
        return response

    def finalize_response(
        self, request: Request, response: HttpResponseBase, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        renderer = getattr(request, "accepted_renderer", None)
        if isinstance(response, Response) and isinstance(renderer, GeoJsonRenderer):
            # An error is no FeatureCollection: JSON, as every other error.
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


class PatchDetailApi(generics.RetrieveAPIView):
    permission_classes = [MayReadDataset]
    serializer_class = PatchSerializer
    lookup_url_kwarg = "patch_id"

    def get_queryset(self):
        return selectors.patch_list()


class PatchSplitInputSerializer(StrictInputSerializer):
    split = serializers.ChoiceField(choices=Patch.Split.choices)
    reason = serializers.CharField(
        max_length=500, help_text="Why: kept in the patch's split history."
    )


class PatchSplitApi(APIView):
    """Move a patch to another split (curators); its split source becomes
    `assigned`. Moving it to the split it is in changes nothing (`changed: false`)."""

    permission_classes = [MayCurate]
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="patch_split_change",
        request=PatchSplitInputSerializer,
        responses={200: SplitChangeSerializer, 400: ErrorSerializer},
    )
    def post(self, request: Request, patch_id: int) -> Response:
        given = PatchSplitInputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        patch = get_object_or_404(Patch.objects.only("id", "split"), pk=patch_id)
        try:
            change = patch_split_change(
                patch_id=patch.pk,
                split=given.validated_data["split"],
                user=request.user,
                reason=given.validated_data["reason"],
            )
        except SplitError as error:
            raise serializers.ValidationError({"split": str(error)}) from None
        patch.refresh_from_db(fields=["split", "split_source"])
        return Response(
            SplitChangeSerializer(
                {"patch": patch.pk, "split": patch.split,
                 "split_source": patch.split_source, "changed": change is not None}
            ).data
        )  # fmt: skip
