"""Admin for releases: create one, watch it build, download its files.

A release is written only by its build (captions/export/releases.py) and never changes
once
done, so its pages are read-only; curators create one from the "Create a release"
page, retry a failed one, or rebuild a done one to restore and check its files.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms import Script
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from captions.admin.forms import ReleaseCreateForm
from captions.admin.live_progress import LiveProgressAdmin
from captions.admin.read_only import ReadOnlyAdmin
from captions.export import releases
from captions.export.formats import ExportError, iso_utc
from captions.models import Release
from verification.roles import is_curator

ACTIVE = (Release.Status.QUEUED, Release.Status.BUILDING)


def release_status_badge(release: Release) -> SafeString:
    return format_html(
        '<span class="release-status release-status--{}" data-release-badge="{}">'
        "{}</span>",
        release.status,
        release.pk,
        release.get_status_display(),
    )


def release_progress_widget(release: Release) -> SafeString:
    """Images copied and pairs written; release_progress.js keeps it live."""
    return format_html(
        '<span class="release-progress" data-release-id="{id}" '
        'data-release-status="{status}" data-release-progress-url="{url}">'
        '<progress value="{done}" max="{total}"></progress> '
        '<span class="release-progress__count" data-release-progress-count>'
        "{text}</span></span>",
        id=release.pk,
        status=release.status,
        url=reverse("admin:captions_release_progress", args=[release.pk]),
        done=release.images_done + release.pairs_done,
        total=max(release.images_total + release.pairs_total, 1),
        text=progress_text(release),
    )


def progress_text(release: Release) -> str:
    # release_progress.js writes the same text from the progress JSON.
    if release.status == Release.Status.QUEUED:
        return "waiting for a worker"
    if release.status == Release.Status.BUILDING and release.frozen_at is None:
        return "freezing the pairs"
    return (
        f"{release.images_done:,} / {release.images_total:,} images, "
        f"{release.pairs_done:,} / {release.pairs_total:,} pairs"
    )


@admin.register(Release)
class ReleaseAdmin(LiveProgressAdmin, ReadOnlyAdmin):
    list_display = [
        "release_number",
        "status_badge",
        "progress",
        "pairs_total",
        "images_total",
        "created_by",
        "created_at",
        "finished_at",
    ]
    list_display_links = ["release_number"]
    list_filter = ["status"]
    list_select_related = ["created_by"]
    empty_value_display = "—"
    actions = ["retry_failed", "rebuild"]
    fieldsets = [
        ("Build", {"fields": ["status_badge", "progress", "error_text"]}),
        (
            "Contents",
            {"fields": ["description", "filters_text", "frozen_at_text", "counts"]},
        ),
        ("Files", {"fields": ["files"]}),
        (
            None,
            {"fields": ["created_by", ("created_at", "started_at", "finished_at")]},
        ),
    ]
    readonly_fields = [
        "status_badge",
        "progress",
        "error_text",
        "filters_text",
        "frozen_at_text",
        "counts",
        "files",
    ]

    class Media:
        css = {"all": ["captions/admin.css"]}
        js = [Script("captions/release_progress.js", type="module")]

    def get_urls(self) -> list[URLPattern]:
        # Before the default URLs, whose "<path:object_id>/" would swallow "create/".
        own = [
            path(
                "create/",
                self.admin_site.admin_view(self.create_view),
                name="captions_release_create",
            ),
        ]
        return own + super().get_urls()

    def has_change_permission(
        self, request: HttpRequest, obj: Release | None = None
    ) -> bool:
        # Without an object this guards the changelist's actions (retry, rebuild),
        # by the model permission curators hold (a role check here would cost every
        # admin page a query: the sidebar asks each model admin); a release itself is
        # never edited.
        return obj is None and admin.ModelAdmin.has_change_permission(self, request)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict | None = None
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "may_create_release": is_curator(request.user),
        }
        return super().changelist_view(request, extra_context)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        if object_id is None:
            return redirect("admin:captions_release_create")
        return super().changeform_view(request, object_id, form_url, extra_context)

    # --- columns and read-only fields ---------------------------------------------

    @admin.display(description="release", ordering="number")
    def release_number(self, release: Release) -> str:
        return f"#{release.number}"

    @admin.display(description="status", ordering="status")
    def status_badge(self, release: Release) -> SafeString:
        return release_status_badge(release)

    @admin.display(description="progress")
    def progress(self, release: Release) -> SafeString:
        return release_progress_widget(release)

    @admin.display(description="error")
    def error_text(self, release: Release) -> str:
        return release.error or "—"

    @admin.display(description="selected by")
    def filters_text(self, release: Release) -> str:
        try:
            return releases.release_filters_text(release)
        except ExportError:
            return str(release.filters)

    @admin.display(description="frozen at")
    def frozen_at_text(self, release: Release) -> str:
        return iso_utc(release.frozen_at) or "not yet (when the build starts)"

    @admin.display(description="counts")
    def counts(self, release: Release) -> str:
        return f"{release.pairs_total:,} pairs, {release.images_total:,} images"

    @admin.display(description="files")
    def files(self, release: Release) -> SafeString | str:
        if release.status != Release.Status.DONE:
            return "Downloadable once the release is done."
        prefix = releases.release_file_url_prefix(release.number)
        entries = [
            {"path": releases.MANIFEST, "bytes": release.manifest["manifest_bytes"]},
            *release.manifest.get("files", []),
        ]
        rows = format_html_join(
            "",
            '<li><a href="{}{}">{}</a> <span class="release-quiet">{} bytes</span>'
            "</li>",
            ((prefix, e["path"], e["path"], f"{e['bytes']:,}") for e in entries),
        )
        images = release.manifest.get("images", {})
        return format_html(
            '<ul class="release-files">{}<li>{} images under <code>images/</code> '
            '<span class="release-quiet">{} bytes</span></li></ul>',
            rows,
            f"{images.get('count', 0):,}",
            f"{images.get('bytes', 0):,}",
        )

    # --- actions ----------------------------------------------------------------------

    @admin.action(description="Retry the selected failed releases")
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[Release]) -> None:
        retried = [
            number
            for release_id, number in queryset.values_list("pk", "number")
            if releases.release_retry(release_id=release_id)
        ]
        if retried:
            self.message_user(
                request, f"Queued again: release(s) {_numbers(retried)}.", messages.INFO
            )
        else:
            self.message_user(
                request, "None of the selected releases failed.", messages.WARNING
            )

    @admin.action(description="Rebuild the selected done releases and check them")
    def rebuild(self, request: HttpRequest, queryset: QuerySet[Release]) -> None:
        queued = [
            number
            for release_id, number in queryset.values_list("pk", "number")
            if releases.release_queue_rebuild(release_id=release_id)
        ]
        if queued:
            self.message_user(
                request,
                f"Rebuild queued for release(s) {_numbers(queued)}: the files are "
                "written again and replace the old ones only if they are the same, "
                "byte for byte (the worker's log says if not).",
                messages.INFO,
            )
        else:
            self.message_user(
                request, "None of the selected releases is done.", messages.WARNING
            )

    # --- extra views --------------------------------------------------------------

    def progress_json(self, release: Release) -> dict:
        return {
            "status": release.status,
            "status_label": release.get_status_display(),
            "frozen": release.frozen_at is not None,
            "images_done": release.images_done,
            "images_total": release.images_total,
            "pairs_done": release.pairs_done,
            "pairs_total": release.pairs_total,
            "error": release.error,
        }

    def create_view(self, request: HttpRequest) -> HttpResponse:
        if not is_curator(request.user):
            raise PermissionDenied
        form = ReleaseCreateForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            try:
                release = releases.release_create(
                    filters=form.filters(),
                    user=request.user,
                    description=form.cleaned_data["description"],
                )
            except (ExportError, releases.ReleaseError) as error:
                form.add_error(None, str(error))
            else:
                self.log_addition(request, release, f"Created: {release.filters}")
                self.message_user(
                    request,
                    f"Release {release.number} is queued; a worker builds it.",
                    messages.SUCCESS,
                )
                return redirect("admin:captions_release_change", release.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": "Create a release",
            "opts": self.opts,
            "form": form,
            "media": self.media + form.media,
            "has_view_permission": self.has_view_permission(request),
        }
        return TemplateResponse(request, "admin/captions/release/create.html", context)


def _numbers(numbers: list[int]) -> str:
    return ", ".join(str(number) for number in numbers)
