"""Patches: list (filtered by scene, split, caption status, class, bounding box) and
detail, each with its statistics and preview URLs; for consumers and curators."""

from rest_framework import generics

from captions import selectors
from captions.api.filters import PatchFilter
from captions.api.serializers import PatchSerializer
from chatearthnet_site.api import IsConsumerOrCurator


class PatchListApi(generics.ListAPIView):
    permission_classes = [IsConsumerOrCurator]
    filterset_class = PatchFilter
    serializer_class = PatchSerializer

    def get_queryset(self):
        return selectors.patch_list()


class PatchDetailApi(generics.RetrieveAPIView):
    permission_classes = [IsConsumerOrCurator]
    serializer_class = PatchSerializer
    lookup_url_kwarg = "patch_id"

    def get_queryset(self):
        return selectors.patch_list()
