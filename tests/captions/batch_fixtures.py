"""Batch jobs for the tests: launched on the endpoint "fake" (`llm_endpoint`), and
driven in this process step by step as the workers and Celery beat would drive them
(captions/generation/batches.py)."""

from typing import Any

from captions.generation.batches import batch_ingest, batch_submit, batches_poll
from captions.generation.jobs import job_launch
from captions.generation.options import JobOptions, Selection
from captions.models import GenerationJob, LLMBatch

MODEL = "gpt-4o-mini"


def launch_batch_job(**overrides) -> GenerationJob:
    arguments: dict[str, Any] = {
        "selection": Selection(),
        "backend": "openai",
        "model": MODEL,
        "template": "chatearthnet-text",
        "endpoint": "fake",
        "options": JobOptions(batch=True),
    }
    arguments.update(overrides)
    return job_launch(**arguments)


def submit_all(job: GenerationJob) -> None:
    """Submit the job's planned batches, and those a submission split off."""
    planned = job.batches.filter(status=LLMBatch.Status.PLANNED)
    while planned.exists():
        for batch_id in planned.values_list("pk", flat=True):
            batch_submit(batch_id=batch_id)


def poll_until_ended(job: GenerationJob, *, rounds: int = 10) -> None:
    """Poll as beat would, until every batch of the job has ended at the provider,
    then ingest each as the tasks the poll queues would."""
    for _ in range(rounds):
        if not job.batches.filter(status__in=LLMBatch.OPEN).exists():
            break
        batches_poll(min_interval_s=0)
    for batch_id in job.batches.values_list("pk", flat=True):
        batch_ingest(batch_id=batch_id)
    job.refresh_from_db()


def run_batch_job(job: GenerationJob) -> None:
    submit_all(job)
    poll_until_ended(job)
