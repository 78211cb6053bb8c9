"""Who may call the review endpoints: annotators and curators (roles.py)."""

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request

from verification.roles import may_review


class IsReviewer(permissions.BasePermission):
    message = "only annotators and curators review captions"

    def has_permission(self, request: Request, view: Any) -> bool:
        return may_review(request.user)
