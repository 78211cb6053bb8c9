"""The site's error answers (chatearthnet_site/errors.py): small pages that tell
nothing, JSON under /api/. The attacks they close are in tests/security/."""

import pytest
from django.conf import settings
from django.template import loader
from django.test import Client
from django.urls import reverse

from verification import queue

SECRET = "s3cret-in-an-error-message"


@pytest.mark.django_db
def test_a_failing_page_is_a_500_page_that_tells_nothing(curator, monkeypatch):
    def fail(**kwargs):
        raise RuntimeError(f"claim failed with key {SECRET}")

    monkeypatch.setattr(queue, "claim_next_id", fail)
    client = Client(raise_request_exception=False)
    client.force_login(curator)
    response = client.get(reverse("review-next"))
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert "Something went wrong" in body
    for telltale in ("Traceback", SECRET, settings.SECRET_KEY, "DATABASES"):
        assert telltale not in body


def test_the_500_page_renders_without_a_database_or_a_request():
    # No django_db mark: a query here would fail the test.
    page = loader.get_template("500.html").render()
    assert "Something went wrong" in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "status", "content_type"),
    [
        ("/api/no-such-thing/", 404, "application/json"),
        ("/no-such-page/", 404, "text/html; charset=utf-8"),
    ],
)
def test_an_unknown_address_is_json_under_the_api_and_a_page_elsewhere(
    path, status, content_type
):
    response = Client().get(path)
    assert (response.status_code, response["Content-Type"]) == (status, content_type)


@pytest.mark.django_db
def test_a_page_a_role_may_not_open_is_a_403_page(consumer):
    client = Client()
    client.force_login(consumer)
    response = client.get(reverse("review-next"))
    assert response.status_code == 403
    assert b"Not allowed" in response.content
