"""Work whose broker message was lost is queued again.

A queued task lives only in the broker. A Redis without persistence that restarts
comes back empty (a replaced machine too): the generation chunks and scene ingests
it held would wait for ever, their rows still saying "pending" or "queued". Each
live worker looks at every heartbeat (captions/workers.py): when the broker's queue
is empty, work that has waited longer than its stale time has no message left, or
its worker died with it; it is sent again. A second message for the same work is
harmless: the claims (captions/claims.py) let one run do it, and the work itself
skips what is done.
"""

import datetime as dt
import logging

from celery import current_app
from django.db.models import Model
from django.utils import timezone
from kombu.exceptions import KombuError

from captions.generation.runner import chunk_stale_after
from captions.ingest.scenes import STALE_INGEST_AFTER
from captions.models import GenerationJob, JobChunk, Scene

logger = logging.getLogger(__name__)

_RUNNABLE = (GenerationJob.Status.QUEUED, GenerationJob.Status.RUNNING)


def broker_queue_is_empty() -> bool:
    """True when the product's queues (the default one, and those `task_routes`
    sends tasks to, e.g. INGEST_QUEUE) hold no message; False too when the broker
    does not answer: nothing can be sent then anyway."""
    with current_app.connection_for_write() as connection:
        try:
            connection.ensure_connection(max_retries=1)
            channel = connection.default_channel
        except (KombuError, *connection.connection_errors) as error:
            logger.debug("the broker's queue could not be read: %s", error)
            return False
        for queue in _queues():
            try:
                declared = channel.queue_declare(queue=queue, passive=True)
            except connection.channel_errors:
                continue  # Redis keeps no empty list: no queue, no message
            except connection.connection_errors as error:
                logger.debug("the broker's queue could not be read: %s", error)
                return False
            if declared.message_count:
                return False
        return True


def _queues() -> set[str]:
    queues = {current_app.conf.task_default_queue}
    routes = current_app.conf.task_routes
    if isinstance(routes, dict):
        queues |= {
            route["queue"]
            for route in routes.values()
            if isinstance(route, dict) and route.get("queue")
        }
    return queues


def lost_work_requeue() -> int:
    """Queue again the chunks of running jobs and the scene ingests that have waited
    past their stale time, if the broker's queue is empty; returns how many."""
    if not broker_queue_is_empty():
        return 0
    sent = _requeue_chunks() + _requeue_scene_ingests()
    if sent:
        logger.warning(
            "the broker's queue is empty but %s pieces of work waited past their "
            "stale time: their messages were lost; queued them again",
            sent,
        )
    return sent


def _requeue_chunks() -> int:
    from captions import tasks  # tasks import the runner, which this imports

    cutoff = timezone.now() - chunk_stale_after()
    waiting = JobChunk.objects.filter(job__status__in=_RUNNABLE, updated_at__lt=cutoff)
    sent = 0
    for pk, job_id, index, status in waiting.filter(
        status__in=(JobChunk.Status.PENDING, JobChunk.Status.RUNNING)
    ).values_list("pk", "job_id", "index", "status"):
        # A pending chunk is touched first, so of two workers looking at once one
        # sends it. A running one is not: `updated_at` is its holder's heartbeat,
        # which the next run reads to take it over.
        pending = status == JobChunk.Status.PENDING
        if pending and not _touched(JobChunk, pk, status=status, cutoff=cutoff):
            continue
        tasks.generate_chunk.delay(job_id, index)
        sent += 1
    return sent


def _requeue_scene_ingests() -> int:
    from captions import tasks  # tasks import the ingest, which this imports

    cutoff = timezone.now() - STALE_INGEST_AFTER
    waiting = Scene.objects.filter(
        source_kind=Scene.SourceKind.GEOTIFF,
        status__in=(Scene.Status.QUEUED, Scene.Status.INGESTING),
        updated_at__lt=cutoff,
    )
    sent = 0
    for pk, status in waiting.values_list("pk", "status"):
        queued = status == Scene.Status.QUEUED
        if queued and not _touched(Scene, pk, status=status, cutoff=cutoff):
            continue
        tasks.ingest_scene.delay(pk)
        sent += 1
    return sent


def _touched(model: type[Model], pk: int, *, status: str, cutoff: dt.datetime) -> bool:
    rows = model._default_manager.filter(pk=pk, status=status, updated_at__lt=cutoff)
    return rows.update(updated_at=timezone.now()) == 1
