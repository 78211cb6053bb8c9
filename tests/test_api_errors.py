"""What every endpoint shares: token auth end to end, cursor pages, and bad input
answered with a JSON `error`, never a 500 or an HTML page.

Conrad consumes the dataset (tests/api_data.py).
"""

import base64

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from tests.api_data import token_client

pytestmark = pytest.mark.django_db

CAPTIONS = reverse("api-caption-list")


def test_a_token_from_username_and_password_opens_the_api(consumer, api_world):
    client = APIClient()
    response = client.post(
        reverse("api-token"),
        {"username": "conrad", "password": "pw-conrad-123", "name": "laptop"},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"token", "id", "name", "created_at", "expires_at"}
    assert body["name"] == "laptop"
    token = body["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get(CAPTIONS).status_code == 200
    # A new token each time (one per script or machine), as a form too; the first
    # still works.
    again = APIClient().post(
        reverse("api-token"), {"username": "conrad", "password": "pw-conrad-123"}
    )
    assert again.status_code == 201
    assert again.json()["token"] != token
    assert client.get(CAPTIONS).status_code == 200


def test_a_stale_token_in_the_header_does_not_stop_asking_for_a_new_one(consumer):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token revoked-long-ago")
    response = client.post(
        reverse("api-token"),
        {"username": "conrad", "password": "pw-conrad-123"},
        format="json",
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {"username": "conrad"},
        {"username": "conrad", "password": "pw-conrad-123", "scope": "all"},
        {"username": "conrad", "password": "pw-conrad-123", "name": "x" * 101},
    ],
)
def test_a_malformed_token_request_is_a_400_naming_the_field(consumer, body):
    response = APIClient().post(reverse("api-token"), body, format="json")
    assert response.status_code == 400
    assert response.json()["fields"]


def test_a_wrong_password_gets_no_token(consumer):
    response = APIClient().post(
        reverse("api-token"), {"username": "conrad", "password": "guess"}, format="json"
    )
    assert response.status_code == 400
    assert "Unable to log in" in response.json()["error"]


@pytest.mark.parametrize("header", ["Token nope", "Token", "Token a b", "Bearer x"])
def test_a_bad_authorization_header_is_a_401(api_world, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(CAPTIONS)
    assert response.status_code == 401
    assert response.json()["error"]
    assert response["WWW-Authenticate"] == "Token"


def test_cursor_pages_walk_every_row_once(consumer, api_world):
    client = token_client(consumer)
    seen: list[int] = []
    url: str | None = f"{CAPTIONS}?page_size=2"
    while url:
        body = client.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert seen == sorted((caption.pk for caption in api_world.captions), reverse=True)


def cursor(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        cursor("o=-1"),
        cursor("r=maybe"),
        cursor("p=abc"),  # DRF alone would compare ids with a word: a 500
        cursor("p=" + "9" * 30),
        cursor("p=1.5"),
    ],
)
def test_a_garbled_cursor_is_a_404(consumer, api_world, value):
    response = token_client(consumer).get(CAPTIONS, {"cursor": value})
    assert response.status_code == 404
    assert response.json()["error"] == "Invalid cursor"


@pytest.mark.parametrize("size", ["0", "-1", "abc", "1e3", "99999999"])
def test_a_bad_page_size_falls_back_to_a_bounded_page(consumer, api_world, size):
    response = token_client(consumer).get(CAPTIONS, {"page_size": size})
    assert response.status_code == 200
    assert len(response.json()["results"]) == len(api_world.captions)


def test_an_unknown_parameter_is_a_400_listing_the_known_ones(consumer, api_world):
    response = token_client(consumer).get(CAPTIONS, {"stauts": "approved"})
    assert response.status_code == 400
    body = response.json()
    assert body["fields"]["unknown_parameters"] == ["stauts"]
    assert "status" in body["fields"]["known_parameters"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/captions/abc/",
        "/api/v1/captions/-1/",
        "/api/v1/captions/99999999999999999999999/",
        "/api/v1/captions/0/",
        "/api/v1/scenes/999/",
        "/api/v1/patches/1.5/",
        "/api/v1/nothing-here/",
        "/api/v1/captions",  # no trailing slash
    ],
)
def test_a_malformed_or_unknown_id_is_a_json_404(consumer, api_world, path):
    response = token_client(consumer).get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]


def test_a_post_to_no_endpoint_is_a_json_404_even_without_csrf(api_world):
    response = APIClient(enforce_csrf_checks=True).post("/api/v1/jobs/x/cancel/")
    assert response.status_code == 404
    assert response.json()["error"].startswith("no endpoint")


def test_the_schema_and_docs_answer_without_a_token():
    assert APIClient().get("/api/schema/").status_code == 200
    assert APIClient().get("/api/docs/").status_code == 200
