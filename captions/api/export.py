"""Export: the verified pairs streamed in a training format, and their images.

`GET /api/v1/export/?format=jsonl|chatearthnet|llava|csv|geojson` streams every
approved or edited caption that matches the filters, written row by row from a cursor
(captions/export/formats.py, captions/selectors.py): the response starts at once and the
server's memory stays flat at any size. Consumers and curators only (docs/export.md).
"""

from typing import Any, NamedTuple

from django.http import (
    Http404,
    QueryDict,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from captions import storage
from captions.api.errors import BadRequest, ErrorSerializer, StoreUnavailable
from captions.api.filters import is_database_id
from captions.api.permissions import MayReadDataset
from captions.export.filters import (
    VERIFIED_STATUSES,
    ExportFilters,
    export_filters_from,
    export_format_check,
)
from captions.export.formats import (
    EXPORT_FORMATS,
    SPLITS,
    WRITERS,
    ExportError,
    export_chunks,
    export_file_name,
    export_needs_landcover,
    image_path,
    review_records_check,
)
from captions.models import Patch
from captions.review_records import with_review_records
from captions.selectors import export_filters_check, verified_pairs

REVIEW_RECORDS = "review_records"
IMAGE_MEDIA_TYPES = {
    "webp": "image/webp",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
}


class FirstRendererNegotiation(BaseContentNegotiation):
    """Files and streams are not rendered by DRF, so `Accept` must not turn them into
    406s, and `?format=` here names an export format, not a renderer: every response
    DRF renders (the errors) is JSON."""

    def select_parser(self, request: Request, parsers: list) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(
        self, request: Request, renderers: list[BaseRenderer], format_suffix=None
    ) -> tuple[BaseRenderer, str]:
        renderer = renderers[0]
        return renderer, renderer.media_type


class FileApi(APIView):
    # An endpoint that answers with files or streams; its errors are JSON.
    renderer_classes = [JSONRenderer]
    content_negotiation_class = FirstRendererNegotiation


class ExportRequest(NamedTuple):
    export_format: str
    filters: ExportFilters
    review_records: bool


def export_request(params: QueryDict) -> ExportRequest:
    """The format, filters and options of an export's query string (`BadRequest` if
    wrong)."""
    try:
        repeated = sorted(name for name in params if len(params.getlist(name)) > 1)
        if repeated:
            raise ExportError(f"give {', '.join(repeated)} once")
        values = params.dict()
        export_format = values.pop("format", "")
        review_records = _flag(REVIEW_RECORDS, values.pop(REVIEW_RECORDS, "false"))
        if not export_format:
            raise ExportError(f"format is required: one of {', '.join(WRITERS)}")
        if export_format not in WRITERS:
            raise ExportError(
                f"unknown format {export_format!r}; choose one of "
                f"{', '.join(EXPORT_FORMATS)}"
            )
        filters = export_filters_from(values)
        export_format_check(
            export_format, filters, format_option="format", split_option="split"
        )
        if review_records:
            review_records_check(
                export_format, format_option="format", records_option=REVIEW_RECORDS
            )
        export_filters_check(filters=filters)
    except ExportError as error:
        raise BadRequest(str(error)) from None
    return ExportRequest(export_format, filters, review_records)


def _flag(name: str, value: object) -> bool:
    if value not in ("true", "false"):
        raise ExportError(f"{name} is true or false, not {str(value)[:20]!r}")
    return value == "true"


_TEXT = OpenApiTypes.STR
_JSON_ARRAY = {"type": "array", "items": {"type": "object"}}
_GEOJSON = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["FeatureCollection"]},
        "features": _JSON_ARRAY,
    },
    "required": ["type", "features"],
}


class ExportApi(FileApi):
    permission_classes = [MayReadDataset]

    @extend_schema(
        operation_id="export_verified_pairs",
        summary="Stream the verified image-text pairs in a training format",
        description=(
            "Approved and edited captions only (pending and rejected never), in "
            "caption id order, streamed as they are read. `jsonl`: one object per "
            "pair with every field; `chatearthnet`: ChatEarthNet's JSON array of "
            "{image, caption} for one split (split is required); `llava`: LLaVA's "
            "conversation array; `csv`: id, image, caption, status, split; "
            "`geojson`: a GeoJSON FeatureCollection, one Feature per pair with its "
            "patch's footprint and the jsonl fields as properties. Image "
            "paths are `images/<scene id>/<patch id>.<ext>`, served under "
            "/api/v1/export/images/."
        ),
        parameters=[
            OpenApiParameter(
                "format",
                str,
                enum=list(EXPORT_FORMATS),
                required=True,
                description="The file format.",
            ),
            OpenApiParameter(
                "status",
                str,
                enum=list(VERIFIED_STATUSES),
                description="Only approved, or only edited, pairs (default both).",
            ),
            OpenApiParameter(
                "split",
                str,
                enum=list(SPLITS),
                description="Required for format=chatearthnet.",
            ),
            OpenApiParameter("scene", int, description="A scene id."),
            OpenApiParameter("job", int, description="A generation job id."),
            OpenApiParameter(
                "reviewed_since",
                str,
                description="ISO 8601 date or date-time (UTC unless an offset is "
                "given): pairs reviewed at or after it.",
            ),
            OpenApiParameter(
                "bbox",
                str,
                description="west,south,east,north in degrees: pairs whose patch's "
                "footprint meets the box (west > east crosses the antimeridian); "
                "patches without a footprint never do.",
            ),
            OpenApiParameter(
                REVIEW_RECORDS,
                bool,
                description="format=jsonl only: true adds each pair's `review` "
                "(who reviewed it and when, its second reviewer, whether they "
                "agreed, adjudicated, gold). Default false.",
            ),
        ],
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(
                _TEXT, description="format=jsonl: one JSON object per line."
            ),
            (200, "application/json"): OpenApiResponse(
                _JSON_ARRAY, description="format=chatearthnet or llava."
            ),
            (200, "text/csv"): OpenApiResponse(_TEXT, description="format=csv."),
            (200, "application/geo+json"): OpenApiResponse(
                _GEOJSON, description="format=geojson: a FeatureCollection."
            ),
            400: ErrorSerializer,
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        export_format, filters, review_records = export_request(request.query_params)
        prefix = request.build_absolute_uri(reverse("api-export"))
        records = verified_pairs(
            filters=filters,
            image_url_prefix=prefix,
            with_landcover=export_needs_landcover(export_format),
        )
        if review_records:
            records = with_review_records(records)
        response = StreamingHttpResponse(
            export_chunks(export_format, records),
            content_type=f"{WRITERS[export_format].media_type}; charset=utf-8",
        )
        name = export_file_name(export_format, filters.split)
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        # The verified set changes with every review: never from a cache.
        response["Cache-Control"] = "private, no-store"
        return response


class ExportImageApi(FileApi):
    permission_classes = [MayReadDataset]

    @extend_schema(
        operation_id="export_image",
        summary="An exported image, by the path the export files give it",
        parameters=[
            OpenApiParameter("scene_id", int, OpenApiParameter.PATH),
            OpenApiParameter(
                "file_name",
                str,
                OpenApiParameter.PATH,
                description="`<patch id>.<ext>`, as in the export's `image`.",
            ),
        ],
        responses={
            (200, media_type): OpenApiResponse(OpenApiTypes.BINARY)
            for media_type in sorted(set(IMAGE_MEDIA_TYPES.values()))
        },
    )
    def get(self, request: Request, scene_id: int, file_name: str) -> HttpResponseBase:
        preview = _preview_of_image(scene_id, file_name)
        if preview is None:
            raise Http404(f"no exported image images/{scene_id}/{file_name}")
        extension = preview.rsplit(".", 1)[-1].lower()
        try:
            return storage.stored_response(
                storage.media_storage(),
                preview,
                content_type=IMAGE_MEDIA_TYPES.get(
                    extension, "application/octet-stream"
                ),
                cache_control="private, max-age=86400",
            )
        except FileNotFoundError:
            raise Http404(
                f"the preview of images/{scene_id}/{file_name} is missing"
            ) from None
        except storage.StorageError as error:
            raise StoreUnavailable(f"the image is unavailable: {error}") from None


def _preview_of_image(scene_id: int, file_name: str) -> str | None:
    """The preview (media name) exported as `images/<scene_id>/<file_name>`, if any."""
    stem = file_name.split(".", 1)[0]
    if not (stem.isascii() and stem.isdigit()):
        return None
    if not (is_database_id(scene_id) and is_database_id(int(stem))):
        return None
    preview = (
        Patch.objects.filter(pk=int(stem), scene_id=scene_id)
        .values_list("rgb_preview", flat=True)
        .first()
    )
    if preview is None:
        return None
    path = image_path(scene_id=scene_id, patch_id=int(stem), preview_name=preview)
    return preview if path == f"images/{scene_id}/{file_name}" else None
