"""Real services the tests talk to: skipped where they are absent, required in CI."""

import atexit
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

ROOT = Path(__file__).resolve().parent.parent


def require_redis(url: str) -> redis.Redis:
    """A client for the Redis at `url`; skip the test if it does not answer, or fail
    it under CI=true, where a missing service is a broken machine, not a laptop."""
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as error:
        message = f"Redis does not answer at {url}: {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (CI=true: the tests need it)")
        pytest.skip(message)
    return client


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


_collected_static: list[Path] = []


def collected_static_root() -> str:
    """Static files as `collectstatic` writes them with DEBUG off (names with their
    hash, chatearthnet_site/settings.py), once per test session: a process with
    DEBUG off renders a page only with them. Set STATIC_ROOT to this folder."""
    if not _collected_static:
        root = Path(tempfile.mkdtemp(prefix="chatearthnet-static-"))
        atexit.register(shutil.rmtree, root, True)
        (root / "imagery").mkdir()
        env = {
            "PATH": os.environ["PATH"],
            "SECRET_KEY": secrets.token_urlsafe(50),
            "INGEST_ROOTS": str(root / "imagery"),
            "VAR_DIR": str(root / "var"),
            "STATIC_ROOT": str(root / "static"),
        }
        python = [sys.executable, *(["-S"] if sys.flags.no_site else [])]
        subprocess.run(
            [*python, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            cwd=ROOT, env=env, check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        _collected_static.append(root / "static")
    return str(_collected_static[0])


def operator_env(
    tmp_path: Path, *, secret_key: str, drop: tuple[str, ...] = ()
) -> dict[str, str]:
    """The environment an operator gives a process with DEBUG off, for a test that
    starts one: this process's variables without DEBUG, DATABASE_URL, MEDIA_ROOT (and
    `drop`), a secret key, an empty imagery folder, loopback as the only host and
    the var folder under `tmp_path`. Callers add what their test is about."""
    imagery = tmp_path / "imagery"
    imagery.mkdir(exist_ok=True)
    dropped = {"DEBUG", "DATABASE_URL", "MEDIA_ROOT", *drop}
    env = {key: value for key, value in os.environ.items() if key not in dropped}
    return env | {
        "SECRET_KEY": secret_key,
        "INGEST_ROOTS": str(imagery),
        "ALLOWED_HOSTS": "127.0.0.1",
        "VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": "chatearthnet_site.settings",
    }


def debug_on(env: dict) -> bool:
    return env.get("DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}


@contextmanager
def gunicorn_running(env: dict, log_path: Path, ready_path: str) -> Iterator[str]:
    """gunicorn (one worker process) with `env` on a free loopback port, its output
    in `log_path`; yields its URL once `ready_path` answers, stops it afterwards.
    With DEBUG off in `env` and no STATIC_ROOT, it serves the session's
    collected_static_root(). Run with -S when this interpreter has it (to test
    another checkout than the installed one): the server imports the same code as
    this process."""
    python = [sys.executable, *(["-S"] if sys.flags.no_site else [])]
    if not debug_on(env) and "STATIC_ROOT" not in env:
        env = {**env, "STATIC_ROOT": collected_static_root()}
    port = free_port()
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [*python, "-m", "gunicorn", "chatearthnet_site.wsgi", "-w", "1",
             "-b", f"127.0.0.1:{port}"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}{ready_path}", timeout=5)
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
