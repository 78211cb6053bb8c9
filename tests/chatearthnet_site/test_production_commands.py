"""The production commands, run as deploy/ runs them, do the product's work.

The units' own command lines (gunicorn with deploy/gunicorn.conf.py, a Celery worker,
Celery beat) start with the environment of deploy/chatearthnet.env.example (DEBUG
off, HTTPS behind a proxy, JSON logs), pointed at a fresh PostgreSQL database, the
suite's Redis and local storage in a temporary folder; `deploy/manage` runs the
steps of docs/deployment.md before them (check --deploy, migrate, collectstatic,
users). Then, over HTTP as a user behind the proxy: a scene ingested from the admin
by the worker, a caption job the worker runs, a caption approved and exported, the
static files from gunicorn itself, /readyz green with the worker's heartbeat, and
beat sending its periodic task.

PostgreSQL and Redis only (the services pass): that is what the units run on.
"""

import contextlib
import http.client
import json
import os
import re
import secrets
import signal
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from psycopg import sql

from captions.devdata.demo.scene import make_demo_scene
from chatearthnet_site.celery import app as celery_app
from tests.chatearthnet_site.deployment import (
    DEPLOY,
    ENV_EXAMPLE,
    local_command,
    read_env_file,
    unit_values,
    write_env_file,
)
from tests.conftest import uses_redis_broker
from tests.services import ROOT, free_port, require_redis

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the units run on PostgreSQL"
    ),
    pytest.mark.skipif(not uses_redis_broker(), reason="the units run on Redis"),
]

PASSWORDS = {
    "curator": "curator-pass-for-production",
    "annotator": "annotator-pass-for-production",
    "consumer": "consumer-pass-for-production",
}
# The visitor's address as the proxy writes it (TRUSTED_PROXY_COUNT=1).
VISITOR_ADDRESS = "203.0.113.7"


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Visitor:
    """A browser or a script behind the HTTPS proxy: the proxy's headers on every
    request, cookies kept by hand (they are Secure, and this is plain HTTP to
    gunicorn), redirects not followed."""

    port: int
    cookies: dict[str, str] = field(default_factory=dict)
    token: str = ""

    @property
    def origin(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def request(
        self, method: str, path: str, *, form=None, body=None, headers=None
    ) -> Response:
        sent = {
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": VISITOR_ADDRESS,
            **(headers or {}),
        }
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if self.token:
            sent["Authorization"] = f"Token {self.token}"
        payload = None
        if form is not None:
            payload = urllib.parse.urlencode(form).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
            sent |= {"Origin": self.origin, "Referer": f"{self.origin}{path}"}
        elif body is not None:
            payload = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        server = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            server.request(method, path, body=payload, headers=sent)
            answer = server.getresponse()
            response = Response(answer.status, answer.headers, answer.read())
        finally:
            server.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response

    def get(self, path: str, **kwargs) -> Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> Response:
        return self.request("POST", path, **kwargs)

    def csrf_token(self, path: str) -> str:
        page = self.get(path)
        assert page.status == 200, (path, page.status, page.body[:500])
        found = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)
        assert found, f"no CSRF token on {path}"
        return found.group(1).decode()


@dataclass
class Site:
    """The running services, their environment and their logs."""

    port: int
    env: dict[str, str]
    var_dir: Path
    logs: dict[str, Path]
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def visitor(self) -> Visitor:
        return Visitor(self.port)

    def log_tails(self) -> str:
        return "\n".join(
            f"--- {name} ({path.name}) ---\n{path.read_text()[-4000:]}"
            for name, path in self.logs.items()
            if path.exists()
        )

    def wait_until(
        self, condition: Callable[[], bool], what: str, timeout: float = 45
    ) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            for name, process in self.processes.items():
                assert process.poll() is None, (
                    f"{name} exited ({process.returncode}) while waiting for {what}"
                    f"\n{self.log_tails()}"
                )
            assert time.monotonic() < deadline, (
                f"timed out after {timeout} s waiting for {what}\n{self.log_tails()}"
            )
            time.sleep(0.2)


def manage(site: Site, env_file: Path, *commands: list[str]) -> list[str]:
    """`deploy/manage ...`, as docs/deployment.md runs each step; the commands given
    together run at once (the steps are seconds of start-up each), their outputs
    returned in order."""
    env = {**site.env, "CHATEARTHNET_ENV_FILE": str(env_file)}
    running = [
        subprocess.Popen(
            [str(DEPLOY / "manage"), *arguments],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for arguments in commands
    ]
    try:
        outputs = [process.communicate(timeout=240)[0] for process in running]
    finally:
        for process in running:
            if process.poll() is None:
                process.kill()
                process.wait()
    for arguments, process, output in zip(commands, running, outputs, strict=True):
        assert process.returncode == 0, (
            f"deploy/manage {' '.join(arguments)} failed:\n{output}"
        )
    return outputs


@pytest.fixture
def production_database() -> Iterator[str]:
    """A fresh database of its own on the suite's PostgreSQL server, dropped after."""
    params = connection.settings_dict
    name = f"{params['NAME']}_production"
    password = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
    server = (
        f"postgres://{params.get('USER') or 'postgres'}{password}"
        f"@{params.get('HOST') or '127.0.0.1'}:{params.get('PORT') or 5432}"
    )
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
        sql.Identifier(name)
    )
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(drop)
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield f"{server}/{name}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(drop)


def production_env(tmp_path: Path, port: int, database_url: str) -> dict[str, str]:
    """The example environment file with what differs on this machine: the secret,
    the host, the services, the folders. Everything else (DEBUG off, the HTTPS and
    proxy settings, JSON logs) is the file's own."""
    broker = settings.CELERY_BROKER_URL
    imagery = tmp_path / "imagery"
    imagery.mkdir()
    values = read_env_file(ENV_EXAMPLE)
    # No key file on this machine; the job below runs the offline backend.
    values.pop("OPENAI_API_KEY_FILE")
    return values | {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "CSRF_TRUSTED_ORIGINS": f"https://127.0.0.1:{port}",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker,
        "CACHE_URL": broker,
        "VAR_DIR": str(tmp_path / "var"),
        "INGEST_ROOTS": str(imagery),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "METRICS_TOKEN": secrets.token_urlsafe(32),
        # Beat's periodic task every second, so that the test sees it sent.
        "GENERATION_BATCH_POLL_S": "1",
    }


def unit_environment(unit: str, tmp_path: Path) -> dict[str, str]:
    """The unit's own Environment= lines, its /run folder in tmp_path (emptied at
    every start, as systemd's RuntimeDirectory= is)."""
    values = {}
    for line in unit_values(unit, "Service", "Environment"):
        name, _, value = line.partition("=")
        if value.startswith("/run/"):
            value = str(tmp_path / value.removeprefix("/"))
            Path(value).mkdir(parents=True)
        values[name] = value
    return values


def start(site: Site, name: str, unit: str, tmp_path: Path) -> None:
    env = {**site.env, **unit_environment(unit, tmp_path)}
    with site.logs[name].open("w") as log:
        site.processes[name] = subprocess.Popen(
            local_command(unit), cwd=ROOT, env=env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def stop(process: subprocess.Popen, timeout: float = 30) -> int | None:
    """TERM to the main process, as systemd's KillMode=mixed sends it; what is left
    after the timeout is killed, process group and all. The exit code of a process
    that stopped by itself, else None."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
    stopped_cleanly = process.poll() is not None
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return process.returncode if stopped_cleanly else None


@pytest.fixture
def production_site(tmp_path: Path, production_database: str) -> Iterator[Site]:
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.fail("deploy/manage runs the checkout's .venv: run `make install`")
    require_redis(settings.CELERY_BROKER_URL)
    celery_app.control.purge()  # no task of another test reaches this worker
    port = free_port()
    values = production_env(tmp_path, port, production_database)
    env_file = tmp_path / "chatearthnet.env"
    write_env_file(env_file, values)
    site = Site(
        port=port,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), **values},
        var_dir=tmp_path / "var",
        logs={name: tmp_path / f"{name}.log" for name in ("web", "worker", "beat")},
    )
    try:
        checked, _, _ = manage(
            site,
            env_file,
            ["check", "--deploy", "--fail-level", "WARNING"],
            ["migrate", "--noinput"],
            ["collectstatic", "--noinput"],
        )
        assert "System check identified no issues" in checked
        # One at a time: each makes the role groups if they are missing.
        for role, password in PASSWORDS.items():
            manage(site, env_file, ["create_user", role, "--password", password,
                                    "--role", role])  # fmt: skip
        start(site, "web", "chatearthnet-web.service", tmp_path)
        start(site, "worker", "chatearthnet-worker@.service", tmp_path)
        start(site, "beat", "chatearthnet-beat.service", tmp_path)
        site.wait_until(
            lambda: answers(site, "/healthz") == 200, "gunicorn to answer /healthz"
        )
        yield site
    finally:
        for process in site.processes.values():
            stop(process)
        # Shown by pytest only when the test failed.
        print(site.log_tails())


def answers(site: Site, path: str) -> int | None:
    try:
        return site.visitor().get(path).status
    except OSError:
        return None


def sign_in_to_the_admin(site: Site, username: str) -> Visitor:
    visitor = site.visitor()
    token = visitor.csrf_token("/admin/login/")
    response = visitor.post(
        "/admin/login/?next=/admin/",
        form={
            "csrfmiddlewaretoken": token,
            "username": username,
            "password": PASSWORDS[username],
            "next": "/admin/",
        },
    )
    assert (response.status, response.headers["Location"]) == (302, "/admin/"), (
        response.body[:2000]
    )
    return visitor


def api_client(site: Site, username: str) -> Visitor:
    visitor = site.visitor()
    response = visitor.post(
        "/api/v1/auth/token/",
        body={"username": username, "password": PASSWORDS[username]},
    )
    assert response.status == 201, response.body
    visitor.token = response.json()["token"]
    return visitor


def status_of(visitor: Visitor, path: str) -> str:
    response = visitor.get(path)
    assert response.status == 200, (path, response.status, response.body)
    return response.json()["status"]


def test_the_units_commands_ingest_caption_and_export_behind_the_proxy(
    production_site: Site, tmp_path: Path
):
    site = production_site
    # Plain HTTP is sent to HTTPS (the proxy says which is which); the probes are not.
    plain = http.client.HTTPConnection("127.0.0.1", site.port, timeout=10)
    plain.request("GET", "/accounts/login/", headers={"Host": "127.0.0.1"})
    assert plain.getresponse().status == 301
    plain.close()

    # The worker's heartbeat makes /readyz green.
    site.wait_until(lambda: answers(site, "/readyz") == 200, "/readyz to turn green")

    # --- ingest: a curator on the admin's form, a worker cuts the scene --------------
    scene_files = make_demo_scene(tmp_path / "imagery", size=512, seed=3)
    curator_pages = sign_in_to_the_admin(site, "curator")
    form_path = "/admin/captions/scene/ingest/"
    response = curator_pages.post(
        form_path,
        form={
            "csrfmiddlewaretoken": curator_pages.csrf_token(form_path),
            "image_path": str(scene_files.image_path),
            "landcover_path": str(scene_files.landcover_path),
            "name": "production-check",
            "patch_size": "256",
            "bands": "",
            "l2a_offset": "auto",
            "max_invalid": "0.5",
            "split_block": "",
        },
    )
    assert response.status == 302, response.body[:3000]
    location = re.fullmatch(
        r"/admin/captions/scene/(\d+)/change/", response.headers["Location"]
    )
    assert location, response.headers["Location"]
    scene_id = int(location.group(1))
    curator = api_client(site, "curator")
    site.wait_until(
        lambda: (
            status_of(curator, f"/api/v1/scenes/{scene_id}/") in {"ready", "failed"}
        ),
        "the worker to ingest the scene",
    )
    scene = curator.get(f"/api/v1/scenes/{scene_id}/").json()
    assert (scene["status"], scene["error"]) == ("ready", "")
    assert scene["patches_created"] >= 1

    # --- a caption job, run by the worker ------------------------------------------
    response = curator.post(
        "/api/v1/jobs/launch/", body={"backend": "offline", "scenes": [scene_id]}
    )
    assert response.status == 201, response.body
    job_id = response.json()["id"]
    site.wait_until(
        lambda: (
            status_of(curator, f"/api/v1/jobs/{job_id}/")
            in {"finished", "failed", "cancelled"}
        ),
        "the worker to finish the caption job",
    )
    job = curator.get(f"/api/v1/jobs/{job_id}/").json()
    assert (job["status"], job["done"], job["failed"]) == (
        "finished", scene["patches_created"], 0
    )  # fmt: skip
    captions = curator.get(f"/api/v1/captions/?job={job_id}").json()["results"]
    assert len(captions) == scene["patches_created"]

    # --- one caption approved, then exported --------------------------------------
    annotator = api_client(site, "annotator")
    claimed = annotator.post("/api/v1/review/next/").json()
    response = annotator.post(
        f"/api/v1/review/{claimed['id']}/",
        body={"action": "approve", "version": claimed["version"], "seconds_spent": 4},
    )
    assert response.status == 200, response.body
    consumer = api_client(site, "consumer")
    response = consumer.get("/api/v1/export/?format=jsonl")
    assert response.status == 200, response.body
    (pair,) = [json.loads(line) for line in response.body.decode().splitlines()]
    assert (pair["id"], pair["caption"], pair["status"], pair["reviewer"]) == (
        claimed["id"], claimed["text"], "approved", "annotator"
    )  # fmt: skip
    # Its image, from the local store through the API, at the address the proxy gave.
    assert pair["image_url"].startswith(f"https://127.0.0.1:{site.port}/api/v1/")
    image = consumer.get(urllib.parse.urlsplit(pair["image_url"]).path)
    assert image.status == 200
    assert image.headers["Content-Type"].startswith("image/")

    # --- static files from gunicorn itself, under names that never change ----------
    page = site.visitor().get("/accounts/login/")
    assert page.status == 200
    stylesheet = re.search(rb'href="(/static/[^"]+\.[0-9a-f]{12}\.css)"', page.body)
    assert stylesheet, "the login page names no hashed stylesheet"
    response = site.visitor().get(
        stylesheet.group(1).decode(), headers={"Accept-Encoding": "gzip"}
    )
    assert response.status == 200
    assert "max-age=315360000" in response.headers["Cache-Control"]
    assert "immutable" in response.headers["Cache-Control"]
    assert response.headers["Content-Encoding"] == "gzip"

    # --- the operators' view: readiness, metrics across gunicorn's processes --------
    ready = site.visitor().get("/readyz")
    assert (ready.status, ready.json()["status"]) == (200, "ok")
    metrics = site.visitor().get(
        "/metrics", headers={"Authorization": f"Bearer {site.env['METRICS_TOKEN']}"}
    )
    assert metrics.status == 200
    assert b'chatearthnet_captions{status="approved"} 1.0' in metrics.body
    assert b"chatearthnet_workers_live 1.0" in metrics.body

    # --- beat: its schedule in VAR_DIR, its periodic task sent and run ------------
    if settings.CELERY_BEAT_SCHEDULE:
        site.wait_until(
            lambda: "Sending due task" in site.logs["beat"].read_text(),
            "beat to send its periodic task",
        )
        task = next(iter(settings.CELERY_BEAT_SCHEDULE.values()))["task"]
        site.wait_until(
            lambda: f"Task {task}[" in site.logs["worker"].read_text(),
            f"the worker to receive {task} from beat",
        )
    assert list(site.var_dir.glob("celerybeat-schedule*"))

    # --- a stop as systemd sends it: each process ends by itself -------------------
    for name, process in site.processes.items():
        assert stop(process) == 0, f"{name} did not stop cleanly\n{site.log_tails()}"
    # The worker's warm shutdown took its heartbeat away.
    with psycopg.connect(site.env["DATABASE_URL"]) as database:
        heartbeats = database.execute(
            "SELECT count(*) FROM captions_workerheartbeat"
        ).fetchone()
    assert heartbeats == (0,)
