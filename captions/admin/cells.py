"""Small pieces of the admin's lists and read-only fields, rendered from templates under
templates/admin/captions/, so that whatever a user or an LLM wrote is escaped by the
template engine rather than by hand."""

from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from captions.models import Patch

_CELL = "admin/captions/includes/cell.html"


def text_cell(
    text: object,
    *,
    class_name: str = "",
    title: str = "",
    second_line: object = None,
) -> SafeString:
    """A `<span>`: the text, and a second line under it if given."""
    return render_to_string(
        _CELL,
        {
            "text": text,
            "class_name": class_name,
            "title": title,
            "second_line": second_line,
        },
    )


def link_cell(text: object, *, href: str, title: str = "") -> SafeString:
    return render_to_string(_CELL, {"text": text, "href": href, "title": title})


def preformatted_cell(text: str, *, class_name: str) -> SafeString:
    return render_to_string(
        _CELL, {"text": text, "class_name": class_name, "preformatted": True}
    )


def status_badge(kind: str, record: object) -> SafeString:
    """A scene's, job's or release's status (`kind` names the CSS classes and data
    attributes that static/captions/progress_poll.js updates)."""
    return render_to_string(
        "admin/captions/includes/status_badge.html", {"kind": kind, "record": record}
    )


def patch_thumbnails(patch: Patch) -> SafeString:
    """The RGB and land-cover previews of a patch, small, for a list row."""
    return render_to_string("admin/captions/patch/thumbnails.html", {"patch": patch})
