"""`GET /api/v1/map/`: what the map page draws of a viewport (issue 14), as
verification/map_data.py counts it. Curators and consumers see every patch,
annotators the patches whose captions they reviewed, nobody else anything."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from captions.api.common import StrictInputSerializer
from captions.api.errors import ErrorSerializer
from captions.api.filters import BoundingBoxInputField
from captions.models import Patch
from verification import map_data


class MaySeeMap(permissions.BasePermission):
    message = "the map is for annotators, curators and consumers: ask for a role"

    def has_permission(self, request: Request, view: Any) -> bool:
        return map_data.may_see_map(request.user)


class CellSerializer(serializers.Serializer):
    west = serializers.FloatField()
    south = serializers.FloatField()
    east = serializers.FloatField()
    north = serializers.FloatField()
    count = serializers.IntegerField()
    statuses = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Patches by map status (non-zero only).",
    )
    classes = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Patches by dominant WorldCover class code (as a string; 'none' "
        "for a patch without one).",
    )


class MapPatchSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(help_text="The patch's file name.")
    caption_id = serializers.IntegerField(
        allow_null=True, help_text="Its newest caption."
    )
    west = serializers.FloatField()
    south = serializers.FloatField()
    east = serializers.FloatField()
    north = serializers.FloatField()
    status = serializers.ChoiceField(choices=map_data.MAP_STATUSES)
    dominant_class = serializers.IntegerField(allow_null=True)
    rgb_preview = serializers.CharField(
        allow_null=True,
        help_text="The RGB preview's URL on this site, from preview_zoom on.",
    )


class MapSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=["cells", "patches"])
    zoom = serializers.IntegerField()
    total = serializers.IntegerField(
        help_text="Patches mode: the patches whose footprint meets the viewport; "
        "cells mode: the patches counted in its cells."
    )
    cell_degrees = serializers.FloatField(required=False, help_text="Cells mode only.")
    cells = CellSerializer(many=True)
    patches = MapPatchSerializer(many=True)
    footprint_zoom = serializers.IntegerField()
    preview_zoom = serializers.IntegerField()


class MapApi(APIView):
    """Patches in a viewport: counted in cells of a global grid below
    footprint_zoom or when more than 2,000 are in view, else their footprints
    (with their previews' URLs from preview_zoom on). Low-zoom counts may be up to
    a minute old; footprints are read at each request."""

    permission_classes = [MaySeeMap]

    class InputSerializer(StrictInputSerializer):
        bbox = BoundingBoxInputField(
            help_text="The viewport, west,south,east,north in degrees (west > east "
            "crosses the antimeridian)."
        )
        zoom = serializers.IntegerField(
            min_value=0, max_value=map_data.MAX_ZOOM, help_text="The map's zoom."
        )
        split = serializers.ChoiceField(choices=Patch.Split.values, required=False)
        status = serializers.ChoiceField(
            choices=map_data.MAP_STATUSES,
            required=False,
            help_text="Only patches of this map status: their newest caption's, "
            "or uncaptioned.",
        )

    @extend_schema(
        operation_id="map",
        parameters=[InputSerializer],
        responses={200: MapSerializer, 400: ErrorSerializer},
    )
    def get(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        answer = map_data.map_data(
            user=request.user,
            request=map_data.MapRequest(
                box=values["bbox"],
                zoom=values["zoom"],
                split=values.get("split"),
                status=values.get("status"),
            ),
        )
        return Response(answer)
