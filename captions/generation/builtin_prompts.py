"""The built-in prompts, ChatEarthNet's two styles (DOMAIN.md 5). No Django.

They reach the database as `PromptTemplate` rows through a data migration
(captions/migrations/0008_builtin_prompt_templates.py, which keeps its own copy, as
migrations do). A changed built-in prompt is a new version here and a new migration,
never an edit of a version that captions already point at.
"""

from captions.generation.prompts import PromptSpec

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

BUILTIN_TEMPLATES: tuple[PromptSpec, ...] = (
    PromptSpec(
        name="chatearthnet-text",
        version=1,
        kind="text",
        system_template=_TEXT_SYSTEM,
        user_template=_TEXT_USER,
        parameters={"max_tokens": 300, "temperature": 0.7},
    ),
    PromptSpec(
        name="chatearthnet-vision",
        version=1,
        kind="vision",
        system_template=_VISION_SYSTEM,
        user_template=_VISION_USER,
        parameters={"max_tokens": 350, "temperature": 0.7},
    ),
)


def builtin_template(name: str) -> PromptSpec:
    """The built-in prompt called `name`; KeyError naming the known ones otherwise."""
    for spec in BUILTIN_TEMPLATES:
        if spec.name == name:
            return spec
    known = ", ".join(spec.name for spec in BUILTIN_TEMPLATES)
    raise KeyError(f"no built-in prompt {name!r}; known: {known}")
