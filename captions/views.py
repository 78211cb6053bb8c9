from pathlib import Path

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import SuspiciousFileOperation
from django.http import FileResponse, Http404, HttpRequest, JsonResponse
from django.http.response import HttpResponseBase
from django.utils._os import safe_join
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed


def media_file(request: HttpRequest, name: str) -> HttpResponseBase:
    """Previews for signed-in users only: the imagery may be licensed, not public.

    A browser brings its session; an API client the token it uses for the API (the
    patch URLs the API returns point here), in the same `Authorization` header.
    """
    if not request.user.is_authenticated:
        try:
            authenticated = TokenAuthentication().authenticate(request)  # type: ignore[arg-type]
        except AuthenticationFailed as failure:
            return JsonResponse({"error": str(failure.detail)}, status=401)
        if authenticated is None:
            return redirect_to_login(request.get_full_path())
        request.user = authenticated[0]
    try:
        path = Path(safe_join(settings.MEDIA_ROOT, name))
    except SuspiciousFileOperation:
        raise Http404("no such file") from None
    if not path.is_file():
        raise Http404("no such file")
    response = FileResponse(path.open("rb"))
    # Previews never change once written: a patch's files are replaced only when its
    # scene is ingested again, under the same names but by the same pixels.
    response["Cache-Control"] = "private, max-age=86400"
    return response
