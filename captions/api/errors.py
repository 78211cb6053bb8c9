"""The API's errors, in one module: the exceptions endpoints raise, the handler that
gives every error body an `error` line, the JSON 404 for unknown paths, and what
the schema says every operation may answer (settings.REST_FRAMEWORK and
SPECTACULAR_SETTINGS name the handler and the hook).
"""

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler

# Under it every error is JSON, Django's own too (chatearthnet_site/errors.py).
API_PREFIX = "/api/"


class BadRequest(exceptions.APIException):
    status_code = 400
    default_detail = "bad request"
    default_code = "bad_request"


class Conflict(exceptions.APIException):
    status_code = 409
    default_detail = "conflict"
    default_code = "conflict"


class StoreUnavailable(exceptions.APIException):
    """The object store failed (down, or refusing the site's credentials)."""

    status_code = 503
    default_detail = "the object store is unavailable"
    default_code = "store_unavailable"


class ErrorSerializer(serializers.Serializer):
    """The JSON body of every error (json_exception_handler)."""

    error = serializers.CharField()

    class Meta:
        ref_name = "Error"


def body_too_large_message() -> str:
    return (
        f"the request body is over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes; "
        "send less at a time"
    )


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
            "error": first_message(response.data),
            "fields": response.data,
        }
    return response


def first_message(errors: Any) -> str:
    """'field: message' of the first validation error, for people reading the body."""
    if isinstance(errors, dict):
        for field, value in errors.items():
            return f"{field}: {first_message(value)}"
    if isinstance(errors, list) and errors:
        return first_message(errors[0])
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
