"""The map page (`/map/`) and its offline world outline (`/map/world.geojson`): who may
open them, what the page hands its script, the outline's caching, and the tile
server's settings (docs/map.md).

Alice annotates, Carol curates, Dave consumes the dataset; Eve has an account and no
role; an anonymous visitor has neither.
"""

import gzip
import json
import re

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import reverse

from captions.geo.world import COUNTRIES_FILE
from captions.landcover import CLASSES
from chatearthnet_site.environment import env_tile_url, tile_origin
from tests.chatearthnet_site.test_settings import settings_in_subprocess
from tests.verification.conftest import make_user
from verification.map_data import STATUS_COLOURS

pytestmark = pytest.mark.django_db

PAGES = ("/map/", "/map/world.geojson")


def client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def eve(db):
    """Eve signed up, and nobody gave her a role."""
    return make_user("eve", None)


def page_config(response) -> dict:
    found = re.search(
        r'<script id="map-config" type="application/json">(.*?)</script>',
        response.content.decode(),
        flags=re.S,
    )
    assert found, "the page carries its configuration as a JSON block"
    return json.loads(found.group(1))


# --- who may -------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_visitors_are_sent_to_the_login_page(path):
    response = client_for(None).get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("persona", ["alice", "carol", "dave"])
def test_annotators_curators_and_consumers_open_the_map(path, persona, request):
    response = client_for(request.getfixturevalue(persona)).get(path)
    assert response.status_code == 200


@pytest.mark.parametrize("path", PAGES)
def test_someone_without_a_role_may_not(path, eve):
    response = client_for(eve).get(path)
    assert response.status_code == 403
    assert b"map-config" not in response.content
    assert b"FeatureCollection" not in response.content


@pytest.mark.parametrize("path", PAGES)
def test_the_map_only_answers_reads(path, carol):
    assert client_for(carol).post(path).status_code == 405


def test_the_navigation_links_the_map_for_those_who_may_open_it(alice, dave, eve):
    link = '<a href="/map/">Map</a>'
    assert link in client_for(alice).get("/").content.decode()
    assert link in client_for(dave).get("/").content.decode()
    assert link not in client_for(eve).get("/").content.decode()


# --- what the page hands its script ---------------------------------------------


def test_the_page_passes_the_products_colours_not_a_copy(carol):
    config = page_config(client_for(carol).get("/map/"))
    assert config["status_colours"] == STATUS_COLOURS
    colours = {entry["code"]: entry["colour"] for entry in config["classes"]}
    for cls in CLASSES:
        assert colours[str(cls.code)] == cls.hex_colour
    assert "none" in colours  # patches whose pixels are all nodata
    assert config["data_url"] == "/api/v1/map/"
    assert config["world_url"] == "/map/world.geojson"


def test_a_footprint_leads_reviewers_to_the_review_page_and_consumers_to_the_api(
    alice, carol, dave
):
    for reviewer in (alice, carol):
        config = page_config(client_for(reviewer).get("/map/"))
        assert config["caption_url_template"] == reverse("review", args=[0])
    config = page_config(client_for(dave).get("/map/"))
    assert config["caption_url_template"] == reverse("api-caption-detail", args=[0])


def box_links(response) -> dict[str, str]:
    return dict(
        (name, href)
        for href, name in re.findall(
            r'<a href="([^"]*)" data-box-link="([a-z]+)"', response.content.decode()
        )
    )


def test_the_box_offers_what_each_role_may_do_with_an_area(alice, carol, dave):
    assert box_links(client_for(carol).get("/map/")) == {
        "review": "/review/next/?bbox=",
        "release": "/admin/captions/release/create/?bbox=",
        "export": "/api/v1/export/?format=jsonl&amp;bbox=",
        "geojson": "/api/v1/patches/?format=geojson&amp;bbox=",
    }
    qa_form = 'data-qa-sample data-url="/api/v1/qa/sample/"'
    assert qa_form in client_for(carol).get("/map/").content.decode()
    # Consumers export; the queue's filters, releases and QA are the curators'.
    assert set(box_links(client_for(dave).get("/map/"))) == {"export", "geojson"}
    assert "data-qa-sample" not in client_for(dave).get("/map/").content.decode()
    # Annotators neither read the dataset nor filter the queue.
    assert box_links(client_for(alice).get("/map/")) == {}
    assert "data-qa-sample" not in client_for(alice).get("/map/").content.decode()


def test_annotators_are_told_they_see_only_what_they_reviewed(alice, carol):
    note = "You see the patches whose captions you reviewed."
    assert note in client_for(alice).get("/map/").content.decode()
    assert note not in client_for(carol).get("/map/").content.decode()


def test_without_a_tile_server_the_page_asks_for_none(carol, settings):
    settings.MAP_TILE_URL = ""
    config = page_config(client_for(carol).get("/map/"))
    assert config["tile_url"] == ""


def test_with_a_tile_server_the_page_hands_its_url_and_attribution_over(
    carol, settings
):
    settings.MAP_TILE_URL = "https://tiles.example.org/{z}/{x}/{y}.png"
    settings.MAP_TILE_ATTRIBUTION = "© OpenStreetMap contributors"
    config = page_config(client_for(carol).get("/map/"))
    assert config["tile_url"] == settings.MAP_TILE_URL
    assert config["tile_attribution"] == "© OpenStreetMap contributors"


def test_the_page_runs_no_inline_script(carol):
    html = client_for(carol).get("/map/").content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
    for attributes, body in scripts:
        assert "src=" in attributes or 'type="application/json"' in attributes
        assert "src=" in attributes or body.strip().startswith("{")
    assert "/static/leaflet/leaflet.js" in html
    assert "/static/leaflet/leaflet.css" in html


def test_leaflet_is_served_from_this_site(carol):
    # With DEBUG on (the tests), WhiteNoise serves the finders' files.
    client = client_for(carol)
    for path, starts in (
        ("/static/leaflet/leaflet.js", b"/* @preserve\n * Leaflet 1.9"),
        ("/static/leaflet/leaflet.css", b"/* required styles */"),
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert b"".join(response.streaming_content).startswith(starts), path


# --- the world outline -------------------------------------------------------------


def test_the_world_outline_is_the_bundled_natural_earth_file(dave):
    response = client_for(dave).get("/map/world.geojson")
    assert response["Content-Type"] == "application/geo+json"
    assert response.content == COUNTRIES_FILE.read_bytes()
    outline = json.loads(response.content)
    assert outline["type"] == "FeatureCollection"
    assert len(outline["features"]) == 177


def test_the_world_outline_is_cached_by_the_browser_and_revalidated(dave):
    client = client_for(dave)
    response = client.get("/map/world.geojson")
    assert response["Cache-Control"] == "private, max-age=86400"
    etag = response["ETag"]
    assert etag.startswith('"')
    again = client.get("/map/world.geojson", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    other = client.get("/map/world.geojson", headers={"If-None-Match": '"other"'})
    assert other.status_code == 200


def test_the_world_outline_is_compressed_for_browsers_that_take_gzip(dave):
    response = client_for(dave).get(
        "/map/world.geojson", headers={"Accept-Encoding": "gzip, deflate, br"}
    )
    assert response["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response["Vary"]
    assert gzip.decompress(response.content) == COUNTRIES_FILE.read_bytes()
    assert len(response.content) < COUNTRIES_FILE.stat().st_size / 2


def test_a_304_is_not_given_to_someone_without_a_role(dave, eve):
    etag = client_for(dave).get("/map/world.geojson")["ETag"]
    response = client_for(eve).get(
        "/map/world.geojson", headers={"If-None-Match": etag}
    )
    assert response.status_code == 403


# --- the tile server's settings ------------------------------------------------


def test_a_tile_url_is_an_http_template_with_its_placeholders(monkeypatch):
    monkeypatch.setenv("TILES", "https://tile.example.org/{z}/{x}/{y}.png")
    assert env_tile_url("TILES") == "https://tile.example.org/{z}/{x}/{y}.png"
    monkeypatch.setenv("TILES", "")
    assert env_tile_url("TILES") == ""
    for wrong, says in (
        ("tile.example.org/{z}/{x}/{y}.png", "is not an http(s) URL"),
        ("ftp://tile.example.org/{z}/{x}/{y}.png", "is not an http(s) URL"),
        ("https:///{z}/{x}/{y}.png", "is not an http(s) URL"),
        ("https://tile.example.org/{z}/{x}.png", "lacks {y}"),
        ("https://tile.example.org/tiles.png", "lacks {z}, {x}, {y}"),
    ):
        monkeypatch.setenv("TILES", wrong)
        with pytest.raises(ImproperlyConfigured, match=re.escape(f"TILES={wrong!r}")):
            env_tile_url("TILES")
        with pytest.raises(ImproperlyConfigured, match=re.escape(says)):
            env_tile_url("TILES")


def test_the_tile_servers_origin_is_what_the_policy_allows():
    assert tile_origin("https://tile.example.org/{z}/{x}/{y}.png") == (
        "https://tile.example.org"
    )
    assert tile_origin("http://127.0.0.1:8123/tiles/{z}/{x}/{y}.png") == (
        "http://127.0.0.1:8123"
    )
    # Subdomains ({s}): any of them.
    assert tile_origin("https://{s}.tile.example.org/{z}/{x}/{y}{r}.png") == (
        "https://*.tile.example.org"
    )


def test_the_settings_refuse_a_bad_tile_url_at_start_naming_the_variable():
    result = settings_in_subprocess(MAP_TILE_URL="tiles.example.org/{z}/{x}/{y}.png")
    assert result.returncode != 0
    assert "MAP_TILE_URL='tiles.example.org/{z}/{x}/{y}.png' is not an http(s) URL" in (
        result.stderr
    )


def test_the_settings_let_pages_show_images_from_the_tile_server_only():
    show = "print(settings.CONTENT_SECURITY_POLICY['DIRECTIVES']['img-src'])"
    result = settings_in_subprocess(
        show,
        MAP_TILE_URL="https://tile.example.org/{z}/{x}/{y}.png",
        MAP_TILE_ATTRIBUTION="© OpenStreetMap contributors",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("'https://tile.example.org']")
    unset = settings_in_subprocess(show)
    assert unset.returncode == 0, unset.stderr
    assert "example.org" not in unset.stdout


def test_the_page_sets_the_csrf_cookie_its_qa_sample_posts_with(carol):
    client = client_for(carol)
    client.cookies.pop("csrftoken", None)
    response = client.get("/map/")
    assert response.status_code == 200
    assert response.cookies["csrftoken"].value
