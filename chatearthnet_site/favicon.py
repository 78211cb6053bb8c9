"""/favicon.ico, which browsers ask for on every site whatever the page links."""

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.templatetags.static import static
from django.utils.cache import patch_cache_control


def favicon(request: HttpRequest) -> HttpResponse:
    # Redirected, not served: the static file's hashed name may be cached for a year,
    # this answer only for a day, so a new icon shows after the next deploy.
    response = HttpResponseRedirect(static("favicon.ico"))
    patch_cache_control(response, public=True, max_age=86400)
    return response
