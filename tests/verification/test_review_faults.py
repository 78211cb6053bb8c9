"""Issue 13, faults: PostgreSQL restarted during a review session.

Anna reviews through a real web server (gunicorn, DEBUG off, as an operator runs it)
whose database is a PostgreSQL cluster of this module's own
(tests/fault_services.py): the machine's own serves everyone's tests at once. The
database restarts twice: once between two of her requests, once while she works.
Her session (kept in the database) outlives both; each verdict she sent once is
recorded once; the outage costs her at most a clean error page.
"""

import http.cookiejar
import json
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import psycopg
import pytest

from tests.fault_services import (
    PostgresCluster,
    in_the_services_pass,
    postgres_cluster,
)
from tests.services import ROOT, gunicorn_running, operator_env

pytestmark = in_the_services_pass

DATABASE = "faults_review"
PASSWORD = "pw-anna-123"  # tests/verification/conftest.py's make_user
# One process, not three: a start of Django costs seconds on a busy machine.
PREPARE = (
    "from django.core.management import call_command; "
    "call_command('migrate', interactive=False, verbosity=0); "
    "call_command('collectstatic', interactive=False, verbosity=0); "
    "from tests.verification.conftest import make_captions, make_user; "
    "from verification.roles import ANNOTATOR; "
    "make_user('anna', ANNOTATOR); make_captions(6)"
)


def manage(env: dict, *arguments: str) -> None:
    python = [sys.executable, *(["-S"] if sys.flags.no_site else [])]
    subprocess.run(
        [*python, "manage.py", *arguments],
        cwd=ROOT, env=env, check=True, capture_output=True, timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    with postgres_cluster() as started:
        yield started


@pytest.fixture
def server(cluster: PostgresCluster, tmp_path: Path) -> Iterator[str]:
    """gunicorn on a migrated database of the cluster: Anna and six pending captions."""
    cluster.create_database(DATABASE)
    env = operator_env(
        tmp_path, secret_key="a-key-for-the-review-fault-test-" + "z" * 30
    )
    env |= {
        "DATABASE_URL": cluster.url(DATABASE),
        # Plain HTTP on loopback: cookies the client may send back.
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "MEDIA_ROOT": str(tmp_path / "media"),
    }
    manage(env, "shell", "-c", PREPARE)  # migrated, static files, Anna's captions
    with gunicorn_running(env, tmp_path / "gunicorn.log", "/healthz") as url:
        yield url
    cluster.drop_database(DATABASE)


class Answer(NamedTuple):
    status_code: int
    url: str  # after redirects
    text: str

    def json(self) -> dict:
        return json.loads(self.text)


class Annotator:
    """A browser's side of a review session: cookies, the CSRF token, the queue."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies)
        )

    def log_in(self, username: str, password: str) -> None:
        form = self.fetch("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        assert token is not None, form.text
        fields = {"username": username, "password": password,
                  "csrfmiddlewaretoken": token.group(1)}  # fmt: skip
        answer = self.fetch(
            "/accounts/login/", urllib.parse.urlencode(fields).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"},
        )  # fmt: skip
        assert answer.status_code == 200 and self.cookie("sessionid")

    def next_caption(self) -> Answer:
        """The queue's next caption (claimed for her): its page, after redirects."""
        return self.fetch("/review/next/")

    def approve(self, caption_id: int, version: int) -> Answer:
        """What the review page's script sends when she approves."""
        headers = {
            "Content-Type": "application/json",
            "X-CSRFToken": self.cookie("csrftoken"),
        }
        body = json.dumps({"action": "approve", "version": version}).encode()
        return self.fetch(f"/review/{caption_id}/action/", body, headers)

    def cookie(self, name: str) -> str:
        return next((c.value or "" for c in self.cookies if c.name == name), "")

    def fetch(
        self, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> Answer:
        request = urllib.request.Request(
            f"{self.url}{path}", data=body, headers=headers or {}
        )
        try:
            with self.opener.open(request, timeout=10) as response:
                return Answer(response.status, response.url, response.read().decode())
        except urllib.error.HTTPError as error:
            return Answer(error.code, error.url, error.read().decode())


def caption_on(page: Answer) -> int:
    match = re.search(r"/review/(\d+)/$", page.url)
    assert page.status_code == 200 and match, (page.status_code, page.url)
    return int(match.group(1))


def rows(cluster: PostgresCluster, sql: str) -> list[tuple]:
    with psycopg.connect(cluster.url(DATABASE)) as connection:
        return connection.execute(sql).fetchall()


def assert_clean_error(answer: Answer) -> None:
    assert answer.status_code == 500
    assert "Traceback" not in answer.text and "OperationalError" not in answer.text
    assert "psycopg" not in answer.text and DATABASE not in answer.text


def test_a_review_session_outlives_database_restarts_and_records_each_verdict_once(
    cluster, server
):
    anna = Annotator(server)
    anna.log_in("anna", PASSWORD)
    first = caption_on(anna.next_caption())
    assert anna.approve(first, version=1).json()["ok"] is True

    # A restart between two requests: the server's kept connection is dead, and
    # the next request must not be the one to find out.
    cluster.stop("fast")
    cluster.start()
    second = caption_on(anna.next_caption())
    assert second != first
    assert anna.approve(second, version=1).status_code == 200

    # Down while she works: the verdict she sends fails cleanly, and is not saved.
    third = caption_on(anna.next_caption())
    cluster.stop("fast")
    assert_clean_error(anna.approve(third, version=1))
    assert_clean_error(anna.next_caption())
    cluster.start()
    # Back: she is still signed in, still holds the caption, and sends it again.
    assert anna.approve(third, version=1).status_code == 200
    # A verdict sent twice (a retry after a lost answer) is refused, not doubled.
    assert anna.approve(second, version=1).status_code == 409
    fourth = caption_on(anna.next_caption())

    reviewed = sorted((first, second, third))
    assert rows(
        cluster,
        "SELECT caption_id, count(*) FROM verification_revision "
        "GROUP BY caption_id ORDER BY caption_id",
    ) == [(caption, 1) for caption in reviewed]
    assert rows(
        cluster,
        "SELECT id, status, version, claimed_by_id IS NULL FROM captions_caption "
        f"WHERE id IN {tuple(reviewed)} ORDER BY id",
    ) == [(caption, "approved", 2, True) for caption in reviewed]
    # She holds the caption on her screen and nothing else.
    assert rows(
        cluster,
        "SELECT c.id FROM captions_caption c "
        "JOIN auth_user u ON u.id = c.claimed_by_id "
        "WHERE u.username = 'anna' AND c.claim_expires_at > now()",
    ) == [(fourth,)]
