"""Forms of the captions app."""

from pathlib import Path

from django import forms

from captions.export.filters import ExportFilters, export_filters_from
from captions.export.releases import MAX_QA_PER_CLASS
from captions.generation.options import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_IN_FLIGHT,
    DEFAULT_MODELS,
    ABTest,
    GenerationError,
    JobOptions,
    Selection,
    ab_test_for,
    endpoint_name_from,
    endpoint_named,
    endpoint_names,
    model_or_default,
    parse_caption_ids,
)
from captions.generation.templates import DEFAULT_TEMPLATE_NAME, template_check_edit
from captions.geo.bbox import BadBoundingBox, BoundingBox, parse_bbox
from captions.ingest import scenes
from captions.ingest.rasters import L2A_OFFSET_CHOICES, RasterError, parse_bands
from captions.llm.registry import BACKENDS
from captions.models import (
    Caption,
    GenerationJob,
    Patch,
    PromptTemplate,
    Release,
    Scene,
)

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
    split_block = forms.IntegerField(
        initial=None,
        required=False,
        min_value=1,
        max_value=1000,
        help_text="Patches per side of a block of neighbouring patches that share a "
        "split (train, val or test); empty: the SPLIT_BLOCK setting.",
    )

    def clean_image_path(self) -> Path:
        return _input_file(self.cleaned_data["image_path"])

    def clean_landcover_path(self) -> Path:
        return _input_file(self.cleaned_data["landcover_path"])

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

    def ingest_options(self) -> scenes.IngestOptions:
        return scenes.IngestOptions(
            patch_size=self.cleaned_data["patch_size"],
            bands=self.cleaned_data["bands"],
            l2a_offset=self.cleaned_data["l2a_offset"],
            max_invalid=self.cleaned_data["max_invalid"],
            split_block=self.cleaned_data["split_block"],
        )


def _input_file(text: str) -> Path:
    # The one check every reader of user-named files goes through
    # (captions/ingest/input_files.py): roots, the product's own folders, symlinks,
    # formats.
    try:
        return scenes.input_file(text.strip())
    except scenes.IngestError as error:
        raise forms.ValidationError(str(error)) from None


# --- Generation jobs and prompt templates -----------------------------------------


class PromptTemplateChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: PromptTemplate) -> str:
        return f"{obj.name} v{obj.version} ({obj.kind})"


class JobLaunchForm(forms.Form):
    """What `manage.py generate_captions` takes, for the admin's "Launch a job" page."""

    scenes = forms.ModelMultipleChoiceField(
        queryset=Scene.objects.filter(status=Scene.Status.READY).order_by("name"),
        required=False,
        help_text="None selected: every ready scene.",
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )
    splits = forms.MultipleChoiceField(
        choices=Patch.Split.choices,
        required=False,
        help_text="None ticked: every split.",
        widget=forms.CheckboxSelectMultiple,
    )
    only_uncaptioned = forms.BooleanField(
        initial=True,
        required=False,
        label="Only uncaptioned",
        help_text="Skip patches that already have a caption, from any job or import.",
    )
    rejected_only = forms.BooleanField(
        initial=False,
        required=False,
        label="Regenerate rejected captions",
        help_text="Only patches with a rejected caption that nothing replaces yet; "
        "each new caption replaces it, and its prompt carries the reviewer's reason.",
    )
    caption_ids = forms.CharField(
        required=False,
        max_length=120_000,
        label="Regenerate captions (ids)",
        help_text="Comma-separated caption ids (the caption list's action fills "
        "it): their patches are captioned again, each new caption replacing the "
        "chosen one; a rejected one's reason goes into the prompt.",
    )
    limit = forms.IntegerField(
        min_value=1, required=False, help_text="At most this many patches."
    )
    backend = forms.ChoiceField(
        choices=[(name, name) for name in BACKENDS], initial="offline"
    )
    # The choices are the operator's LLM_ENDPOINTS, filled in at each form's
    # creation (`__init__`): there is no free URL, so a curator cannot send the
    # server's key anywhere else.
    endpoint = forms.ChoiceField(
        choices=[],
        required=False,
        help_text="Where the openai backend sends its requests (LLM_ENDPOINTS); the "
        "offline backend sends none.",
    )
    model = forms.CharField(
        max_length=100,
        required=False,
        initial=DEFAULT_MODELS["offline"],
        help_text="Empty: "
        + ", ".join(f"{m} for {b}" for b, m in DEFAULT_MODELS.items()),
    )
    template = PromptTemplateChoiceField(
        queryset=PromptTemplate.objects.order_by("name", "-version"),
        empty_label=None,
    )
    ab_template = PromptTemplateChoiceField(
        queryset=PromptTemplate.objects.order_by("name", "-version"),
        required=False,
        empty_label="no A/B test",
        label="A/B: template B",
        help_text="Split the patches at random between the template above (A) and "
        "this one (B); each caption records its arm, and the dashboard compares them.",
    )
    ab_model = forms.CharField(
        required=False,
        max_length=100,
        label="A/B: model B",
        help_text="Empty: the same model as A.",
    )
    ab_share = forms.FloatField(
        initial=0.5, min_value=0.01, max_value=0.99, required=False,
        label="A/B: share of B",
    )  # fmt: skip
    qa_rate = forms.FloatField(
        min_value=0.0, max_value=1.0, required=False, label="QA rate",
        help_text="Share of this job's approved or edited captions a second annotator "
        "reviews blind (0 to 1); empty: the global rate (Quality settings).",
    )  # fmt: skip
    model_reads_images = forms.BooleanField(
        required=False,
        label="The model reads images",
        help_text="Vision templates with a model the product does not know: confirm "
        "that it reads images.",
    )
    include_rgb = forms.BooleanField(
        required=False,
        label="Include RGB",
        help_text="Vision templates only: send the RGB preview beside the land-cover "
        "map.",
    )
    in_flight_per_worker = forms.IntegerField(
        label="In flight per worker",
        min_value=1,
        initial=DEFAULT_IN_FLIGHT,
        help_text="Requests each worker process keeps going at once.",
    )
    chunk_size = forms.IntegerField(
        min_value=1,
        initial=DEFAULT_CHUNK_SIZE,
        help_text="Patches per task; a smaller chunk spreads a small job over more "
        "workers.",
    )
    requests_per_minute = forms.IntegerField(
        label="Requests per minute",
        min_value=1,
        required=False,
        help_text="Shared by every worker; empty: no limit.",
    )
    tokens_per_minute = forms.IntegerField(
        label="Tokens per minute",
        min_value=1,
        required=False,
        help_text="Shared by every worker; empty: no limit.",
    )
    batch = forms.BooleanField(
        required=False,
        label="Batch (OpenAI Batch API)",
        help_text="Half the price per token, answered within 24 hours; the openai "
        "backend only. The estimate below is at the batch price.",
    )
    price_in_per_million = forms.FloatField(
        label="Price in",
        min_value=0,
        required=False,
        help_text="USD per million input tokens; empty: the known price of the model.",
    )
    price_out_per_million = forms.FloatField(
        label="Price out",
        min_value=0,
        required=False,
        help_text="USD per million output tokens; empty: the known price of the model.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["template"].initial = (
            PromptTemplate.objects.filter(name=DEFAULT_TEMPLATE_NAME)
            .order_by("-version")
            .first()
        )
        endpoint_field = self.fields["endpoint"]
        assert isinstance(endpoint_field, forms.ChoiceField)
        endpoint_field.choices = [
            (name, f"{name} ({endpoint_named(name).base_url})")
            for name in endpoint_names()
        ]

    def clean(self) -> dict | None:
        cleaned = super().clean()
        # The form once had a free "base_url" field. A stale page or a script that
        # still posts one gets the API's rule (`endpoint_name_from`), not a launch on
        # the default endpoint as if its URL had been taken.
        legacy_url = self.data.get("base_url", "")
        if legacy_url and cleaned is not None and "endpoint" in cleaned:
            try:
                cleaned["endpoint"] = endpoint_name_from(
                    endpoint=cleaned["endpoint"], base_url=legacy_url
                )
            except GenerationError as error:
                raise forms.ValidationError(str(error)) from None
        return cleaned

    def selection(self) -> Selection:
        data = self.cleaned_data
        return Selection(
            scene_ids=tuple(scene.pk for scene in data["scenes"]),
            splits=tuple(data["splits"]),
            only_uncaptioned=data["only_uncaptioned"],
            limit=data["limit"],
            rejected_only=data["rejected_only"],
            caption_ids=data["caption_ids"],
        )

    def clean_caption_ids(self) -> tuple[int, ...]:
        try:
            ids = parse_caption_ids(self.cleaned_data["caption_ids"])
        except GenerationError as error:
            raise forms.ValidationError(f"{str(error).capitalize()}.") from None
        found = set(Caption.objects.filter(pk__in=ids).values_list("pk", flat=True))
        missing = [pk for pk in ids if pk not in found]
        if missing:
            raise forms.ValidationError(f"No caption with id {missing[:10]}.")
        return ids

    def model_name(self) -> str:
        return model_or_default(
            backend=self.cleaned_data["backend"], model=self.cleaned_data["model"]
        )

    def template_reference(self) -> str:
        template = self.cleaned_data["template"]
        return f"{template.name}:{template.version}"

    def ab_test(self) -> ABTest | None:
        """The A/B test the form asks for, if any (its arm B checked by the plan)."""
        data = self.cleaned_data
        template = data.get("ab_template")
        return ab_test_for(
            template=f"{template.name}:{template.version}" if template else None,
            model=data["ab_model"],
            model_a=data["model"],
            backend=data["backend"],
            share=data.get("ab_share") or 0.5,
        )

    def job_options(self) -> JobOptions:
        data = self.cleaned_data
        return JobOptions(
            in_flight_per_worker=data["in_flight_per_worker"],
            requests_per_minute=data["requests_per_minute"],
            tokens_per_minute=data["tokens_per_minute"],
            price_in_per_million=data["price_in_per_million"],
            price_out_per_million=data["price_out_per_million"],
            include_rgb=data["include_rgb"],
            chunk_size=data["chunk_size"],
            model_reads_images=data["model_reads_images"],
            batch=data["batch"],
        )


class TemplateNewVersionForm(forms.Form):
    """An edited copy of a prompt template, saved as its next version."""

    system_template = forms.CharField(
        strip=False, widget=forms.Textarea(attrs={"rows": 14, "cols": 100})
    )
    user_template = forms.CharField(
        strip=False, widget=forms.Textarea(attrs={"rows": 14, "cols": 100})
    )
    parameters = forms.JSONField(
        required=False,
        help_text='Sent with every request, e.g. {"max_tokens": 300, '
        '"temperature": 0.7}.',
        widget=forms.Textarea(attrs={"rows": 4, "cols": 100}),
    )

    def __init__(self, *args, template: PromptTemplate, **kwargs) -> None:
        kwargs.setdefault(
            "initial",
            {
                "system_template": template.system_template,
                "user_template": template.user_template,
                "parameters": template.parameters,
            },
        )
        super().__init__(*args, **kwargs)
        self.template = template

    def clean_parameters(self) -> dict:
        parameters = self.cleaned_data["parameters"]
        if parameters is None:
            return {}
        if not isinstance(parameters, dict):
            raise forms.ValidationError('Give a JSON object, e.g. {"max_tokens": 300}.')
        return parameters

    def clean(self) -> dict | None:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        if not self.has_changed():
            raise forms.ValidationError(
                "Nothing changed: the new version would be a copy of this one."
            )
        try:
            template_check_edit(
                template=self.template,
                system_template=self.cleaned_data["system_template"],
                user_template=self.cleaned_data["user_template"],
                parameters=self.cleaned_data["parameters"],
            )
        except GenerationError as error:
            raise forms.ValidationError(str(error)) from None
        return cleaned


class ReleaseCreateForm(forms.Form):
    """The export's filters, for the admin's "Create a release" page."""

    status = forms.ChoiceField(
        choices=[
            ("", "approved and edited"),
            ("approved", "approved only"),
            ("edited", "edited only"),
        ],
        required=False,
    )
    split = forms.ChoiceField(
        choices=[("", "all splits"), *Patch.Split.choices], required=False
    )
    scene = forms.ModelChoiceField(
        Scene.objects.filter(status=Scene.Status.READY).order_by("name"),
        required=False,
        empty_label="all scenes",
    )
    job = forms.ModelChoiceField(
        GenerationJob.objects.order_by("-id"),
        required=False,
        empty_label="all jobs and imports",
    )
    reviewed_since = forms.DateTimeField(
        required=False, help_text="Only pairs reviewed at or after this time (UTC)."
    )
    bbox = forms.CharField(
        label="Area (bbox)",
        required=False,
        help_text="west,south,east,north in degrees, e.g. 11.9,44.9,12.1,45.1: only "
        "patches whose footprint meets the box (west > east crosses the "
        "antimeridian). Empty: anywhere.",
    )
    description = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "class": "vLargeTextField"}),
        help_text="A line or two for the dataset card: what this release is for.",
    )
    layout = forms.ChoiceField(
        choices=Release.Layout.choices,
        initial=Release.Layout.PRODUCT,
        required=False,
        help_text="ChatEarthNet's layout: PNG images named as their patches and one "
        "caption JSON per split and source, as the released dataset has them.",
    )
    min_qa_per_class = forms.IntegerField(
        label="Minimum QA per class",
        min_value=0,
        max_value=MAX_QA_PER_CLASS,
        initial=0,
        required=False,
        help_text="Second-reviewed pairs every land-cover class of the release must "
        "have; a class with fewer refuses it, naming the class. 0: no minimum.",
    )

    def filters(self) -> ExportFilters:
        values = self.cleaned_data
        return export_filters_from(
            {
                "status": values["status"],
                "split": values["split"],
                "scene": values["scene"].pk if values["scene"] else None,
                "job": values["job"].pk if values["job"] else None,
                "reviewed_since": values["reviewed_since"],
                "bbox": values["bbox"],
            }
        )

    def clean_bbox(self) -> BoundingBox | None:
        text = self.cleaned_data["bbox"]
        try:
            return parse_bbox(text) if text else None
        except BadBoundingBox as error:
            raise forms.ValidationError(str(error)) from None


class PatchSplitForm(forms.Form):
    """A curator moves a patch to another split; the reason goes into its history."""

    split = forms.ChoiceField(choices=Patch.Split.choices)
    reason = forms.CharField(
        required=True,
        max_length=500,
        widget=forms.TextInput(attrs={"class": "vLargeTextField"}),
        help_text="Why: kept with the change, shown in the patch's split history.",
    )
