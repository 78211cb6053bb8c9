from celery import shared_task

from captions.export import releases
from captions.generation import jobs
from captions.ingest import scenes


@shared_task(name="captions.ingest_scene", acks_late=True, reject_on_worker_lost=True)
def ingest_scene(scene_id: int) -> dict:
    """Safe to run twice: a ready scene returns at once, a failed one restarts."""
    try:
        return scenes.scene_ingest(scene_id=scene_id).as_json()
    except scenes.IngestError as error:
        # The scene row carries the reason; the admin page shows it.
        return {"scene_id": scene_id, "error": str(error)}


@shared_task(name="captions.generate_chunk", acks_late=True, reject_on_worker_lost=True)
def generate_chunk(job_id: int, index: int) -> None:
    """Safe to run twice: patches this job captioned or failed are skipped."""
    jobs.job_run_chunk(job_id=job_id, index=index)


@shared_task(name="captions.build_release", acks_late=True, reject_on_worker_lost=True)
def build_release(release_id: int, rebuild: bool = False) -> dict:
    """Safe to run twice: a done release returns at once, one that another worker is
    building is left to it, and the files move into place only when whole."""
    try:
        release = releases.release_build(release_id=release_id, rebuild=rebuild)
    except releases.ReleaseError as error:
        # The release row carries the reason; the admin page and the API show it.
        return {"release_id": release_id, "error": str(error)}
    return {"release_id": release_id, "status": release.status}
