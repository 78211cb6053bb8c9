"""/favicon.ico: browsers ask for it on every site; it is an icon, not a 404."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_favicon_redirects_anyone_to_the_static_icon():
    answer = Client().get("/favicon.ico")
    assert answer.status_code == 302
    assert answer["Location"].startswith("/static/favicon")
    assert answer["Location"].endswith(".ico")
    assert "max-age=86400" in answer["Cache-Control"]
    icon = Client().get(answer["Location"])
    assert icon.status_code == 200
    body = b"".join(icon.streaming_content) if icon.streaming else icon.content
    assert body[:4] == b"\x00\x00\x01\x00"  # the ICO header
