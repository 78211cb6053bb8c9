"""Who may call the captions endpoints, by ability (captions/access.py): the roles
that grant each are defined, and registered, by `verification`.
"""

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request

from captions import access


class MayCurate(permissions.BasePermission):
    message = "only curators may do this"

    def has_permission(self, request: Request, view: Any) -> bool:
        return access.may(request.user, access.CURATE)


class MayReadDataset(permissions.BasePermission):
    """Reading and exporting the dataset: consumers and curators, not annotators."""

    message = "only consumers and curators read and export the dataset"

    def has_permission(self, request: Request, view: Any) -> bool:
        return access.may(request.user, access.READ_DATASET)


class ReadsDatasetWritesCurate(permissions.BasePermission):
    message = "consumers and curators read this; only curators change it"

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return access.may(request.user, access.READ_DATASET)
        return access.may(request.user, access.CURATE)
