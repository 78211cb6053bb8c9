"""Prompt templates in the database: written by a migration, never by a read."""

import pytest
from django.urls import reverse

from captions.generation.builtin_prompts import BUILTIN_TEMPLATES
from captions.generation.options import GenerationError
from captions.generation.templates import template_get
from captions.models import PromptTemplate

pytestmark = pytest.mark.django_db


def test_the_migration_writes_every_builtin_prompt_as_the_code_has_it():
    # A built-in prompt changed or added in builtin_prompts.py needs a migration.
    for spec in BUILTIN_TEMPLATES:
        row = PromptTemplate.objects.get(name=spec.name, version=spec.version)
        assert row.is_builtin
        assert (row.kind, row.system_template, row.user_template, row.parameters) == (
            spec.kind,
            spec.system_template,
            spec.user_template,
            spec.parameters,
        )


def test_reading_a_template_writes_none():
    PromptTemplate.objects.all().delete()
    with pytest.raises(GenerationError, match="unknown template 'chatearthnet-text'"):
        template_get("chatearthnet-text")
    assert not PromptTemplate.objects.exists()


def test_the_admin_template_list_writes_none(alice_client):
    PromptTemplate.objects.all().delete()
    response = alice_client.get(reverse("admin:captions_prompttemplate_changelist"))
    assert response.status_code == 200
    assert not PromptTemplate.objects.exists()


def test_the_launch_page_writes_none(alice_client):
    PromptTemplate.objects.all().delete()
    response = alice_client.get(reverse("admin:captions_generationjob_launch"))
    assert response.status_code == 200
    assert not PromptTemplate.objects.exists()
