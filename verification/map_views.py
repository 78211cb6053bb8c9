"""The map page (`/map/`) and its offline world outline (`/map/world.geojson`).

The page is a shell: Leaflet (django-leaflet's static files) and
static/verification/map.js draw what the map endpoint (`/api/v1/map/`,
verification/api_map.py) answers for the viewport. Everything the script needs comes
through one JSON block (`json_script`): the site's CSP runs no inline script. The
status colours are the endpoint module's, the class colours captions.landcover's, so
the legend and the footprints never disagree with the rest of the product.
"""

import gzip
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import get_conditional_response, patch_vary_headers
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_safe

from captions.geo.world import COUNTRIES_FILE
from captions.landcover import CLASSES
from captions.models import Caption, Patch
from verification.map_data import (
    MAP_STATUSES,
    NO_CLASS,
    STATUS_COLOURS,
    UNCAPTIONED,
    may_see_map,
)
from verification.roles import ANNOTATOR, CONSUMER, CURATOR, has_role, is_curator

# The outline changes only with a release of the product; a day, then revalidated
# with its ETag. Private: it is served behind the login, as the page is.
WORLD_MAX_AGE_S = 24 * 3600
GEOJSON_TYPE = "application/geo+json"
NO_CLASS_COLOUR = "#455a64"  # patches without a dominant class (all nodata)
STATUS_LABELS = {**dict(Caption.Status.choices), UNCAPTIONED: "No caption"}


def _require_map_reader(request: HttpRequest) -> None:
    if not may_see_map(request.user):
        raise PermissionDenied("only curators, consumers and annotators see the map")


# The QA sample of a drawn box is a JSON post with the token from the csrftoken
# cookie, so the cookie must exist even if no page with a form came first.
@ensure_csrf_cookie
@login_required
@require_safe
def map_page(request: HttpRequest) -> HttpResponse:
    _require_map_reader(request)
    context = {
        "map_config": map_config(request.user),
        "sees_own_only": not has_role(request.user, CURATOR, CONSUMER),
        "box_links": box_links(request.user),
        "split_choices": Patch.Split.choices,
        "status_choices": [
            (status, STATUS_LABELS.get(status, status)) for status in MAP_STATUSES
        ],
        # The QA sample is a POST (it opens reviews): a form the script sends.
        "qa_sample_url": reverse("api-qa-sample") if is_curator(request.user) else "",
    }
    return render(request, "verification/map.html", context)


def map_config(user: Any) -> dict:
    """What map.js reads: where to fetch, the basemap, the colours, where a click on
    a patch leads for this person (the review page for reviewers, the caption in the
    API for consumers)."""
    if has_role(user, ANNOTATOR, CURATOR):
        caption_url = reverse("review", args=[0])
    else:
        caption_url = reverse("api-caption-detail", args=[0])
    return {
        "data_url": reverse("api-map"),
        "world_url": reverse("map-world"),
        "tile_url": settings.MAP_TILE_URL,
        "tile_attribution": settings.MAP_TILE_ATTRIBUTION,
        # The id goes in place of the 0 (the URL's last segment).
        "caption_url_template": caption_url,
        "status_colours": STATUS_COLOURS,
        "classes": [
            {
                "code": str(cls.code),
                "name": cls.worldcover_name,
                "colour": cls.hex_colour,
            }
            for cls in CLASSES
        ]
        + [{"code": NO_CLASS, "name": "No class", "colour": NO_CLASS_COLOUR}],
    }


@dataclass(frozen=True)
class BoxLink:
    """A link the drawn box offers: `href` ends where its `bbox=` value goes."""

    label: str
    href: str
    name: str


def box_links(user: Any) -> list[BoxLink]:
    """What this person may do with an area: narrow the review queue and make a
    release of it (curators: the queue's filters and releases are theirs), export it
    and get its footprints (those who read the dataset)."""
    links = []
    if is_curator(user):
        links += [
            BoxLink("Review this area", f"{reverse('review-next')}?bbox=", "review"),
            BoxLink(
                "Release this area",
                f"{reverse('admin:captions_release_create')}?bbox=",
                "release",
            ),
        ]
    if has_role(user, CURATOR, CONSUMER):
        links += [
            BoxLink(
                "Export this area",
                f"{reverse('api-export')}?format=jsonl&bbox=",
                "export",
            ),
            BoxLink(
                "GeoJSON of this area",
                f"{reverse('api-patch-list')}?format=geojson&bbox=",
                "geojson",
            ),
        ]
    return links


@dataclass(frozen=True)
class WorldOutline:
    body: bytes
    gzipped: bytes
    etag: str


@lru_cache(maxsize=1)
def world_outline() -> WorldOutline:
    """The bundled Natural Earth countries, read once per process; compressed once
    too (178 KB of coordinates shrink to a third)."""
    body = COUNTRIES_FILE.read_bytes()
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    return WorldOutline(body=body, gzipped=gzip.compress(body, mtime=0), etag=etag)


@login_required
@require_safe
def world_geojson(request: HttpRequest) -> HttpResponse:
    """The countries' outlines the map draws without a tile server."""
    _require_map_reader(request)
    outline = world_outline()
    not_modified = get_conditional_response(request, etag=outline.etag)
    if not_modified is not None:
        return not_modified
    accepts_gzip = "gzip" in request.headers.get("Accept-Encoding", "")
    response = HttpResponse(
        outline.gzipped if accepts_gzip else outline.body, content_type=GEOJSON_TYPE
    )
    if accepts_gzip:
        response["Content-Encoding"] = "gzip"
    response["ETag"] = outline.etag
    response["Cache-Control"] = f"private, max-age={WORLD_MAX_AGE_S}"
    patch_vary_headers(response, ["Accept-Encoding"])
    return response
