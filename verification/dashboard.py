"""The dashboard (`/`): how far the dataset is, who verifies how fast, what it holds."""

import datetime as dt
from collections.abc import Mapping

from django.contrib.auth.decorators import login_required
from django.db.models import Avg, Count, Q
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from captions.landcover import CLASS_BY_CODE
from captions.models import Caption
from verification.models import Revision
from verification.quality import ab_comparisons, prompt_quality
from verification.roles import is_curator, may_review

DAYS_SHOWN = 14
RECENT_SHOWN = 15
SPARK_HEIGHT = 40
STATUS_COLOURS = {
    "approved": "#2e7d32",
    "edited": "#1565c0",
    "rejected": "#c62828",
    "pending": "#9e9e9e",
}


def dataset_progress() -> dict:
    counts = dict(
        Caption.objects.values_list("status").annotate(n=Count("id")).order_by()
    )
    total = sum(counts.values())
    parts = [
        {
            "status": status,
            "count": counts.get(status, 0),
            "share": counts.get(status, 0) / total if total else 0.0,
            "colour": STATUS_COLOURS[status],
        }
        for status in ("approved", "edited", "rejected", "pending")
    ]
    return {"total": total, "parts": parts}


def annotator_numbers(*, only_user=None) -> list[dict]:
    """Per person: reviews per day over the last days, edit rate, time per item."""
    since = timezone.now() - dt.timedelta(days=DAYS_SHOWN)
    revisions = Revision.objects.filter(
        created_at__gte=since,
        action__in=[
            Revision.Action.APPROVE,
            Revision.Action.EDIT,
            Revision.Action.REJECT,
        ],
    )
    if only_user is not None:
        revisions = revisions.filter(user=only_user)
    totals = (
        revisions.values("user__username")
        .annotate(
            reviews=Count("id"),
            edits=Count("id", filter=Q(action=Revision.Action.EDIT)),
            edit_rate=Avg("edit_distance"),
            seconds=Avg("seconds_spent"),
        )
        .order_by("-reviews")
    )
    days = [
        (timezone.now() - dt.timedelta(days=offset)).date()
        for offset in range(DAYS_SHOWN - 1, -1, -1)
    ]
    daily = _reviews_per_day(revisions)
    peak = max((n for person in daily.values() for n in person.values()), default=1)
    return [
        _person(row, days, daily.get(row["user__username"], {}), peak) for row in totals
    ]


def _reviews_per_day(revisions) -> dict[str, dict[dt.date, int]]:
    per_day = (
        revisions.annotate(day=TruncDate("created_at"))
        .values("user__username", "day")
        .annotate(n=Count("id"))
        .order_by()
    )
    daily: dict[str, dict] = {}
    for day_row in per_day:
        daily.setdefault(day_row["user__username"], {})[day_row["day"]] = day_row["n"]
    return daily


def _person(row: Mapping, days: list[dt.date], daily: dict, peak: int) -> dict:
    counts = [daily.get(day, 0) for day in days]
    return {
        **row,
        "name": row["user__username"] or "(deleted user)",
        "bars": [
            _bar(index, day, n, peak)
            for index, (day, n) in enumerate(zip(days, counts, strict=True))
        ],
    }


def _bar(index: int, day: dt.date, count: int, peak: int) -> dict:
    height = round(SPARK_HEIGHT * count / peak) if peak else 0
    return {"day": day, "count": count, "x": index * 10, "y": SPARK_HEIGHT - height,
            "height": height}  # fmt: skip


def verified_class_distribution() -> list[dict]:
    """Dominant class of each verified (approved or edited) caption's patch."""
    rows = (
        Caption.objects.filter(
            status__in=[Caption.Status.APPROVED, Caption.Status.EDITED]
        )
        .annotate(
            dominant=KeyTextTransform(
                "code", KeyTransform("0", KeyTransform("overall", "patch__landcover"))
            )
        )
        .values("dominant")
        .annotate(n=Count("id"))
        .order_by("-n")
    )
    total = sum(row["n"] for row in rows)
    result = []
    for row in rows:
        if row["dominant"] is None:
            continue
        cls = CLASS_BY_CODE.get(int(row["dominant"]))
        if cls is None:
            continue
        result.append(
            {
                "name": cls.term,
                "count": row["n"],
                "share": row["n"] / total,
                "colour": cls.hex_colour,
            }
        )
    return result


def prompt_rows() -> list[dict]:
    """`quality.prompt_quality` with whole percentages for the page."""
    return [
        {
            **row,
            "kept_percent": round(100 * row["kept_rate"]),
            "kept_low_percent": round(100 * row["kept_interval"][0]),
            "kept_high_percent": round(100 * row["kept_interval"][1]),
        }
        for row in prompt_quality()
    ]


def recent_activity(*, only_user=None) -> list[Revision]:
    revisions = Revision.objects.select_related("user", "caption")
    if only_user is not None:
        revisions = revisions.filter(user=only_user)
    return list(revisions[:RECENT_SHOWN])


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    curator = is_curator(request.user)
    # Annotators see their own numbers; curators see everyone's.
    only = None if curator else request.user
    context = {
        "progress": dataset_progress(),
        "people": annotator_numbers(only_user=only),
        "classes": verified_class_distribution(),
        "prompts": prompt_rows() if curator else [],
        "ab_jobs": ab_comparisons() if curator else [],
        "recent": recent_activity(only_user=only),
        "is_curator": curator,
        "may_review": may_review(request.user),
        "days_shown": DAYS_SHOWN,
    }
    return render(request, "verification/dashboard.html", context)
