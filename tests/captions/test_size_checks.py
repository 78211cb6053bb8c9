"""The size check (captions/generation/size_checks.py, reported by checks.py as
``size_contradiction``): a size a caption gives a class, overall or in a region, that
the class's share of that area denies; and the words it marks on the review page.

The patch of most tests, 200x200 px in quadrants of 10,000 px:
top left all tree; top right tree 90% / water 10%; bottom left crop 80% / built-up
20%; bottom right crop 60% / grass 30% / water 10%. Overall: tree 47.5%, crop 35%,
grass 7.5%, water 5%, built-up 5%.
"""

import re

import pytest
from playwright.sync_api import expect

from captions.generation.checks import check_caption
from captions.generation.size_claims import size_claims
from captions.landcover import landcover_stats
from tests.captions.patch_fixtures import (
    BUILT,
    CROP,
    GRASS,
    TREE,
    WATER,
    quadrant_patch,
)
from tests.verification.test_review_browser import log_in, make_captions, make_user
from verification.roles import ANNOTATOR

OPENING = "Tree cover is the largest class of this image. "


@pytest.fixture(scope="module")
def stats() -> dict:
    return landcover_stats(
        quadrant_patch(
            {TREE: 100},
            {TREE: 90, WATER: 10},
            {CROP: 80, BUILT: 20},
            {CROP: 60, GRASS: 30, WATER: 10},
        )
    )


def size_findings(text: str, stats: dict) -> list[dict]:
    return [f for f in check_caption(text, stats) if f["check"] == "size_contradiction"]


def marked(text: str, stats: dict) -> list[str]:
    """The words each size finding marks."""
    return [text[slice(*f["span"])] for f in size_findings(text, stats)]


def test_the_overall_size_of_a_class_is_checked_against_the_whole_image(stats):
    # Water covers 5% of the image: "extra small", never "extra large".
    text = OPENING + "An extra large portion of water covers the image."
    findings = size_findings(text, stats)
    assert marked(text, stats) == ["extra large portion of water"]
    assert "water covers 5% of the image (extra small)" in findings[0]["message"]


@pytest.mark.parametrize(
    ("sentence", "words"),
    [
        (
            "Water covers an extra large fraction of the image.",
            "Water covers an extra large fraction",
        ),
        ("The image is mostly grassland.", "mostly grassland"),
        (
            "Overall, developed land takes up most of the scene.",
            "developed land takes up most",
        ),
        ("About half of the image is water.", "About half of the image is water"),
        ("Grassland dominates the scene.", "Grassland dominates"),
        ("Water makes up 40% of the image.", "Water makes up 40%"),
        (
            "The dominant land cover in this image is grassland.",
            "The dominant land cover in this image is grassland",
        ),
    ],
)
def test_wrong_overall_sizes_are_flagged_in_many_phrasings(stats, sentence, words):
    assert marked(OPENING + sentence, stats) == [words]


@pytest.mark.parametrize(
    ("sentence", "words", "real"),
    [
        # A size before the area, the class after it.
        (
            "A large part of the top right is water.",
            "large part of the top right is water",
            "water covers 10% of the top right",
        ),
        # The class before, by a verb; the region from the sentence.
        (
            "In the bottom left, developed land covers a large part.",
            "developed land covers a large part",
            "developed area covers 20% of the bottom left",
        ),
        # A size phrase before the class, in a sentence about one region.
        (
            "The bottom right holds an extra small fraction of cropland.",
            "extra small fraction of cropland",
            "crop covers 60% of the bottom right",
        ),
        ("The top right is mostly water.", "mostly water", "water covers 10%"),
        (
            "Nearly all of the bottom right is cropland.",
            "Nearly all of the bottom right is cropland",
            "crop covers 60% of the bottom right",
        ),
    ],
)
def test_wrong_region_sizes_are_flagged_with_the_span_of_their_words(
    stats, sentence, words, real
):
    text = OPENING + sentence
    findings = size_findings(text, stats)
    assert [text[slice(*f["span"])] for f in findings] == [words]
    assert real in findings[0]["message"]


@pytest.mark.parametrize(
    "sentence",
    [
        "Water covers an extra small fraction of the image.",
        "A small part of the top right is water.",
        "The image is mostly forest, with a medium share of cropland.",
        "Cropland covers about a third of the image.",
        "In the bottom left, cropland takes up a very large part, while developed "
        "land covers a medium share.",
        "The top left is entirely forest.",
        "Grass covers about 30% of the bottom right.",
        "The bottom right is dominated by cropland, with a medium part of grass.",
    ],
)
def test_right_sizes_pass(stats, sentence):
    assert size_findings(OPENING + sentence, stats) == []


@pytest.mark.parametrize(
    "sentence",
    [
        # Water covers 10% of the top right ("small"): "extra small" ends at 9%.
        "The top right holds an extra small portion of water.",
        # Tree covers 47.5% of the image ("medium"): "large" starts at 50%.
        "A large part of the image is forest.",
        # Built-up covers 20% of the bottom left ("medium"): "small" ends at 19%.
        "In the bottom left, developed land covers a small share.",
    ],
)
def test_one_level_off_at_a_bands_edge_passes(stats, sentence):
    assert size_findings(OPENING + sentence, stats) == []


def test_one_level_off_far_from_the_band_is_flagged(stats):
    # Tree covers 90% of the top right ("extra large"): "large" ends at 79%.
    text = OPENING + "The top right holds a large portion of forest."
    assert marked(text, stats) == ["large portion of forest"]


def test_a_caption_without_size_words_gets_no_size_finding(stats):
    text = (
        "Tree cover fills the top left and most ground in the top right, where water "
        "lies too. Cropland and built-up land share the bottom left; cropland, grass "
        "and water share the bottom right. It is a landscape of woods and farmland."
    )
    assert size_claims(text) == []
    assert size_findings(text, stats) == []


@pytest.mark.parametrize(
    "sentence",
    [
        # Negated, several areas at once, several classes at once: not judged.
        "There is no large portion of water in the top right.",
        "A large part of the top right and the bottom right is water.",
        "Water and grass cover most of the bottom right.",
        "The top left and top right are mostly water.",
        # No area at all ("patch" is the size's noun, not the image).
        "A large patch of water lies near the forest.",
    ],
)
def test_sentences_one_areas_statistics_cannot_judge_are_left_alone(stats, sentence):
    assert size_findings(OPENING + sentence, stats) == []


def test_a_class_sized_in_a_region_without_it_is_a_misplaced_class(stats):
    # Several regions in the sentence, but "of the top left" names the area.
    text = (
        OPENING + "A small part of the top left is water, and the top right is forest."
    )
    findings = check_caption(text, stats)
    assert [(f["check"], text[slice(*f["span"])]) for f in findings] == [
        ("region_contradiction", "water")
    ]


@pytest.mark.parametrize(
    ("words", "band"),
    [
        ("a large portion", (50, 79)),
        ("an extra-small fraction", (0, 9)),
        ("a vast expanse", (80, 100)),
        ("about a third", (30, 36)),
        ("more than half", (50, 100)),
        ("nearly half", (45, 50)),
        ("less than a tenth", (0, 10)),
        ("roughly 35%", (32, 38)),
        ("12 percent", (11, 13)),
        ("most of", (50, 100)),
        ("nearly all", (90, 100)),
    ],
)
def test_size_words_claim_their_band(words, band):
    (claim,) = size_claims(f"Water covers {words} the image.")
    assert (claim.low, claim.high) == band


@pytest.mark.parametrize(
    "text",
    ["The upper half is forest.", "The most extensive class is forest here."],
)
def test_words_that_only_look_like_sizes_claim_none(text):
    assert [c for c in size_claims(text) if c.reads == "share"] == []


# --- The review page marks the words ---------------------------------------------


def test_the_review_page_marks_the_words_of_a_wrong_size(new_context, media_root):
    """The browser patch is tree above, water below (50% each). An emoji first: the
    checks count code points, the page UTF-16 units."""
    make_user("alice", ANNOTATOR)
    text = (
        "🌍 Tree cover fills the top half of the image, and an extra small fraction "
        "of the image is water."
    )
    (caption,) = make_captions(media_root, [text])
    (finding,) = caption.checks
    assert finding["check"] == "size_contradiction"
    page = log_in(new_context(), "alice")

    mark = page.locator("[data-caption-text] mark.finding")
    expect(mark).to_have_count(1)
    expect(mark).to_have_text("extra small fraction of the image is water")
    expect(mark).to_have_attribute("data-checks", "size_contradiction")
    expect(mark).to_have_attribute("title", re.compile("water covers 50% of the image"))
    # The class word inside keeps its own mark.
    expect(mark.locator("mark.class-word")).to_have_text("water")
    expect(page.locator("[data-caption-text]")).to_have_text(text)
