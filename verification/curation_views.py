"""The curators' pages of the quality loop: adjudicate QA disagreements (the list,
and each one with both versions side by side), and mark or unmark gold from the
review page. Plain forms: each decision is one POST, redirected after."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import (
    require_http_methods,
    require_POST,
    require_safe,
)

from captions.api.filters import is_database_id
from captions.generation.checks import MAX_CAPTION_CHARS
from captions.models import Caption
from verification import curation
from verification.errors import ReviewError
from verification.models import QaReview
from verification.roles import is_curator
from verification.views import coloured, json_body, region_tables

LISTED = 200
TEMPLATE = "verification/adjudicate.html"
# The forms' fields, with their CSRF token; any other key is refused (views.py).
ADJUDICATE_KEYS = frozenset({"csrfmiddlewaretoken", "choice", "version", "text"})
GOLD_KEYS = frozenset({"csrfmiddlewaretoken", "gold"})
MAX_VERSION = 2**31


def _require_curator(request: HttpRequest) -> None:
    if not is_curator(request.user):
        raise PermissionDenied("only curators adjudicate and mark gold")


@login_required
@require_safe
def adjudication_list(request: HttpRequest) -> HttpResponse:
    """Disagreements waiting for a curator, oldest first."""
    _require_curator(request)
    waiting = QaReview.objects.filter(state=QaReview.State.DISAGREED)
    context = {
        "reviews": list(
            waiting.select_related("first_reviewer", "second_reviewer").order_by(
                "answered_at", "pk"
            )[:LISTED]
        ),
        "waiting": waiting.count(),
        "listed": LISTED,
    }
    return render(request, "verification/adjudicate_list.html", context)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def adjudicate(request: HttpRequest, review_id: int) -> HttpResponse:
    """Both versions beside the images and the statistics; pick one or write a
    third. A refused decision shows the page again with the reason; a body with
    keys the forms do not send is refused as JSON, as the review page's are."""
    _require_curator(request)
    body: dict = {}
    if request.method == "POST":
        try:
            body = json_body(request, keys=ADJUDICATE_KEYS)
        except ReviewError as refused:
            return JsonResponse({"error": refused.message}, status=refused.status)
    if not is_database_id(review_id):
        raise Http404("no such QA review")
    try:
        review = QaReview.objects.select_related(
            "caption__patch__scene", "first_reviewer", "second_reviewer",
            "adjudicated_by",
        ).get(pk=review_id)  # fmt: skip
    except QaReview.DoesNotExist:
        raise Http404("no such QA review") from None
    if request.method != "POST":
        return render(request, TEMPLATE, _context(review))
    try:
        curation.qa_adjudicate(
            review_id=review.pk,
            user=request.user,
            choice=str(body.get("choice", "")),
            version=_version(str(body.get("version", ""))),
            text=str(body.get("text", "")),
        )
    except ReviewError as refused:
        context = _context(review, refused.message, str(body.get("text", "")))
        return render(request, TEMPLATE, context, status=refused.status)
    return redirect("adjudication-list")


def _version(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) < MAX_VERSION:
        raise ReviewError("send the caption's version you started from")
    return int(value)


def _context(review: QaReview, error: str = "", text: str = "") -> dict:
    caption = review.caption
    landcover = caption.patch.landcover
    return {
        "review": review,
        "caption": caption,
        "patch": caption.patch,
        "legend": coloured(landcover["overall"]),
        "region_tables": region_tables(landcover),
        "error": error,
        "third_text": text or review.first_text,
        "max_caption_chars": MAX_CAPTION_CHARS,
    }


@login_required
@require_POST
def gold(request: HttpRequest, caption_id: int) -> HttpResponse:
    """Mark (gold=on) or unmark (gold=off) a reviewed caption as gold."""
    _require_curator(request)
    try:
        wanted = json_body(request, keys=GOLD_KEYS).get("gold", "")
    except ReviewError as refused:
        return JsonResponse({"error": refused.message}, status=refused.status)
    if not is_database_id(caption_id):
        raise Http404("no such caption")
    try:
        if wanted == "on":
            curation.gold_mark(caption_id=caption_id, user=request.user)
        elif wanted == "off":
            curation.gold_unmark(caption_id=caption_id, user=request.user)
        else:
            raise ReviewError("send gold=on or gold=off")
    except Caption.DoesNotExist:
        raise Http404("no such caption") from None
    except ReviewError as refused:
        return render(
            request, "400.html", {"message": refused.message}, status=refused.status
        )
    return redirect("review", caption_id)
