"""Admin for caption-generation jobs: launch one, watch it run, cancel or retry it.

A job's counters are written by its workers while the page is open, so the job page
is read-only (a saved form would write a stale copy back); its buttons call the
services of `captions.generation.jobs`, which own every change of a job's status.
"""

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.forms import Script
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from captions.admin.chat_messages import chat_messages_html
from captions.admin.forms import JobLaunchForm
from captions.admin.live_progress import LiveProgressAdmin
from captions.admin.read_only import ReadOnlyAdmin
from captions.admin.scenes import patch_thumbnails
from captions.generation import jobs
from captions.generation.jobs import DEFAULT_MODELS
from captions.models import GenerationFailure, GenerationJob, Scene
from captions.selectors import job_summary

FAILURE_MESSAGES_PER_REASON = 3
# The launch form's fields, grouped as on the page.
LAUNCH_FIELDSETS = [
    ("Patches", ["scenes", "splits", "only_uncaptioned", "limit"]),
    ("Model", ["backend", "endpoint", "model", "template", "include_rgb"]),
    (
        "Throughput and cost",
        [
            "in_flight_per_worker",
            "chunk_size",
            "requests_per_minute",
            "tokens_per_minute",
            "price_in_per_million",
            "price_out_per_million",
        ],
    ),
]
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
}


# --- formatting shared by the list, the job page and job_progress.js -----------------
# job_progress.js formats the polled values the same way; keep the two in step.


def money_text(value: float | None) -> str:
    if value is None:
        return "unknown price"
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def actual_cost_text(job: GenerationJob) -> str:
    # Without a price the workers count the cost as 0; say that it is not known.
    return money_text(None if job.estimated_cost is None else job.actual_cost)


def rate_text(rate_per_s: float | None) -> str:
    return "—" if rate_per_s is None else f"{rate_per_s:.1f} / s"


def _live(job: GenerationJob, field: str, text: str) -> SafeString:
    """A value job_progress.js replaces as the job runs."""
    return format_html(
        '<span data-job-live="{}" data-job-field="{}">{}</span>', job.pk, field, text
    )


def job_status_badge(job: GenerationJob) -> SafeString:
    return format_html(
        '<span class="job-status job-status--{}" data-job-badge="{}">{}</span>',
        job.status,
        job.pk,
        job.get_status_display(),
    )


def job_progress_widget(job: GenerationJob) -> SafeString:
    """A bar of done (and failed, in red) of total; job_progress.js keeps it live."""
    total = max(job.total, 1)
    return format_html(
        '<span class="job-progress" data-job-id="{id}" data-job-status="{status}" '
        'data-job-progress-url="{url}">'
        '<span class="job-bar" title="done in blue, failed in red">'
        '<span class="job-bar__done" data-job-live="{id}" data-job-bar="done" '
        'style="width: {done_pct}%"></span>'
        '<span class="job-bar__failed" data-job-live="{id}" data-job-bar="failed" '
        'style="width: {failed_pct}%"></span></span> '
        '<span class="job-progress__count">{done} '
        '<span class="job-progress__failed" data-job-live="{id}" '
        "data-job-failed-note{hidden}>+ {failed} failed</span> / {total}"
        "</span></span>",
        id=job.pk,
        status=job.status,
        url=reverse("admin:captions_generationjob_progress", args=[job.pk]),
        done_pct=f"{100 * job.done / total:.2f}",
        failed_pct=f"{100 * job.failed / total:.2f}",
        done=_live(job, "done", f"{job.done:,}"),
        failed=_live(job, "failed", f"{job.failed:,}"),
        hidden="" if job.failed else " hidden",
        total=_live(job, "total", f"{job.total:,}"),
    )


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


@admin.register(GenerationJob)
class GenerationJobAdmin(LiveProgressAdmin):
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
        "created_at",
        "started_at",
        "finished_at",
    ]

    class Media:
        css = {"all": ["captions/admin.css"]}
        js = [Script("captions/job_progress.js", type="module")]

    def get_urls(self) -> list[URLPattern]:
        # Before the default URLs, whose "<path:object_id>/" would swallow "launch/".
        own = [
            path(
                "launch/",
                self.admin_site.admin_view(self.launch_view),
                name="captions_generationjob_launch",
            ),
            path(
                "<path:object_id>/cancel/",
                self.admin_site.admin_view(require_POST(self.cancel_view)),
                name="captions_generationjob_cancel",
            ),
            path(
                "<path:object_id>/retry-failed/",
                self.admin_site.admin_view(require_POST(self.retry_failed_view)),
                name="captions_generationjob_retry_failed",
            ),
        ]
        return own + super().get_urls()

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

    @admin.display(description="job", ordering="id")
    def job_number(self, job: GenerationJob) -> str:
        return f"#{job.pk}"

    @admin.display(description="status", ordering="status")
    def status_badge(self, job: GenerationJob) -> SafeString:
        return job_status_badge(job)

    @admin.display(description="backend / model", ordering="backend")
    def backend_model(self, job: GenerationJob) -> SafeString:
        backend = f"{job.backend} at {job.endpoint}" if job.endpoint else job.backend
        return format_html("{}<br>{}", backend, job.model)

    @admin.display(description="progress")
    def progress(self, job: GenerationJob) -> SafeString:
        return job_progress_widget(job)

    @admin.display(description="rate")
    def rate(self, job: GenerationJob) -> SafeString:
        return _live(job, "rate", rate_text(job_summary(job)["rate_per_s"]))

    @admin.display(description="ETA")
    def eta(self, job: GenerationJob) -> SafeString:
        return _live(job, "eta", duration_text(job_summary(job)["eta_s"]))

    @admin.display(description="tokens")
    def tokens(self, job: GenerationJob) -> SafeString:
        return format_html(
            '<span class="job-numbers">{} in<br>{} out</span>',
            _live(job, "tokens_in", f"{job.tokens_in:,}"),
            _live(job, "tokens_out", f"{job.tokens_out:,}"),
        )

    @admin.display(description="tokens in")
    def tokens_in_text(self, job: GenerationJob) -> SafeString:
        return _live(job, "tokens_in", f"{job.tokens_in:,}")

    @admin.display(description="tokens out")
    def tokens_out_text(self, job: GenerationJob) -> SafeString:
        return _live(job, "tokens_out", f"{job.tokens_out:,}")

    @admin.display(description="cost")
    def cost(self, job: GenerationJob) -> SafeString:
        return format_html(
            '<span class="job-numbers">{}<br><span class="job-quiet">est. {}</span>'
            "</span>",
            _live(job, "actual_cost", actual_cost_text(job)),
            money_text(job.estimated_cost),
        )

    @admin.display(description="estimated cost")
    def estimated_cost_text(self, job: GenerationJob) -> str:
        return money_text(job.estimated_cost)

    @admin.display(description="actual cost")
    def actual_cost_text(self, job: GenerationJob) -> SafeString:
        return _live(job, "actual_cost", actual_cost_text(job))

    @admin.display(description="created", ordering="created_at")
    def created(self, job: GenerationJob) -> SafeString:
        created_at = timezone.localtime(job.created_at)
        return format_html(
            '<span class="job-numbers">{}<br>{}</span>',
            created_at.strftime("%Y-%m-%d"),
            created_at.strftime("%H:%M"),
        )

    @admin.display(description="selection")
    def selection_text(self, job: GenerationJob) -> str:
        selection = job.selection
        scene_ids = selection.get("scene_ids") or []
        names = Scene.objects.filter(pk__in=scene_ids).values_list("name", flat=True)
        parts = [
            "scenes: " + (", ".join(sorted(names)) if scene_ids else "all ready"),
            "splits: " + (", ".join(selection.get("splits") or []) or "all"),
            "only uncaptioned" if selection.get("only_uncaptioned") else "all patches",
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
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:captions_prompttemplate_change", args=[job.template_id]),
            job.template,
        )

    @admin.display(description="options")
    def options_table(self, job: GenerationJob) -> SafeString:
        rows = format_html_join(
            "",
            "<tr><th scope='row'>{}</th><td>{}</td></tr>",
            (
                (
                    OPTION_LABELS.get(key, key),
                    "—" if value is None else value,
                )
                for key, value in job.options.items()
            ),
        )
        return format_html('<table class="job-options">{}</table>', rows)

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
            "admin/captions/generationjob/failures.html",
            {"reasons": reasons, "failures_url": _failures_url(job)},
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[GenerationJob]:
        return super().get_queryset(request).select_related("template", "created_by")

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        if object_id is None:
            # Jobs come only from a launch; the admin index's "Add" lands here.
            return redirect("admin:captions_generationjob_launch")
        extra_context = {
            **(extra_context or {}),
            "may_change_job": self.has_change_permission(request),
        }
        return super().changeform_view(request, object_id, form_url, extra_context)

    # --- extra views ------------------------------------------------------------------

    def _job_or_404(self, request: HttpRequest, object_id: str) -> GenerationJob:
        job = self.get_object(request, object_id)
        if job is None:
            raise Http404("no such job")
        return job

    def progress_json(self, job: GenerationJob) -> dict:
        return job_summary(job)

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        job = self._job_or_404(request, object_id)
        if not self.has_change_permission(request):
            raise PermissionDenied
        if jobs.job_cancel(job_id=job.pk):
            self.log_change(request, job, "Cancelled")
            self.message_user(
                request,
                f"Job #{job.pk} is cancelling: workers send no new request; "
                "answers already on their way are still saved.",
                messages.SUCCESS,
            )
        else:
            self.message_user(
                request,
                f"Job #{job.pk} is not running: nothing to cancel.",
                messages.WARNING,
            )
        return redirect("admin:captions_generationjob_change", job.pk)

    def retry_failed_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        job = self._job_or_404(request, object_id)
        if not self.has_change_permission(request):
            raise PermissionDenied
        try:
            count = jobs.job_retry_failed(job_id=job.pk)
        except jobs.GenerationError as error:
            self.message_user(request, str(error).capitalize(), messages.ERROR)
            return redirect("admin:captions_generationjob_change", job.pk)
        if count:
            self.log_change(
                request, job, f"Re-queued {count} failed or unfinished patches"
            )
            self.message_user(
                request,
                f"{count} failed or unfinished patches of job #{job.pk} "
                "are queued again.",
                messages.SUCCESS,
            )
        else:
            self.message_user(
                request,
                f"Job #{job.pk} has no failed or unfinished patches to retry.",
                messages.INFO,
            )
        return redirect("admin:captions_generationjob_change", job.pk)

    def launch_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        jobs.templates_ensure_builtin()  # so that the default template exists
        form = JobLaunchForm(request.POST if request.method == "POST" else None)
        plan = None
        if form.is_valid():
            if "_launch" in request.POST:
                job = self._launch(request, form)
                if job is not None:
                    return redirect("admin:captions_generationjob_change", job.pk)
            else:
                plan = self._plan(form)
        context = {
            **self.admin_site.each_context(request),
            "title": "Launch a job",
            "opts": self.opts,
            "form": form,
            "fieldsets": [
                (name, [form[field] for field in fields])
                for name, fields in LAUNCH_FIELDSETS
            ],
            "plan": plan,
            **(self._plan_context(plan) if plan else {}),
            "default_models": DEFAULT_MODELS,
            "known_prices": jobs.KNOWN_PRICES,
            "media": self.media + form.media,
            "has_view_permission": self.has_view_permission(request),
        }
        return TemplateResponse(
            request, "admin/captions/generationjob/launch.html", context
        )

    def _plan_context(self, plan: jobs.JobPlan) -> dict:
        return {
            "plan_count": f"{plan.patch_count:,}",
            "plan_tokens_in": f"{plan.estimated_tokens_in:,}",
            "plan_tokens_out": f"{plan.estimated_tokens_out:,}",
            "plan_cost": money_text(plan.estimated_cost),
            "plan_messages": chat_messages_html(plan.example_messages),
        }

    def _plan(self, form: JobLaunchForm) -> jobs.JobPlan | None:
        try:
            return jobs.job_plan(
                selection=form.selection(),
                backend=form.cleaned_data["backend"],
                model=form.model_name(),
                template=form.template_reference(),
                options=form.job_options(),
                endpoint=form.cleaned_data["endpoint"],
            )
        except jobs.GenerationError as error:
            form.add_error(None, str(error))
            return None

    def _launch(
        self, request: HttpRequest, form: JobLaunchForm
    ) -> GenerationJob | None:
        try:
            job = jobs.job_launch(
                selection=form.selection(),
                backend=form.cleaned_data["backend"],
                model=form.model_name(),
                template=form.template_reference(),
                endpoint=form.cleaned_data["endpoint"],
                options=form.job_options(),
                user=request.user,
            )
        except jobs.GenerationError as error:
            form.add_error(None, str(error))
            return None
        self.log_addition(request, job, f"Launched: {job.total} patches")
        self.message_user(
            request,
            f"Job #{job.pk} is queued: {job.total} patches in {job.chunks.count()} "
            "chunks.",
            messages.SUCCESS,
        )
        return job


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
