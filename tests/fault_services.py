"""Private Redis and PostgreSQL servers that a fault test may stop and start.

The machine's own servers are shared with everyone's tests at the same moment: a test
that restarts a service starts its own from the same binaries, on a free loopback
port, with its files in a temporary folder it removes afterwards. PostgreSQL refuses
to run as root, so as root the cluster belongs to the `postgres` user (`runuser`).
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import redis
from django.conf import settings

from tests.conftest import uses_redis_broker
from tests.services import free_port

STARTS_WITHIN_S = 30

# The servers here are private, but what they stand in for is the production stack.
in_the_services_pass = pytest.mark.skipif(
    not uses_redis_broker()
    or settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"),
    reason="the fault tests run in the PostgreSQL + Redis pass",
)


def _require_binaries(*names: str) -> None:
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        pytest.skip(f"the fault tests start their own servers: {missing} not found")


def _wait_until(ready: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + STARTS_WITHIN_S
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not start in {STARTS_WITHIN_S} s")
        time.sleep(0.05)


class RedisServer:
    """`redis-server` on a free port, keeping nothing on disk: a restart empties it,
    as a Redis without persistence (or one whose machine was replaced) comes back."""

    def __init__(self, log_path: Path) -> None:
        _require_binaries("redis-server")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        _wait_until(self._answers, "redis-server")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
        self.process = None

    def _answers(self) -> bool:
        assert self.process is not None and self.process.poll() is None, (
            self.log_path.read_text()
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False
        finally:
            client.close()


@contextmanager
def redis_server(log_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(log_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses root: as root, run its tools as the `postgres` user."""
    if os.geteuid() != 0:
        return command
    _require_binaries("runuser")
    return ["runuser", "-u", "postgres", "--", *command]


class PostgresCluster:
    """A PostgreSQL cluster made with `initdb` in a temporary folder, trust
    authentication on loopback, stopped and started with `pg_ctl`."""

    def __init__(self) -> None:
        _require_binaries("initdb", "pg_ctl", "postgres")
        # Not under pytest's tmp_path: the postgres user must reach the folder.
        self.folder = Path(tempfile.mkdtemp(prefix="faults-pg-"))
        self.data = self.folder / "data"
        self.sockets = self.folder / "sockets"
        self.sockets.mkdir()
        self.log_path = self.folder / "postgres.log"
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
            shutil.chown(self.sockets, "postgres")
        self.port = free_port()
        self._run(["initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                   "--no-sync", "-E", "UTF8"])  # fmt: skip

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sockets} "
            "-c fsync=off -c full_page_writes=off"
        )
        self._pg_ctl("start", "-o", options, "-l", str(self.log_path))

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session and shuts down cleanly; `immediate` is a crash."""
        self._pg_ctl("stop", "-m", mode)

    def create_database(self, name: str) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def _pg_ctl(self, *arguments: str) -> None:
        self._run(["pg_ctl", "-D", str(self.data), "-w", "-t", "60", *arguments])

    def _run(self, command: list[str]) -> None:
        done = subprocess.run(
            _as_postgres(command), capture_output=True, text=True, timeout=120
        )
        log = self.log_path.read_text() if self.log_path.exists() else ""
        assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}{log}"


@contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()
