"""Hole 3 of issue 9: a Content-Security-Policy on every page, which the pages keep.

The policy (chatearthnet_site/settings.py, django-csp) allows scripts and styles from
this site only: no inline script, no third-party origin. Cora curates, so she sees
every page; her browser (Debian's Chromium) reports each violation, and the suite
fails on one, so a page that slips an inline script in is caught here, not by users.
"""

import re

import pytest
from django.test import Client
from django.urls import reverse
from playwright.sync_api import Page, expect

from captions.models import GenerationJob, Scene

pytestmark = pytest.mark.django_db

# Every page is watched from before its first script: a violation anywhere is kept.
WATCH_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


def directives(header: str) -> dict[str, list[str]]:
    parsed = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            parsed[words[0]] = words[1:]
    return parsed


@pytest.mark.parametrize(
    "path", ["/accounts/login/", "/", "/admin/", "/api/docs/", "/api/v1/scenes/"]
)
def test_every_answer_carries_a_policy_without_inline_script_or_other_origins(
    curator, path
):
    client = Client()
    client.force_login(curator)
    policy = directives(client.get(path)["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    for sources in policy.values():
        assert not [source for source in sources if re.match(r"https?:|\*", source)]


@pytest.fixture
def cora_page(new_context, curator) -> Page:
    context = new_context()
    context.add_init_script(WATCH_VIOLATIONS)
    context.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    page = context.new_page()
    page.goto(reverse("login"))
    page.get_by_label("Username").fill("cora")
    page.get_by_label("Password").fill("pw-cora-123")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/$"))
    return page


def violations(page: Page) -> list[str]:
    return page.evaluate("window.__cspViolations")


def test_no_page_breaks_the_policy_and_the_pages_still_work(cora_page, api_world):
    page = cora_page
    scene = Scene.objects.first()
    job = GenerationJob.objects.first()
    pages = {
        "/": "h1",
        "/review/next/": "[data-review]",
        "/map/": "[data-map][data-state=ready] .leaflet-control-zoom",
        "/admin/": "#site-name",
        "/admin/captions/scene/": "#result_list",
        f"/admin/captions/scene/{scene.pk}/change/": "#content",
        "/admin/captions/scene/ingest/": "form",
        "/admin/captions/patch/": "#result_list",
        "/admin/captions/caption/": "#result_list",
        f"/admin/captions/generationjob/{job.pk}/change/": "#content",
        "/admin/captions/generationjob/launch/": "form",
        "/admin/captions/release/": "#content",
        "/api/docs/": ".swagger-ui .opblock",
        "/no-such-page/": "body",
    }
    for path, ready in pages.items():
        page.goto(path)
        expect(page.locator(ready).first).to_be_visible()
        assert violations(page) == [], path


def test_an_inline_script_that_got_into_a_page_does_not_run(cora_page, api_world):
    page = cora_page
    page.goto("/review/next/")
    # As a stored caption or a template mistake would: a script element in the DOM.
    page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.__injected = true";
          document.body.append(script);
        }"""
    )
    assert page.evaluate("window.__injected") is None
    assert any("script-src" in violation for violation in violations(page))
