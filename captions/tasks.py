from celery import shared_task

from captions.claims import Claim
from captions.export import release_files, releases
from captions.generation import batches, runner
from captions.ingest import scenes
from captions.log_context import log_ids

# Work another live worker holds is tried again once that worker could have gone
# silent for good (claims.py): it is then taken over if its worker died, or found done.
# The same for every kind of long-running work.
LONG_RUNNING = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "bind": True,
    "max_retries": None,
}


@shared_task(name="captions.ingest_scene", **LONG_RUNNING)
def ingest_scene(self, scene_id: int) -> dict:
    """Safe to run twice: a ready scene returns at once, a failed one restarts, and
    one whose worker died is taken over once its heartbeat is stale."""
    try:
        with log_ids(scene_id=scene_id):
            return scenes.scene_ingest(scene_id=scene_id).as_json()
    except scenes.SceneBusy as busy:
        stale = scenes.STALE_INGEST_AFTER.total_seconds()
        raise self.retry(exc=busy, countdown=stale) from None
    except scenes.IngestError as error:
        # The scene row carries the reason; the admin page shows it.
        return {"scene_id": scene_id, "error": str(error)}


@shared_task(name="captions.generate_chunk", **LONG_RUNNING)
def generate_chunk(self, job_id: int, index: int) -> None:
    """Safe to run twice: one worker at a time claims the chunk, and patches this job
    captioned or failed are skipped."""
    if runner.job_run_chunk(job_id=job_id, index=index) is Claim.BUSY:
        raise self.retry(countdown=runner.chunk_stale_after().total_seconds())


@shared_task(name="captions.submit_batch", **LONG_RUNNING)
def submit_batch(self, batch_id: int) -> None:
    """Safe to run twice: one worker at a time claims the batch, and one that took
    over from a dead worker looks for the batch it created before creating one."""
    with log_ids(llm_batch_id=batch_id):
        batches.batch_submit(batch_id=batch_id)


@shared_task(name="captions.poll_batches")
def poll_batches() -> None:
    """Run by Celery beat (CELERY_BEAT_SCHEDULE). Safe to run twice and from two
    beats at once: each batch is asked about by one poller (a compare-and-set), and
    ingests and submissions it queues claim their batch."""
    batches.batches_poll()


@shared_task(name="captions.ingest_batch", **LONG_RUNNING)
def ingest_batch(self, batch_id: int) -> None:
    """Safe to run twice: the ingest claims its batch, an ingested batch is left
    alone, and a caption or failure already written is not written again. A batch
    another worker is ingesting is left to it (the next poll queues it again if
    that worker died)."""
    with log_ids(llm_batch_id=batch_id):
        batches.batch_ingest(batch_id=batch_id)


@shared_task(name="captions.build_release", **LONG_RUNNING)
def build_release(self, release_id: int, rebuild: bool = False) -> dict:
    """Safe to run twice: a done release returns at once, one that another worker is
    building is left to it (or taken over once its heartbeat is stale), and the files
    move into place only when whole."""
    try:
        with log_ids(release_id=release_id):
            release = releases.release_build(release_id=release_id, rebuild=rebuild)
    except release_files.ReleaseBusy as busy:
        stale = releases.STALE_BUILD_AFTER.total_seconds()
        raise self.retry(exc=busy, countdown=stale) from None
    except release_files.ReleaseError as error:
        # The release row carries the reason; the admin page and the API show it.
        return {"release_id": release_id, "error": str(error)}
    return {"release_id": release_id, "status": release.status}
