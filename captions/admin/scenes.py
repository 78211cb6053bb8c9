"""Admin for scenes and patches: ingest from the browser and watch it run.

Scenes and patches are written only by the ingest, so their pages are read-only: a
saved form would write back a stale copy of the counters a worker is updating.
"""

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.forms import Script
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from captions.admin.forms import SceneIngestForm
from captions.admin.live_progress import LiveProgressAdmin
from captions.admin.read_only import ReadOnlyAdmin
from captions.ingest import scenes
from captions.landcover import CLASS_BY_CODE, REGION_NAMES
from captions.models import Patch, Scene

SHORT_SOURCE_KINDS: dict[str, str] = {
    Scene.SourceKind.GEOTIFF: "GeoTIFF",
    Scene.SourceKind.TILES: "PNG tiles",
}
THUMBNAILS_ON_SCENE_PAGE = 8
REQUEUED_MESSAGE = "Re-queued for ingest"


def _footprint_text(record: Scene | Patch) -> str:
    if None in (record.west, record.south, record.east, record.north):
        return "—"
    return (
        f"lon {record.west:.4f} to {record.east:.4f}, "
        f"lat {record.south:.4f} to {record.north:.4f}"
    )


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.1f} %"


def _colour(code: int) -> str:
    land_cover_class = CLASS_BY_CODE.get(code)
    if land_cover_class is None:
        return "transparent"
    return "#{:02x}{:02x}{:02x}".format(*land_cover_class.official_rgb)


def _class_rows(entries: list[dict]) -> list[dict]:
    """A statistics list (DOMAIN.md section 4) as table rows with official colours."""
    rows = []
    for entry in entries:
        land_cover_class = CLASS_BY_CODE.get(entry["code"])
        rows.append(
            {
                "code": entry["code"],
                "term": entry["name"],
                "worldcover_name": land_cover_class.worldcover_name
                if land_cover_class
                else "",
                "colour": _colour(entry["code"]),
                "pixels": f"{entry['pixels']:,}",
                "percent": _percent(entry["fraction"]),
            }
        )
    return rows


def _status_badge(scene: Scene) -> SafeString:
    return format_html(
        '<span class="scene-status scene-status--{}" data-scene-badge="{}">{}</span>',
        scene.status,
        scene.pk,
        scene.get_status_display(),
    )


def _progress_widget(scene: Scene) -> SafeString | str:
    """`<progress>` of patches done; scene_progress.js keeps it live while active."""
    if scene.status == Scene.Status.FAILED:
        return "—"  # a failed ingest removes what it had done
    if scene.patches_total:
        bar = format_html(
            '<progress value="{}" max="{}"></progress>',
            scene.patches_done,
            scene.patches_total,
        )
        count = f"{scene.patches_done} / {scene.patches_total}"
    else:
        # Total unknown until a worker opens the files: an indeterminate bar.
        bar = format_html("<progress></progress>")
        count = "—"
    return format_html(
        '<span class="scene-progress" data-scene-id="{}" data-scene-status="{}" '
        'data-scene-progress-url="{}">{} '
        '<span class="scene-progress__count" data-scene-progress-count>{}</span>'
        "</span>",
        scene.pk,
        scene.status,
        reverse("admin:captions_scene_progress", args=[scene.pk]),
        bar,
        count,
    )


def patch_thumbnails(patch: Patch) -> SafeString:
    """The RGB and land-cover previews of a patch, small, for a list row."""
    return format_html(
        '<span class="patch-thumbs">'
        '<img src="{}" width="64" height="64" alt="RGB preview" loading="lazy">'
        '<img class="landcover-preview" src="{}" width="64" height="64" '
        'alt="land-cover preview" loading="lazy"></span>',
        patch.rgb_preview.url,
        patch.landcover_preview.url,
    )


def _patches_of_scene_url(scene: Scene) -> str:
    return f"{reverse('admin:captions_patch_changelist')}?scene__id__exact={scene.pk}"


@admin.register(Scene)
class SceneAdmin(LiveProgressAdmin):
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
            {"fields": [("patch_size", "bands", "l2a_offset_text", "max_invalid")]},
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
            path(
                "ingest/",
                self.admin_site.admin_view(self.ingest_view),
                name="captions_scene_ingest",
            ),
            path(
                "<path:object_id>/requeue/",
                self.admin_site.admin_view(require_POST(self.requeue_view)),
                name="captions_scene_requeue",
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
        return _status_badge(scene)

    @admin.display(description="source", ordering="source_kind")
    def source(self, scene: Scene) -> str:
        return SHORT_SOURCE_KINDS.get(scene.source_kind, scene.source_kind)

    @admin.display(description="progress")
    def progress(self, scene: Scene) -> SafeString | str:
        return _progress_widget(scene)

    @admin.display(description="created / skipped", ordering="patches_created")
    def patch_counts(self, scene: Scene) -> SafeString:
        created: SafeString | int = scene.patches_created
        if scene.patches_created:
            created = format_html(
                '<a href="{}" title="the patches of this scene">{}</a>',
                _patches_of_scene_url(scene),
                scene.patches_created,
            )
        return format_html(
            '<span class="scene-counts">{} / {}</span>', created, scene.patches_skipped
        )

    @admin.display(description="created", ordering="created_at")
    def created(self, scene: Scene) -> str:
        return timezone.localtime(scene.created_at).strftime("%Y-%m-%d %H:%M")

    @admin.display(description="footprint (lon/lat)")
    def footprint(self, scene: Scene) -> str:
        return _footprint_text(scene)

    @admin.display(description="footprint")
    def footprint_short(self, scene: Scene) -> SafeString | str:
        if None in (scene.west, scene.south, scene.east, scene.north):
            return "—"
        return format_html(
            '<span class="scene-footprint">lon {} … {}<br>lat {} … {}</span>',
            f"{scene.west:.2f}",
            f"{scene.east:.2f}",
            f"{scene.south:.2f}",
            f"{scene.north:.2f}",
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

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        if object_id is None:
            # Scenes come only from an ingest; the admin index's "Add" lands here.
            return redirect("admin:captions_scene_ingest")
        extra_context = {
            **(extra_context or {}),
            "may_requeue": self.has_change_permission(request),
        }
        return super().changeform_view(request, object_id, form_url, extra_context)

    # --- actions --------------------------------------------------------------------

    @admin.action(
        description="Re-queue failed scenes for ingest", permissions=["change"]
    )
    def requeue_failed(self, request: HttpRequest, queryset: QuerySet[Scene]) -> None:
        with transaction.atomic():
            requeued = [
                scene
                for scene in queryset.only("pk", "name")
                if scenes.scene_queue_ingest(
                    scene_id=scene.pk, from_statuses=(Scene.Status.FAILED,)
                )
            ]
        for scene in requeued:
            self.log_change(request, scene, REQUEUED_MESSAGE)
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

    # --- extra views ------------------------------------------------------------------

    def progress_json(self, scene: Scene) -> dict:
        return {
            "status": scene.status,
            "status_label": scene.get_status_display(),
            "patches_done": scene.patches_done,
            "patches_total": scene.patches_total,
            "error": scene.error,
        }

    def requeue_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        scene = self.get_object(request, object_id)
        if scene is None:
            raise Http404("no such scene")
        if not self.has_change_permission(request):
            raise PermissionDenied
        with transaction.atomic():
            queued = scenes.scene_queue_ingest(
                scene_id=scene.pk, from_statuses=(Scene.Status.FAILED,)
            )
        if queued:
            self.log_change(request, scene, REQUEUED_MESSAGE)
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
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = SceneIngestForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            scene = self._ingest(request, form)
            if scene is not None:
                return redirect("admin:captions_scene_change", scene.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": "Ingest a scene",
            "opts": self.opts,
            "form": form,
            "media": self.media + form.media,
            "has_view_permission": self.has_view_permission(request),
        }
        return TemplateResponse(request, "admin/captions/scene/ingest.html", context)

    def _ingest(self, request: HttpRequest, form: SceneIngestForm) -> Scene | None:
        image_path = form.cleaned_data["image_path"]
        landcover_path = form.cleaned_data["landcover_path"]
        options = form.ingest_options()
        try:
            # Check first, so that a typo in a path leaves no failed scene behind.
            scenes.scene_check_pair(
                image_path=image_path, landcover_path=landcover_path, options=options
            )
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


@admin.register(Patch)
class PatchAdmin(ReadOnlyAdmin):
    list_display = [
        "thumbnails",
        "scene",
        "window",
        "split",
        "invalid_percent",
        "dominant_class",
    ]
    list_display_links = ["thumbnails"]
    list_filter = ["split", "scene"]
    list_select_related = ["scene"]
    search_fields = ["scene__name", "source_name"]
    list_per_page = 50
    # The order of the (scene, row_off, col_off) unique index: pages come from an
    # index scan, not a sort of every patch by its scene's creation time.
    ordering = ["scene_id", "row_off", "col_off"]
    # One COUNT of the whole table (163k rows and more) per page view is enough.
    show_full_result_count = False
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "scene",
                    ("row_off", "col_off"),
                    "size",
                    "footprint",
                    "split",
                    "invalid_percent",
                    "source_name",
                    "created_at",
                ]
            },
        ),
        ("Previews", {"fields": ["previews"]}),
        ("Land-cover statistics", {"fields": ["landcover_statistics"]}),
        (
            "Statistics as stored (JSON)",
            {"fields": ["landcover_json"], "classes": ["collapse"]},
        ),
    ]
    readonly_fields = [
        "size",
        "footprint",
        "invalid_percent",
        "previews",
        "landcover_statistics",
        "landcover_json",
    ]

    class Media:
        css = {"all": ["captions/admin.css"]}

    @admin.display(description="previews")
    def thumbnails(self, patch: Patch) -> SafeString:
        return patch_thumbnails(patch)

    @admin.display(description="row, col", ordering="row_off")
    def window(self, patch: Patch) -> str:
        return f"{patch.row_off}, {patch.col_off}"

    @admin.display(description="invalid", ordering="invalid_fraction")
    def invalid_percent(self, patch: Patch) -> str:
        return _percent(patch.invalid_fraction)

    @admin.display(description="dominant class")
    def dominant_class(self, patch: Patch) -> SafeString | str:
        overall = patch.landcover.get("overall") or []
        if not overall:
            return "—"
        top = overall[0]
        return format_html(
            '<span class="landcover-dominant"><span class="landcover-swatch" '
            'style="background-color: {}"></span>{} {}</span>',
            _colour(top["code"]),
            top["name"],
            _percent(top["fraction"]),
        )

    @admin.display(description="size")
    def size(self, patch: Patch) -> str:
        return f"{patch.width} × {patch.height} px"

    @admin.display(description="footprint (lon/lat)")
    def footprint(self, patch: Patch) -> str:
        return _footprint_text(patch)

    @admin.display(description="previews")
    def previews(self, patch: Patch) -> SafeString:
        return render_to_string("admin/captions/patch/previews.html", {"patch": patch})

    @admin.display(description="statistics")
    def landcover_statistics(self, patch: Patch) -> SafeString:
        stats = patch.landcover
        regions = stats.get("regions", {})
        return render_to_string(
            "admin/captions/patch/landcover_statistics.html",
            {
                "stats": stats,
                "valid_pixels": f"{stats.get('valid_pixels', 0):,}",
                "overall": _class_rows(stats.get("overall", [])),
                "regions": [
                    {
                        "name": name,
                        "label": name.replace("_", " ").capitalize(),
                        "rows": _class_rows(regions.get(name, [])),
                    }
                    for name in REGION_NAMES
                ],
            },
        )

    @admin.display(description="JSON")
    def landcover_json(self, patch: Patch) -> SafeString:
        return format_html(
            '<pre class="landcover-json">{}</pre>',
            json.dumps(patch.landcover, indent=1),
        )
