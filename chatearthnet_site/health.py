"""/healthz and /readyz: is the process up, and can the site do its work now?

Liveness (/healthz) touches no service: a probe that restarts a process whose
liveness fails must not restart every web process because the database is down.
Readiness (/readyz) runs django-health-check's checks, some of them ours: the
database, the broker, file storage, and a worker's heartbeat. Both answer JSON to
anyone (they are probes), GET and HEAD only, and never a DSN, a password, a path or
a traceback: each failed check gives a short reason, and an unexpected error is
logged and answered "unknown error" (health_check.base).
"""

import asyncio
import dataclasses
import logging
import os
import tempfile
import timeit
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import ClassVar

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.csrf import csrf_exempt
from health_check import Database, HealthCheck, Storage
from health_check.base import HealthCheckResult
from health_check.contrib.redis import Redis
from health_check.exceptions import HealthCheckException, ServiceUnavailable
from kombu import Connection
from redis.asyncio import Redis as RedisClient

from captions.workers import live_worker_count

logger = logging.getLogger("health_check")

SAFE_METHODS = ("GET", "HEAD")
# What a database error says, in the words an operator acts on; checked in order.
DATABASE_REASONS = (
    ("refused", "connection refused"),
    ("timeout", "connection timed out"),
    ("timed out", "connection timed out"),
    ("password", "authentication failed"),
    ("authentication", "authentication failed"),
    ("role", "the database user does not exist"),
    ("does not exist", "the database does not exist"),
    ("translate host name", "unknown host"),
    ("unable to open database file", "cannot open the database file"),
)


def database_reason(error: BaseException | None) -> str:
    text = str(error).lower()
    for phrase, reason in DATABASE_REASONS:
        if phrase in text:
            return reason
    return "unavailable (the web server's log says why)"


@dataclasses.dataclass
class DatabaseCheck(Database):
    """SELECT 1 on the default database."""

    name: ClassVar[str] = "database"

    def run(self) -> None:
        try:
            super().run()
        except ServiceUnavailable as unavailable:
            # The library keeps the text before the driver's first colon; the driver
            # itself says more, and reasons are matched on it, never quoted.
            raise ServiceUnavailable(
                database_reason(unavailable.__cause__)
            ) from unavailable.__cause__


@dataclasses.dataclass
class StorageCheck(Storage):
    """Write, read back and delete a probe file in the default storage."""

    name: ClassVar[str] = "storage"

    def run(self) -> None:
        try:
            super().run()
        except OSError as error:
            # strerror ("Permission denied", "Read-only file system") without the
            # path it happened at.
            reason = (error.strerror or type(error).__name__).lower()
            raise ServiceUnavailable(f"cannot write a probe file: {reason}") from error


@dataclasses.dataclass
class RedisBrokerCheck(Redis):
    """PING to Celery's broker when it is Redis."""

    name: ClassVar[str] = "broker"


@dataclasses.dataclass
class FileSystemBrokerCheck(HealthCheck):
    """The file-system broker's folders exist and take a file: a message is a file
    written in one and moved to another."""

    name: ClassVar[str] = "broker"
    # Transport option → the word a reason uses; the paths never appear.
    FOLDERS: ClassVar[dict[str, str]] = {
        "data_folder_in": "queue",
        "data_folder_out": "queue",
        "processed_folder": "processed",
        "control_folder": "control",
    }

    def run(self) -> None:
        options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        for option, word in self.FOLDERS.items():
            if option in options:
                self.check_folder(Path(str(options[option])), word)

    @staticmethod
    def check_folder(folder: Path, word: str) -> None:
        if not folder.is_dir():
            raise ServiceUnavailable(f"the {word} folder does not exist")
        try:
            # No dot before the suffix's: the transport reads only "<n>.<queue>.msg".
            handle, probe = tempfile.mkstemp(
                prefix="readyz-probe-", suffix=".tmp", dir=folder
            )
            os.close(handle)
            os.remove(probe)
        except OSError as error:
            reason = (error.strerror or type(error).__name__).lower()
            raise ServiceUnavailable(
                f"cannot write to the {word} folder: {reason}"
            ) from error


@dataclasses.dataclass
class WorkerHeartbeatCheck(HealthCheck):
    """At least one Celery worker wrote its heartbeat (captions/workers.py) within
    WORKER_HEARTBEAT_MAX_AGE_S."""

    name: ClassVar[str] = "workers"

    def run(self) -> None:
        try:
            alive = live_worker_count()
        except DatabaseError as error:
            text = str(error).lower()
            if "no such table" in text or ("relation" in text and "not exist" in text):
                reason = "the heartbeats' table is missing: run `manage.py migrate`"
            else:
                reason = (
                    "cannot read the workers' heartbeats: the database is unavailable"
                )
            raise ServiceUnavailable(reason) from error
        if not alive:
            raise ServiceUnavailable(
                "no Celery worker has reported in the last "
                f"{settings.WORKER_HEARTBEAT_MAX_AGE_S} s"
            )


@dataclasses.dataclass
class KombuBrokerCheck(HealthCheck):
    """Any other broker Celery speaks to: a connection opens."""

    name: ClassVar[str] = "broker"
    url: str = dataclasses.field(default="", repr=False)

    def run(self) -> None:
        try:
            with Connection(self.url, connect_timeout=3) as connection:
                connection.ensure_connection(max_retries=1)
        except Exception as error:
            raise ServiceUnavailable(
                f"cannot connect ({type(error).__name__})"
            ) from error


def broker_check() -> HealthCheck:
    url = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://")):
        return RedisBrokerCheck(
            client_factory=lambda: RedisClient.from_url(
                url, socket_connect_timeout=3, socket_timeout=3
            )
        )
    if url.startswith("filesystem://"):
        return FileSystemBrokerCheck()
    return KombuBrokerCheck(url=url)


def _method_not_allowed() -> HttpResponse:
    response = JsonResponse(
        {"status": "error", "reason": "method not allowed: use GET or HEAD"},
        status=405,
    )
    response["Allow"] = ", ".join(SAFE_METHODS)
    return response


@csrf_exempt
def healthz(request: HttpRequest) -> HttpResponse:
    """The process answers: nothing else is asked."""
    if request.method not in SAFE_METHODS:
        return _method_not_allowed()
    response = JsonResponse({"status": "ok"})
    add_never_cache_headers(response)
    return response


def _result_in_a_thread_of_its_own(check: HealthCheck) -> HealthCheckResult:
    # With an event loop of its own: the request's thread may run one already (a
    # test's browser driver does), where the library's async runner cannot start.
    return asyncio.run(check.get_result())


def _result_on_this_thread(check: HealthCheck) -> HealthCheckResult:
    """As `HealthCheck.get_result`, for a sync check that must read the database on
    the request's own connection (and transaction)."""
    started = timeit.default_timer()
    error: HealthCheckException | None = None
    try:
        check.run()
    except HealthCheckException as failure:
        error = failure
        logger.warning("Health check %r failed", check, exc_info=True)
    except Exception:
        logger.exception("Unexpected exception during health check")
        error = HealthCheckException("unknown error")
    return HealthCheckResult(
        check=check, error=error, time_taken=timeit.default_timer() - started
    )


def _waited(
    check: HealthCheck, pending: Future[HealthCheckResult]
) -> HealthCheckResult:
    # The library gives a check its timeout and a second; a sync check it ran may
    # still hang past that (a connect to a host that never answers): not the probe.
    allowed_s = check.timeout.total_seconds() + 2
    try:
        return pending.result(timeout=allowed_s)
    except FutureTimeout:
        reason = f"timed out after {check.timeout.total_seconds():g} seconds"
        return HealthCheckResult(
            check=check, error=ServiceUnavailable(reason), time_taken=allowed_s
        )


def readiness_results() -> list[HealthCheckResult]:
    """The services' checks side by side, each in a thread; the workers' check
    meanwhile on the request's thread."""
    services = [DatabaseCheck(), broker_check(), StorageCheck()]
    pool = ThreadPoolExecutor(max_workers=len(services), thread_name_prefix="readyz")
    try:
        pending = [
            (check, pool.submit(_result_in_a_thread_of_its_own, check))
            for check in services
        ]
        workers = _result_on_this_thread(WorkerHeartbeatCheck())
        return [*(_waited(check, future) for check, future in pending), workers]
    finally:
        pool.shutdown(wait=False)


@csrf_exempt
def readyz(request: HttpRequest) -> HttpResponse:
    """200 when every check passes, else 503 naming the ones that fail."""
    if request.method not in SAFE_METHODS:
        return _method_not_allowed()
    response = readiness_response(readiness_results())
    add_never_cache_headers(response)
    return response


def readiness_response(results: Sequence[HealthCheckResult]) -> JsonResponse:
    checks = {
        getattr(result.check, "name", type(result.check).__name__): (
            {"status": "error", "reason": result.error.message}
            if result.error
            else {"status": "ok"}
        )
        for result in results
    }
    ready = all(check["status"] == "ok" for check in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "error", "checks": checks},
        status=200 if ready else 503,
    )
