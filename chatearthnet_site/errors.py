"""The site's error answers (handler400/403/404/500 in urls.py).

Under /api/ every error is JSON with an `error` line, as the endpoints' own are
(captions/api/errors.py): Django's defaults answer HTML there, e.g. for a body over
DATA_UPLOAD_MAX_MEMORY_SIZE, which DRF leaves to Django. Elsewhere small pages. None
of them shows a traceback, a setting or an exception's text: Django's messages can
name settings (ALLOWED_HOSTS, DATA_UPLOAD_MAX_MEMORY_SIZE) and hold what a client
sent, so the words here are ours.
"""

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader

from captions.api.errors import API_PREFIX, body_too_large_message


def _answer(
    request: HttpRequest, status: int, message: str, template: str
) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"error": message}, status=status)
    return render(request, template, {"message": message}, status=status)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if isinstance(exception, RequestDataTooBig):
        return _answer(request, 413, body_too_large_message(), "400.html")
    return _answer(request, 400, "the request is malformed", "400.html")


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _answer(request, 403, "you may not do this", "403.html")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _answer(request, 404, f"nothing at {request.path}", "404.html")


def server_error(request: HttpRequest) -> HttpResponse:
    """Rendered without a context: the database (or whatever failed) may be down."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse(
            {"error": "the server failed; the error is logged"}, status=500
        )
    return HttpResponse(loader.get_template("500.html").render(), status=500)
