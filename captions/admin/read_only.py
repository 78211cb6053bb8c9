from django.contrib import admin
from django.http import HttpRequest


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows people look at in the admin but change only through services.

    Patches come from an ingest, captions from a job or an import, failures are
    cleared by "Retry failed", and templates change by a new version: none of them is
    added, edited or deleted here.
    """

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
