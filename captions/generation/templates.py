"""Prompt templates in the database: find one, save an edit as its next version.

A `PromptTemplate` is never edited in place: captions point at the version that wrote
them. The built-in ones (captions/generation/builtin_prompts.py) are written by a data
migration (captions/migrations/0008_builtin_prompt_templates.py), never by a read.
"""

from django.db import IntegrityError, transaction
from django.db.models import Max

from captions.generation.options import GenerationError
from captions.generation.prompts import PromptSpec, validate_spec
from captions.models import PromptTemplate

# What a job uses when no template is named (form, API, command): ChatEarthNet's
# text prompt, the one its bulk was captioned with.
DEFAULT_TEMPLATE_NAME = "chatearthnet-text"


def template_get(reference: str) -> PromptTemplate:
    """`name` (newest version) or `name:version`; raises `GenerationError`."""
    name, _, version = reference.partition(":")
    templates = PromptTemplate.objects.filter(name=name)
    if version:
        if not version.isdigit():
            raise GenerationError(f"template version {version!r} is not a number")
        templates = templates.filter(version=int(version))
    template = templates.order_by("-version").first()
    if template is None:
        known = sorted(set(PromptTemplate.objects.values_list("name", flat=True)))
        raise GenerationError(
            f"unknown template {reference!r}; known: {', '.join(known)}"
        )
    return template


def template_next_version(name: str) -> int:
    """The version a new edit of template `name` gets: one past its newest."""
    latest = PromptTemplate.objects.filter(name=name).aggregate(last=Max("version"))
    return (latest["last"] or 0) + 1


def template_check_edit(
    *, template: PromptTemplate, system_template: str, user_template: str,
    parameters: dict,
) -> None:  # fmt: skip
    """`GenerationError` if the edit would not make a valid template."""
    spec = PromptSpec(
        name=template.name, version=template.version + 1, kind=template.kind,  # type: ignore[arg-type]
        system_template=system_template, user_template=user_template,
        parameters=parameters,
    )  # fmt: skip
    try:
        validate_spec(spec)
    except ValueError as error:
        raise GenerationError(str(error)) from None


def template_new_version(
    *, template: PromptTemplate, system_template: str, user_template: str,
    parameters: dict, user=None,
) -> PromptTemplate:  # fmt: skip
    """Save an edited template as the next version; the old one stays as it was."""
    template_check_edit(
        template=template, system_template=system_template,
        user_template=user_template, parameters=parameters,
    )  # fmt: skip
    try:
        with transaction.atomic():
            return PromptTemplate.objects.create(
                name=template.name,
                version=template_next_version(template.name),
                kind=template.kind,
                system_template=system_template,
                user_template=user_template,
                parameters=parameters,
                created_by=user,
            )
    except IntegrityError:
        raise GenerationError(
            f"someone saved a new version of {template.name} at the same moment; "
            "reload and try again"
        ) from None


def spec_of(template: PromptTemplate) -> PromptSpec:
    """A template row as the prompt renderer takes it."""
    return PromptSpec(
        name=template.name,
        version=template.version,
        kind=template.kind,  # type: ignore[arg-type]
        system_template=template.system_template,
        user_template=template.user_template,
        parameters=dict(template.parameters),
    )
