import os
from contextvars import Token

from celery import Celery
from celery.signals import (
    setup_logging,
    task_postrun,
    task_prerun,
    worker_ready,
    worker_shutdown,
)

from captions.log_context import bind_log_ids, unbind_log_ids

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatearthnet_site.settings")

app = Celery("chatearthnet_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Each worker says it is alive in the database (captions/workers.py), for /readyz and
# the jobs page; the models are imported once the worker has set Django up.
@worker_ready.connect
def start_worker_heartbeat(sender, **kwargs) -> None:
    from captions.workers import worker_heartbeat_start

    worker_heartbeat_start(hostname=sender.hostname)


@worker_shutdown.connect
def stop_worker_heartbeat(sender, **kwargs) -> None:
    from captions.workers import worker_heartbeat_stop

    worker_heartbeat_stop(hostname=sender.hostname)


# --- Logs (docs/operations.md) ------------------------------------------------------
@setup_logging.connect
def use_the_sites_logging(**kwargs) -> None:
    """A receiver here keeps Celery from replacing the root logger's handlers with its
    own: the worker's lines then follow LOG_FORMAT and carry the ids, as the web's do
    (LOG_LEVEL, not `--loglevel`, sets the level)."""
    from django.conf import settings
    from django.utils.log import configure_logging

    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)


# The lines of a task carry its id; the stages add their own (a chunk's job and chunk).
_task_log_ids: dict[str, Token] = {}


@task_prerun.connect
def bind_task_id(task_id: str, **kwargs) -> None:
    _task_log_ids[task_id] = bind_log_ids(task_id=task_id)


@task_postrun.connect
def unbind_task_id(task_id: str, **kwargs) -> None:
    token = _task_log_ids.pop(task_id, None)
    if token is not None:
        unbind_log_ids(token)
