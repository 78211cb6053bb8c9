"""Patches: list (filtered by scene, split, caption status, class, bounding box) and
detail, each with its statistics and preview URLs, for consumers and curators; a
curator moves a patch to another split (kept as a `SplitChange`)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from captions import selectors
from captions.api.common import StrictInputSerializer
from captions.api.errors import ErrorSerializer
from captions.api.filters import PatchFilter
from captions.api.permissions import MayCurate, MayReadDataset
from captions.api.serializers import PatchSerializer, SplitChangeSerializer
from captions.ingest.splits import SplitError, patch_split_change
from captions.models import Patch


class PatchListApi(generics.ListAPIView):
    permission_classes = [MayReadDataset]
    filterset_class = PatchFilter
    serializer_class = PatchSerializer

    def get_queryset(self):
        return selectors.patch_list()


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
