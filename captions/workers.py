"""Which Celery workers are alive, whatever the broker.

Each worker keeps a row of its own (`WorkerHeartbeat`) fresh from a thread that starts
when the worker is ready and stops when it shuts down (chatearthnet_site/celery.py
connects the signals). `celery inspect ping` would need the broker's remote control,
which the file-system broker lacks; the database every process already shares needs
nothing more. A row that stopped moving belongs to a worker that died: /readyz and the
jobs page tell it from a live one by its age.

The rows are the workers' own, apart from the heartbeats of the work they hold
(captions/claims.py): a worker can be alive with nothing to do. At each beat a worker
also queues again work whose broker message was lost (captions/lost_messages.py).
"""

import datetime as dt
import logging
import os
import threading
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections
from django.utils import timezone

from captions.lost_messages import lost_work_requeue
from captions.models import WorkerHeartbeat

logger = logging.getLogger(__name__)

# At most this long between two beats; shorter when WORKER_HEARTBEAT_MAX_AGE_S is.
LONGEST_BEAT_INTERVAL_S = 15.0
# A row untouched this long is a worker gone for good (killed, its machine lost): it
# is dropped, so that the jobs page does not list it for ever.
FORGET_AFTER = dt.timedelta(days=1)


@dataclass(frozen=True)
class WorkerSeen:
    hostname: str
    last_seen: dt.datetime
    seconds_ago: int
    alive: bool


def heartbeat_max_age() -> dt.timedelta:
    """How old the newest heartbeat of a live worker may be."""
    return dt.timedelta(seconds=settings.WORKER_HEARTBEAT_MAX_AGE_S)


def beat_interval_s() -> float:
    # Four beats per allowed age: one late beat never makes a live worker look dead.
    return min(LONGEST_BEAT_INTERVAL_S, settings.WORKER_HEARTBEAT_MAX_AGE_S / 4)


def worker_heartbeat_record(
    *, hostname: str, pid: int, started_at: dt.datetime
) -> None:
    """Say "`hostname` is alive now", and forget workers gone for a day."""
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname,
        defaults={"pid": pid, "started_at": started_at, "last_seen": now},
    )
    WorkerHeartbeat.objects.filter(last_seen__lt=now - FORGET_AFTER).delete()


def worker_heartbeat_remove(*, hostname: str, pid: int) -> None:
    """A worker stopping cleanly leaves no row; the pid keeps a worker that stops
    late from removing the row of its successor of the same name."""
    WorkerHeartbeat.objects.filter(hostname=hostname, pid=pid).delete()


def workers_seen() -> list[WorkerSeen]:
    """Every worker with a heartbeat row, live or not, by hostname."""
    now = timezone.now()
    cutoff = now - heartbeat_max_age()
    return [
        WorkerSeen(
            hostname=hostname,
            last_seen=last_seen,
            seconds_ago=max(0, int((now - last_seen).total_seconds())),
            alive=last_seen >= cutoff,
        )
        for hostname, last_seen in WorkerHeartbeat.objects.values_list(
            "hostname", "last_seen"
        )
    ]


def live_worker_count() -> int:
    cutoff = timezone.now() - heartbeat_max_age()
    return WorkerHeartbeat.objects.filter(last_seen__gte=cutoff).count()


class HeartbeatThread(threading.Thread):
    """Beats for the worker process it runs in until `stop()`; then removes the
    worker's row. A daemon: a worker that exits without a clean stop leaves the row
    to age, which is how a dead worker shows."""

    def __init__(self, hostname: str) -> None:
        super().__init__(name=f"heartbeat of {hostname}", daemon=True)
        self.hostname = hostname
        self.pid = os.getpid()
        self.started_at = timezone.now()
        self._stopping = threading.Event()

    def run(self) -> None:
        try:
            while True:
                self._beat()
                if self._stopping.wait(beat_interval_s()):
                    break
            close_old_connections()
            worker_heartbeat_remove(hostname=self.hostname, pid=self.pid)
        except DatabaseError:
            logger.warning("could not remove the heartbeat of %s", self.hostname)
        finally:
            connections.close_all()

    def _beat(self) -> None:
        # A connection broken by a database restart is replaced, not reused.
        close_old_connections()
        try:
            worker_heartbeat_record(
                hostname=self.hostname, pid=self.pid, started_at=self.started_at
            )
        except DatabaseError as error:
            # The worker goes on; /readyz shows the database, then the stale row.
            logger.warning("worker heartbeat not recorded: %s", error)
            return
        # A live worker also sends again the work whose message the broker lost;
        # whatever breaks there, the heartbeat goes on.
        try:
            lost_work_requeue()
        except Exception:
            logger.exception("could not look for work whose message was lost")

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping.set()
        self.join(timeout_s)


_running: dict[str, HeartbeatThread] = {}


def worker_heartbeat_start(*, hostname: str) -> None:
    """Start beating for this worker process (Celery's `worker_ready`)."""
    if hostname in _running:
        return
    thread = HeartbeatThread(hostname)
    _running[hostname] = thread
    thread.start()


def worker_heartbeat_stop(*, hostname: str) -> None:
    """Stop beating and remove the row (Celery's `worker_shutdown`)."""
    thread = _running.pop(hostname, None)
    if thread is not None:
        thread.stop()
