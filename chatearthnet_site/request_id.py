"""A request id on every log line written while a request is handled, and on the
response as `X-Request-ID`, so a user's report or a proxy's log leads to the lines.

A proxy's (or client's) `X-Request-ID` is kept when it is a short, plain token, so
that one id follows a request through every hop; anything else is replaced: the
header is the client's to write, and the logs must not carry it as-is.
"""

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from captions.log_context import log_ids

_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def request_id_of(request: HttpRequest) -> str:
    given = request.headers.get("X-Request-ID", "")
    # fullmatch, not match with `$`: `$` would let a trailing newline through.
    return given if _SAFE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_of(request)
        # For the lines Django writes after the middleware returns (logs.py).
        request.request_id = request_id  # type: ignore[attr-defined]
        # A streamed response's body is produced after this returns: lines written
        # while it streams have no request id.
        with log_ids(request_id=request_id):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response
