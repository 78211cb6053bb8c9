from pathlib import Path

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, SuspiciousFileOperation
from django.http import FileResponse, Http404, HttpRequest, JsonResponse
from django.http.response import HttpResponseBase
from django.utils._os import safe_join
from django.views.decorators.http import require_safe
from rest_framework.exceptions import AuthenticationFailed

from verification import roles, tokens

NO_ROLE = "previews are for annotators, curators and consumers: ask for a role"


@require_safe
def media_file(request: HttpRequest, name: str) -> HttpResponseBase:
    """Previews for users with a role only: the imagery may be licensed, not public.

    A browser brings its session; an API client the token it uses for the API (the
    patch URLs the API returns point here), in the same `Authorization` header.
    Annotators see them on review pages, curators in the admin, consumers through
    the API, staff with the permission to view patches in the admin; anyone else
    signed in gets a 403, before any file is looked for.
    """
    user = request.user
    if not user.is_authenticated:
        try:
            authenticated = tokens.ApiTokenAuthentication().authenticate(request)  # type: ignore[arg-type]
        except AuthenticationFailed as failure:
            refused = JsonResponse({"error": str(failure.detail)}, status=401)
            refused["WWW-Authenticate"] = "Token"
            return refused
        if authenticated is None:
            return redirect_to_login(request.get_full_path())
        user = authenticated[0]
        if not roles.may_see_patches(user):
            return JsonResponse({"error": NO_ROLE}, status=403)
    elif not roles.may_see_patches(user):
        raise PermissionDenied(NO_ROLE)
    try:
        path = Path(safe_join(settings.MEDIA_ROOT, name))
    except SuspiciousFileOperation:
        raise Http404("no such file") from None
    try:
        found = path.is_file()
    except OSError:  # a name too long for the file system is no file either
        found = False
    if not found:
        raise Http404("no such file")
    response = FileResponse(path.open("rb"))
    # Previews never change once written: a patch's files are replaced only when its
    # scene is ingested again, under the same names but by the same pixels.
    response["Cache-Control"] = "private, max-age=86400"
    return response
