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

Query values go in the query string of GET and POST, the methods that read one;
path values and bodies go with each method a route takes. A persona stays signed in
whatever a request did to its session or token, so each request is judged past the
sign-in. The schema and its docs page authenticate no one: the anonymous caller's
requests there are everyone's.

The routes are walked from the URL patterns, so a new one is fuzzed without being
named here. Django's admin site is left out: its pages are Django's own, reached only
by curators, and take object ids and lookups from its own forms.
"""

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from captions.models import Patch
from captions.workers import worker_heartbeat_record
from tests.api_data import ApiWorld, token_client
from tests.verification.conftest import make_user
from verification.blind import qa_open
from verification.models import Revision
from verification.tokens import token_create

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
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# What a request of each method sends besides the hostile value it carries.
EMPTY: dict[str, dict] = {"GET": {}} | {
    method: {"data": b"{}", "content_type": "application/json"}
    for method in METHODS[1:]
}


@dataclass(frozen=True)
class Route:
    route: str  # as the URL patterns spell it, e.g. review/<int:caption_id>/
    name: str | None
    # False for a REST view with no authentication classes (the schema and its docs
    # page): it cannot tell a persona from the anonymous caller, whose requests
    # differ from the persona's only by an Authorization header nothing reads.
    authenticates: bool = True
    # The methods a REST view has a handler for: DRF refuses a persona before it
    # looks, so a 403 cannot say. Other views: all, and a 405 says which not.
    methods: frozenset[str] = frozenset(METHODS)

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
            yield route_of(route, pattern)


def route_of(route: str, pattern: URLPattern) -> Route:
    view_class = getattr(pattern.callback, "cls", None)  # DRF's APIView.as_view()
    if view_class is None:
        return Route(route, pattern.name)
    initkwargs = getattr(pattern.callback, "initkwargs", {})
    return Route(
        route,
        pattern.name,
        authenticates=bool(
            initkwargs.get("authentication_classes", view_class.authentication_classes)
        ),
        methods=frozenset(
            method for method in METHODS if hasattr(view_class, method.lower())
        ),
    )


def site_routes() -> list[Route]:
    return [
        route
        for route in walk(get_resolver().url_patterns)
        if not route.route.startswith(SKIPPED_PREFIXES)
    ]


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
        "review_id": str(qa_open(revision)[0].pk),  # a second opinion on that verdict
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
def ready_site(settings) -> None:
    """/readyz answers 200 here, so that a 5xx from it is a fault a value caused: a
    worker has beaten, and counts as alive for the whole run."""
    settings.WORKER_HEARTBEAT_MAX_AGE_S = 24 * 3600
    worker_heartbeat_record(hostname="celery@fuzz", pid=1, started_at=timezone.now())


@pytest.fixture
def personas(annotator, curator, consumer, ready_site) -> dict:
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
        self.api = token_client()
        self.api.raise_request_exception = False
        if user is not None:
            self.page.force_login(user)
            self.new_token()

    def new_token(self) -> None:
        key = token_create(user=self.user)[1]
        self.api.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    def send(self, route: Route, method: str, url: str, **extra) -> int:
        """The status of the request, sent signed in: a request may end the
        persona's sign-in (logging out; DELETE auth/token/ revokes the token it
        comes with), and the rest would otherwise stop at the authentication."""
        client = self.api if route.is_api else self.page
        response = client.generic(method, url, **extra)
        if self.user is None:
            return response.status_code
        if route.is_api and response.status_code == 401:
            self.new_token()  # an earlier request revoked the one it had
            response = client.generic(method, url, **extra)
        cookie = response.cookies.get(settings.SESSION_COOKIE_NAME)
        if cookie is not None and not cookie.value:
            self.page.force_login(self.user)  # this request ended the session
        return response.status_code


@pytest.mark.parametrize("role", ROLES)
def test_no_hostile_request_gets_a_5xx(role, personas, api_world):
    caller = Caller(personas[role])
    valid = valid_values(api_world)
    failures: list[str] = []

    def check(route: Route, method: str, url: str, **extra) -> int:
        status = caller.send(route, method, url, **extra)
        if status >= 500:
            shown = {key: str(value)[:80] for key, value in extra.items()}
            failures.append(f"{status} {method} {url[:120]} {shown}")
        return status

    for route in site_routes():
        # What such a route answers anyone, the anonymous caller's run proves.
        if route.authenticates or caller.user is None:
            fuzz_route(route, list(urls_of(route, valid)), check)
    assert not failures, json.dumps(failures, indent=1, ensure_ascii=False)


def fuzz_route(route: Route, urls: list[str], check: Callable[..., int]) -> None:
    """Hostile path values, query values and bodies, each with the methods the route
    takes (its first URL has the valid path values). Query values go with GET and
    POST, the methods that read them, or with GET where the route takes neither:
    then only what runs before the refusal reads them."""
    taken = [method for method in METHODS if takes(route, method, urls[0], check)]
    for method in sorted({"GET", *taken}, key=METHODS.index):
        for url in urls[1:]:
            check(route, method, url, **EMPTY[method])
    names = sorted(
        query_parameters().get(route.schema_path, set()) | {"format", "surely_unknown"}
        if route.is_api
        else PAGE_PARAMETERS
    )
    for method in [method for method in ("GET", "POST") if method in taken] or ["GET"]:
        for name, value in itertools.product(names, HOSTILE_VALUES):
            query = urlencode({name: value})
            check(route, method, f"{urls[0]}?{query}", **EMPTY[method])
    for method, (content_type, body) in itertools.product(taken, HOSTILE_BODIES):
        if method != "GET":
            check(route, method, urls[0], data=body, content_type=content_type)


def takes(route: Route, method: str, url: str, check: Callable[..., int]) -> bool:
    return check(route, method, url, **EMPTY[method]) != 405 and method in route.methods
