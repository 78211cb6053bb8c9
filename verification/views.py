"""The annotator's pages: the queue, the review page and its JSON actions."""

import functools
import json
from collections.abc import Callable

from django.contrib.auth.decorators import login_required
from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
)
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_POST, require_safe

from captions.api.errors import body_too_large_message, first_message
from captions.api.filters import MAX_ID, is_database_id
from captions.generation.checks import CHECK_DESCRIPTIONS, MAX_CAPTION_CHARS
from captions.generation.vocabulary import CLASS_WORDS
from captions.geo.bbox import BadBoundingBox, parse_bbox
from captions.landcover import CLASS_BY_CODE, CLASSES, MIN_PIXELS, REGION_NAMES
from captions.models import Caption
from verification import blind, queue, selectors, services
from verification.models import GoldCaption, Revision
from verification.roles import is_curator, may_review
from verification.serializers import ReviewActionSerializer

SKIPPED_KEY = "review_skipped"  # recently skipped captions, per session
SKIPPED_KEPT = 50


def _require_reviewer(request: HttpRequest) -> None:
    if not may_review(request.user):
        raise PermissionDenied("only annotators and curators review captions")


def _json_for_reviewers(
    view: Callable[..., JsonResponse],
) -> Callable[..., JsonResponse]:
    """The JSON endpoints' role check: a 403 the page's script can show, not the
    HTML error page `_require_reviewer` leads to. A caption id no row can have is a
    404 before it reaches a query (or the session's skipped list)."""

    @functools.wraps(view)
    def checked(request: HttpRequest, caption_id: int) -> JsonResponse:
        if not may_review(request.user):
            return JsonResponse(
                {"error": "only annotators and curators review"}, status=403
            )
        if not is_database_id(caption_id):
            return JsonResponse({"error": "no such caption"}, status=404)
        return view(request, caption_id)

    return checked


def _skipped(request: HttpRequest) -> tuple[int, ...]:
    return tuple(request.session.get(SKIPPED_KEY, []))


# A WorldCover class code is one byte; ids are bigints (as in the API's filters).
QUEUE_FILTER_NUMBERS = {"scene": MAX_ID, "job": MAX_ID, "class": 255}
MAX_CHECK_CHARS = 40


class BadQueueFilter(services.ReviewError):
    """A queue filter in the query string that names nothing (400)."""


def _queue_filter(request: HttpRequest) -> queue.QueueFilter | None:
    """Curators may narrow the queue with ?scene=&job=&check=&class=&bbox=; an empty
    value is no filter, a malformed one a `BadQueueFilter`. Others' filters are
    ignored."""
    if not is_curator(request.user):
        return None
    params = request.GET
    numbers: dict[str, int | None] = {}
    for name, largest in QUEUE_FILTER_NUMBERS.items():
        value = params.get(name, "")
        # isascii too: str.isdigit() takes "²" and Arabic-Indic digits.
        if value and not (value.isascii() and value.isdigit()):
            raise BadQueueFilter(f"{name}: give a whole number, not {value[:40]!r}")
        number = int(value) if value else None
        if number is not None and not 1 <= number <= largest:
            raise BadQueueFilter(f"{name}: give a number from 1 to {largest}")
        numbers[name] = number
    check = params.get("check", "")
    if len(check) > MAX_CHECK_CHARS or not check.isprintable():
        raise BadQueueFilter(
            f"check: give the code of a check (at most {MAX_CHECK_CHARS} characters)"
        )
    bbox = params.get("bbox", "")
    try:
        box = parse_bbox(bbox) if bbox else None
    except BadBoundingBox as error:
        raise BadQueueFilter(f"bbox: {error}") from None
    return queue.QueueFilter(
        scene_id=numbers["scene"],
        job_id=numbers["job"],
        check=check,
        class_code=numbers["class"],
        bbox=box,
    )


@login_required
@require_safe
def review_next(request: HttpRequest) -> HttpResponse:
    _require_reviewer(request)
    try:
        queue_filter = _queue_filter(request)
    except BadQueueFilter as error:
        return render(request, "400.html", {"message": error.message}, status=400)
    caption_id = queue.claim_next_id(
        user=request.user, queue_filter=queue_filter, skip_ids=_skipped(request)
    )
    if caption_id is None:
        if _skipped(request):
            # Only skipped captions are left: offer them again from the start.
            request.session[SKIPPED_KEY] = []
            return redirect(reverse("review-next") + _query(request))
        narrowed = queue_filter.described() if queue_filter else []
        return render(request, "verification/queue_empty.html", {"narrowed": narrowed})
    return redirect(reverse("review", args=[caption_id]) + _query(request))


def _query(request: HttpRequest) -> str:
    query = request.GET.urlencode()
    return f"?{query}" if query else ""


# The page's script posts JSON with the token from the csrftoken cookie, so the
# cookie must exist even on a page that renders no form.
@ensure_csrf_cookie
@login_required
@require_safe
def review(request: HttpRequest, caption_id: int) -> HttpResponse:
    _require_reviewer(request)
    try:
        caption, history = _as_seen_by(request.user, caption_id)
    except Caption.DoesNotExist:
        raise Http404("no such caption") from None
    legend = coloured(caption.patch.landcover["overall"])
    context = {
        "caption": caption,
        "patch": caption.patch,
        "legend": legend,
        "regions": caption.patch.landcover["regions"],
        "region_tables": region_tables(caption.patch.landcover),
        "failed_checks": [
            {**finding, "description": CHECK_DESCRIPTIONS.get(finding["check"], "")}
            for finding in caption.checks
        ],
        "class_vocabulary": CLASS_VOCABULARY,
        "history": history,
        "reject_reasons": services.REJECT_REASONS,
        "max_caption_chars": MAX_CAPTION_CHARS,
        "is_curator": is_curator(request.user),
        "is_gold": is_curator(request.user) and _is_gold(caption_id),
        "holds_claim": caption.claimed_by_id == request.user.pk,
        "caption_json": selectors.caption_as_json(caption),
        "query": _query(request),
        "narrowed": _narrowed(request),
    }
    return render(request, "verification/review.html", context)


def _narrowed(request: HttpRequest) -> list[str]:
    """The curator's queue filters the page was opened with, in words: the page
    says the queue is narrowed (a malformed one is refused at the next claim)."""
    try:
        queue_filter = _queue_filter(request)
    except BadQueueFilter:
        return []
    return queue_filter.described() if queue_filter else []


def _as_seen_by(user, caption_id: int) -> tuple[Caption, list[Revision]]:
    """The caption and its history as this person may see them: a blind item they
    hold as new, without history (verification/blind.py)."""
    caption = blind.caption_seen_by(user, selectors.caption_for_review(caption_id))
    if blind.is_blind_copy(caption):
        return caption, []
    return caption, selectors.caption_history(caption_id)


def _is_gold(caption_id: int) -> bool:
    return GoldCaption.objects.filter(caption_id=caption_id, active=True).exists()


def coloured(entries: list[dict]) -> list[dict]:
    """Land-cover list entries with their official colour and their percentage."""
    return [
        {
            **entry,
            "colour": CLASS_BY_CODE[entry["code"]].hex_colour,
            "percent": round(entry["fraction"] * 100, 1),
        }
        for entry in entries
    ]


def region_tables(landcover: dict) -> list[dict]:
    """The five regions' class lists, coloured, in a fixed order for the page."""
    regions = landcover.get("regions", {})
    return [
        {
            "name": name,
            "label": name.replace("_", " "),
            "classes": coloured(regions.get(name, [])),
        }
        for name in REGION_NAMES
    ]


# What the review page's script needs to highlight class words in a caption: the same
# words the checks read (captions/generation/vocabulary.py), so the page and the checks
# agree.
CLASS_VOCABULARY = {
    "min_pixels": MIN_PIXELS,
    "classes": [
        {
            "code": cls.code,
            "term": cls.term,
            "colour": cls.hex_colour,
            "words": list(CLASS_WORDS[cls.code]),
        }
        for cls in CLASSES
    ],
}


class BodyTooLarge(services.ReviewError):
    status = 413


# What each JSON endpoint of the page takes: any other key is refused, as the API's
# StrictInputSerializer refuses it (a typo must not be saved as something else).
ACTION_KEYS = frozenset({"action", "version", "text", "reason", "seconds_spent"})
NO_KEYS: frozenset[str] = frozenset()
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def json_body(request: HttpRequest, *, keys: frozenset[str]) -> dict:
    """The request's JSON object (none: `{}`), holding only `keys`. The page sends
    JSON; a form (what `curl -F` or a test client sends by default) is read as one,
    so its keys are judged the same way."""
    try:
        if request.content_type in FORM_TYPES:
            body: object = request.POST.dict()
        else:
            body = json.loads(request.body or b"{}")
    except RequestDataTooBig:
        raise BodyTooLarge(body_too_large_message()) from None
    except (ValueError, RecursionError, SuspiciousOperation, MultiPartParserError):
        raise services.ReviewError("the request body is not JSON (or a form)") from None
    if not isinstance(body, dict):
        raise services.ReviewError("the request body must be a JSON object")
    unknown = sorted(set(body) - keys)
    if unknown:
        takes = ", ".join(sorted(keys)) or "no keys"
        raise services.ReviewError(
            f"unknown key {unknown[0][:40]!r}; this endpoint takes {takes}"
        )
    return body


def _seconds(body: dict) -> float | None:
    """The page's timing, or None when implausible: a tab left open overnight still
    saves its decision (the API refuses such a value instead)."""
    seconds = body.get("seconds_spent")
    if (
        isinstance(seconds, int | float)
        and not isinstance(seconds, bool)
        and 0 <= seconds < 24 * 3600
    ):
        return float(seconds)
    return None


def _decision(request: HttpRequest) -> services.ReviewDecision:
    """The body read as the API reads it (ReviewActionSerializer)."""
    body = json_body(request, keys=ACTION_KEYS)
    if "seconds_spent" in body:
        body["seconds_spent"] = _seconds(body)
    serializer = ReviewActionSerializer(data=body)
    if not serializer.is_valid():
        raise services.ReviewError(first_message(serializer.errors))
    return serializer.decision()


@login_required
@require_POST
@_json_for_reviewers
def review_action(request: HttpRequest, caption_id: int) -> JsonResponse:
    """approve / edit / reject / skip, as JSON; 409 with the current text if stale."""
    try:
        caption = services.review_act(
            caption_id=caption_id, user=request.user, decision=_decision(request)
        )
    except Caption.DoesNotExist:
        return JsonResponse({"error": "no such caption"}, status=404)
    except services.StaleVersion as stale:
        current = selectors.caption_as_json(stale.caption)
        return JsonResponse({"error": stale.message, "current": current}, status=409)
    except services.ReviewError as error:
        return JsonResponse({"error": error.message}, status=error.status)
    if caption is None:  # skipped: not offered again in this session
        skipped = [*_skipped(request), caption_id][-SKIPPED_KEPT:]
        request.session[SKIPPED_KEY] = skipped
        return JsonResponse({"ok": True, "next": reverse("review-next")})
    saved = {
        "id": caption.pk,
        "version": caption.version,
        "status": caption.status,
        "checks": caption.checks,
    }
    return JsonResponse({"ok": True, "caption": saved, "next": reverse("review-next")})


@login_required
@require_POST
@_json_for_reviewers
def review_renew(request: HttpRequest, caption_id: int) -> JsonResponse:
    try:
        json_body(request, keys=NO_KEYS)
        expires = queue.claim_renew(caption_id=caption_id, user=request.user)
    except services.ReviewError as error:
        return JsonResponse({"error": error.message}, status=error.status)
    return JsonResponse({"ok": True, "expires_at": expires.isoformat()})


@login_required
@require_POST
@_json_for_reviewers
def review_ahead(request: HttpRequest, caption_id: int) -> JsonResponse:
    """Claim the caption after this one while the person still reads this one, so
    the page can fetch its images and its page beforehand: after an action the next
    caption appears at once. Asking again returns the same caption (a claim held
    beside the current one comes first), so a person holds at most two."""
    try:
        json_body(request, keys=NO_KEYS)
        queue_filter = _queue_filter(request)
    except services.ReviewError as error:
        return JsonResponse({"error": error.message}, status=error.status)
    following = queue.queue_claim_next(
        user=request.user,
        queue_filter=queue_filter,
        skip_ids=(*_skipped(request), caption_id),
    )
    if following is None:
        return JsonResponse({"next": None})
    patch = following.patch
    return JsonResponse(
        {
            "next": {
                "id": following.pk,
                "url": reverse("review", args=[following.pk]) + _query(request),
                "renew_url": reverse("review-renew", args=[following.pk]),
                "images": [patch.rgb_preview.url, patch.landcover_preview.url],
            }
        }
    )


# The history's revert button is a form with its CSRF token and nothing else.
REVERT_KEYS = frozenset({"csrfmiddlewaretoken"})


@login_required
@require_POST
def review_revert(request: HttpRequest, revision_id: int) -> HttpResponse:
    if not is_curator(request.user):
        raise PermissionDenied("only curators may revert")
    try:
        json_body(request, keys=REVERT_KEYS)
        caption = services.caption_revert(revision_id=revision_id, user=request.user)
    except Revision.DoesNotExist:
        raise Http404("no such revision") from None
    except services.ReviewError as error:
        return JsonResponse({"error": error.message}, status=error.status)
    return redirect("review", caption.pk)
