"""Who may call each endpoint of /api/v1/: one table, every endpoint × every role.

Anna annotates, Cora curates, Conrad consumes the dataset (tests/api_data.py); an
anonymous caller sends no token. The roles, as docs/api.md tells them:

- consumers and curators read the dataset (scenes, patches, captions) and export it;
  annotators do not: what reviewing needs comes with the caption they claim;
- annotators and curators review; consumers do not;
- only curators see and launch jobs (and releases);
- nobody without a token or session gets anything but the token endpoint;
- every signed-in user manages their own tokens, and nobody anyone else's.

A new endpoint needs a row: `test_every_api_endpoint_has_a_row` walks the URL
patterns under /api/v1/ and fails on one the table does not name.
"""

import json
import string
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from chatearthnet_site import api_urls
from tests.api_data import ApiWorld, hand_to, token_client
from verification.tokens import token_create

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "annotator", "curator", "consumer")


@dataclass(frozen=True)
class Row:
    """One endpoint: its method, its URL (with {placeholders} filled from the world,
    see `url_for`), an optional JSON body, and the status each role gets."""

    method: str
    url: str
    anonymous: int
    annotator: int
    curator: int
    consumer: int
    body: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.method} {self.url}"


# Statuses by role that many rows share (Any: mypy cannot see which keys they hold).
READ: dict[str, Any] = dict(anonymous=401, annotator=403, curator=200, consumer=200)
CURATORS_ONLY: dict[str, Any] = dict(anonymous=401, annotator=403, consumer=403)
REVIEWERS: dict[str, Any] = dict(anonymous=401, consumer=403)
LAUNCH = {"backend": "offline", "only_uncaptioned": False, "limit": 1}

# Append rows here; a placeholder is a key of `url_for`'s table.
MATRIX = [
    # The one endpoint that answers without a token: it hands tokens out for a
    # username and password (here Cora's; anyone who knows them gets one).
    Row("POST", "/api/v1/auth/token/", 201, 201, 201, 201,
        body={"username": "cora", "password": "pw-cora-123"}),
    # Revokes the token the request carries: each caller's own.
    Row("DELETE", "/api/v1/auth/token/", 401, 204, 204, 204),
    Row("GET", "/api/v1/auth/tokens/", 401, 200, 200, 200),
    # One of Cora's tokens: hers to revoke, no one else's to know of.
    Row("DELETE", "/api/v1/auth/tokens/{cora_token}/", 401, 404, 204, 404),
    Row("GET", "/api/v1/scenes/", **READ),
    Row("GET", "/api/v1/scenes/{scene}/", **READ),
    Row("GET", "/api/v1/patches/", **READ),
    Row("GET", "/api/v1/patches/?format=geojson", **READ),
    Row("GET", "/api/v1/patches/{patch}/", **READ),
    Row("POST", "/api/v1/patches/{patch}/split/", curator=200,
        body={"split": "test", "reason": "a held-out region"}, **CURATORS_ONLY),
    Row("GET", "/api/v1/captions/", **READ),
    Row("GET", "/api/v1/captions/{caption}/", **READ),
    Row("GET", "/api/v1/jobs/", curator=200, **CURATORS_ONLY),
    Row("GET", "/api/v1/quality/prompts/", curator=200, **CURATORS_ONLY),
    Row("GET", "/api/v1/quality/ab/", curator=200, **CURATORS_ONLY),
    # Each person's figures: curators everyone's, annotators their own.
    Row("GET", "/api/v1/quality/annotators/", annotator=200, curator=200,
        **REVIEWERS),
    Row("GET", "/api/v1/quality/rates/", curator=200, **CURATORS_ONLY),
    Row("PATCH", "/api/v1/quality/rates/", curator=200, body={"qa_rate": 0.2},
        **CURATORS_ONLY),
    Row("GET", "/api/v1/qa/", curator=200, **CURATORS_ONLY),
    Row("POST", "/api/v1/qa/sample/", curator=200, body={"per_class": 1},
        **CURATORS_ONLY),
    # No QA review or gold caption in the world: curators get past the role to 404s;
    # tests/verification/test_second_opinions.py gets the 200s.
    Row("POST", "/api/v1/qa/987654/adjudicate/", curator=404,
        body={"choice": "first", "version": 1}, **CURATORS_ONLY),
    Row("GET", "/api/v1/gold/", curator=200, **CURATORS_ONLY),
    Row("POST", "/api/v1/gold/", curator=404, body={"caption": 987654},
        **CURATORS_ONLY),
    Row("DELETE", "/api/v1/gold/987654/", curator=404, **CURATORS_ONLY),
    Row("GET", "/api/v1/jobs/{job}/", curator=200, **CURATORS_ONLY),
    Row("POST", "/api/v1/jobs/plan/", curator=200, body=LAUNCH, **CURATORS_ONLY),
    Row("POST", "/api/v1/jobs/launch/", curator=201, body=LAUNCH, **CURATORS_ONLY),
    Row("POST", "/api/v1/jobs/{queued_job}/cancel/", curator=200, **CURATORS_ONLY),
    Row("POST", "/api/v1/jobs/{job}/retry-failed/", curator=200, **CURATORS_ONLY),
    Row("GET", "/api/v1/jobs/{job}/failures/", curator=200, **CURATORS_ONLY),
    # The map: annotators see the patches they reviewed, readers every patch.
    Row("GET", "/api/v1/map/?bbox=11.9,44.9,12.1,45.1&zoom=10", 401, 200, 200, 200),
    Row("GET", "/api/v1/map/?bbox=-180,-90,180,90&zoom=2", 401, 200, 200, 200),
    Row("POST", "/api/v1/review/next/", annotator=200, curator=200, **REVIEWERS),
    Row("POST", "/api/v1/review/{caption}/", annotator=200, curator=200,
        body={"action": "skip"}, **REVIEWERS),
    Row("POST", "/api/v1/review/{held_caption}/renew/", annotator=200, curator=409,
        **REVIEWERS),
    Row("GET", "/api/v1/export/?format=jsonl", **READ),
    Row("GET", "/api/v1/export/?format=geojson", **READ),
    Row("GET", "/api/v1/export/images/{scene}/{patch}.png", **READ),
    Row("GET", "/api/v1/releases/", **READ),
    Row("POST", "/api/v1/releases/", curator=202, **CURATORS_ONLY),
    # The world holds no built release: readers get past the roles to a 404 here;
    # tests/captions/test_releases.py gets the 200s from a built one.
    Row("GET", "/api/v1/releases/1/", anonymous=401, annotator=403, curator=404,
        consumer=404),
    Row("GET", "/api/v1/releases/1/files/README.md", anonymous=401, annotator=403,
        curator=404, consumer=404),
]  # fmt: skip


def url_for(row: Row, world: ApiWorld) -> str:
    cora_token = None
    if "{cora_token}" in row.url:
        cora = get_user_model().objects.get(username="cora")
        cora_token = token_create(user=cora, name="another machine")[0].pk
    return row.url.format(
        cora_token=cora_token,
        scene=world.scenes[0].pk,
        patch=world.patches[0].pk,
        caption=world.pending.pk,
        # The pending caption, held by Anna: Cora may not renew someone else's claim.
        held_caption=world.pending.pk,
        job=world.ended_job.pk,
        queued_job=world.queued_job.pk,
    )


def url_shape(row: Row) -> str:
    """The row's URL with 1 for every placeholder, for the resolver."""
    names = [name for _, name, _, _ in string.Formatter().parse(row.url) if name]
    return row.url.split("?")[0].format(**dict.fromkeys(names, 1))


@pytest.fixture
def callers(annotator, curator, consumer) -> dict:
    return {
        "anonymous": None,
        "annotator": annotator,
        "curator": curator,
        "consumer": consumer,
    }


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("row", MATRIX, ids=str)
def test_each_role_gets_what_the_matrix_says(row: Row, role: str, callers, api_world):
    # Anna holds the pending caption, as after claiming it: the renew row needs it.
    hand_to(api_world.pending, callers["annotator"])
    client = token_client(callers[role])
    url = url_for(row, api_world)
    response = client.generic(
        row.method, url, data=_json(row.body), content_type="application/json"
    )
    expected = getattr(row, role)
    assert response.status_code == expected, (role, url, _body(response))
    if response.status_code >= 400:
        assert "error" in response.json()


def _json(body: dict) -> str:
    return json.dumps(body) if body else ""


def _body(response) -> object:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.content[:300]


def _routes(patterns: list, prefix: str = "") -> list[str]:
    """Every route under a urlconf, as `resolve(...).route` spells it."""
    routes = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            routes += _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern) and pattern.name != "api-not-found":
            routes.append(prefix + str(pattern.pattern))
    return routes


def test_every_api_endpoint_has_a_row():
    api_prefix = next(
        str(pattern.pattern)
        for pattern in get_resolver().url_patterns
        if isinstance(pattern, URLResolver) and pattern.urlconf_name == api_urls
    )
    covered = {resolve(url_shape(row)).route for row in MATRIX}
    missing = [
        route
        for route in _routes(api_urls.urlpatterns, api_prefix)
        if route not in covered
    ]
    assert not missing, f"endpoints without a row in MATRIX: {missing}"
