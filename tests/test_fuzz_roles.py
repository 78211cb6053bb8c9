"""No request of any role gets a 5xx: hostile values to every route, for everyone.

tests/test_api_schema.py runs schemathesis against the API as a curator. Here each
persona (anonymous, Anna the annotator, Cora the curator, Conrad the consumer, and
Nora, who is signed in without a role) sends hostile values (numbers past 64 bits,
negative ones, digits that are not ASCII, empty and very long strings, NUL bytes,
JSON of the wrong type, bodies that are arrays or strings, nesting deeper than the
parser's recursion) to:

- every route of the site outside /api/ (the review pages and their JSON actions,
  the dashboard, media, login and logout): query parameters, path values and, for
  routes that take writes, bodies;
- every route under /api/: each query parameter the OpenAPI schema names for it
  (plus `format` and an unknown one), path values, and bodies to the write routes.

The routes are walked from the URL patterns, so a new one is fuzzed without being
named here. Django's admin site is left out: its pages are Django's own, reached only
by curators, and take object ids and lookups from its own forms.
"""

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator

from captions.models import Patch
from tests.api_data import ApiWorld, token_client
from tests.verification.conftest import make_user
from verification.models import Revision

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "annotator", "curator", "consumer", "no_role")
SKIPPED_PREFIXES = ("admin/",)
HUGE = str(2**64)

# Query values; each is sent alone, as the one parameter of a request.
HOSTILE_VALUES = (
    "", "-1", str(2**63), HUGE, "9" * 400, "١٢", "²", "1e400", "NaN", "x" * 5000,
    "a\x00b", "[1]", "1,2,3,4", "-200,-100,200,100",
)  # fmt: skip
# Query parameters the pages outside the API read (or might), and one they do not.
PAGE_PARAMETERS = ("scene", "job", "class", "check", "next", "surely_unknown")
# Path values for each kind of URL parameter besides a valid one.
HOSTILE_PATH_VALUES = {
    "int": (HUGE, "0"),
    "str": ("١٢", "a\x00b", "x" * 300),
    "path": (
        "a\x00b",
        "../../chatearthnet_site/settings.py",
        "x" * 5000,
        "scenes/١٢/0_0.png",
        "/etc/passwd",
    ),
}
DEEP = b"[" * 100_000 + b"]" * 100_000
# (content type, body) of write requests.
HOSTILE_BODIES = (
    ("application/json", b"[]"),
    ("application/json", b'"approve"'),
    ("application/json", b"1"),
    ("application/json", b"null"),
    ("application/json", b"{"),
    ("application/json", DEEP),
    ("application/json", b'{"action": "approve", "version": 1e400}'),
    ("application/json", b'{"action": "approve", "version": ' + HUGE.encode() + b"}"),
    ("application/json", b'{"action": "approve", "version": "1"}'),
    ("application/json", b'{"action": ["approve"], "version": -1}'),
    ("application/json", b'{"action": "edit", "version": 1, "text": "a\\u0000b"}'),
    ("application/json", b'{"action": "edit", "version": 1, "text": "\\ud800"}'),
    ("application/json", b'{"action": "reject", "version": 1, "reason": {"a": 1}}'),
    ("application/json", b'{"action": "approve", "version": 1, "seconds_spent": NaN}'),
    ("application/json", b'{"skip_ids": [' + HUGE.encode() + b'], "scene": -1}'),
    ("application/json", b'{"skip_ids": "1,2", "check": "a\\u0000"}'),
    ("application/json", b'{"scenes": [1e400], "limit": -1, "splits": "train"}'),
    ("application/json", b'{"scene": ' + HUGE.encode() + b', "description": 1}'),
    ("application/json", b"\xff\xfe\x00{"),
    ("text/plain", b"action=approve"),
    ("application/x-www-form-urlencoded", b"action=approve&version=%00&username=%00"),
    ("application/x-www-form-urlencoded", b"username=" + b"x" * 5000 + b"&password=x"),
    ("multipart/form-data; boundary=xyz", b"--xyz\r\nbroken"),
)
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class Route:
    route: str  # as the URL patterns spell it, e.g. review/<int:caption_id>/
    name: str | None

    @property
    def is_api(self) -> bool:
        return self.route.startswith("api/")

    @property
    def schema_path(self) -> str:
        """The route as the OpenAPI schema spells it: /api/v1/scenes/{scene_id}/."""
        path = "/" + self.route
        while "<" in path:
            start, end = path.index("<"), path.index(">")
            path = (
                path[:start]
                + "{"
                + path[start + 1 : end].split(":")[-1]
                + "}"
                + path[end + 1 :]
            )
        return path


def walk(patterns: list, prefix: str = "") -> Iterator[Route]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            route = prefix + str(pattern.pattern)
            # The catch-all of /api/v1/ (a regular expression): any path it gets.
            if route.endswith("^"):
                route = route[:-1] + "no/such/endpoint/"
            yield Route(route, pattern.name)


def site_routes() -> list[Route]:
    routes = [
        route
        for route in walk(get_resolver().url_patterns)
        if not route.route.startswith(SKIPPED_PREFIXES)
    ]
    # Logging out ends the session the rest of a persona's requests use.
    return sorted(routes, key=lambda route: route.name == "logout")


@cache
def query_parameters() -> dict[str, set[str]]:
    """The query parameters the schema names, by path."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        path: {
            parameter["name"]
            for operation in operations.values()
            for parameter in operation.get("parameters", [])
            if parameter["in"] == "query"
        }
        for path, operations in schema["paths"].items()
    }


def valid_values(world: ApiWorld) -> dict[str, str]:
    revision = Revision.objects.order_by("pk").first()
    assert revision is not None
    patch: Patch = world.patches[0]
    return {
        "caption_id": str(world.pending.pk),
        "revision_id": str(revision.pk),
        "scene_id": str(patch.scene_id),
        "patch_id": str(patch.pk),
        "job_id": str(world.queued_job.pk),
        "token_id": "1",
        "number": "1",
        "name": str(patch.rgb_preview.name),  # media/<path:name>; a release's file too
        "file_name": f"{patch.pk}.png",
    }


def urls_of(route: Route, valid: dict[str, str]) -> Iterator[str]:
    """The route with valid values, then with each hostile one in each place."""
    parts = route.route.replace(">", "<").split("<")
    # parts: text, converter:name, text, converter:name, ... text
    slots = parts[1::2]
    for name in (slot.split(":")[-1] for slot in slots):
        assert name in valid, f"{route.route}: give `{name}` a value in valid_values"
    choices = []
    for slot in slots:
        converter, name = slot.split(":") if ":" in slot else ("str", slot)
        choices.append((valid[name], *HOSTILE_PATH_VALUES.get(converter, ())))
    for values in itertools.islice(itertools.product(*choices), 40):
        url = parts[0]
        for value, text in zip(values, parts[2::2], strict=True):
            url += value + text
        yield "/" + url


@pytest.fixture
def personas(annotator, curator, consumer) -> dict:
    return {
        "anonymous": None,
        "annotator": annotator,
        "curator": curator,
        "consumer": consumer,
        "no_role": make_user("nora", None),
    }


class Caller:
    """One persona's page client (session) and API client (token)."""

    def __init__(self, user) -> None:
        self.user = user
        self.page = Client(raise_request_exception=False)
        self.api = token_client(user)
        self.api.raise_request_exception = False
        self.sign_in()

    def sign_in(self) -> None:
        if self.user is not None:
            self.page.force_login(self.user)

    def send(self, route: Route, method: str, url: str, **extra) -> int:
        client = self.api if route.is_api else self.page
        response = client.generic(method, url, **extra)
        if route.name == "logout":
            self.sign_in()
        return response.status_code


@pytest.mark.parametrize("role", ROLES)
def test_no_hostile_request_gets_a_5xx(role, personas, api_world):
    caller = Caller(personas[role])
    valid = valid_values(api_world)
    failures: list[str] = []

    def check(route: Route, method: str, url: str, **extra) -> None:
        status = caller.send(route, method, url, **extra)
        if status >= 500:
            shown = {key: str(value)[:80] for key, value in extra.items()}
            failures.append(f"{status} {method} {url[:120]} {shown}")

    for route in site_routes():
        urls = list(urls_of(route, valid))
        for url in urls:
            check(route, "GET", url)
        names = sorted(
            query_parameters().get(route.schema_path, set())
            | {"format", "surely_unknown"}
            if route.is_api
            else PAGE_PARAMETERS
        )
        for name, value in itertools.product(names, HOSTILE_VALUES):
            check(route, "GET", urls[0], data={name: value})
        for method in WRITE_METHODS:
            status = caller.send(route, method, urls[0], data=b"{}",
                                 content_type="application/json")  # fmt: skip
            if status == 405:
                continue
            for url in urls[1:]:
                check(route, method, url, data=b"{}", content_type="application/json")
            if method != "POST":
                continue  # the other methods read a query as POST does
            for name, value in itertools.product(names, HOSTILE_VALUES):
                query = urlencode({name: value})
                check(route, method, f"{urls[0]}?{query}", data=b"{}",
                      content_type="application/json")  # fmt: skip
            for content_type, body in HOSTILE_BODIES:
                check(route, method, urls[0], data=body, content_type=content_type)
    assert not failures, json.dumps(failures, indent=1, ensure_ascii=False)
