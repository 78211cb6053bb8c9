"""How a job's numbers read on its admin pages: the same texts fill the page and its
progress JSON, from which static/captions/job_progress.js updates the page, so a value
looks the same before and after the first poll."""

from captions.models import GenerationJob


def money_text(value: float | None) -> str:
    if value is None:
        return "unknown price"
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def rate_text(rate_per_s: float | None) -> str:
    return "—" if rate_per_s is None else f"{rate_per_s:.1f} / s"


def actual_cost_text(job: GenerationJob) -> str:
    # Without a price the workers count the cost as 0; say that it is not known.
    return money_text(None if job.estimated_cost is None else job.actual_cost)


def job_live_texts(job: GenerationJob, summary: dict) -> dict[str, str]:
    """The values a job's pages keep live, by the name of their field
    (`data-job-field`); `summary` is the job's `selectors.job_summary`."""
    return {
        "done": f"{job.done:,}",
        "failed": f"{job.failed:,}",
        "total": f"{job.total:,}",
        "rate": rate_text(summary["rate_per_s"]),
        "eta": duration_text(summary["eta_s"]),
        "tokens_in": f"{job.tokens_in:,}",
        "tokens_out": f"{job.tokens_out:,}",
        "actual_cost": actual_cost_text(job),
    }


def job_bar_widths(job: GenerationJob) -> dict[str, str]:
    """The widths (percent of the total) of the bars of done and failed patches."""
    total = max(job.total, 1)
    return {
        "done": f"{100 * job.done / total:.2f}",
        "failed": f"{100 * job.failed / total:.2f}",
    }
