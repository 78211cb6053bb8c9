"""Captions: list (filtered by status, job, patch, scene, failed check, reviewer) and
detail, each with its revisions; for consumers and curators."""

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import generics

from captions import selectors
from captions.api.filters import CaptionFilter
from captions.api.permissions import MayReadDataset
from captions.api.serializers import CaptionSerializer


class CaptionListApi(generics.ListAPIView):
    permission_classes = [MayReadDataset]
    filterset_class = CaptionFilter
    serializer_class = CaptionSerializer

    def get_queryset(self):
        return selectors.caption_list()


class CaptionDetailApi(generics.RetrieveAPIView):
    """One caption, with what the list leaves out: the exact prompt messages sent
    and the generation parameters."""

    permission_classes = [MayReadDataset]
    lookup_url_kwarg = "caption_id"

    @extend_schema_serializer(component_name="CaptionDetail")
    class OutputSerializer(CaptionSerializer):
        class Meta(CaptionSerializer.Meta):
            fields = [
                *CaptionSerializer.Meta.fields,
                "messages",
                "parameters",
                "latency_ms",
            ]

    serializer_class = OutputSerializer

    def get_queryset(self):
        return selectors.caption_list(with_messages=True)
