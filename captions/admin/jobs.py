"""Admin for caption-generation jobs: what a job's list and page show.

A job's counters are written by its workers while the page is open, so the job page
is read-only (a saved form would write a stale copy back); its buttons
(captions/admin/job_views.py) call the services of `captions.generation.jobs`, which
own every change of a job's status.
"""

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.db.models import Count, QuerySet
from django.forms import Script
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString

from captions.admin.cells import link_cell, patch_thumbnails, text_cell
from captions.admin.job_texts import job_bar_widths, job_live_texts, money_text
from captions.admin.job_views import JobViews
from captions.admin.live_progress import LiveProgressAdmin
from captions.admin.own_pages import OwnAddPageAdmin
from captions.admin.read_only import ReadOnlyAdmin
from captions.models import GenerationFailure, GenerationJob, Scene
from captions.selectors import job_batches, job_summary
from captions.workers import workers_seen

FAILURE_MESSAGES_PER_REASON = 3
OPTION_LABELS = {
    "in_flight_per_worker": "in flight per worker",
    "requests_per_minute": "requests per minute",
    "tokens_per_minute": "tokens per minute",
    "price_in_per_million": "price in (USD / million tokens)",
    "price_out_per_million": "price out (USD / million tokens)",
    "include_rgb": "include RGB",
    "chunk_size": "chunk size (patches per task)",
    "timeout_s": "request timeout (s)",
    "max_retries": "retries per request",
    "batch": "batch (OpenAI Batch API, half price)",
}
_TEMPLATES = "admin/captions/generationjob"


def _failures_url(job: GenerationJob) -> str:
    changelist = reverse("admin:captions_generationfailure_changelist")
    return f"{changelist}?job__id__exact={job.pk}"


def _delete_ended_jobs(
    modeladmin: "GenerationJobAdmin", request: HttpRequest, queryset: QuerySet
) -> HttpResponse | None:
    # Workers of a running job would keep writing captions of a deleted job.
    active = queryset.filter(status__in=GenerationJob.ACTIVE).count()
    if active:
        modeladmin.message_user(
            request,
            f"{active} of the selected jobs are still running: cancel them first; "
            "nothing was deleted.",
            messages.ERROR,
        )
        return None
    return delete_selected(modeladmin, request, queryset)


def _live_texts(job: GenerationJob) -> dict[str, str]:
    return job_live_texts(job, job_summary(job))


def _workers_context() -> dict:
    """What templates/admin/captions/generationjob/workers.html shows: a job waits
    in the queue while no worker runs, and the job pages would not say why."""
    workers = workers_seen()
    return {
        "workers": workers,
        "workers_alive": any(worker.alive for worker in workers),
        "worker_max_age_s": settings.WORKER_HEARTBEAT_MAX_AGE_S,
    }


@admin.register(GenerationJob)
class GenerationJobAdmin(JobViews, OwnAddPageAdmin, LiveProgressAdmin):
    add_page = ("admin:captions_generationjob_launch", "Launch a job")
    progress_kind = "job"
    active_statuses = GenerationJob.ACTIVE
    list_display = [
        "job_number",
        "status_badge",
        "backend_model",
        "template",
        "progress",
        "rate",
        "tokens",
        "cost",
        "created_by",
        "created",
    ]
    list_display_links = ["job_number"]
    change_list_template = f"{_TEMPLATES}/change_list.html"
    list_filter = ["status", "backend"]
    list_select_related = ["template", "created_by"]
    empty_value_display = "—"
    fieldsets = [
        (
            "Progress",
            {
                # The status badge is in the page's heading (change_form.html).
                "fields": [
                    "progress",
                    ("rate", "eta"),
                    ("tokens_in_text", "tokens_out_text"),
                    ("estimated_cost_text", "actual_cost_text"),
                ]
            },
        ),
        (
            "Settings",
            {
                "fields": [
                    "selection_text",
                    ("backend", "model"),
                    "endpoint_text",
                    "template_link",
                    "options_table",
                ]
            },
        ),
        ("Failures", {"fields": ["failures_by_reason"]}),
        (
            None,
            {"fields": ["created_by", ("created_at", "started_at", "finished_at")]},
        ),
    ]
    readonly_fields = [
        "progress",
        "rate",
        "eta",
        "tokens_in_text",
        "tokens_out_text",
        "estimated_cost_text",
        "actual_cost_text",
        "selection_text",
        "endpoint_text",
        "template_link",
        "options_table",
        "failures_by_reason",
        "batches_table",
        "created_at",
        "started_at",
        "finished_at",
    ]

    class Media:
        css = {"all": ["captions/admin.css"]}
        js = [Script("captions/job_progress.js", type="module")]

    def get_fieldsets(self, request: HttpRequest, obj: GenerationJob | None = None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None and obj.options.get("batch"):
            # After "Progress": where a batch job's work is.
            fieldsets.insert(1, ("Batches", {"fields": ["batches_table"]}))
        return fieldsets

    # --- permissions: a job changes only through the generation services ------------

    def has_change_permission(
        self, request: HttpRequest, obj: GenerationJob | None = None
    ) -> bool:
        # Without an object this guards the Cancel and Retry buttons.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(
        self, request: HttpRequest, obj: GenerationJob | None = None
    ) -> bool:
        if obj is not None and obj.status in GenerationJob.ACTIVE:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> dict:
        found = super().get_actions(request)
        if "delete_selected" in found:
            # Same name: Django's confirmation page posts back "delete_selected".
            # (The stubs type an action as returning str; Django takes any response.)
            found["delete_selected"] = (  # type: ignore[assignment]
                _delete_ended_jobs,
                "delete_selected",
                "Delete selected ended jobs (and their captions)",
            )
        return found

    # --- columns and read-only fields ---------------------------------------------

    def _live(self, job: GenerationJob, field: str) -> SafeString:
        """A value job_progress.js replaces as the job runs."""
        return render_to_string(
            f"{_TEMPLATES}/live.html",
            {"job": job, "field": field, "text": _live_texts(job)[field]},
        )

    @admin.display(description="job", ordering="id")
    def job_number(self, job: GenerationJob) -> str:
        return f"#{job.pk}"

    @admin.display(description="status", ordering="status")
    def status_badge(self, job: GenerationJob) -> SafeString:
        return self.status_badge_html(job)

    @admin.display(description="backend / model", ordering="backend")
    def backend_model(self, job: GenerationJob) -> SafeString:
        backend = f"{job.backend} at {job.endpoint}" if job.endpoint else job.backend
        return text_cell(backend, second_line=job.model)

    @admin.display(description="progress")
    def progress(self, job: GenerationJob) -> SafeString:
        """A bar of done (and failed, in red) of total, kept live by
        job_progress.js."""
        return render_to_string(
            f"{_TEMPLATES}/progress.html",
            {
                "job": job,
                "texts": _live_texts(job),
                "bars": job_bar_widths(job),
                "url": self.progress_url(job),
                "active": self.is_active(job),
            },
        )

    @admin.display(description="rate")
    def rate(self, job: GenerationJob) -> SafeString:
        return self._live(job, "rate")

    @admin.display(description="ETA")
    def eta(self, job: GenerationJob) -> SafeString:
        return self._live(job, "eta")

    @admin.display(description="tokens")
    def tokens(self, job: GenerationJob) -> SafeString:
        return render_to_string(
            f"{_TEMPLATES}/tokens.html", {"job": job, "texts": _live_texts(job)}
        )

    @admin.display(description="tokens in")
    def tokens_in_text(self, job: GenerationJob) -> SafeString:
        return self._live(job, "tokens_in")

    @admin.display(description="tokens out")
    def tokens_out_text(self, job: GenerationJob) -> SafeString:
        return self._live(job, "tokens_out")

    @admin.display(description="cost")
    def cost(self, job: GenerationJob) -> SafeString:
        return render_to_string(
            f"{_TEMPLATES}/cost.html",
            {
                "job": job,
                "texts": _live_texts(job),
                "estimated_cost": money_text(job.estimated_cost),
            },
        )

    @admin.display(description="estimated cost")
    def estimated_cost_text(self, job: GenerationJob) -> str:
        if job.options.get("batch"):
            return f"{money_text(job.estimated_cost)} (at the batch price)"
        return money_text(job.estimated_cost)

    @admin.display(description="batches")
    def batches_table(self, job: GenerationJob) -> SafeString:
        """A batch job's batches: where each is at the provider, and what its
        results became (captions/generation/batches.py)."""
        return render_to_string(
            f"{_TEMPLATES}/batches.html",
            {"batches": job_batches(job), "poll_s": settings.GENERATION_BATCH_POLL_S},
        )

    @admin.display(description="actual cost")
    def actual_cost_text(self, job: GenerationJob) -> SafeString:
        return self._live(job, "actual_cost")

    @admin.display(description="created", ordering="created_at")
    def created(self, job: GenerationJob) -> SafeString:
        created_at = timezone.localtime(job.created_at)
        return text_cell(
            created_at.strftime("%Y-%m-%d"),
            class_name="job-numbers",
            second_line=created_at.strftime("%H:%M"),
        )

    @admin.display(description="selection")
    def selection_text(self, job: GenerationJob) -> str:
        selection = job.selection
        scene_ids = selection.get("scene_ids") or []
        names = Scene.objects.filter(pk__in=scene_ids).values_list("name", flat=True)
        parts = [
            "scenes: " + (", ".join(sorted(names)) if scene_ids else "all ready"),
            "splits: " + (", ".join(selection.get("splits") or []) or "all"),
            _patches_text(selection),
        ]
        if selection.get("limit") is not None:
            parts.append(f"at most {selection['limit']}")
        return "; ".join(parts)

    @admin.display(description="endpoint")
    def endpoint_text(self, job: GenerationJob) -> str:
        if job.endpoint:
            # The URL as it was at launch; the workers use the endpoint's URL of now.
            return f"{job.endpoint} ({job.base_url})" if job.base_url else job.endpoint
        if job.base_url:
            return f"none: launched with the base URL {job.base_url}"
        return "none (the offline backend sends no request)"

    @admin.display(description="template")
    def template_link(self, job: GenerationJob) -> SafeString:
        url = reverse("admin:captions_prompttemplate_change", args=[job.template_id])
        return link_cell(job.template, href=url)

    @admin.display(description="options")
    def options_table(self, job: GenerationJob) -> SafeString:
        options = [
            (OPTION_LABELS.get(key, key), value) for key, value in job.options.items()
        ]
        return render_to_string(f"{_TEMPLATES}/options.html", {"options": options})

    @admin.display(description="failures")
    def failures_by_reason(self, job: GenerationJob) -> SafeString:
        counts = (
            job.failures.values("reason")
            .annotate(count=Count("id"))
            .order_by("-count", "reason")
        )
        # Reasons are a dozen short codes at most, so one query each stays small.
        reasons = [
            {
                "reason": group["reason"],
                "count": group["count"],
                "messages": job.failures.filter(reason=group["reason"])
                .order_by("id")
                .values_list("message", flat=True)[:FAILURE_MESSAGES_PER_REASON],
            }
            for group in counts
        ]
        return render_to_string(
            f"{_TEMPLATES}/failures.html",
            {"reasons": reasons, "failures_url": _failures_url(job)},
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[GenerationJob]:
        return super().get_queryset(request).select_related("template", "created_by")

    def change_page_context(self, request: HttpRequest) -> dict:
        return {
            "may_change_job": self.has_change_permission(request),
            **_workers_context(),
        }

    def changelist_view(
        self, request: HttpRequest, extra_context: dict | None = None
    ) -> HttpResponse:
        return super().changelist_view(
            request, {**(extra_context or {}), **_workers_context()}
        )

    def progress_json(self, job: GenerationJob) -> dict:
        summary = job_summary(job)
        return {
            **summary,
            "texts": job_live_texts(job, summary),
            "bars": job_bar_widths(job),
        }


@admin.register(GenerationFailure)
class GenerationFailureAdmin(ReadOnlyAdmin):
    """Patches a job could not caption; the job page groups them by reason."""

    list_display = ["patch_previews", "job", "reason", "message_short", "created_at"]
    list_display_links = ["message_short"]
    list_filter = ["reason", "job"]
    list_select_related = ["job", "patch"]
    fields = ["job", "patch", "reason", "message", "created_at"]
    readonly_fields = ["created_at"]

    class Media:
        css = {"all": ["captions/admin.css"]}

    @admin.display(description="patch")
    def patch_previews(self, failure: GenerationFailure) -> SafeString:
        return patch_thumbnails(failure.patch)

    @admin.display(description="message")
    def message_short(self, failure: GenerationFailure) -> str:
        text = failure.message
        return text if len(text) <= 160 else text[:159] + "…"


def _patches_text(selection: dict) -> str:
    if selection.get("rejected_only"):
        return "regenerating rejected captions"
    return "only uncaptioned" if selection.get("only_uncaptioned") else "all patches"
