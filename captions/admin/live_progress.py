from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from django.template.loader import render_to_string
from django.urls import URLPattern, reverse
from django.utils.safestring import SafeString

from captions.admin.cells import status_badge
from captions.admin.own_pages import own_path


class LiveProgressAdmin(admin.ModelAdmin):
    """Rows a worker moves along (a scene's ingest, a job, a release's build), whose
    pages show a progress widget kept live by static/captions/progress_poll.js.

    Adds `<object_id>/progress/`, named `<app>_<model>_progress` as Django names its
    own admin URLs (e.g. "admin:captions_scene_progress"), which answers
    `progress_json(record)`, with the status's label and whether the row is still
    active, to whoever may view the record. The texts a widget shows come in that
    JSON, so that the page's script never formats them again.
    """

    # The prefix of the widget's CSS classes and data attributes ("scene": the
    # classes scene-progress and scene-status, data-scene-progress-url, …).
    progress_kind: str
    # The statuses in which a worker still moves the row along: the page polls.
    active_statuses: tuple[str, ...]

    def progress_json(self, record: Any) -> dict:
        raise NotImplementedError

    def get_urls(self) -> list[URLPattern]:
        # Before the default URLs, whose "<path:object_id>/" would swallow it.
        progress = own_path(
            self, "<path:object_id>/progress/", self.progress_view, "progress"
        )
        return [progress, *super().get_urls()]

    def progress_view(self, request: HttpRequest, object_id: str) -> JsonResponse:
        record = self.get_object(request, object_id)
        if record is None:
            raise Http404(f"no such {self.opts.verbose_name}")
        if not self.has_view_permission(request, record):
            raise PermissionDenied
        return JsonResponse(
            {
                **self.progress_json(record),
                "status_label": record.get_status_display(),
                "active": self.is_active(record),
            }
        )

    def is_active(self, record: Any) -> bool:
        return record.status in self.active_statuses

    def progress_url(self, record: Any) -> str:
        opts = self.opts
        return reverse(
            f"admin:{opts.app_label}_{opts.model_name}_progress", args=[record.pk]
        )

    def status_badge_html(self, record: Any) -> SafeString:
        return status_badge(self.progress_kind, record)

    def progress_bar_html(
        self, record: Any, *, value: int, max_value: int, count: str
    ) -> SafeString:
        """A `<progress>` of value out of max_value (indeterminate if max_value is 0)
        and the count in words."""
        return render_to_string(
            "admin/captions/includes/progress_bar.html",
            {
                "kind": self.progress_kind,
                "record": record,
                "active": self.is_active(record),
                "url": self.progress_url(record),
                "value": value,
                "max": max_value,
                "count": count,
            },
        )
