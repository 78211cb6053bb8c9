"""Patches: list (filtered by scene, split, caption status, class, bounding box) and
detail, each with its statistics and preview URLs; for consumers and curators."""

from rest_framework import generics

from captions import selectors
from captions.api.filters import PatchFilter
from captions.api.permissions import MayReadDataset
from captions.api.serializers import PatchSerializer


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
