"""The dashboard (`/`): how far the dataset is, who verifies how fast and how well,
what it holds.

The figures over the whole dataset (progress, classes) and the curator's (everyone's
numbers, prompts, A/B jobs) read every caption: over a second at 200,000 captions.
They are computed at most once a minute and kept in the cache (Redis in production),
shown with the time they are as of (docs/quality.md, "Dashboard figures"). An
annotator's own numbers are read on each visit: their rows are few and indexed.
"""

import datetime as dt
from collections.abc import Callable

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db.models import Count
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.html import format_html_join
from django.views.decorators.http import require_safe

from captions.landcover import CLASS_BY_CODE
from captions.models import Caption
from verification.annotator_quality import annotator_quality, gold_lag
from verification.models import Revision
from verification.quality import ab_comparisons, prompt_quality
from verification.roles import is_curator, may_review

DAYS_SHOWN = 14
WINDOW = dt.timedelta(days=DAYS_SHOWN)
RECENT_SHOWN = 15
SPARK_HEIGHT = 40
STATUS_COLOURS = {
    "approved": "#2e7d32",
    "edited": "#1565c0",
    "rejected": "#c62828",
    "pending": "#9e9e9e",
}
# Figures younger than this are served from the cache. A copy older than that is
# computed again by one request, while those that come meanwhile get the old copy,
# kept this long at most.
FIGURES_FRESH_SECONDS = 60
FIGURES_KEPT_SECONDS = 15 * 60
FIGURES_COMPUTING_SECONDS = 30  # a request that died while computing: another may
SHARED_FIGURES, CURATOR_FIGURES = "shared", "curator"


def figures_key(kind: str) -> str:
    return f"verification:dashboard:{kind}"


def cached_figures(kind: str, compute: Callable[[], dict]) -> dict:
    """`compute()` with `as_of` (when it was computed), from the cache while younger
    than `FIGURES_FRESH_SECONDS`. With nothing cached (a cold start, or no visit for
    `FIGURES_KEPT_SECONDS`) every request computes them."""
    key = figures_key(kind)
    found = cache.get(key)
    started = timezone.now()
    if found is not None and (
        (started - found["as_of"]).total_seconds() < FIGURES_FRESH_SECONDS
        # Someone else is computing them: the old copy meanwhile.
        or not cache.add(f"{key}:computing", True, FIGURES_COMPUTING_SECONDS)
    ):
        return found
    try:
        figures = {**compute(), "as_of": started}
        cache.set(key, figures, FIGURES_KEPT_SECONDS)
    finally:
        cache.delete(f"{key}:computing")
    return figures


def shared_figures() -> dict:
    """What every role's dashboard shows of the whole dataset."""
    return {"progress": dataset_progress(), "classes": verified_class_distribution()}


def curator_figures() -> dict:
    return {
        "people": annotator_numbers(),
        "prompts": prompt_rows(),
        "ab_jobs": ab_comparisons(),
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
    """Per person over the last `DAYS_SHOWN` days: `annotator_quality`'s figures,
    reviews per day (a sparkline) and the shares in whole percentages. An
    annotator's own gold figures count earlier days' answers only (`gold_lag`)."""
    now = timezone.now()
    people = annotator_quality(
        only_user=only_user,
        since=now - WINDOW,
        gold_before=gold_lag(only_user, now) if only_user is not None else None,
    )
    days = [
        (now - dt.timedelta(days=ago)).date() for ago in range(DAYS_SHOWN - 1, -1, -1)
    ]
    peak = max(
        (n for person in people for n in person["reviews_per_day"].values()), default=1
    )
    return [_person(row, days, peak) for row in people]


def _person(row: dict, days: list[dt.date], peak: int) -> dict:
    counts = [row["reviews_per_day"].get(day, 0) for day in days]
    bars = [
        _bar(index, day, n, peak)
        for index, (day, n) in enumerate(zip(days, counts, strict=True))
    ]
    return {
        **row,
        "name": row["username"] or "(deleted user)",
        "agreement_percent": _percents(row["agreement"], row["agreement_interval"]),
        "gold_percent": _percents(row["gold_accuracy"], row["gold_accuracy_interval"]),
        "bars": bars,
        "sparkline": _sparkline(bars),
    }


def _sparkline(bars: list[dict]) -> str:
    """The bars as SVG, made once with the figures: 20 people's 14 days are 1,400
    numbers, which the template's localising took 50 ms a page to print."""
    return format_html_join(
        "",
        '<rect x="{}" y="{}" width="8" height="{}"><title>{}: {}</title></rect>',
        (
            (bar["x"], bar["y"], bar["height"], bar["day"].isoformat(), bar["count"])
            for bar in bars
        ),
    )


def _percents(share: float | None, interval: list[float] | None) -> dict | None:
    if share is None or interval is None:
        return None
    low, high = interval
    return {"share": round(100 * share), "low": round(100 * low),
            "high": round(100 * high)}  # fmt: skip


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
@require_safe
def dashboard(request: HttpRequest) -> HttpResponse:
    curator = is_curator(request.user)
    shared = cached_figures(SHARED_FIGURES, shared_figures)
    # Annotators see their own numbers, as they are now; curators see everyone's.
    if curator:
        figures = cached_figures(CURATOR_FIGURES, curator_figures)
    else:
        people = annotator_numbers(only_user=request.user)
        figures = {"people": people, "prompts": [], "ab_jobs": [], "as_of": None}
    context = {
        "progress": shared["progress"],
        "classes": shared["classes"],
        "shared_as_of": shared["as_of"],
        "people": figures["people"],
        "prompts": figures["prompts"],
        "ab_jobs": figures["ab_jobs"],
        "curator_as_of": figures["as_of"],
        "recent": recent_activity(only_user=None if curator else request.user),
        "is_curator": curator,
        "may_review": may_review(request.user),
        "days_shown": DAYS_SHOWN,
        "fresh_seconds": FIGURES_FRESH_SECONDS,
    }
    return render(request, "verification/dashboard.html", context)
