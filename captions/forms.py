"""Forms of the captions app."""

from pathlib import Path

from django import forms
from django.conf import settings

from captions import services
from captions.rasters import L2A_OFFSET_CHOICES, RasterError, parse_bands

_L2A_OFFSET_LABELS = {
    "auto": "auto (from the file's tags)",
    "0": "0 (L1C, or L2A before baseline 04.00)",
    "-1000": "−1000 (L2A from baseline 04.00, 2022-01-25)",
}


class SceneIngestForm(forms.Form):
    """What `manage.py ingest_scene` takes, for the admin's "Ingest a scene" page.

    Paths are on the server, not uploads: imagery is large and already lives on the
    shared storage that the workers read.
    """

    image_path = forms.CharField(
        max_length=1000,
        help_text="Absolute path on the server of a Sentinel-2 (or RGB) GeoTIFF.",
        widget=forms.TextInput(attrs={"class": "vLargeTextField", "autofocus": True}),
    )
    landcover_path = forms.CharField(
        label="Land-cover path",
        max_length=1000,
        help_text="Absolute path on the server of an ESA WorldCover map, any CRS.",
        widget=forms.TextInput(attrs={"class": "vLargeTextField"}),
    )
    name = forms.CharField(
        max_length=200,
        required=False,
        help_text="Scene name; leave empty to use the image file's name without "
        "its extension.",
    )
    patch_size = forms.IntegerField(
        initial=256, min_value=16, help_text="Patch width and height in pixels."
    )
    bands = forms.CharField(
        required=False,
        max_length=40,
        help_text="1-based red, green, blue bands, e.g. 4,3,2; leave empty to take "
        "them from the file's band names.",
    )
    l2a_offset = forms.ChoiceField(
        label="L2A offset",
        choices=[(value, _L2A_OFFSET_LABELS[value]) for value in L2A_OFFSET_CHOICES],
        initial="auto",
        help_text="Added to digital numbers before dividing by 10,000.",
    )
    max_invalid = forms.FloatField(
        initial=0.5,
        min_value=0.0,
        max_value=1.0,
        help_text="Skip patches with a larger fraction of invalid pixels (0 to 1).",
    )

    def clean_image_path(self) -> Path:
        return _absolute_path(self.cleaned_data["image_path"])

    def clean_landcover_path(self) -> Path:
        return _absolute_path(self.cleaned_data["landcover_path"])

    def clean_bands(self) -> tuple[int, ...] | None:
        text = self.cleaned_data["bands"].strip()
        if not text:
            return None
        try:
            bands = parse_bands(text)
        except RasterError:
            bands = ()
        if len(bands) != 3 or min(bands) < 1:
            raise forms.ValidationError(
                "Give three 1-based band numbers separated by commas, e.g. 4,3,2."
            )
        return bands

    def scene_name(self) -> str:
        return self.cleaned_data["name"].strip() or self.cleaned_data["image_path"].stem

    def ingest_options(self) -> services.IngestOptions:
        return services.IngestOptions(
            patch_size=self.cleaned_data["patch_size"],
            bands=self.cleaned_data["bands"],
            l2a_offset=self.cleaned_data["l2a_offset"],
            max_invalid=self.cleaned_data["max_invalid"],
        )


def _absolute_path(text: str) -> Path:
    # A relative path would resolve against the web server's working directory,
    # which neither the curator nor the worker can be expected to know.
    path = Path(text.strip())
    if not path.is_absolute():
        raise forms.ValidationError("Give an absolute path on the server.")
    roots = [Path(root).resolve() for root in settings.INGEST_ROOTS]
    if roots and not any(path.resolve().is_relative_to(root) for root in roots):
        raise forms.ValidationError(
            "Only files under these folders can be ingested: "
            + ", ".join(str(root) for root in roots)
        )
    return path
