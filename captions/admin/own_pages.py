"""The pages this app adds to its admins beside Django's own (ingest a scene, launch a
job, write a template version, create a release, and their buttons): one way to route
them and one layout (templates/admin/captions/form_page.html)."""

from collections.abc import Callable

from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST


def own_path(
    model_admin: admin.ModelAdmin,
    route: str,
    view: Callable[..., HttpResponse],
    suffix: str,
    *,
    post_only: bool = False,
) -> URLPattern:
    """`route` below the model's admin pages, named as Django names its own admin URLs
    (`<app>_<model>_<suffix>`, e.g. "admin:captions_scene_ingest")."""
    opts = model_admin.opts
    return path(
        route,
        model_admin.admin_site.admin_view(require_POST(view) if post_only else view),
        name=f"{opts.app_label}_{opts.model_name}_{suffix}",
    )


def form_page(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    template: str,
    *,
    title: str,
    form: forms.Form,
    **context: object,
) -> TemplateResponse:
    """A page of `form_page.html`: the admin's chrome, the media of the admin and the
    form, and breadcrumbs up to the model's list."""
    return TemplateResponse(
        request,
        template,
        {
            **model_admin.admin_site.each_context(request),
            "title": title,
            "opts": model_admin.opts,
            "form": form,
            "media": model_admin.media + form.media,
            "has_view_permission": model_admin.has_view_permission(request),
            **context,
        },
    )


class ChangePageContextAdmin(admin.ModelAdmin):
    """Adds `change_page_context(request)` to the context of a record's page: what the
    buttons of its template (templates/admin/captions/<model>/change_form.html) need to
    know, such as whether this user may cancel the job, beyond Django's permissions on
    the record itself (which read-only pages refuse)."""

    def change_page_context(self, request: HttpRequest) -> dict:
        return {}

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        extra_context = {**(extra_context or {}), **self.change_page_context(request)}
        return super().changeform_view(request, object_id, form_url, extra_context)


class OwnAddPageAdmin(ChangePageContextAdmin):
    """Rows that come only from a page of their own (a scene from an ingest, a job from
    a launch, a release from "Create a release"): the list's add button and the admin
    index's "Add" open that page instead of Django's empty form."""

    # The URL name and the button's label, e.g. ("admin:captions_scene_ingest",
    # "Ingest a scene").
    add_page: tuple[str, str]

    def may_open_add_page(self, request: HttpRequest) -> bool:
        return self.has_add_permission(request)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict | None = None
    ) -> HttpResponse:
        # templates/admin/captions/change_list.html shows the button.
        url_name, label = self.add_page
        if self.may_open_add_page(request):
            extra_context = {
                **(extra_context or {}),
                "add_page_url": reverse(url_name),
                "add_page_label": label,
            }
        return super().changelist_view(request, extra_context)

    def add_view(
        self,
        request: HttpRequest,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        return redirect(self.add_page[0])
