"""How each source of captions fares with reviewers (issue 12, item 4): per prompt
template version and model (and per imported file), the approve, edit and reject
counts, the share kept with its 95% Wilson interval, and the commonest reject reasons;
and each A/B job's arms side by side, with the difference and its interval.

Read by the dashboard (curators) and `GET /api/v1/quality/prompts/`, `…/ab/`.
"""

from collections import Counter
from collections.abc import Iterator

from django.db.models import Count, Q

from captions.models import Caption, GenerationJob, PromptTemplate
from captions.proportions import difference_interval, wilson_interval
from verification.models import Revision

REASONS_SHOWN = 3
# Distinct (source, reason) pairs read for the reasons: enough for the top few of
# each source, bounded whatever the number of reviews.
REASON_ROWS_READ = 5000
_STATUSES = ("approved", "edited", "rejected")
# Grouped by the template's id, not its name: no join on 100,000s of rows; the few
# templates are read once after (`_templates`).
_SOURCE_FIELDS = ("source", "template_id", "model")
_Key = tuple[str, int | None, str]


def prompt_quality() -> list[dict]:
    """One row per source of captions that has reviewed captions, most reviewed
    first: counts, shares and the share kept (approved or edited) with its interval."""
    rows = (
        Caption.objects.filter(status__in=_STATUSES)
        .values(*_SOURCE_FIELDS)
        .annotate(
            **{status: Count("id", filter=Q(status=status)) for status in _STATUSES}
        )
        .order_by()
    )
    reasons = _reject_reasons()
    templates = _templates()
    found = [
        _row(row, templates.get(row["template_id"]), reasons.get(_key(row), Counter()))
        for row in rows
    ]
    return sorted(found, key=lambda row: (-row["reviewed"], row["label"]))


def _templates() -> dict[int, tuple[str, int]]:
    return {
        pk: (name, version)
        for pk, name, version in PromptTemplate.objects.values_list(
            "pk", "name", "version"
        )
    }


def _key(row: dict) -> _Key:
    return (row["source"], row["template_id"], row["model"])


def _label(source: str, template: tuple[str, int] | None, model: str) -> str:
    if source != "job" or template is None:
        return f"imported: {source}"
    return f"{template[0]} v{template[1]} · {model}"


def _row(row: dict, template: tuple[str, int] | None, reasons: Counter) -> dict:
    approved, edited, rejected = (row[status] for status in _STATUSES)
    reviewed = approved + edited + rejected
    kept = approved + edited
    interval = wilson_interval(kept, reviewed)
    return {
        "label": _label(row["source"], template, row["model"]),
        "source": row["source"],
        "template": template[0] if template else None,
        "template_version": template[1] if template else None,
        "model": row["model"],
        "reviewed": reviewed,
        "approved": approved,
        "edited": edited,
        "rejected": rejected,
        "approve_rate": approved / reviewed,
        "edit_rate": edited / reviewed,
        "reject_rate": rejected / reviewed,
        "kept_rate": kept / reviewed,
        "kept_interval": [interval.low, interval.high],
        "reject_reasons": [
            {"reason": reason, "count": count}
            for reason, count in reasons.most_common(REASONS_SHOWN)
        ],
    }


def _reject_reasons() -> dict[_Key, Counter]:
    """The reasons given when the still-rejected captions were rejected, counted per
    source (their last reject each)."""
    reasons: dict[_Key, Counter] = {}
    for key, reason, count in _reason_rows():
        reasons.setdefault(key, Counter())[reason] += count
    return reasons


def _reason_rows() -> Iterator[tuple[_Key, str, int]]:
    fields = tuple(f"caption__{name}" for name in _SOURCE_FIELDS)
    rows = (
        Revision.objects.filter(
            action=Revision.Action.REJECT, caption__status="rejected"
        )
        .exclude(reason="")
        .values(*fields, "reason")
        .annotate(count=Count("id"))
        .order_by("-count")[:REASON_ROWS_READ]
    )
    for row in rows:
        source, template, model = (row[field] for field in fields)
        yield (source, template, model), row["reason"], row["count"]


def ab_comparisons() -> list[dict]:
    """Each A/B job's two arms, newest job first: reviewed and kept per arm, the
    share kept with its interval, and B minus A with Newcombe's interval (None until
    both arms have a reviewed caption)."""
    jobs = GenerationJob.objects.filter(template_b__isnull=False).select_related(
        "template", "template_b"
    )
    counts = _arm_counts([job.pk for job in jobs])
    return [_comparison(job, counts.get(job.pk, {})) for job in jobs.order_by("-pk")]


def _arm_counts(job_ids: list[int]) -> dict[int, dict[str, tuple[int, int]]]:
    """(kept, reviewed) by job and arm."""
    rows = (
        Caption.objects.filter(job_id__in=job_ids, status__in=_STATUSES)
        .values("job_id", "arm")
        .annotate(
            kept=Count("id", filter=Q(status__in=("approved", "edited"))),
            reviewed=Count("id"),
        )
        .order_by()
    )
    counts: dict[int, dict[str, tuple[int, int]]] = {}
    for row in rows:
        counts.setdefault(row["job_id"], {})[row["arm"]] = (
            row["kept"], row["reviewed"]
        )  # fmt: skip
    return counts


def _comparison(job: GenerationJob, counts: dict[str, tuple[int, int]]) -> dict:
    return {
        "job": job.pk,
        "b_share": job.b_share,
        "a": _arm(str(job.template), job.model, counts.get("a", (0, 0))),
        "b": _arm(str(job.template_b), job.model_b, counts.get("b", (0, 0))),
        "difference": _difference(counts.get("a", (0, 0)), counts.get("b", (0, 0))),
    }


def _arm(template: str, model: str, counts: tuple[int, int]) -> dict:
    kept, reviewed = counts
    interval = list(wilson_interval(kept, reviewed)) if reviewed else None
    return {
        "template": template,
        "model": model,
        "reviewed": reviewed,
        "kept": kept,
        "kept_rate": kept / reviewed if reviewed else None,
        "kept_interval": interval,
    }


def _difference(a: tuple[int, int], b: tuple[int, int]) -> dict | None:
    """B's share kept minus A's, with its interval; None until both have reviews."""
    (kept_a, reviewed_a), (kept_b, reviewed_b) = a, b
    if not (reviewed_a and reviewed_b):
        return None
    interval = difference_interval(kept_a, reviewed_a, kept_b, reviewed_b)
    return {
        "kept_rate_b_minus_a": kept_b / reviewed_b - kept_a / reviewed_a,
        "interval": [interval.low, interval.high],
    }
