"""The job admin's own pages: launch a job (with a preview of its cost), and the job
page's Cancel and Retry failed buttons. Each calls a service of
`captions.generation.jobs`, which owns every change of a job's status."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import URLPattern

from captions.admin.chat_messages import chat_messages_html
from captions.admin.forms import JobLaunchForm
from captions.admin.job_texts import money_text
from captions.admin.own_pages import form_page, own_path
from captions.generation import jobs
from captions.generation.options import DEFAULT_MODELS, KNOWN_PRICES, GenerationError
from captions.generation.plans import JobPlan, job_plan
from captions.models import GenerationJob

# The launch form's fields, grouped as on the page.
LAUNCH_FIELDSETS = [
    (
        "Patches",
        [
            "scenes",
            "splits",
            "only_uncaptioned",
            "rejected_only",
            "caption_ids",
            "limit",
        ],
    ),
    ("Model", ["backend", "endpoint", "model", "template", "include_rgb", "batch"]),
    ("A/B test", ["ab_template", "ab_model", "ab_share"]),
    ("Second opinions", ["qa_rate"]),
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


def _back_to(job: GenerationJob) -> HttpResponseRedirect:
    return redirect("admin:captions_generationjob_change", job.pk)


class JobViews(admin.ModelAdmin):
    """The views of GenerationJobAdmin (captions/admin/jobs.py) beyond Django's."""

    def get_urls(self) -> list[URLPattern]:
        # Before the default URLs, whose "<path:object_id>/" would swallow "launch/".
        own = [
            own_path(self, "launch/", self.launch_view, "launch"),
            own_path(
                self,
                "<path:object_id>/cancel/",
                self.cancel_view,
                "cancel",
                post_only=True,
            ),
            own_path(
                self,
                "<path:object_id>/retry-failed/",
                self.retry_failed_view,
                "retry_failed",
                post_only=True,
            ),
        ]
        return own + super().get_urls()

    def _job_to_change(self, request: HttpRequest, object_id: str) -> GenerationJob:
        job = self.get_object(request, object_id)
        if job is None:
            raise Http404("no such job")
        if not self.has_change_permission(request):
            raise PermissionDenied
        return job

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        job = self._job_to_change(request, object_id)
        if not jobs.job_cancel(job_id=job.pk):
            self.message_user(
                request,
                f"Job #{job.pk} is not running: nothing to cancel.",
                messages.WARNING,
            )
            return _back_to(job)
        self.log_change(request, job, "Cancelled")
        self.message_user(
            request,
            f"Job #{job.pk} is cancelling: workers send no new request; "
            "answers already on their way are still saved.",
            messages.SUCCESS,
        )
        return _back_to(job)

    def retry_failed_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        job = self._job_to_change(request, object_id)
        as_batch = request.POST.get("mode") == "batch"
        try:
            count = jobs.job_retry_failed(job_id=job.pk, as_batch=as_batch)
        except GenerationError as error:
            self.message_user(request, str(error).capitalize(), messages.ERROR)
            return _back_to(job)
        if not count:
            self.message_user(
                request,
                f"Job #{job.pk} has no failed or unfinished patches to retry.",
                messages.INFO,
            )
            return _back_to(job)
        self.log_change(request, job, f"Re-queued {count} failed or unfinished patches")
        self.message_user(
            request,
            f"{count} failed or unfinished patches of job #{job.pk} are queued again"
            + (" as a new batch." if as_batch else "."),
            messages.SUCCESS,
        )
        return _back_to(job)

    def launch_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = JobLaunchForm(
            request.POST if request.method == "POST" else None,
            # From the caption list's "Regenerate the selected captions".
            initial={"caption_ids": request.GET.get("captions", "")[:120_000]},
        )
        plan = None
        if form.is_valid():
            if "_launch" in request.POST:
                job = self._launch(request, form)
                if job is not None:
                    return _back_to(job)
            else:
                plan = self._plan(form)
        return form_page(
            self,
            request,
            "admin/captions/generationjob/launch.html",
            title="Launch a job",
            form=form,
            fieldsets=[
                (name, [form[field] for field in fields])
                for name, fields in LAUNCH_FIELDSETS
            ],
            plan=plan,
            **(_plan_context(plan) if plan else {}),
            default_models=DEFAULT_MODELS,
            known_prices=KNOWN_PRICES,
        )

    def _plan(self, form: JobLaunchForm) -> JobPlan | None:
        try:
            return job_plan(**_job_arguments(form))
        except GenerationError as error:
            form.add_error(None, str(error))
            return None

    def _launch(
        self, request: HttpRequest, form: JobLaunchForm
    ) -> GenerationJob | None:
        try:
            job = jobs.job_launch(
                **_job_arguments(form),
                qa_rate=form.cleaned_data["qa_rate"],
                user=request.user,
            )
        except GenerationError as error:
            form.add_error(None, str(error))
            return None
        self.log_addition(request, job, f"Launched: {job.total} patches")
        parts = job.batches.count() or job.chunks.count()
        kind = "batches" if job.options.get("batch") else "chunks"
        self.message_user(
            request,
            f"Job #{job.pk} is queued: {job.total} patches in {parts} {kind}.",
            messages.SUCCESS,
        )
        return job


def _job_arguments(form: JobLaunchForm) -> dict:
    """What a preview and a launch both take from the form."""
    return {
        "selection": form.selection(),
        "backend": form.cleaned_data["backend"],
        "model": form.model_name(),
        "template": form.template_reference(),
        "options": form.job_options(),
        "endpoint": form.cleaned_data["endpoint"],
        "ab": form.ab_test(),
    }


def _plan_context(plan: JobPlan) -> dict:
    return {
        "plan_count": f"{plan.patch_count:,}",
        "plan_tokens_in": f"{plan.estimated_tokens_in:,}",
        "plan_tokens_out": f"{plan.estimated_tokens_out:,}",
        "plan_cost": money_text(plan.estimated_cost),
        "plan_messages": chat_messages_html(plan.example_messages),
    }
