"""Generation jobs for curators: list, detail, plan, launch, cancel, retry failed,
and the patches a job could not caption (its failures, each with the reason).

The same services as the admin's job pages (`captions.generation.jobs`, see
captions/admin/jobs.py): a launch checks the backend and writes the job and its chunks,
which are queued once the transaction commits. A refused launch is a 400 with the
service's reason; cancelling or retrying a job in the wrong state is a 409.

A remote backend's requests go to an endpoint the operator configured
(settings.LLM_ENDPOINTS), chosen by name: a launch cannot name a URL of its own, so
the server's key goes nowhere else and the server probes no address for anyone. Every
input refuses keys it does not know (`StrictInputSerializer`).

Bodies are JSON only (`parser_classes`): a form adds nothing for a script, and Django
answers a multipart form with too many fields with an HTML page, not JSON.
"""

import math
from typing import Any

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import generics, serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from captions import selectors
from captions.api.common import NoInputSerializer, StrictInputSerializer
from captions.api.filters import MAX_ID, JobFailureFilter, JobFilter
from captions.api.permissions import MayCurate
from captions.generation import jobs
from captions.generation.options import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_IN_FLIGHT,
    DEFAULT_MODELS,
    MAX_CAPTIONS_CHOSEN,
    ABTest,
    GenerationError,
    JobOptions,
    Selection,
    ab_test_for,
    endpoint_name_from,
    endpoint_names,
    model_or_default,
)
from captions.generation.plans import job_plan
from captions.generation.templates import DEFAULT_TEMPLATE_NAME
from captions.llm.registry import BACKENDS
from captions.models import (
    Caption,
    GenerationFailure,
    GenerationJob,
    LLMBatch,
    Patch,
    Scene,
)


class SelectionSerializer(serializers.Serializer):
    scene_ids = serializers.ListField(child=serializers.IntegerField())
    splits = serializers.ListField(child=serializers.CharField())
    only_uncaptioned = serializers.BooleanField()
    limit = serializers.IntegerField(allow_null=True)
    rejected_only = serializers.BooleanField(default=False)
    caption_ids = serializers.ListField(child=serializers.IntegerField(), default=list)


class JobSerializer(serializers.Serializer):
    """A job as `captions.selectors.job_summary` shapes it (the admin's progress
    JSON): counts, rate, ETA, tokens and cost."""

    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=GenerationJob.Status.choices)
    backend = serializers.CharField()
    endpoint = serializers.CharField(
        help_text="The LLM_ENDPOINTS name the workers send to; empty for offline."
    )
    base_url = serializers.CharField(help_text="The endpoint's URL at launch.")
    model = serializers.CharField()
    template = serializers.CharField(help_text="e.g. 'chatearthnet-text v1'")
    template_b = serializers.CharField(
        allow_null=True, help_text="An A/B job's second template, else null."
    )
    model_b = serializers.CharField(help_text="An A/B job's second model, else ''.")
    b_share = serializers.FloatField(help_text="Share of patches in arm B (0: none).")
    qa_rate = serializers.FloatField(
        allow_null=True, help_text="This job's QA rate; null: the global one."
    )
    selection = SelectionSerializer()
    options = serializers.DictField()
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    rate_per_s = serializers.FloatField(allow_null=True)
    eta_s = serializers.FloatField(allow_null=True)
    tokens_in = serializers.IntegerField()
    tokens_out = serializers.IntegerField()
    batch = serializers.BooleanField(
        help_text="Sent through OpenAI's Batch API (`batches` on the job's detail)."
    )
    estimated_cost = serializers.FloatField(
        allow_null=True, help_text="USD; at the batch price for a batch job"
    )
    actual_cost = serializers.FloatField(
        help_text="USD; answers that came in a batch at the batch price"
    )
    error = serializers.CharField()
    created_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, instance: GenerationJob) -> Any:
        return super().to_representation(selectors.job_summary(instance))


class BatchSerializer(serializers.Serializer):
    """One batch of a batch job (`captions.selectors.job_batches`)."""

    index = serializers.IntegerField()
    status = serializers.ChoiceField(
        choices=LLMBatch.Status.choices,
        help_text="planned and submitting are the product's; the rest the provider's.",
    )
    requests = serializers.IntegerField()
    batch_id = serializers.CharField(help_text="The provider's id; empty until sent.")
    input_file_id = serializers.CharField()
    output_file_id = serializers.CharField()
    error_file_id = serializers.CharField()
    requests_completed = serializers.IntegerField(help_text="As the provider counts.")
    requests_failed = serializers.IntegerField(help_text="As the provider counts.")
    captions_written = serializers.IntegerField()
    failures_written = serializers.IntegerField()
    unreadable_lines = serializers.IntegerField(
        help_text="Result lines that were not JSON, named no request of the batch, "
        "or answered one a second time."
    )
    error = serializers.CharField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    polled_at = serializers.DateTimeField(allow_null=True)
    cancel_requested_at = serializers.DateTimeField(allow_null=True)
    ingested_at = serializers.DateTimeField(allow_null=True)


class JobDetailSerializer(JobSerializer):
    """A job with its batches (a batch job's; empty for an online job)."""

    batches = BatchSerializer(many=True, read_only=True)

    def to_representation(self, instance: GenerationJob) -> Any:
        shown = super().to_representation(instance)  # the summary has no batches
        shown["batches"] = BatchSerializer(
            selectors.job_batches(instance), many=True
        ).data
        return shown


def _finite(value: float | None) -> None:
    if value is not None and not math.isfinite(value):
        raise serializers.ValidationError("give a finite number")


class LaunchInputSerializer(StrictInputSerializer):
    """The admin's "Launch a job" form (captions/admin/forms.py JobLaunchForm)."""

    scenes = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        max_length=1000,
        default=list,
        help_text="Ids of ready scenes; empty: every ready scene.",
    )
    splits = serializers.ListField(
        child=serializers.ChoiceField(choices=Patch.Split.choices),
        max_length=len(Patch.Split.choices),
        default=list,
        help_text="Empty: every split.",
    )
    only_uncaptioned = serializers.BooleanField(
        default=True, help_text="Skip patches that already have a caption."
    )
    rejected_only = serializers.BooleanField(
        default=False,
        help_text="Regenerate: only patches with a rejected caption nothing replaces "
        "yet; each new caption replaces it, its prompt carrying the reject reason.",
    )
    caption_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        max_length=MAX_CAPTIONS_CHOSEN,
        default=list,
        help_text="Regenerate these captions: their patches are captioned again, "
        "each new caption replacing the chosen one (a rejected one's reason goes "
        "into the prompt).",
    )
    limit = serializers.IntegerField(
        min_value=1, max_value=2**31 - 1, required=False, allow_null=True
    )
    backend = serializers.ChoiceField(choices=BACKENDS, default="offline")
    endpoint = serializers.ChoiceField(
        choices=[],  # the configured names, filled in per request (`__init__`)
        required=False,
        allow_blank=True,
        default="",
        help_text="A configured endpoint (LLM_ENDPOINTS) for the openai backend; "
        "empty: the first configured one. The offline backend needs none.",
    )
    base_url = serializers.URLField(
        max_length=500,
        required=False,
        allow_blank=True,
        default="",
        help_text="Deprecated: the URL of a configured endpoint, which it stands "
        "for; any other URL is refused. Give `endpoint` instead.",
    )
    model = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        default="",
        help_text="Empty: "
        + ", ".join(f"{m} for {b}" for b, m in DEFAULT_MODELS.items()),
    )
    ab_template = serializers.CharField(
        max_length=200,
        default="",
        allow_blank=True,
        help_text="A/B: the second arm's template (name or name:version); empty: "
        "no A/B test.",
    )
    ab_model = serializers.CharField(max_length=100, default="", allow_blank=True)
    qa_rate = serializers.FloatField(
        default=None, allow_null=True, min_value=0.0, max_value=1.0,
        help_text="Share of verified captions a second annotator reviews blind; "
        "null: the global rate (quality/rates/).",
    )  # fmt: skip
    ab_share = serializers.FloatField(
        default=0.5, min_value=0.0, max_value=1.0, help_text="A/B: arm B's share."
    )
    template = serializers.CharField(
        max_length=200,
        default=DEFAULT_TEMPLATE_NAME,
        help_text="Template name (its newest version) or name:version.",
    )
    include_rgb = serializers.BooleanField(default=False)
    model_reads_images = serializers.BooleanField(
        default=False,
        help_text="Vision templates with a model not in the product's table: confirm "
        "that it reads images.",
    )
    in_flight_per_worker = serializers.IntegerField(
        min_value=1, max_value=10_000, default=DEFAULT_IN_FLIGHT
    )
    chunk_size = serializers.IntegerField(
        min_value=1, max_value=1_000_000, default=DEFAULT_CHUNK_SIZE
    )
    requests_per_minute = serializers.IntegerField(
        min_value=1, max_value=2**31 - 1, required=False, allow_null=True
    )
    tokens_per_minute = serializers.IntegerField(
        min_value=1, max_value=2**31 - 1, required=False, allow_null=True
    )
    price_in_per_million = serializers.FloatField(
        min_value=0, required=False, allow_null=True, validators=[_finite]
    )
    price_out_per_million = serializers.FloatField(
        min_value=0, required=False, allow_null=True, validators=[_finite]
    )
    batch = serializers.BooleanField(
        default=False,
        help_text="Send the requests through OpenAI's Batch API: half the price, "
        "answered within 24 hours (openai backend only).",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Read when the request comes, not at import: the operator's settings.
        endpoint_field = self.fields["endpoint"]
        assert isinstance(endpoint_field, serializers.ChoiceField)
        endpoint_field.choices = endpoint_names()

    def validate(self, attrs: dict) -> dict:
        try:
            attrs["endpoint"] = endpoint_name_from(
                endpoint=attrs["endpoint"], base_url=attrs.pop("base_url")
            )
        except GenerationError as error:
            raise serializers.ValidationError({"base_url": [str(error)]}) from None
        return attrs

    def validate_caption_ids(self, caption_ids: list[int]) -> list[int]:
        found = set(
            Caption.objects.filter(pk__in=caption_ids).values_list("pk", flat=True)
        )
        missing = sorted(set(caption_ids) - found)
        if missing:
            raise serializers.ValidationError(f"no caption with id {missing[:10]}")
        return caption_ids

    def validate_scenes(self, scene_ids: list[int]) -> list[int]:
        ready = set(
            Scene.objects.filter(
                pk__in=scene_ids, status=Scene.Status.READY
            ).values_list("pk", flat=True)
        )
        missing = sorted(set(scene_ids) - ready)
        if missing:
            raise serializers.ValidationError(f"no ready scene with id {missing}")
        return scene_ids


def _service_arguments(values: dict) -> dict:
    """The launch form's values as `job_plan` / `job_launch` take them."""
    return {
        "selection": Selection(
            scene_ids=tuple(values["scenes"]),
            splits=tuple(values["splits"]),
            only_uncaptioned=values["only_uncaptioned"],
            limit=values.get("limit"),
            rejected_only=values["rejected_only"],
            caption_ids=tuple(values["caption_ids"]),
        ),
        "backend": values["backend"],
        "endpoint": values["endpoint"],
        "model": model_or_default(backend=values["backend"], model=values["model"]),
        "template": values["template"],
        "options": JobOptions(
            in_flight_per_worker=values["in_flight_per_worker"],
            requests_per_minute=values.get("requests_per_minute"),
            tokens_per_minute=values.get("tokens_per_minute"),
            price_in_per_million=values.get("price_in_per_million"),
            price_out_per_million=values.get("price_out_per_million"),
            include_rgb=values["include_rgb"],
            chunk_size=values["chunk_size"],
            model_reads_images=values["model_reads_images"],
            batch=values["batch"],
        ),
        "ab": _ab_test(values),
    }


def _ab_test(values: dict) -> ABTest | None:
    return ab_test_for(
        template=values["ab_template"],
        model=values["ab_model"],
        model_a=values["model"],
        backend=values["backend"],
        share=values["ab_share"],
    )


class JobListApi(generics.ListAPIView):
    permission_classes = [MayCurate]
    filterset_class = JobFilter
    serializer_class = JobSerializer

    def get_queryset(self):
        return selectors.job_list()


class JobDetailApi(generics.RetrieveAPIView):
    permission_classes = [MayCurate]
    serializer_class = JobDetailSerializer
    lookup_url_kwarg = "job_id"

    def get_queryset(self):
        return selectors.job_list()


class JobFailuresApi(generics.ListAPIView):
    """The patches a job could not caption, each with the reason: a request the
    provider refused, an answer that failed a check before it could be a caption,
    or a batch's result line that was missing or unreadable."""

    permission_classes = [MayCurate]
    filterset_class = JobFailureFilter

    @extend_schema_serializer(component_name="JobFailure")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        patch = serializers.IntegerField(source="patch_id")
        patch_name = serializers.CharField()
        reason = serializers.CharField(
            help_text="A short code: server_error, refused, length, missing, "
            "expired, cancelled, batch_failed, ..."
        )
        message = serializers.CharField()
        created_at = serializers.DateTimeField()

    serializer_class = OutputSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema: no job to read
            return GenerationFailure.objects.none()
        job = get_object_or_404(selectors.job_list(), pk=self.kwargs["job_id"])
        return selectors.job_failures(job.pk)


class JobPlanApi(APIView):
    """What a launch would do (patches, tokens, cost), without writing a job."""

    permission_classes = [MayCurate]
    parser_classes = [JSONParser]

    @extend_schema_serializer(component_name="JobPlan")
    class OutputSerializer(serializers.Serializer):
        template = serializers.CharField(help_text="e.g. 'chatearthnet-text v1'")
        patch_count = serializers.IntegerField()
        estimated_tokens_in = serializers.IntegerField()
        estimated_tokens_out = serializers.IntegerField()
        estimated_cost = serializers.FloatField(allow_null=True, help_text="USD")
        example_messages = serializers.ListField(
            child=serializers.DictField(),
            help_text="The chat messages of the first patch, exactly as they would be "
            "sent.",
        )

    @extend_schema(request=LaunchInputSerializer, responses=OutputSerializer)
    def post(self, request: Request) -> Response:
        serializer = LaunchInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        arguments = _service_arguments(serializer.validated_data)
        try:
            plan = job_plan(**arguments)
        except GenerationError as error:
            return Response({"error": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(self.OutputSerializer(plan).data)


class JobLaunchApi(APIView):
    """Launch a job: 201 with the job, queued for the workers once committed."""

    permission_classes = [MayCurate]
    parser_classes = [JSONParser]

    @extend_schema(request=LaunchInputSerializer, responses={201: JobSerializer})
    def post(self, request: Request) -> Response:
        serializer = LaunchInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            values = serializer.validated_data
            job = jobs.job_launch(
                **_service_arguments(values),
                qa_rate=values["qa_rate"],
                user=request.user,
            )
        except GenerationError as error:
            return Response({"error": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(
            JobSerializer(job).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("api-job-detail", args=[job.pk])},
        )


class JobCancelApi(APIView):
    """Ask a queued or running job to stop; 409 if it is not running."""

    permission_classes = [MayCurate]
    parser_classes = [JSONParser]

    @extend_schema(
        request=None,
        responses={200: JobSerializer, 409: OpenApiResponse(description="not running")},
    )
    def post(self, request: Request, job_id: int) -> Response:
        NoInputSerializer(data=request.data).is_valid(raise_exception=True)
        job = get_object_or_404(selectors.job_list(), pk=job_id)
        if not jobs.job_cancel(job_id=job.pk):
            return Response(
                {"error": f"job {job.pk} is {job.status}: nothing to cancel"},
                status=status.HTTP_409_CONFLICT,
            )
        job.refresh_from_db()
        return Response(JobSerializer(job).data)


class JobRetryFailedApi(APIView):
    """Queue again the patches of an ended job that have no caption: online, or
    with `{"mode": "batch"}` as new batches of OpenAI's Batch API."""

    permission_classes = [MayCurate]
    parser_classes = [JSONParser]

    class InputSerializer(StrictInputSerializer):
        mode = serializers.ChoiceField(
            choices=["online", "batch"], default="online",
            help_text="online: as an online job, whatever the job was; batch: in "
            "new batches (openai backend only).",
        )  # fmt: skip

    @extend_schema_serializer(component_name="JobRetried")
    class OutputSerializer(serializers.Serializer):
        requeued = serializers.IntegerField(help_text="Patches queued again.")
        job = JobSerializer()

    @extend_schema(
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            409: OpenApiResponse(description="the job is still running"),
        },
    )
    def post(self, request: Request, job_id: int) -> Response:
        values = self.InputSerializer(data=request.data)
        values.is_valid(raise_exception=True)
        job = get_object_or_404(selectors.job_list(), pk=job_id)
        try:
            count = jobs.job_retry_failed(
                job_id=job.pk, as_batch=values.validated_data["mode"] == "batch"
            )
        except GenerationError as error:
            return Response({"error": str(error)}, status=status.HTTP_409_CONFLICT)
        job.refresh_from_db()
        return Response(self.OutputSerializer({"requeued": count, "job": job}).data)
