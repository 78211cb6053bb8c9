"""Releases: list and create (curators), detail with progress and manifest, and the
files of a built release (docs/export.md)."""

import mimetypes
from pathlib import PurePosixPath

from django.http import Http404
from django.http.response import HttpResponseBase
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from captions import storage
from captions.api.common import StrictInputSerializer
from captions.api.errors import Conflict, ErrorSerializer, StoreUnavailable
from captions.api.export import (
    IMAGE_MEDIA_TYPES,
    FileApi,
)
from captions.api.filters import MAX_ID, is_database_id
from captions.api.permissions import MayReadDataset, ReadsDatasetWritesCurate
from captions.export import release_files, releases
from captions.export.filters import (
    VERIFIED_STATUSES,
    ExportFilters,
    export_filters_from,
)
from captions.export.formats import SPLITS, ExportError
from captions.models import Release

# A release's data files are text; FileResponse would guess none for .jsonl.
FILE_MEDIA_TYPES = {
    ".jsonl": "application/x-ndjson",
    ".json": "application/json",
    ".csv": "text/csv",
    ".md": "text/markdown",
}

FILE_RESPONSE_TYPES = sorted(
    {
        *FILE_MEDIA_TYPES.values(),
        *IMAGE_MEDIA_TYPES.values(),
        "application/octet-stream",
    }
)


class ReleaseSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    url = serializers.SerializerMethodField()
    files_url = serializers.SerializerMethodField(
        help_text="Prefix of the files' URLs: add a path of the manifest."
    )

    class Meta:
        model = Release
        fields = [
            "number", "layout", "status", "description", "filters",
            "min_qa_per_class", "pairs_total", "pairs_done", "images_total",
            "images_done", "quality", "manifest", "error", "created_by",
            "created_at", "frozen_at", "started_at", "finished_at", "url",
            "files_url",
        ]  # fmt: skip
        extra_kwargs = {
            "quality": {
                "help_text": "What second opinions and gold items said of the "
                'pairs when they were frozen (docs/export.md, "Quality"); {} '
                "before, and for a release frozen before there was one."
            }
        }

    def get_url(self, release: Release) -> str:
        return self.context["request"].build_absolute_uri(
            reverse("api-release-detail", args=[release.number])
        )

    def get_files_url(self, release: Release) -> str:
        return self.context["request"].build_absolute_uri(
            release_files.release_file_url_prefix(release.number)
        )


class ReleaseInputSerializer(StrictInputSerializer):
    """What to release: the export's filters, all optional, and a description."""

    status = serializers.ChoiceField(
        choices=VERIFIED_STATUSES, required=False, allow_null=True
    )
    split = serializers.ChoiceField(choices=SPLITS, required=False, allow_null=True)
    scene = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_ID
    )
    job = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_ID
    )
    reviewed_since = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="ISO 8601 date or date-time, UTC unless an offset is given.",
    )
    bbox = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="west,south,east,north in degrees: only patches whose footprint "
        "meets the box (west > east crosses the antimeridian).",
    )
    description = serializers.CharField(
        required=False, allow_blank=True, max_length=2000
    )
    layout = serializers.ChoiceField(
        choices=Release.Layout.values,
        required=False,
        help_text="product (default): every format, images by id; chatearthnet: "
        "the released dataset's layout, PNG images by patch name, one caption file "
        "per split and source.",
    )
    min_qa_per_class = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=releases.MAX_QA_PER_CLASS,
        help_text="The fewest second-reviewed pairs every land-cover class of the "
        "pairs must have (0, the default: no minimum); a class short of it is a 400 "
        "naming it.",
    )

    def filters(self) -> ExportFilters:
        values = {
            name: self.validated_data.get(name)
            for name in ("status", "split", "scene", "job", "reviewed_since", "bbox")
        }
        try:
            return export_filters_from(values)
        except ExportError as error:
            raise serializers.ValidationError({"filters": str(error)}) from None


def release_or_404(number: int) -> Release:
    release = (
        Release.objects.select_related("created_by").filter(number=number).first()
        if is_database_id(number)
        else None
    )
    if release is None:
        raise Http404(f"no release numbered {number}")
    return release


class ReleaseListApi(generics.ListAPIView):
    permission_classes = [ReadsDatasetWritesCurate]
    serializer_class = ReleaseSerializer

    def get_queryset(self):
        return Release.objects.select_related("created_by")

    @extend_schema(
        operation_id="release_create",
        summary="Create a release (curators): queued, then built by a worker",
        request=ReleaseInputSerializer,
        responses={202: ReleaseSerializer, 400: ErrorSerializer},
    )
    def post(self, request: Request) -> Response:
        given = ReleaseInputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            release = releases.release_create(
                filters=given.filters(),
                user=request.user,
                description=given.validated_data.get("description", ""),
                layout=given.validated_data.get("layout", Release.Layout.PRODUCT),
                min_qa_per_class=given.validated_data.get("min_qa_per_class", 0),
            )
        except releases.QaCoverageTooLow as error:
            raise serializers.ValidationError(
                {"min_qa_per_class": str(error)}
            ) from None
        except (ExportError, release_files.ReleaseError) as error:
            raise serializers.ValidationError({"filters": str(error)}) from None
        body = ReleaseSerializer(release, context={"request": request}).data
        return Response(
            body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]}
        )


class ReleaseDetailApi(generics.GenericAPIView):
    permission_classes = [MayReadDataset]
    serializer_class = ReleaseSerializer
    # No list here: a detail takes no query parameters to check.
    filter_backends: list = []
    pagination_class = None

    def get(self, request: Request, number: int) -> Response:
        release = release_or_404(number)
        return Response(self.get_serializer(release).data)


class ReleaseFileApi(FileApi):
    permission_classes = [MayReadDataset]

    @extend_schema(
        operation_id="release_file",
        summary="A file of a built release, by its path in the manifest",
        description=(
            "The files are listed in the release's manifest (`manifest.json`, and "
            "the data files in the release's `manifest`): the dataset card "
            "`README.md`, every format per split, and `images/<scene id>/<patch "
            "id>.<ext>`. 409 while the release is not done."
        ),
        responses={
            **{
                (200, media_type): OpenApiResponse(OpenApiTypes.BINARY)
                for media_type in FILE_RESPONSE_TYPES
            },
            409: OpenApiResponse(
                ErrorSerializer, description="The release is not built (yet)."
            ),
        },
    )
    def get(self, request: Request, number: int, name: str) -> HttpResponseBase:
        release = release_or_404(number)
        if release.status != Release.Status.DONE:
            raise Conflict(
                f"release {release.number} is {release.status}: its files can be "
                "downloaded once it is done"
            )
        if any(part.startswith(".") for part in name.split("/")):
            raise Http404(f"release {number} has no file {name}")
        store = storage.releases_storage()
        stored_name = release_files.release_file_name(release.number, name)
        suffix = PurePosixPath(name).suffix
        media_type = FILE_MEDIA_TYPES.get(suffix) or (
            mimetypes.guess_type(name)[0] or "application/octet-stream"
        )
        try:
            return storage.stored_response(
                store,
                stored_name,
                content_type=media_type,
                download_as=(
                    PurePosixPath(name).name if suffix in FILE_MEDIA_TYPES else None
                ),
                # A done release never changes.
                cache_control="private, max-age=31536000, immutable",
                ask_store_first=True,  # a missing file is our 404, not the store's
            )
        except FileNotFoundError:
            raise Http404(f"release {number} has no file {name}") from None
        except storage.StorageError as error:
            raise StoreUnavailable(
                f"release {number}'s files are unavailable: {error}"
            ) from None
