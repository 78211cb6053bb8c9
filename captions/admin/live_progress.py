from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from django.urls import URLPattern, path


class LiveProgressAdmin(admin.ModelAdmin):
    """Rows a worker moves along (a scene's ingest, a job, a release's build), whose
    pages show a progress widget kept live by static/captions/progress_poll.js.

    Adds `<object_id>/progress/`, named `<app>_<model>_progress` as Django names its
    own admin URLs (e.g. "admin:captions_scene_progress"), which answers
    `progress_json(record)` to whoever may view the record.
    """

    def progress_json(self, record: Any) -> dict:
        raise NotImplementedError

    def get_urls(self) -> list[URLPattern]:
        # Before the default URLs, whose "<path:object_id>/" would swallow it.
        progress = path(
            "<path:object_id>/progress/",
            self.admin_site.admin_view(self.progress_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_progress",
        )
        return [progress, *super().get_urls()]

    def progress_view(self, request: HttpRequest, object_id: str) -> JsonResponse:
        record = self.get_object(request, object_id)
        if record is None:
            raise Http404(f"no such {self.opts.verbose_name}")
        if not self.has_view_permission(request, record):
            raise PermissionDenied
        return JsonResponse(self.progress_json(record))
