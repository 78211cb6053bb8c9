"""/api/v1/: each app's endpoints (its own `urls` module), then the JSON 404."""

from django.urls import include, path, re_path

from captions.api.errors import api_not_found

urlpatterns = [
    path("", include("verification.api_urls")),
    path("", include("captions.api.urls")),
    # Keep last: any other path under /api/v1/ (an id that is not a number, a typo)
    # gets a JSON 404 like the endpoints', not Django's HTML page.
    re_path(r"^", api_not_found, name="api-not-found"),
]
