"""Admin for prompt templates: read them, and save an edited copy as a new version.

A template is never edited in place: captions and jobs name the version they were
generated with, so changing its text would change what those records claim was sent.
"""

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import URLPattern, reverse
from django.utils import timezone
from django.utils.safestring import SafeString

from captions.admin.cells import preformatted_cell, text_cell
from captions.admin.forms import TemplateNewVersionForm
from captions.admin.own_pages import ChangePageContextAdmin, form_page, own_path
from captions.admin.read_only import ReadOnlyAdmin
from captions.generation.prompts import PLACEHOLDERS
from captions.generation.templates import (
    template_new_version,
    template_next_version,
)
from captions.models import PromptTemplate


@admin.register(PromptTemplate)
class PromptTemplateAdmin(ChangePageContextAdmin, ReadOnlyAdmin):
    list_display = ["name", "version", "kind_code", "builtin", "created"]
    list_display_links = ["name"]
    list_filter = ["kind", "is_builtin"]
    search_fields = ["name"]
    actions = ["new_version"]
    fieldsets = [
        (None, {"fields": [("name", "version"), "kind", "is_builtin"]}),
        ("System message", {"fields": ["system_text"]}),
        ("User message", {"fields": ["user_text"]}),
        ("Parameters", {"fields": ["parameters_json"]}),
        (None, {"fields": [("created_by", "created_at")]}),
    ]
    readonly_fields = ["system_text", "user_text", "parameters_json", "created_at"]

    class Media:
        css = {"all": ["captions/admin.css"]}

    def get_urls(self) -> list[URLPattern]:
        route = "<path:object_id>/new-version/"
        own = [own_path(self, route, self.new_version_view, "new_version")]
        return own + super().get_urls()

    def has_new_version_permission(self, request: HttpRequest) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.add_{opts.model_name}")

    # --- pages ------------------------------------------------------------------------

    def change_page_context(self, request: HttpRequest) -> dict:
        return {"may_add_version": self.has_new_version_permission(request)}

    @admin.display(description="kind", ordering="kind")
    def kind_code(self, template: PromptTemplate) -> SafeString:
        return text_cell(template.kind, title=template.get_kind_display())

    @admin.display(description="built-in", boolean=True, ordering="is_builtin")
    def builtin(self, template: PromptTemplate) -> bool:
        return template.is_builtin

    @admin.display(description="created", ordering="created_at")
    def created(self, template: PromptTemplate) -> str:
        return timezone.localtime(template.created_at).strftime("%Y-%m-%d %H:%M")

    @admin.display(description="system template")
    def system_text(self, template: PromptTemplate) -> SafeString:
        return preformatted_cell(template.system_template, class_name="template-text")

    @admin.display(description="user template")
    def user_text(self, template: PromptTemplate) -> SafeString:
        return preformatted_cell(template.user_template, class_name="template-text")

    @admin.display(description="parameters")
    def parameters_json(self, template: PromptTemplate) -> SafeString:
        return preformatted_cell(
            json.dumps(template.parameters, indent=2, sort_keys=True),
            class_name="template-text",
        )

    @admin.action(
        description="Write a new version of the selected template",
        permissions=["new_version"],
    )
    def new_version(
        self, request: HttpRequest, queryset: QuerySet[PromptTemplate]
    ) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(
                request, "Select exactly one template to start from.", messages.WARNING
            )
            return None
        template = queryset.get()
        return redirect("admin:captions_prompttemplate_new_version", template.pk)

    def new_version_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_new_version_permission(request):
            raise PermissionDenied
        template = self.get_object(request, object_id)
        if template is None:
            raise Http404("no such template")
        form = TemplateNewVersionForm(
            request.POST if request.method == "POST" else None, template=template
        )
        if form.is_valid():
            created = self._save_new_version(request, template, form)
            return redirect("admin:captions_prompttemplate_change", created.pk)
        return form_page(
            self,
            request,
            "admin/captions/prompttemplate/new_version.html",
            title=f"New version of {template}",
            form=form,
            original=template,
            next_version=template_next_version(template.name),
            placeholders=sorted(PLACEHOLDERS),
            template_url=reverse(
                "admin:captions_prompttemplate_change", args=[template.pk]
            ),
        )

    def _save_new_version(
        self,
        request: HttpRequest,
        template: PromptTemplate,
        form: TemplateNewVersionForm,
    ) -> PromptTemplate:
        created = template_new_version(
            template=template,
            system_template=form.cleaned_data["system_template"],
            user_template=form.cleaned_data["user_template"],
            parameters=form.cleaned_data["parameters"],
            user=request.user,
        )
        self.log_addition(request, created, f"New version of {template}")
        self.message_user(
            request, f"Saved as {created}; {template} is unchanged.", messages.SUCCESS
        )
        return created
