"""Scenes: list and detail, for consumers and curators (docs/api.md)."""

from rest_framework import generics, serializers

from captions import selectors
from captions.api.filters import SceneFilter
from captions.api.permissions import MayReadDataset
from captions.models import Scene


class SceneSerializer(serializers.ModelSerializer):
    # The server-side image and land-cover paths stay out: they mean nothing to a
    # client and say where the data lives.
    class Meta:
        model = Scene
        fields = [
            "id", "name", "source_kind", "status", "error", "crs", "width", "height",
            "west", "south", "east", "north", "acquired_on", "patch_size",
            "patches_total", "patches_created", "patches_skipped", "created_at",
            "updated_at",
        ]  # fmt: skip


class SceneListApi(generics.ListAPIView):
    permission_classes = [MayReadDataset]
    filterset_class = SceneFilter
    serializer_class = SceneSerializer

    def get_queryset(self):
        return selectors.scene_list()


class SceneDetailApi(generics.RetrieveAPIView):
    permission_classes = [MayReadDataset]
    serializer_class = SceneSerializer
    lookup_url_kwarg = "scene_id"

    def get_queryset(self):
        return selectors.scene_list()
