"""What a locked-out login is told (django-axes calls `lockout_response`, see
AXES_LOCKOUT_CALLABLE in settings.py).

After `LOGIN_FAILURE_LIMIT` failed logins for one username from one address, that
pair is refused, even with the right password, until `LOGIN_LOCKOUT_MINUTES` have
passed since its last attempt (0: until an administrator unlocks it). Every way in
counts: the login page, the admin's, and POST /api/v1/auth/token/.

An administrator unlocks with `python manage.py axes_reset_username NAME` (or
`axes_reset_ip ADDRESS`, or `axes_reset` for everyone), or by deleting the row under
*Axes › Access attempts* in the admin (superusers only).
"""

import math
from typing import Any

from axes.helpers import get_cool_off
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.response import TemplateResponse

from captions.api.errors import API_PREFIX

_TOO_MANY = "Too many failed logins for this username from your address"


def attempted_username(
    request: HttpRequest, credentials: dict[str, Any] | None
) -> str | None:
    """The username axes records for a login, as it would read it, cut to its
    column's 255 characters: a longer one (no user has one) was a 500 on PostgreSQL."""
    if credentials:
        username = credentials.get("username")
    else:
        username = getattr(request, "data", request.POST).get("username")
    return username[:255] if isinstance(username, str) else username


def lockout_message(request: HttpRequest) -> str:
    cool_off = get_cool_off(request)
    if cool_off is None:
        return f"{_TOO_MANY}: it stays locked until an administrator unlocks it."
    minutes = max(1, math.ceil(cool_off.total_seconds() / 60))
    wait = "1 minute" if minutes == 1 else f"{minutes} minutes"
    return f"{_TOO_MANY}: try again in {wait}, or ask an administrator to unlock it."


def lockout_json(request: HttpRequest) -> JsonResponse:
    """The API's answer: 429, with Retry-After unless only an administrator unlocks."""
    response = JsonResponse({"error": lockout_message(request)}, status=429)
    cool_off = get_cool_off(request)
    if cool_off is not None:
        response["Retry-After"] = str(math.ceil(cool_off.total_seconds()))
    return response


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None,
    credentials: dict[str, Any] | None,
) -> HttpResponse:
    """JSON for the API; otherwise the login page the attempt came from (the site's
    or the admin's), shown again with the reason (`lockout_message`, which both
    templates show). Both with status 429."""
    if request.path.startswith(API_PREFIX):
        return lockout_json(request)
    template: str | list[str] = "registration/login.html"
    context: dict[str, Any] = {}
    form_class: type[AuthenticationForm] = AuthenticationForm
    if isinstance(original_response, TemplateResponse):
        shown = original_response.context_data or {}
        if isinstance(shown.get("form"), AuthenticationForm):
            template = original_response.template_name  # type: ignore[assignment]
            context = dict(shown)
            form_class = type(shown["form"])
    # A fresh, empty form: the posted one carries "wrong password", which this
    # was not, or not only.
    username = (credentials or {}).get("username") or ""
    context["form"] = form_class(request, initial={"username": username})
    context["lockout_message"] = lockout_message(request)
    return render(request, template, context, status=429)
