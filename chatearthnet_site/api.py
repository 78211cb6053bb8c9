"""What every endpoint of the REST API shares: roles as permissions, cursor
pagination, strict filters and JSON error bodies.

The endpoints themselves live with their apps (`captions/api.py`,
`verification/api.py`); `chatearthnet_site/api_urls.py` puts them under /api/v1/.
"""

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions, permissions, serializers
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler

from verification.roles import CONSUMER, CURATOR, has_role, is_curator, may_review


class IsCurator(permissions.BasePermission):
    message = "only curators may do this"

    def has_permission(self, request: Request, view: Any) -> bool:
        return is_curator(request.user)


class IsReviewer(permissions.BasePermission):
    message = "only annotators and curators review captions"

    def has_permission(self, request: Request, view: Any) -> bool:
        return may_review(request.user)


class IsConsumerOrCurator(permissions.BasePermission):
    """Reading and exporting the dataset: consumers and curators, not annotators."""

    message = "only consumers and curators read and export the dataset"

    def has_permission(self, request: Request, view: Any) -> bool:
        return has_role(request.user, CONSUMER, CURATOR)


class ReadsForConsumersWritesForCurators(permissions.BasePermission):
    message = "consumers and curators read this; only curators change it"

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return has_role(request.user, CONSUMER, CURATOR)
        return is_curator(request.user)


class IdCursorPagination(CursorPagination):
    """Cursor pages in id order: stable while rows are added, constant time per page
    at any depth (an offset page would count and skip every row before it)."""

    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 1000

    def decode_cursor(self, request: Request) -> Any:
        # DRF checks a cursor's offset but not its position, which goes straight into
        # `id < position`: a forged cursor with a word there would be a 500.
        cursor = super().decode_cursor(request)
        position = cursor.position if cursor is not None else None
        if position is not None and not (position.isdigit() and len(position) <= 19):
            raise exceptions.NotFound(self.invalid_cursor_message)
        return cursor


# Query parameters every list endpoint understands besides its filters.
GENERAL_PARAMETERS = frozenset({"cursor", "page_size", "format"})


class StrictFilterBackend(DjangoFilterBackend):
    """django-filter, but an unknown query parameter is a 400, not silently ignored:
    a typo in a filter would otherwise return the whole unfiltered list."""

    def filter_queryset(self, request: Request, queryset: Any, view: Any) -> Any:
        filterset_class = self.get_filterset_class(view, queryset)
        known = set(GENERAL_PARAMETERS) | set(getattr(view, "extra_parameters", ()))
        if filterset_class is not None:
            known |= set(filterset_class.base_filters)
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            raise exceptions.ValidationError(
                {
                    "unknown_parameters": unknown,
                    "known_parameters": sorted(known),
                }
            )
        return super().filter_queryset(request, queryset, view)


class StrictInputSerializer(serializers.Serializer):
    """The base of every write endpoint's input: a key it does not know is a 400.

    DRF drops unknown keys silently, so `{"scene": 3}` (for `scenes`) launched a job
    over every scene; a typo must be refused, naming the keys it takes.
    """

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                known = ", ".join(sorted(self.fields)) or "none"
                message = f"unknown key; this endpoint takes: {known}"
                raise exceptions.ValidationError({key: [message] for key in unknown})
        return super().to_internal_value(data)


class NoInputSerializer(StrictInputSerializer):
    """For write endpoints that take no body: any key in one is refused."""


def json_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler, with every error body carrying a readable `error` line."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "not found")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, RecursionError):
        # DRF's JSON parser lets it through: a body nested deeper than Python's
        # recursion limit (`[[[[…`) was a 500.
        exc = exceptions.ParseError("the request body is nested too deeply")
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(response.data, dict) and "detail" in response.data:
        detail = response.data.pop("detail")
        response.data = {"error": str(detail), **response.data}
    elif isinstance(exc, exceptions.ValidationError):
        response.data = {
            "error": _first_message(response.data),
            "fields": response.data,
        }
    return response


def _first_message(errors: Any) -> str:
    """'field: message' of the first validation error, for people reading the body."""
    if isinstance(errors, dict):
        for field, value in errors.items():
            return f"{field}: {_first_message(value)}"
    if isinstance(errors, list) and errors:
        return _first_message(errors[0])
    return str(errors)


@csrf_exempt  # it changes nothing; a POST without a CSRF token gets the same 404
def api_not_found(request: HttpRequest) -> JsonResponse:
    """Any path under /api/v1/ that names no endpoint (api_urls.py, last)."""
    return JsonResponse({"error": f"no endpoint at {request.path}"}, status=404)


# What every operation may answer besides its own responses, always with an `error`
# line (json_exception_handler); the schema says so, and schemathesis holds the API
# to it (tests/test_api_schema.py).
ERROR_RESPONSES = {
    "400": "Malformed input: an unknown or bad query parameter, an invalid body.",
    "401": "No credentials, or a wrong token.",
    "403": "The caller's role may not do this.",
    "404": "No such object, or a garbled cursor.",
    "429": "Too many requests (a throttle, or a login lockout): `Retry-After` says "
    "when to try again.",
}
ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "string"}},
    "required": ["error"],
    "additionalProperties": True,
}


def document_error_responses(
    result: dict, generator: Any, request: Any, public: bool
) -> dict:
    """drf-spectacular postprocessing hook: the shared error responses on every
    operation that does not describe them itself, and the `error` body on any 4xx
    an operation names without one (e.g. a 409 given only a description)."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = (
        ERROR_SCHEMA
    )
    error_body = {
        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
    }
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for code, description in ERROR_RESPONSES.items():
                responses.setdefault(code, {"description": description})
            for code, response in responses.items():
                if code.startswith("4"):
                    response.setdefault("content", error_body)
    return result
