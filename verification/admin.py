"""The verification app in the admin: API tokens, the quality rates, QA reviews and
gold captions.

API tokens are for superusers only, to see who holds which and revoke them.

Curators are staff, but another person's tokens are not theirs to see or delete
(roles.ensure_groups gives them no permission on ApiToken either). No key is ever
shown: only its hash is stored, and that stays out of the page too.
"""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse

from captions.admin.cells import link_cell
from captions.admin.read_only import ReadOnlyAdmin
from verification.models import ApiToken, GoldCaption, QaReview, QualitySettings


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "name", "created_at", "expires_at", "last_used_at"]
    list_filter = ["created_at", "expires_at"]
    list_select_related = ["user"]
    search_fields = ["user__username", "name"]
    fields = readonly_fields = (
        "user",
        "name",
        "created_at",
        "expires_at",
        "last_used_at",
    )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    # Tokens are made by their users (POST /api/v1/auth/token/), never here: the key
    # would have to be shown to whoever made it.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(QualitySettings)
class QualitySettingsAdmin(admin.ModelAdmin):
    """The QA and gold rates: one row, changed here or through the API."""

    list_display = ["__str__", "qa_rate", "gold_rate", "updated_at"]
    fields = ["qa_rate", "gold_rate"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not QualitySettings.objects.exists() and super().has_add_permission(
            request
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(QaReview)
class QaReviewAdmin(ReadOnlyAdmin):
    """Second opinions, to look at; disagreements are settled on the adjudication
    page (its link on each row), which records the revision."""

    list_display = [
        "id", "caption_id", "state", "origin", "first_reviewer", "first_action",
        "second_reviewer", "action", "text_distance", "answered_at", "adjudicate",
    ]  # fmt: skip
    list_filter = ["state", "origin", "first_action", "action"]
    list_select_related = ["first_reviewer", "second_reviewer"]
    search_fields = ["=caption__id"]

    @admin.display(description="Adjudicate")
    def adjudicate(self, review: QaReview) -> str:
        if review.state != QaReview.State.DISAGREED:
            return "—"
        return link_cell("Adjudicate", href=reverse("adjudicate", args=[review.pk]))


@admin.register(GoldCaption)
class GoldCaptionAdmin(ReadOnlyAdmin):
    """Gold captions; marked and unmarked on the review page (or the API), so each
    change is a revision in the caption's history."""

    list_display = ["caption_id", "action", "active", "marked_by", "marked_at"]
    list_filter = ["active", "action"]
    list_select_related = ["marked_by"]
