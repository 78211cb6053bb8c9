"""Admin for scenes: ingest from the browser and watch it run.

Scenes are written only by the ingest, so their pages are read-only: a saved form
would write back a stale copy of the counters a worker is updating.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.forms import Script
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import URLPattern, reverse
from django.utils import timezone
from django.utils.safestring import SafeString

from captions.admin.cells import text_cell
from captions.admin.forms import SceneIngestForm
from captions.admin.live_progress import LiveProgressAdmin
from captions.admin.own_pages import OwnAddPageAdmin, form_page, own_path
from captions.admin.patches import footprint_text
from captions.ingest import scenes
from captions.models import Scene

SHORT_SOURCE_KINDS: dict[str, str] = {
    Scene.SourceKind.GEOTIFF: "GeoTIFF",
    Scene.SourceKind.TILES: "PNG tiles",
}
THUMBNAILS_ON_SCENE_PAGE = 8
REQUEUED_MESSAGE = "Re-queued for ingest"


def _patches_of_scene_url(scene: Scene) -> str:
    return f"{reverse('admin:captions_patch_changelist')}?scene__id__exact={scene.pk}"


def _progress_count(scene: Scene) -> str:
    if not scene.patches_total:
        return "—"  # unknown until a worker opens the files
    return f"{scene.patches_done} / {scene.patches_total}"


@admin.register(Scene)
class SceneAdmin(OwnAddPageAdmin, LiveProgressAdmin):
    add_page = ("admin:captions_scene_ingest", "Ingest a scene")
    progress_kind = "scene"
    active_statuses = (Scene.Status.QUEUED, Scene.Status.INGESTING)
    list_display = [
        "name",
        "source",
        "status_badge",
        "progress",
        "patch_counts",
        "footprint_short",
        "acquired_on",
        "created",
    ]
    list_filter = ["status", "source_kind"]
    search_fields = ["name"]
    actions = ["requeue_failed"]
    fieldsets = [
        (
            "Ingest",
            {
                "fields": [
                    # A failed scene's error is the banner atop the page.
                    "status_badge",
                    "progress",
                    ("patches_created", "patches_skipped"),
                ]
            },
        ),
        (
            "Source",
            {
                "fields": [
                    "name",
                    "source_kind",
                    "image_path",
                    "landcover_path_text",
                    "acquired_on",
                ]
            },
        ),
        ("Geometry", {"fields": ["crs_text", "size", "footprint"]}),
        (
            "Ingest options",
            {
                "fields": [
                    (
                        "patch_size",
                        "bands",
                        "l2a_offset_text",
                        "max_invalid",
                        "split_block",
                    )
                ]
            },
        ),
        ("Patches", {"fields": ["patch_thumbnails"]}),
        (None, {"fields": [("created_at", "updated_at")]}),
    ]
    empty_value_display = "—"
    readonly_fields = [
        "status_badge",
        "progress",
        "landcover_path_text",
        "crs_text",
        "l2a_offset_text",
        "size",
        "footprint",
        "patch_thumbnails",
        "created_at",
        "updated_at",
    ]

    class Media:
        css = {"all": ["captions/admin.css"]}
        js = [Script("captions/scene_progress.js", type="module")]

    def get_urls(self) -> list[URLPattern]:
        # Before the default URLs, whose "<path:object_id>/" would swallow "ingest/".
        own = [
            own_path(self, "ingest/", self.ingest_view, "ingest"),
            own_path(
                self,
                "<path:object_id>/requeue/",
                self.requeue_view,
                "requeue",
                post_only=True,
            ),
        ]
        return own + super().get_urls()

    # --- permissions: scenes come from an ingest and change only through one -------

    def has_change_permission(
        self, request: HttpRequest, obj: Scene | None = None
    ) -> bool:
        # Without an object this guards the changelist's actions (re-queue).
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(
        self, request: HttpRequest, obj: Scene | None = None
    ) -> bool:
        # A failed scene has no patches or files left (the ingest removed them), so
        # deleting its row deletes all of it; any other scene has files on disk.
        return (
            obj is not None
            and obj.status == Scene.Status.FAILED
            and super().has_delete_permission(request, obj)
        )

    def get_actions(self, request: HttpRequest) -> dict:
        found = super().get_actions(request)
        found.pop("delete_selected", None)
        return found

    # --- columns and read-only fields ---------------------------------------------

    @admin.display(description="status", ordering="status")
    def status_badge(self, scene: Scene) -> SafeString:
        return self.status_badge_html(scene)

    @admin.display(description="source", ordering="source_kind")
    def source(self, scene: Scene) -> str:
        return SHORT_SOURCE_KINDS.get(scene.source_kind, scene.source_kind)

    @admin.display(description="progress")
    def progress(self, scene: Scene) -> SafeString | str:
        """Patches done; scene_progress.js keeps it live while active."""
        if scene.status == Scene.Status.FAILED:
            return "—"  # a failed ingest removes what it had done
        # Total unknown until a worker opens the files: an indeterminate bar.
        return self.progress_bar_html(
            scene,
            value=scene.patches_done,
            max_value=scene.patches_total,
            count=_progress_count(scene),
        )

    @admin.display(description="created / skipped", ordering="patches_created")
    def patch_counts(self, scene: Scene) -> SafeString:
        return render_to_string(
            "admin/captions/scene/patch_counts.html",
            {"scene": scene, "patches_url": _patches_of_scene_url(scene)},
        )

    @admin.display(description="created", ordering="created_at")
    def created(self, scene: Scene) -> str:
        return timezone.localtime(scene.created_at).strftime("%Y-%m-%d %H:%M")

    @admin.display(description="footprint (lon/lat)")
    def footprint(self, scene: Scene) -> str:
        return footprint_text(scene)

    @admin.display(description="footprint")
    def footprint_short(self, scene: Scene) -> SafeString | str:
        if None in (scene.west, scene.south, scene.east, scene.north):
            return "—"
        return text_cell(
            f"lon {scene.west:.2f} … {scene.east:.2f}",
            class_name="scene-footprint",
            second_line=f"lat {scene.south:.2f} … {scene.north:.2f}",
        )

    @admin.display(description="size")
    def size(self, scene: Scene) -> str:
        if scene.width is None or scene.height is None:
            return "—"
        return f"{scene.width} × {scene.height} px"

    @admin.display(description="land-cover path")
    def landcover_path_text(self, scene: Scene) -> str:
        return scene.landcover_path or "—"

    @admin.display(description="CRS")
    def crs_text(self, scene: Scene) -> str:
        return scene.crs or "—"

    @admin.display(description="L2A offset")
    def l2a_offset_text(self, scene: Scene) -> str:
        return scene.l2a_offset

    @admin.display(description="patches")
    def patch_thumbnails(self, scene: Scene) -> SafeString:
        patches = scene.patches.all()[:THUMBNAILS_ON_SCENE_PAGE]
        return render_to_string(
            "admin/captions/scene/patch_thumbnails.html",
            {
                "scene": scene,
                "patches": patches,
                "patches_url": _patches_of_scene_url(scene),
            },
        )

    def change_page_context(self, request: HttpRequest) -> dict:
        return {"may_requeue": self.has_change_permission(request)}

    # --- actions --------------------------------------------------------------------

    @admin.action(
        description="Re-queue failed scenes for ingest", permissions=["change"]
    )
    def requeue_failed(self, request: HttpRequest, queryset: QuerySet[Scene]) -> None:
        requeued = [
            scene
            for scene in queryset.only("pk", "name")
            if self._requeue(request, scene)
        ]
        if requeued:
            self.message_user(
                request,
                f"{len(requeued)} scene(s) queued for ingest.",
                messages.SUCCESS,
            )
        else:
            self.message_user(
                request,
                "None of the selected scenes is a failed GeoTIFF ingest.",
                messages.WARNING,
            )

    def _requeue(self, request: HttpRequest, scene: Scene) -> bool:
        """Queue a failed scene's ingest again (its task is sent on commit)."""
        with transaction.atomic():
            queued = scenes.scene_queue_ingest(
                scene_id=scene.pk, from_statuses=(Scene.Status.FAILED,)
            )
        if queued:
            self.log_change(request, scene, REQUEUED_MESSAGE)
        return queued

    # --- extra views ------------------------------------------------------------------

    def progress_json(self, scene: Scene) -> dict:
        return {
            "status": scene.status,
            "patches_done": scene.patches_done,
            "patches_total": scene.patches_total,
            "count_text": _progress_count(scene),
            "error": scene.error,
        }

    def requeue_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        scene = self.get_object(request, object_id)
        if scene is None:
            raise Http404("no such scene")
        if not self.has_change_permission(request):
            raise PermissionDenied
        if self._requeue(request, scene):
            self.message_user(
                request, f"Scene “{scene.name}” is queued for ingest.", messages.SUCCESS
            )
        else:
            self.message_user(
                request,
                f"Scene “{scene.name}” is not a failed GeoTIFF ingest.",
                messages.WARNING,
            )
        return redirect("admin:captions_scene_change", scene.pk)

    def ingest_view(self, request: HttpRequest) -> HttpResponse:
        if not self.may_open_add_page(request):
            raise PermissionDenied
        form = SceneIngestForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            scene = self._ingest(request, form)
            if scene is not None:
                return redirect("admin:captions_scene_change", scene.pk)
        return form_page(
            self,
            request,
            "admin/captions/scene/ingest.html",
            title="Ingest a scene",
            form=form,
        )

    def _ingest(self, request: HttpRequest, form: SceneIngestForm) -> Scene | None:
        image_path = form.cleaned_data["image_path"]
        landcover_path = form.cleaned_data["landcover_path"]
        options = form.ingest_options()
        try:
            with transaction.atomic():
                scene = scenes.scene_create(
                    name=form.scene_name(),
                    image_path=image_path,
                    landcover_path=landcover_path,
                    options=options,
                )
                queued = scenes.scene_queue_ingest(
                    scene_id=scene.pk,
                    from_statuses=(Scene.Status.QUEUED, Scene.Status.FAILED),
                )
        except scenes.IngestError as error:
            form.add_error(None, str(error))
            return None
        if queued:
            # The scene's history says who asked for the ingest, with which options.
            self.log_change(request, scene, f"Queued for ingest: {options}")
            self.message_user(
                request, f"Scene “{scene.name}” is queued for ingest.", messages.SUCCESS
            )
        else:
            self.message_user(
                request,
                f"Scene “{scene.name}” is already {scene.get_status_display().lower()} "
                "from the same files; nothing new was queued.",
                messages.INFO,
            )
        return scene
