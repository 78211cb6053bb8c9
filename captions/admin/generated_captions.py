"""Admin for captions: what the jobs generated (and imports brought), read-only.

Curators look here at what a job wrote and why a check flagged it; edits and reviews
belong to the annotator pages of the verification app.
"""

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString

from captions import access
from captions.admin.cells import (
    link_cell,
    patch_thumbnails,
    preformatted_cell,
    text_cell,
)
from captions.admin.chat_messages import chat_messages_html
from captions.admin.read_only import ReadOnlyAdmin
from captions.generation.checks import CHECK_DESCRIPTIONS
from captions.generation.options import MAX_CAPTIONS_CHOSEN
from captions.models import Caption

SHORT_TEXT_CHARS = 140


def _highlighted(text: str, checks: list[dict]) -> list[dict]:
    """The caption cut into pieces, the words a check points at marked with it."""
    spans = sorted(
        (check["span"][0], check["span"][1], check["message"])
        for check in checks
        if check.get("span")
    )
    pieces, position = [], 0
    for start, end, message in spans:
        if start < position or end <= start:
            continue  # overlaps a span already marked: its words are marked once
        pieces.append({"text": text[position:start]})
        pieces.append({"text": text[start:end], "message": message})
        position = end
    pieces.append({"text": text[position:]})
    return [piece for piece in pieces if piece["text"]]


@admin.register(Caption)
class CaptionAdmin(ReadOnlyAdmin):
    list_display = [
        "patch_previews",
        "short_text",
        "status",
        "failed_checks_count",
        "job_link",
        "source",
        "model",
    ]
    list_display_links = ["short_text"]
    list_filter = ["status", "job", "source"]
    actions = ["regenerate"]
    # The thumbnails need the patch, the job column its row: one query for the page.
    list_select_related = ["patch", "job"]
    search_fields = ["text"]
    list_per_page = 50
    # One COUNT of a table of hundreds of thousands of captions per page is enough.
    show_full_result_count = False
    fieldsets = [
        (None, {"fields": ["patch_link", "previews", "status", "text_with_checks"]}),
        ("Checks", {"fields": ["checks_in_words"]}),
        (
            "Provenance",
            {
                "fields": [
                    "source",
                    "job",
                    ("replaces", "replace_reason"),
                    "template",
                    "model",
                    "parameters_json",
                    "finish_reason",
                    ("prompt_tokens", "completion_tokens", "latency"),
                    "generated_text_if_edited",
                    ("created_at", "updated_at"),
                ]
            },
        ),
        ("Messages sent", {"fields": ["messages_sent"]}),
    ]
    readonly_fields = [
        "patch_link",
        "previews",
        "text_with_checks",
        "checks_in_words",
        "parameters_json",
        "latency",
        "generated_text_if_edited",
        "messages_sent",
        "created_at",
        "updated_at",
    ]

    @admin.action(description="Regenerate the selected captions")
    def regenerate(
        self, request: HttpRequest, queryset: QuerySet[Caption]
    ) -> HttpResponse | None:
        """Open the launch page with these captions to regenerate (curators)."""
        if not access.may(request.user, access.CURATE):
            raise PermissionDenied
        ids = list(queryset.values_list("pk", flat=True)[: MAX_CAPTIONS_CHOSEN + 1])
        if len(ids) > MAX_CAPTIONS_CHOSEN:
            self.message_user(
                request,
                f"Choose at most {MAX_CAPTIONS_CHOSEN:,} captions to regenerate.",
                messages.ERROR,
            )
            return None
        launch = reverse("admin:captions_generationjob_launch")
        return redirect(f"{launch}?captions={','.join(map(str, ids))}")

    class Media:
        css = {"all": ["captions/admin.css"]}

    # --- list columns -----------------------------------------------------------------

    @admin.display(description="patch")
    def patch_previews(self, caption: Caption) -> SafeString:
        return patch_thumbnails(caption.patch)

    @admin.display(description="text")
    def short_text(self, caption: Caption) -> SafeString:
        text = caption.text
        if len(text) > SHORT_TEXT_CHARS:
            text = text[: SHORT_TEXT_CHARS - 1].rstrip() + "…"
        return text_cell(text or "(empty)", class_name="caption-short")

    @admin.display(description="failed checks", ordering="failed_checks")
    def failed_checks_count(self, caption: Caption) -> SafeString:
        modifier = " caption-failed-checks--some" if caption.failed_checks else ""
        return text_cell(
            caption.failed_checks, class_name=f"caption-failed-checks{modifier}"
        )

    @admin.display(description="job", ordering="job")
    def job_link(self, caption: Caption) -> SafeString | str:
        if caption.job_id is None:
            return "—"
        return link_cell(
            f"#{caption.job_id}",
            href=reverse("admin:captions_generationjob_change", args=[caption.job_id]),
            title=str(caption.job),
        )

    # --- the caption's page -----------------------------------------------------------

    @admin.display(description="patch")
    def patch_link(self, caption: Caption) -> SafeString:
        return link_cell(
            caption.patch,
            href=reverse("admin:captions_patch_change", args=[caption.patch_id]),
        )

    @admin.display(description="previews")
    def previews(self, caption: Caption) -> SafeString:
        return render_to_string(
            "admin/captions/patch/previews.html", {"patch": caption.patch}
        )

    @admin.display(description="text")
    def text_with_checks(self, caption: Caption) -> SafeString:
        return render_to_string(
            "admin/captions/caption/text.html",
            {"pieces": _highlighted(caption.text, caption.checks or [])},
        )

    @admin.display(description="checks failed")
    def checks_in_words(self, caption: Caption) -> SafeString:
        return render_to_string(
            "admin/captions/caption/checks.html",
            {
                "checks": [
                    {
                        "summary": CHECK_DESCRIPTIONS.get(check.get("check", ""), ""),
                        "code": check.get("check", ""),
                        "message": check.get("message", ""),
                    }
                    for check in caption.checks or []
                ]
            },
        )

    @admin.display(description="parameters")
    def parameters_json(self, caption: Caption) -> SafeString:
        return preformatted_cell(
            json.dumps(caption.parameters, indent=2, sort_keys=True),
            class_name="template-text",
        )

    @admin.display(description="latency")
    def latency(self, caption: Caption) -> str:
        return f"{caption.latency_ms:,} ms"

    @admin.display(description="generated text")
    def generated_text_if_edited(self, caption: Caption) -> SafeString | str:
        if caption.generated_text == caption.text:
            return "the same as the text"
        # The text as a job wrote it, laid out as the caption's text, unmarked.
        return render_to_string(
            "admin/captions/caption/text.html",
            {"pieces": [{"text": caption.generated_text}]},
        )

    @admin.display(description="messages")
    def messages_sent(self, caption: Caption) -> SafeString:
        return chat_messages_html(caption.messages or [])
