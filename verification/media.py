from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_safe
from rest_framework.exceptions import AuthenticationFailed

from captions import storage
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
        return storage.stored_response(
            storage.media_storage(),
            name,
            # Previews never change once written: a patch's files are replaced only
            # when its scene is ingested again, under the same names but by the
            # same pixels.
            cache_control="private, max-age=86400",
        )
    except FileNotFoundError:
        raise Http404("no such file") from None
    except storage.StorageError as error:
        return JsonResponse({"error": f"previews are unavailable: {error}"}, status=503)
