from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import SuspiciousFileOperation
from django.http import FileResponse, Http404, HttpRequest
from django.utils._os import safe_join


@login_required
def media_file(request: HttpRequest, name: str) -> FileResponse:
    """Previews for logged-in users only: the imagery may be licensed, not public."""
    try:
        path = Path(safe_join(settings.MEDIA_ROOT, name))
    except SuspiciousFileOperation:
        raise Http404("no such file") from None
    if not path.is_file():
        raise Http404("no such file")
    response = FileResponse(path.open("rb"))
    # Previews never change once written: a patch's files are replaced only when its
    # scene is ingested again, under the same names but by the same pixels.
    response["Cache-Control"] = "private, max-age=86400"
    return response
