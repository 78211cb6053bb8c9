"""/healthz and /readyz: probes anyone may ask, which answer JSON and tell no secret.

Liveness asks nothing of any service. Readiness names each check (database, broker,
storage, workers) with ok or a short reason, 200 when all pass and 503 otherwise.
Each fault here is a real one: a file where the media folder should be, a Redis
port nothing listens on, a server whose database cannot be reached.
"""

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from captions.models import WorkerHeartbeat
from tests.security.test_error_pages import assert_tells_nothing, fetch
from tests.services import gunicorn_running, operator_env

CHECKS = {"database", "broker", "storage", "workers"}
PASSWORD = "hunter2-not-for-probes"


def fresh_heartbeat(**fields) -> WorkerHeartbeat:
    now = timezone.now()
    values = {"hostname": "celery@worker-1", "pid": 4242, "started_at": now}
    return WorkerHeartbeat.objects.create(**{**values, "last_seen": now, **fields})


def readiness(client: Client | None = None) -> tuple[int, dict]:
    response = (client or Client()).get("/readyz")
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body["checks"]) == CHECKS
    assert_tells_nothing(response.content.decode())
    return response.status_code, body


def failing(body: dict) -> dict[str, str]:
    return {
        name: check["reason"]
        for name, check in body["checks"].items()
        if check["status"] != "ok"
    }


# --- liveness ---------------------------------------------------------------------


def test_healthz_answers_anyone_and_touches_no_database():
    # No `db` fixture: a query would fail this test.
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]
    assert Client().head("/healthz").status_code == 200


# --- readiness --------------------------------------------------------------------


@pytest.mark.django_db
def test_readyz_is_red_naming_the_workers_while_no_worker_has_reported():
    status, body = readiness()
    assert status == 503
    assert body["status"] == "error"
    assert failing(body) == {
        "workers": "no Celery worker has reported in the last 60 s"
    }


@pytest.mark.django_db
def test_readyz_is_green_with_a_fresh_heartbeat():
    fresh_heartbeat()
    status, body = readiness()
    assert status == 200
    assert body == {
        "status": "ok",
        "checks": {name: {"status": "ok"} for name in CHECKS},
    }
    assert Client().head("/readyz").status_code == 200


@pytest.mark.django_db
def test_a_heartbeat_older_than_the_allowed_age_does_not_count(settings):
    fresh_heartbeat(last_seen=timezone.now() - timedelta(seconds=90))
    assert readiness()[0] == 503
    settings.WORKER_HEARTBEAT_MAX_AGE_S = 120
    assert readiness()[0] == 200


@pytest.mark.django_db
def test_a_database_without_the_migration_says_to_migrate():
    # Inside the test's transaction: rolled back, table and all, when it ends.
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {WorkerHeartbeat._meta.db_table}")
    status, body = readiness()
    assert status == 503
    assert failing(body) == {
        "workers": "the heartbeats' table is missing: run `manage.py migrate`"
    }


@pytest.mark.django_db
def test_storage_that_refuses_writes_turns_readyz_red(settings, tmp_path):
    fresh_heartbeat()
    # A file where a folder of the media root should be: no probe can be written,
    # whoever runs the tests (root writes through a read-only mode).
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    settings.MEDIA_ROOT = blocker / "media"
    status, body = readiness()
    assert status == 503
    assert failing(body) == {"storage": "cannot write a probe file: not a directory"}
    assert str(tmp_path) not in str(body)


@pytest.mark.django_db
def test_an_unreachable_redis_broker_turns_readyz_red_without_its_password(
    settings,
):
    fresh_heartbeat()
    settings.CELERY_BROKER_URL = f"redis://:{PASSWORD}@127.0.0.1:1/0"
    status, body = readiness()
    assert status == 503
    assert list(failing(body)) == ["broker"]
    assert failing(body)["broker"].startswith("Unable to connect to Redis")
    assert PASSWORD not in str(body)


@pytest.mark.django_db
def test_a_missing_file_system_broker_folder_turns_readyz_red(settings, tmp_path):
    fresh_heartbeat()
    queue, processed, control = (tmp_path / name for name in ("q", "p", "c"))
    processed.mkdir()
    control.mkdir()
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(queue),
        "data_folder_out": str(queue),
        "processed_folder": str(processed),
        "control_folder": str(control),
    }
    status, body = readiness()
    assert status == 503
    assert failing(body) == {"broker": "the queue folder does not exist"}
    queue.mkdir()
    assert readiness()[0] == 200
    # The probe leaves nothing the transport could take for a message.
    assert not [
        path for folder in (queue, processed, control) for path in folder.iterdir()
    ]


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "options"])
def test_probes_take_only_get_and_head(path, method):
    # With CSRF enforced, as a browser's request would be: the answer is the 405.
    response = getattr(Client(enforce_csrf_checks=True), method)(path)
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert response.json()["status"] == "error"


# --- a server whose database is down ----------------------------------------------


@pytest.fixture
def server_without_database(tmp_path: Path) -> Iterator[str]:
    """gunicorn started as an operator would (DEBUG unset, HTTPS redirect on),
    pointed at a PostgreSQL port nothing listens on, with a password in its URL."""
    env = operator_env(tmp_path, secret_key="a-key-for-the-health-test-" + "y" * 30)
    env |= {
        "DATABASE_URL": f"postgres://studio:{PASSWORD}@127.0.0.1:1/studio",
        "SECURE_SSL_REDIRECT": "1",
        "MEDIA_ROOT": str(tmp_path / "media"),
    }
    log_path = tmp_path / "gunicorn.log"
    with gunicorn_running(env, log_path, "/healthz") as url:
        yield url
    # The reasons' causes go to the log, still without the password.
    assert PASSWORD not in log_path.read_text()


def test_with_the_database_down_readyz_says_so_and_healthz_stays_green(
    server_without_database,
):
    status, content_type, body = fetch(f"{server_without_database}/readyz")
    assert status == 503
    assert content_type == "application/json"
    answer = json.loads(body)
    assert answer["checks"]["database"] == {
        "status": "error",
        "reason": "connection refused",
    }
    assert answer["checks"]["workers"]["status"] == "error"
    assert "database is unavailable" in answer["checks"]["workers"]["reason"]
    assert_tells_nothing(body)
    assert PASSWORD not in body and "127.0.0.1:1" not in body
    # Liveness does not ask the database; plain HTTP reaches both probes.
    assert fetch(f"{server_without_database}/healthz")[0] == 200
