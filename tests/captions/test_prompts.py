"""Prompt templates and their rendering (captions/generation/prompts.py), without a
database."""

import base64
import dataclasses
import io
import math

import numpy as np
import pytest
from PIL import Image

from captions.generation.builtin_prompts import BUILTIN_TEMPLATES, builtin_template
from captions.generation.prompts import (
    IMAGE_TOKENS,
    PromptSpec,
    describe_statistics,
    estimate_tokens,
    render_messages,
    validate_spec,
    vision_map_png,
)
from captions.generation.vocabulary import FORBIDDEN_WORDS, size_phrase
from captions.landcover import CLASS_BY_CODE, LandCoverError, landcover_stats
from tests.captions.patch_fixtures import (
    BARE,
    BUILT,
    CROP,
    GRASS,
    MOSS,
    SHRUB,
    SNOW,
    TREE,
    WATER,
    quadrant_patch,
)

TEXT = builtin_template("chatearthnet-text")
VISION = builtin_template("chatearthnet-vision")


def worked_example() -> dict:
    """A 200x200 patch whose statistics are worked out by hand below.

    Quadrants of 10,000 px: top left tree 50% / crop 20% / water 19% / grass 11%; top
    right shrub 80% / snow 11% / bare 9%; bottom left nodata but for 19 px of water and
    5 px of moss; bottom right all built-up. The middle takes 2,500 px of each quadrant
    with its proportions: built 2,500, shrub 2,000, tree 1,250, crop 500, water 475,
    grass 275, snow 275, bare 225 (valid 7,500).
    """
    codes = quadrant_patch(
        {TREE: 50, CROP: 20, WATER: 19, GRASS: 11},
        {SHRUB: 80, SNOW: 11, BARE: 9},
        {},
        {BUILT: 100},
    )
    codes[181:200, 0] = WATER
    codes[199, 10:15] = MOSS
    return landcover_stats(codes)


def data_url_image(part: dict) -> tuple[str, Image.Image]:
    url = part["image_url"]["url"]
    header, encoded = url.split(",", 1)
    image = Image.open(io.BytesIO(base64.b64decode(encoded)))
    image.load()
    return header, image


# --- describe_statistics -----------------------------------------------------------


def test_overall_names_classes_of_at_least_20_pixels_from_most_to_least():
    # grass and snow tie at 1,100 px: grass first, as it appears first row by row
    # (or, without first_seen, as the lower code); moss has 5 px overall.
    assert describe_statistics(worked_example())["overall"] == (
        "developed area, shrub, tree, crop, water, grass, snow, bare land"
    )


def test_regions_in_order_with_up_to_three_classes_size_phrases_and_cycling_nouns():
    assert describe_statistics(worked_example())["regions"].splitlines() == [
        "- top left: a large fraction of tree, a medium part of crop, "
        "a small portion of water",
        "- top right: an extra large amount of shrub, a small quantity of snow, "
        "an extra small fraction of bare land",
        "- bottom left: no class with at least 20 pixels",
        "- bottom right: an extra large part of developed area",
        "- middle: a medium portion of developed area, a medium amount of shrub, "
        "a small quantity of tree",
    ]


def test_dominant_class_is_named_with_its_share_and_densest_region():
    assert describe_statistics(worked_example())["dominant"] == (
        "developed area (33% of the image, densest in the bottom right)"
    )


def test_region_percentages_list_every_class_of_at_least_20_pixels():
    lines = describe_statistics(worked_example())["region_percentages"].splitlines()
    assert lines[0] == "- top left: tree 50%, crop 20%, water 19%, grass 11%"
    assert lines[2] == "- bottom left: no class with at least 20 pixels"
    assert lines[4].startswith("- middle: developed area 33%, shrub 27%, tree 17%")


def test_legend_gives_each_class_its_prompt_colour_and_marks_nodata_black():
    legend = describe_statistics(worked_example())["legend"].splitlines()
    assert legend[0] == "- RGB (255, 0, 0): developed area, 33%"
    assert legend[1] == "- RGB (200, 170, 120): shrub, 27%"
    assert legend[-1] == "- RGB (0, 0, 0): no data"
    assert not any("moss" in line for line in legend)


@pytest.mark.parametrize(
    ("percent", "phrase"),
    [
        (0, "extra small"),
        (9, "extra small"),
        (10, "small"),
        (19, "small"),
        (20, "medium"),
        (49, "medium"),
        (50, "large"),
        (79, "large"),
        (80, "extra large"),
        (100, "extra large"),
    ],
)
def test_size_phrase_follows_the_percentage_bands(percent, phrase):
    assert size_phrase(percent / 100) == phrase


def test_size_phrase_rounds_the_percentage_first():
    assert size_phrase(0.0949) == "extra small"
    assert size_phrase(0.0951) == "small"
    assert size_phrase(0.7951) == "extra large"


def test_a_class_of_19_pixels_in_a_region_is_left_out_and_of_20_is_kept():
    codes = np.full((40, 40), TREE, dtype=np.uint8)
    codes[:19, 0] = WATER  # 19 px of water in the top left
    codes[:20, 39] = CROP  # 20 px of crop in the top right
    regions = describe_statistics(landcover_stats(codes))["regions"].splitlines()
    assert "water" not in regions[0]
    assert regions[1] == (
        "- top right: an extra large part of tree, an extra small portion of crop"
    )


def test_a_patch_without_any_class_of_20_pixels_says_so():
    codes = np.zeros((32, 32), dtype=np.uint8)
    codes[0, :10] = TREE
    pieces = describe_statistics(landcover_stats(codes))
    assert pieces["overall"] == "none (no class covers 20 pixels)"
    assert pieces["dominant"] == "none"
    assert all(
        "no class with at least 20 pixels" in line
        for line in pieces["regions"].splitlines()
    )


# --- Templates ---------------------------------------------------------------------


def test_builtin_templates_are_the_two_chatearthnet_styles_at_version_1():
    assert [(s.name, s.version, s.kind) for s in BUILTIN_TEMPLATES] == [
        ("chatearthnet-text", 1, "text"),
        ("chatearthnet-vision", 1, "vision"),
    ]
    assert TEXT.parameters["max_tokens"] == 300
    for spec in BUILTIN_TEMPLATES:
        validate_spec(spec)


def test_unknown_builtin_name_lists_the_known_ones():
    with pytest.raises(KeyError, match="chatearthnet-text"):
        builtin_template("nope")


def test_a_template_with_an_unknown_placeholder_is_refused():
    spec = dataclasses.replace(TEXT, user_template="{overall} {weather}")
    with pytest.raises(ValueError, match="weather"):
        validate_spec(spec)
    with pytest.raises(ValueError, match="weather"):
        render_messages(spec, worked_example())


def test_a_template_with_a_stray_brace_is_refused_with_a_hint():
    spec = dataclasses.replace(TEXT, system_template="Use {curly braces")
    with pytest.raises(ValueError, match="literal brace"):
        validate_spec(spec)


@pytest.mark.parametrize(
    "template",
    [
        "{overall:>999999999}",  # a gigabyte of padding for every patch
        "{overall!r}",
        "{dominant:{overall}}",
        "{overall.__class__}",
        "{overall[0]}",
    ],
)
def test_a_curator_cannot_make_the_renderer_do_work_or_reach_attributes(template):
    spec = dataclasses.replace(TEXT, user_template=template)
    with pytest.raises(
        ValueError, match=r"format spec or conversion|unknown placeholder"
    ):
        validate_spec(spec)
    with pytest.raises(ValueError):
        render_messages(spec, worked_example())


def test_prompt_kind_must_be_text_or_vision():
    with pytest.raises(ValueError, match="kind"):
        PromptSpec("x", 1, "audio", "", "")  # type: ignore[arg-type]


# --- Text messages -----------------------------------------------------------------


def test_text_prompt_is_a_system_and_a_user_message_with_the_statistics():
    stats = worked_example()
    messages = render_messages(TEXT, stats)
    pieces = describe_statistics(stats)

    assert [m["role"] for m in messages] == ["system", "user"]
    system, user = messages[0]["content"], messages[1]["content"]
    assert isinstance(system, str) and isinstance(user, str)
    assert pieces["overall"] in user
    assert pieces["regions"] in user
    assert pieces["dominant"] in user
    assert "{" not in system + user
    for word in FORBIDDEN_WORDS:
        assert f'"{word}"' in system
    assert "color dictionary" not in system
    for region in ("top left", "top right", "bottom left", "bottom right", "middle"):
        assert region in system


def test_rendering_is_deterministic():
    stats = worked_example()
    assert render_messages(TEXT, stats) == render_messages(TEXT, stats)


# --- Vision messages ---------------------------------------------------------------


def test_vision_map_png_has_prompt_palette_colours_at_half_size_and_black_nodata():
    codes = quadrant_patch({TREE: 100}, {WATER: 100}, {}, {BUILT: 60, CROP: 40}, 40)
    _, image = data_url_image(
        {"image_url": {"url": "x," + base64.b64encode(vision_map_png(codes)).decode()}}
    )
    rgb = np.asarray(image.convert("RGB"))

    assert rgb.shape == (20, 20, 3)
    assert tuple(rgb[0, 0]) == CLASS_BY_CODE[TREE].prompt_rgb
    assert tuple(rgb[0, 19]) == CLASS_BY_CODE[WATER].prompt_rgb
    assert tuple(rgb[19, 0]) == (0, 0, 0)
    colours = {tuple(c) for c in rgb.reshape(-1, 3).tolist()}
    assert colours == {
        CLASS_BY_CODE[code].prompt_rgb for code in (TREE, WATER, BUILT, CROP)
    } | {(0, 0, 0)}


def test_vision_map_png_of_odd_size_rounds_up_and_keeps_every_second_pixel():
    codes = np.zeros((7, 5), dtype=np.uint8)
    codes[::2, ::2] = SNOW
    rgb = np.asarray(Image.open(io.BytesIO(vision_map_png(codes))).convert("RGB"))
    assert rgb.shape == (4, 3, 3)
    assert (rgb == 255).all()


def test_vision_map_png_refuses_values_that_are_not_worldcover_codes():
    codes = np.full((4, 4), 13, dtype=np.uint8)
    with pytest.raises(LandCoverError, match="13"):
        vision_map_png(codes)


def test_vision_prompt_sends_legend_percentages_and_the_map_as_a_png_data_url():
    codes = quadrant_patch({TREE: 100}, {WATER: 100}, {CROP: 100}, {BUILT: 100}, 60)
    stats = landcover_stats(codes)
    messages = render_messages(VISION, stats, landcover_png=vision_map_png(codes))

    assert [m["role"] for m in messages] == ["system", "user"]
    assert "color dictionary" in messages[0]["content"]
    text_part, map_part = messages[1]["content"]
    assert text_part["type"] == "text"
    assert "- RGB (0, 192, 0): tree, 25%" in text_part["text"]
    assert "- top left: tree 100%" in text_part["text"]
    assert map_part["type"] == "image_url"
    assert map_part["image_url"]["detail"] == "low"
    header, image = data_url_image(map_part)
    assert header == "data:image/png;base64"
    assert image.format == "PNG"
    assert image.size == (30, 30)
    assert image.convert("RGB").getpixel((0, 0)) == CLASS_BY_CODE[TREE].prompt_rgb
    assert image.convert("RGB").getpixel((29, 29)) == CLASS_BY_CODE[BUILT].prompt_rgb


def test_vision_prompt_adds_the_rgb_preview_with_its_own_image_type():
    codes = np.full((16, 16), TREE, dtype=np.uint8)
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 20, 30)).save(buffer, "WEBP", lossless=True)
    messages = render_messages(
        VISION,
        landcover_stats(codes),
        landcover_png=vision_map_png(codes),
        rgb_png=buffer.getvalue(),
    )
    parts = messages[1]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url", "image_url"]
    header, image = data_url_image(parts[2])
    assert header == "data:image/webp;base64"
    assert image.getpixel((0, 0)) == (10, 20, 30)


def test_vision_prompt_without_the_map_is_a_clear_error():
    with pytest.raises(ValueError, match="landcover_png"):
        render_messages(VISION, worked_example())


def test_rgb_bytes_that_are_no_image_are_refused():
    codes = np.full((8, 8), TREE, dtype=np.uint8)
    with pytest.raises(ValueError, match="PNG, JPEG, WebP"):
        render_messages(
            VISION,
            landcover_stats(codes),
            landcover_png=vision_map_png(codes),
            rgb_png=b"not an image",
        )


# --- Token estimate ----------------------------------------------------------------


def test_token_estimate_is_a_quarter_of_the_characters_plus_overheads():
    messages = [
        {"role": "system", "content": "x" * 400},
        {"role": "user", "content": "y" * 7},
    ]
    assert estimate_tokens(messages) == 3 + (4 + 100) + (4 + math.ceil(7 / 4))


def test_token_estimate_counts_a_fixed_price_per_image():
    codes = np.full((64, 64), TREE, dtype=np.uint8)
    stats = landcover_stats(codes)
    png = vision_map_png(codes)
    one = render_messages(VISION, stats, landcover_png=png)
    two = render_messages(VISION, stats, landcover_png=png, rgb_png=png)
    assert estimate_tokens(two) - estimate_tokens(one) == IMAGE_TOKENS
