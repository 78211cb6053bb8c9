"""Issue 9, hole 5: every write endpoint refuses a key it does not know.

DRF drops unknown keys silently: `{"scene": 3}` to a launch that takes `scenes`
launched a job over every scene, and a typo in a review went unnoticed. Here every
route of /api/v1/ and of the review page is walked (a new one is covered without
being named), sent each write method with a body holding one unknown key, and must
answer a 400 that names the key and changes nothing.

Cora curates, so no role check stops the request before its body is read
(tests/test_api_permissions.py pins the roles). The token routes under auth/ are
the auth work's, tested there; they are skipped here.
"""

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from captions.models import Caption, GenerationJob, JobChunk, Patch, Release, Scene
from chatearthnet_site import api_urls
from tests.api_data import ApiWorld, hand_to, token_client
from verification import urls as review_urls
from verification.models import Revision

pytestmark = pytest.mark.django_db

UNKNOWN = "surely_not_a_field"
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
SKIPPED_PREFIX = "api/v1/auth/"  # the token endpoints: another change's tests


def routes(patterns: list, prefix: str = "") -> list[tuple[str, URLPattern]]:
    found = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            found += routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern) and pattern.name != "api-not-found":
            found.append((prefix + str(pattern.pattern), pattern))
    return found


def prefix_of(urlconf) -> str:
    return next(
        str(pattern.pattern)
        for pattern in get_resolver().url_patterns
        if isinstance(pattern, URLResolver) and pattern.urlconf_name == urlconf
    )


def write_routes() -> list[tuple[str, URLPattern]]:
    api = routes(api_urls.urlpatterns, prefix_of(api_urls))
    page = routes(review_urls.urlpatterns, prefix_of(review_urls))
    return [
        (route, p) for route, p in api + page if not route.startswith(SKIPPED_PREFIX)
    ]


def url_of(route: str, world: ApiWorld) -> str:
    values: dict[str, Callable[[], object]] = {
        "caption_id": lambda: world.pending.pk,
        "job_id": lambda: world.queued_job.pk,
        "scene_id": lambda: world.scenes[0].pk,
        "patch_id": lambda: world.patches[0].pk,
        "revision_id": lambda: Revision.objects.first().pk,  # type: ignore[union-attr]
        "number": lambda: 1,
        "review_id": lambda: 1,  # no QA review: the body is judged first
        "name": lambda: "README.md",
        "file_name": lambda: f"{world.patches[0].pk}.png",
    }
    url = "/" + route
    while "<" in url:
        start, end = url.index("<"), url.index(">")
        name = url[start + 1 : end].split(":")[-1]
        assert name in values, f"{route}: give `{name}` a value in url_of"
        url = url[:start] + str(values[name]()) + url[end + 1 :]
    return url


def state() -> list:
    """What a write could change, row by row."""
    return [
        list(model.objects.order_by("pk").values_list())
        for model in (Caption, Revision, GenerationJob, JobChunk, Release, Scene, Patch)
    ]


@pytest.mark.parametrize("method", WRITE_METHODS)
def test_every_write_endpoint_refuses_an_unknown_key_and_changes_nothing(
    api_world, annotator, curator, method
):
    hand_to(api_world.pending, curator)
    api, page = token_client(curator), Client()
    page.force_login(curator)
    refused = []
    for route, _ in write_routes():
        url = url_of(route, api_world)
        client = api if route.startswith("api/") else page
        before = state()
        response = client.generic(
            method, url, data=f'{{"{UNKNOWN}": 1}}', content_type="application/json"
        )
        if response.status_code == 405:
            continue  # not a write route for this method
        assert response.status_code == 400, (method, url, response.content[:300])
        assert UNKNOWN in response.json()["error"], (method, url)
        assert state() == before, (method, url)
        refused.append(route)
    if method == "POST":
        # The walk reached the write endpoints (not a vacuous pass).
        assert {
            "api/v1/review/next/",
            "api/v1/releases/",
            "api/v1/jobs/launch/",
            "review/<int:caption_id>/action/",
            "review/<int:caption_id>/ahead/",
            "review/revert/<int:revision_id>/",
        } <= set(refused)


def test_a_form_with_an_unknown_key_is_refused_on_the_page_too(api_world, curator):
    page = Client()
    page.force_login(curator)
    revision = Revision.objects.first()
    assert revision is not None
    before = state()
    response = page.post(f"/review/revert/{revision.pk}/", {UNKNOWN: "1"})
    assert response.status_code == 400
    assert state() == before
