"""Issue 9, holes 3 and 5: error answers never show a traceback or a setting, and on
API routes they are JSON.

The attacks: a body over DATA_UPLOAD_MAX_MEMORY_SIZE got Django's HTML 400 from an
API route; a view that fails answered HTML under /api/; and a server started without
DEBUG set ran with it on, so any unknown URL listed every URL pattern and any error
showed the traceback with the settings. The last is played against a real server
process (gunicorn) with a fresh database, as an operator would start one. (A page
that fails in a process with DEBUG off, as the tests run, was already silent: it is
pinned in tests/chatearthnet_site/test_error_handlers.py.)

Cora curates (tests/conftest.py).
"""

import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.api_data import token_client
from tests.services import gunicorn_running, operator_env
from verification import queue

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-for-the-error-page-test-" + "x" * 20
# What a technical page shows and ours must not: settings, the traceback, patterns.
TELLTALES = (
    "Traceback",
    "SECRET_KEY",
    "DATABASES",
    "INSTALLED_APPS",
    "ALLOWED_HOSTS",
    "DEBUG",
    "Django settings",
    "URLconf",
    "api/v1/",
    "int:caption_id",
)


def assert_tells_nothing(body: str) -> None:
    for telltale in (*TELLTALES, settings.SECRET_KEY, SECRET):
        assert telltale not in body, telltale


# --- bodies over the limit ------------------------------------------------------------


def session_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("credentials", ["token", "session"])
@pytest.mark.parametrize("url", ["/api/v1/review/next/", "/api/v1/releases/"])
def test_a_body_over_the_limit_gets_a_json_413_on_api_routes(
    curator, settings, credentials, url
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    client = (
        token_client(curator) if credentials == "token" else session_client(curator)
    )
    body = '{"skip_ids": [], "description": "' + "x" * 20_000 + '"}'
    response = client.generic("POST", url, data=body, content_type="application/json")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert "10,000 bytes" in response.json()["error"]
    assert_tells_nothing(response.content.decode())


# --- a view that fails ----------------------------------------------------------------


@pytest.fixture
def failing_claims(monkeypatch) -> None:
    """The queue's service (behind the page and the API alike) raises, naming a
    secret as a careless error message might."""

    def fail(**kwargs):
        raise RuntimeError(f"claim failed with key {SECRET}")

    monkeypatch.setattr(queue, "claim_next_id", fail)


def test_a_failing_api_endpoint_is_a_json_500_that_tells_nothing(
    curator, failing_claims
):
    client = token_client(curator)
    client.raise_request_exception = False
    response = client.post(reverse("api-review-next"))
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]
    assert_tells_nothing(response.content.decode())


# --- a real server, started without DEBUG set -----------------------------------------


@pytest.fixture
def production_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """gunicorn on a fresh SQLite database, with the environment an operator sets
    and DEBUG left unset; yields its URL and its database file."""
    env = operator_env(tmp_path, secret_key=SECRET, drop=("CELERY_BROKER_URL",))
    # -S when this interpreter has it (to test another checkout than the installed
    # one): the server imports the same code as this process.
    python = [sys.executable, *(["-S"] if sys.flags.no_site else [])]
    subprocess.run(
        [*python, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT, env=env, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    with gunicorn_running(env, tmp_path / "gunicorn.log", "/accounts/login/") as url:
        yield url, tmp_path / "var" / "db.sqlite3"


def fetch(url: str, **headers: str) -> tuple[int, str, str]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read().decode()
            return response.status, response.headers["Content-Type"], body
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def test_a_server_started_without_debug_set_tells_nothing_on_errors(
    production_server,
):
    url, database = production_server
    status, content_type, body = fetch(f"{url}/no-such-page/")
    assert status == 404
    assert content_type.startswith("text/html")
    assert_tells_nothing(body)

    # The database breaks: each request that reads it fails. The 500 page renders
    # without it, and under /api/ the answer is JSON.
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    database.write_bytes(b"this is not a database " * 100)
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(database).execute("select 1 from django_session")
    session = {"Cookie": "sessionid=abcdefghijklmnopqrstuvwxyz012345"}
    status, content_type, body = fetch(f"{url}/", **session)
    assert status == 500
    assert content_type.startswith("text/html")
    assert_tells_nothing(body)
    status, content_type, body = fetch(f"{url}/api/v1/scenes/", **session)
    assert (status, content_type) == (500, "application/json")
    assert '"error"' in body
    assert_tells_nothing(body)
