"""Admin for releases: create one, watch it build, download its files.

A release is written only by its build (captions/export/releases.py) and never changes
once done, so its pages are read-only; curators create one from the "Create a release"
page, retry a failed one, or rebuild a done one to restore and check its files.
"""

from collections.abc import Callable

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms import Script
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import URLPattern
from django.utils.safestring import SafeString

from captions import access
from captions.admin.forms import ReleaseCreateForm
from captions.admin.live_progress import LiveProgressAdmin
from captions.admin.own_pages import OwnAddPageAdmin, form_page, own_path
from captions.admin.read_only import ReadOnlyAdmin
from captions.export import dataset_card, release_files, releases
from captions.export.formats import ExportError, iso_utc
from captions.models import Release


def progress_text(release: Release) -> str:
    # On the page and in the progress JSON, from which release_progress.js shows it.
    if release.status == Release.Status.QUEUED:
        return "waiting for a worker"
    if release.status == Release.Status.BUILDING and release.frozen_at is None:
        return "freezing the pairs"
    return (
        f"{release.images_done:,} / {release.images_total:,} images, "
        f"{release.pairs_done:,} / {release.pairs_total:,} pairs"
    )


def _queue_each(queryset: QuerySet[Release], service: Callable[..., bool]) -> list[int]:
    """The numbers of the selected releases that `service(release_id=…)` queued."""
    return [
        number
        for release_id, number in queryset.values_list("pk", "number")
        if service(release_id=release_id)
    ]


def _numbers(numbers: list[int]) -> str:
    return ", ".join(str(number) for number in numbers)


@admin.register(Release)
class ReleaseAdmin(OwnAddPageAdmin, LiveProgressAdmin, ReadOnlyAdmin):
    add_page = ("admin:captions_release_create", "Create a release")
    progress_kind = "release"
    active_statuses = (Release.Status.QUEUED, Release.Status.BUILDING)
    list_display = [
        "release_number",
        "status_badge",
        "layout",
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
            {
                "fields": [
                    "description",
                    "layout",
                    "filters_text",
                    "min_qa_per_class",
                    "frozen_at_text",
                    "counts",
                ]
            },
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
        own = [own_path(self, "create/", self.create_view, "create")]
        return own + super().get_urls()

    def has_change_permission(
        self, request: HttpRequest, obj: Release | None = None
    ) -> bool:
        # Without an object this guards the changelist's actions (retry, rebuild),
        # by the model permission curators hold (a role check here would cost every
        # admin page a query: the sidebar asks each model admin); a release itself is
        # never edited.
        return obj is None and admin.ModelAdmin.has_change_permission(self, request)

    def may_open_add_page(self, request: HttpRequest) -> bool:
        return access.may(request.user, access.CURATE)

    # --- columns and read-only fields ---------------------------------------------

    @admin.display(description="release", ordering="number")
    def release_number(self, release: Release) -> str:
        return f"#{release.number}"

    @admin.display(description="status", ordering="status")
    def status_badge(self, release: Release) -> SafeString:
        return self.status_badge_html(release)

    @admin.display(description="progress")
    def progress(self, release: Release) -> SafeString:
        """Images copied and pairs written; release_progress.js keeps it live."""
        return self.progress_bar_html(
            release,
            value=release.images_done + release.pairs_done,
            max_value=max(release.images_total + release.pairs_total, 1),
            count=progress_text(release),
        )

    @admin.display(description="error")
    def error_text(self, release: Release) -> str:
        return release.error or "—"

    @admin.display(description="selected by")
    def filters_text(self, release: Release) -> str:
        try:
            return dataset_card.release_filters_text(release)
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
        manifest = release.manifest
        entries = [
            {"path": dataset_card.MANIFEST, "bytes": manifest["manifest_bytes"]},
            *manifest.get("files", []),
        ]
        images = manifest.get("images", {})
        return render_to_string(
            "admin/captions/release/files.html",
            {
                "prefix": release_files.release_file_url_prefix(release.number),
                "files": [
                    {"path": entry["path"], "bytes": f"{entry['bytes']:,}"}
                    for entry in entries
                ],
                "image_count": f"{images.get('count', 0):,}",
                "image_bytes": f"{images.get('bytes', 0):,}",
            },
        )

    # --- actions ----------------------------------------------------------------------

    @admin.action(description="Retry the selected failed releases")
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[Release]) -> None:
        retried = _queue_each(queryset, releases.release_retry)
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
        queued = _queue_each(queryset, releases.release_queue_rebuild)
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
            "count_text": progress_text(release),
            "frozen": release.frozen_at is not None,
            "images_done": release.images_done,
            "images_total": release.images_total,
            "pairs_done": release.pairs_done,
            "pairs_total": release.pairs_total,
            "error": release.error,
        }

    def create_view(self, request: HttpRequest) -> HttpResponse:
        if not self.may_open_add_page(request):
            raise PermissionDenied
        # ?bbox= fills the area in (the map page's drawn box); it is checked on POST.
        form = ReleaseCreateForm(
            request.POST if request.method == "POST" else None,
            initial={"bbox": request.GET.get("bbox", "")[:200]},
        )
        if form.is_valid():
            try:
                release = releases.release_create(
                    filters=form.filters(),
                    user=request.user,
                    description=form.cleaned_data["description"],
                    layout=form.cleaned_data["layout"] or Release.Layout.PRODUCT,
                    min_qa_per_class=form.cleaned_data["min_qa_per_class"] or 0,
                )
            except releases.QaCoverageTooLow as error:
                form.add_error("min_qa_per_class", str(error))
            except (ExportError, release_files.ReleaseError) as error:
                form.add_error(None, str(error))
            else:
                self.log_addition(request, release, f"Created: {release.filters}")
                self.message_user(
                    request,
                    f"Release {release.number} is queued; a worker builds it.",
                    messages.SUCCESS,
                )
                return redirect("admin:captions_release_change", release.pk)
        return form_page(
            self,
            request,
            "admin/captions/release/create.html",
            title="Create a release",
            form=form,
        )
