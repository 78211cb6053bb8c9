"""Reads of the captions app, shaped once for pages, the API and commands."""

from django.utils import timezone

from captions.models import GenerationJob


def job_summary(job: GenerationJob) -> dict:
    """A job as one JSON object: counts, rate, ETA, tokens and cost."""
    processed = job.done + job.failed
    rate = None
    eta_s = None
    if job.started_at and processed:
        end = job.finished_at or timezone.now()
        elapsed = max((end - job.started_at).total_seconds(), 1e-6)
        rate = processed / elapsed
        running = (GenerationJob.Status.QUEUED, GenerationJob.Status.RUNNING)
        if job.status in running and rate > 0:
            eta_s = max(job.total - processed, 0) / rate
    return {
        "id": job.pk,
        "status": job.status,
        "backend": job.backend,
        "base_url": job.base_url,
        "model": job.model,
        "template": str(job.template),
        "selection": job.selection,
        "options": job.options,
        "total": job.total,
        "done": job.done,
        "failed": job.failed,
        "rate_per_s": round(rate, 2) if rate is not None else None,
        "eta_s": round(eta_s, 1) if eta_s is not None else None,
        "tokens_in": job.tokens_in,
        "tokens_out": job.tokens_out,
        "estimated_cost": job.estimated_cost,
        "actual_cost": round(job.actual_cost, 6),
        "error": job.error,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
