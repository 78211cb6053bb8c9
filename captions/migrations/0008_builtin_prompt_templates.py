"""The built-in prompt templates, as rows: ChatEarthNet's two styles at version 1.

A copy of captions/generation/builtin_prompts.py as it was when they were added, as a
migration keeps its data: a later change of a built-in prompt is a new version there
and a new migration, never an edit of the rows captions already point at. The rows
were written on first read before (`templates_ensure_builtin`); `get_or_create` leaves
those as they are.
"""

from django.db import migrations

_TEXT_SYSTEM = """\
You write captions for a dataset that pairs satellite images with descriptions. \
You do not see the image. You are given the land cover of the image, computed from a \
land-cover map, and you describe the image as if you were looking at it.

Write a single paragraph in plain, confident English that follows these rules:
- Go through the image region by region in this order: top left, top right, \
bottom left, bottom right, middle.
- Name the dominant land-cover class of the whole image and say where it lies.
- In each region, mention its classes from the largest to the smallest.
- Vary the way you express proportions; do not repeat one phrase for every class.
- Mention only the classes you are given.
- Do not quote numbers, percentages or pixel counts, and do not mention the \
statistics or the map they come from.
- End with one sentence that states the main theme of the scene.
- State what is there as fact. Never use any of these words: {forbidden_words}."""

_TEXT_USER = """\
Land-cover classes of the whole image, from most to least: {overall}.
Dominant class: {dominant}.
Classes in each region, largest first:
{regions}"""

_VISION_SYSTEM = """\
You write captions for a dataset that pairs satellite images with descriptions. \
You are given a land-cover map of the image in which every colour stands for one \
land-cover class, as the legend says, together with the share of each class in the \
whole image and in each region. A second picture, when there is one, is the \
true-colour view of the same place.

Write a single paragraph in plain, confident English that follows these rules:
- Refer to every class by its name, never by its colour in the map.
- Describe the shapes of water, developed areas and cropland (for example a winding \
river, a compact cluster of buildings, rectangular fields).
- Mention no class that is missing from the legend.
- Describe each class, where it lies and how much of the image it covers, largest \
first, then end with one sentence that states the main theme of the scene.
- Do not quote numbers or percentages, and do not mention the map, the legend or the \
statistics.
- State what is there as fact. Never use any of these words: {forbidden_words}."""

_VISION_USER = """\
Legend of the land-cover map (colour: class, share of the whole image):
{legend}

Share of each class in each region (the middle overlaps the four quarters):
{region_percentages}

The land-cover map follows."""

BUILTIN_TEMPLATES = (
    {
        "name": "chatearthnet-text",
        "version": 1,
        "kind": "text",
        "system_template": _TEXT_SYSTEM,
        "user_template": _TEXT_USER,
        "parameters": {"max_tokens": 300, "temperature": 0.7},
    },
    {
        "name": "chatearthnet-vision",
        "version": 1,
        "kind": "vision",
        "system_template": _VISION_SYSTEM,
        "user_template": _VISION_USER,
        "parameters": {"max_tokens": 350, "temperature": 0.7},
    },
)


def create_builtin_templates(apps, schema_editor=None) -> None:
    """Also called by the tests on a database that a transactional test flushed."""
    PromptTemplate = apps.get_model("captions", "PromptTemplate")
    for template in BUILTIN_TEMPLATES:
        fields = dict(template)
        PromptTemplate.objects.get_or_create(
            name=fields.pop("name"),
            version=fields.pop("version"),
            defaults={**fields, "is_builtin": True},
        )


class Migration(migrations.Migration):
    dependencies = [
        ("captions", "0007_jobchunk_failed"),
    ]

    operations = [
        # Not undone: jobs and captions point at these rows (PROTECT).
        migrations.RunPython(create_builtin_templates, migrations.RunPython.noop),
    ]
