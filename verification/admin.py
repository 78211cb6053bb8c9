"""API tokens in the admin: superusers only, to see who holds which and revoke them.

Curators are staff, but another person's tokens are not theirs to see or delete
(roles.ensure_groups gives them no permission on ApiToken either). No key is ever
shown: only its hash is stored, and that stays out of the page too.
"""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from verification.models import ApiToken


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
