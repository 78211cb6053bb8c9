"""Admin for patches: what an ingest cut from a scene, read-only, with its previews and
land-cover statistics; a curator may move one to another split (with a reason, kept
as a `SplitChange`)."""

import json
from collections.abc import Sequence
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import URLPattern, reverse
from django.utils.safestring import SafeString

from captions import access
from captions.admin.cells import patch_thumbnails, preformatted_cell
from captions.admin.forms import PatchSplitForm
from captions.admin.own_pages import form_page, own_path
from captions.admin.read_only import ReadOnlyAdmin
from captions.ingest.splits import SplitError, patch_split_change
from captions.landcover import CLASS_BY_CODE, REGION_NAMES
from captions.models import Patch, Scene


def footprint_text(record: Scene | Patch) -> str:
    if None in (record.west, record.south, record.east, record.north):
        return "—"
    return (
        f"lon {record.west:.4f} to {record.east:.4f}, "
        f"lat {record.south:.4f} to {record.north:.4f}"
    )


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.1f} %"


def _class_row(entry: dict) -> dict:
    """A class of a statistics list (DOMAIN.md section 4) as a table row, with its
    official colour."""
    land_cover_class = CLASS_BY_CODE.get(entry["code"])
    return {
        "code": entry["code"],
        "term": entry["name"],
        "worldcover_name": land_cover_class.worldcover_name if land_cover_class else "",
        "colour": land_cover_class.hex_colour if land_cover_class else "transparent",
        "pixels": f"{entry['pixels']:,}",
        "percent": _percent(entry["fraction"]),
    }


@admin.register(Patch)
class PatchAdmin(ReadOnlyAdmin):
    list_display = [
        "thumbnails",
        "scene",
        "window",
        "split",
        "split_source",
        "invalid_percent",
        "dominant_share",
    ]
    list_display_links = ["thumbnails"]
    list_filter = ["split", "split_source", "scene"]
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
                    "split_text",
                    "split_history",
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
        "split_text",
        "split_plain",
        "split_history",
        "size",
        "footprint",
        "invalid_percent",
        "previews",
        "landcover_statistics",
        "landcover_json",
    ]

    class Media:
        css = {"all": ["captions/admin.css"]}

    def get_urls(self) -> list[URLPattern]:
        own = [own_path(self, "<int:patch_id>/split/", self.split_view, "split")]
        return own + super().get_urls()

    def get_fieldsets(self, request: HttpRequest, obj: Patch | None = None) -> Any:
        """Only curators get the split with its "Move to another split" link: for
        anyone else the move is refused, so it is not offered."""
        fieldsets = super().get_fieldsets(request, obj)
        if access.may(request.user, access.CURATE):
            return fieldsets
        return [
            (name, {**options, "fields": _without_move(options["fields"])})
            for name, options in fieldsets
        ]

    @admin.display(description="split")
    def split_plain(self, patch: Patch) -> str:
        return f"{patch.split} ({patch.get_split_source_display()})"

    @admin.display(description="split")
    def split_text(self, patch: Patch) -> SafeString:
        return render_to_string(
            "admin/captions/patch/split.html",
            {
                "patch": patch,
                "source": patch.get_split_source_display(),
                "change_url": reverse("admin:captions_patch_split", args=[patch.pk]),
            },
        )

    @admin.display(description="split changes")
    def split_history(self, patch: Patch) -> SafeString:
        changes = patch.split_changes.select_related("user")
        return render_to_string(
            "admin/captions/patch/split_history.html", {"changes": changes}
        )

    def split_view(self, request: HttpRequest, patch_id: int) -> HttpResponse:
        """Move a patch to another split: curators only, with a reason."""
        if not access.may(request.user, access.CURATE):
            raise PermissionDenied
        patch = Patch.objects.select_related("scene").filter(pk=patch_id).first()
        if patch is None:
            raise Http404("no such patch")
        form = PatchSplitForm(
            request.POST if request.method == "POST" else None,
            initial={"split": patch.split},
        )
        if form.is_valid():
            try:
                change = patch_split_change(
                    patch_id=patch.pk,
                    split=form.cleaned_data["split"],
                    user=request.user,
                    reason=form.cleaned_data["reason"],
                )
            except SplitError as error:
                form.add_error(None, str(error))
            else:
                self.message_user(
                    request,
                    f"Patch {patch.pk} moved to {change.split_after}."
                    if change
                    else f"Patch {patch.pk} is in {patch.split} already.",
                    messages.SUCCESS,
                )
                return redirect("admin:captions_patch_change", patch.pk)
        return form_page(
            self,
            request,
            "admin/captions/patch/split_form.html",
            title=f"Move patch {patch.pk} to another split",
            form=form,
            patch=patch,
        )

    @admin.display(description="previews")
    def thumbnails(self, patch: Patch) -> SafeString:
        return patch_thumbnails(patch)

    @admin.display(description="row, col", ordering="row_off")
    def window(self, patch: Patch) -> str:
        return f"{patch.row_off}, {patch.col_off}"

    @admin.display(description="invalid", ordering="invalid_fraction")
    def invalid_percent(self, patch: Patch) -> str:
        return _percent(patch.invalid_fraction)

    # Not named dominant_class: the admin would show the model's field of that name.
    @admin.display(description="dominant class", ordering="dominant_class")
    def dominant_share(self, patch: Patch) -> SafeString | str:
        overall = patch.landcover.get("overall") or []
        if not overall:
            return "—"
        return render_to_string(
            "admin/captions/patch/dominant_class.html", {"row": _class_row(overall[0])}
        )

    @admin.display(description="size")
    def size(self, patch: Patch) -> str:
        return f"{patch.width} × {patch.height} px"

    @admin.display(description="footprint (lon/lat)")
    def footprint(self, patch: Patch) -> str:
        return footprint_text(patch)

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
                "overall": [_class_row(entry) for entry in stats.get("overall", [])],
                "regions": [
                    {
                        "name": name,
                        "label": name.replace("_", " ").capitalize(),
                        "rows": [_class_row(entry) for entry in regions.get(name, [])],
                    }
                    for name in REGION_NAMES
                ],
            },
        )

    @admin.display(description="JSON")
    def landcover_json(self, patch: Patch) -> SafeString:
        return preformatted_cell(
            json.dumps(patch.landcover, indent=1), class_name="landcover-json"
        )


def _without_move(fields: Sequence[Any]) -> list[Any]:
    return ["split_plain" if field == "split_text" else field for field in fields]
