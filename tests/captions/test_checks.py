"""Caption checks (captions/generation/checks.py), without a database.

The patch of most tests, 200x200 px in quadrants of 10,000 px:
top left all tree; top right tree 70% / water 30%; bottom left crop 95% / built-up 5%;
bottom right crop 60% / grass 40%. Overall: tree 42.5%, crop 38.75%, grass 10%,
water 7.5%, built-up 1.25%; no shrub, snow, bare land, wetland, mangroves or moss.
"""

import numpy as np
import pytest

from captions.generation.checks import (
    CHECK_DESCRIPTIONS,
    MAX_CHARS,
    MIN_CHARS,
    check_caption,
    near_duplicate_finding,
)
from captions.generation.near_duplicates import near_duplicates, text_similarity
from captions.landcover import landcover_stats
from captions.llm.offline import write_caption
from tests.captions.patch_fixtures import (
    BUILT,
    CROP,
    GRASS,
    SNOW,
    TREE,
    WATER,
    quadrant_patch,
    random_patch,
)

GOOD = (
    "Tree cover is the dominant class of this image and fills the top left, where "
    "forest covers it completely. The top right holds a large portion of trees and a "
    "medium part of water. The bottom left is almost entirely cropland, with an extra "
    "small fraction of developed area. In the bottom right, a large share of farmland "
    "sits beside a medium amount of grassland. The middle mixes trees, crops, grass "
    "and a little water. Overall, this is a patchwork of forest and farmland."
)


@pytest.fixture(scope="module")
def stats() -> dict:
    return landcover_stats(
        quadrant_patch(
            {TREE: 100},
            {TREE: 70, WATER: 30},
            {CROP: 95, BUILT: 5},
            {CROP: 60, GRASS: 40},
        )
    )


def codes_of(findings: list[dict]) -> list[str]:
    return [finding["check"] for finding in findings]


def spanned(text: str, finding: dict) -> str:
    start, end = finding["span"]
    return text[start:end]


def only(findings: list[dict], check: str) -> list[dict]:
    return [finding for finding in findings if finding["check"] == check]


def test_a_good_caption_passes_every_check(stats):
    assert check_caption(GOOD, stats) == []


def test_every_check_code_has_a_description_for_the_ui():
    assert set(CHECK_DESCRIPTIONS) == {
        "empty",
        "too_short",
        "too_long",
        "cut_off",
        "forbidden_word",
        "colour_word",
        "absent_class",
        "dominant_missing",
        "region_contradiction",
        "size_contradiction",
        "near_duplicate",
    }


# --- forbidden_word / colour_word ----------------------------------------------------


@pytest.mark.parametrize(
    ("word", "base"),
    [
        ("possibly", "possibly"),
        ("Likely", "likely"),
        ("unlikely", "likely"),
        ("perhaps", "perhaps"),
        ("context", "context"),
        ("segmentation", "segmentation"),
        ("appear", "appear"),
        ("appears", "appear"),
        ("Appearing", "appear"),
        ("appearance", "appear"),
        ("change", "change"),
        ("changes", "change"),
        ("changing", "change"),
        ("transition", "transition"),
        ("transitional", "transition"),
        ("dynamic", "dynamic"),
        ("dynamics", "dynamic"),
        ("color dictionary", "color dictionary"),
        ("colour-dictionary", "color dictionary"),
    ],
)
def test_forbidden_words_and_their_forms_are_flagged_with_their_span(stats, word, base):
    text = GOOD.replace("mixes", f"{word} mixes")
    findings = only(check_caption(text, stats), "forbidden_word")
    assert len(findings) == 1
    assert spanned(text, findings[0]) == word
    assert repr(base) in findings[0]["message"] or repr(word) in findings[0]["message"]


@pytest.mark.parametrize("word", ["possible", "disappear", "exchange", "contexture"])
def test_other_words_that_contain_a_forbidden_one_pass(stats, word):
    text = GOOD.replace("mixes", f"{word} mixes")
    assert only(check_caption(text, stats), "forbidden_word") == []


@pytest.mark.parametrize("word", ["green", "Blue", "greyish", "gray", "white"])
def test_colour_words_are_flagged_with_their_span(stats, word):
    text = GOOD.replace("a little water", f"a little {word} water")
    findings = only(check_caption(text, stats), "colour_word")
    assert [spanned(text, f) for f in findings] == [word]


def test_words_that_only_contain_a_colour_pass(stats):
    text = GOOD.replace("a little water", "a little water near greenhouses")
    assert only(check_caption(text, stats), "colour_word") == []


# --- absent_class / dominant_missing --------------------------------------------------


@pytest.mark.parametrize(
    "words",
    [
        "shrubs",
        "bushes",
        "snow",
        "glacier",
        "bare rock",
        "marshland",
        "mangrove forest",
    ],
)
def test_a_class_missing_from_the_patch_is_flagged_by_any_of_its_names(stats, words):
    text = GOOD.replace("a little water", f"a little water and some {words}")
    findings = only(check_caption(text, stats), "absent_class")
    assert findings and spanned(text, findings[0]) in words
    assert "not in this patch" in findings[0]["message"]


def test_a_class_below_20_pixels_counts_as_absent_and_the_message_says_why():
    codes = quadrant_patch({TREE: 100}, {TREE: 100}, {CROP: 100}, {CROP: 100})
    codes[0, :19] = SNOW
    text = (
        "The top half is forest and the bottom half is farmland, with a patch of snow."
    )
    findings = only(check_caption(text, landcover_stats(codes)), "absent_class")
    assert [spanned(text, f) for f in findings] == ["snow"]
    assert "only 19 pixels" in findings[0]["message"]


@pytest.mark.parametrize(
    ("words", "present"),
    [
        ("forest", "tree"),
        ("woodland", "tree"),
        ("urban", "developed"),
        ("settlement", "developed"),
        ("built-up", "developed"),
        ("agricultural", "crop"),
        ("fields", "crop"),
        ("river", "water"),
        ("lake", "water"),
        ("meadows", "grass"),
    ],
)
def test_synonyms_of_present_classes_pass(stats, words, present):
    text = GOOD.replace("a little water", f"a little water and some {words}")
    assert only(check_caption(text, stats), "absent_class") == []


def test_fields_of_another_class_name_only_that_class():
    codes = quadrant_patch({GRASS: 100}, {GRASS: 100}, {TREE: 100}, {TREE: 100})
    text = "Fields of grass fill the upper half and forest fills the lower half."
    assert check_caption(text, landcover_stats(codes)) == []


def test_a_caption_that_never_names_the_largest_class_is_flagged(stats):
    text = (
        "The bottom left is almost entirely cropland, with an extra small fraction of "
        "developed area, and grassland lies in the bottom right."
    )
    findings = check_caption(text, stats)
    assert codes_of(findings) == ["dominant_missing"]
    assert findings[0]["span"] is None
    assert "tree" in findings[0]["message"]


def test_on_a_tie_for_the_largest_class_naming_either_is_enough():
    codes = quadrant_patch({TREE: 100}, {WATER: 100}, {TREE: 100}, {WATER: 100})
    stats = landcover_stats(codes)
    assert (
        check_caption("Open water fills the whole right half of the image.", stats)
        == []
    )
    assert (
        check_caption("Forest fills the whole left half of the image here.", stats)
        == []
    )


# --- region_contradiction ----------------------------------------------------------


def test_a_class_placed_in_a_region_that_has_none_is_flagged(stats):
    text = GOOD + " Water dominates the top left."
    findings = only(check_caption(text, stats), "region_contradiction")
    assert [spanned(text, f) for f in findings] == ["Water"]
    assert "top left" in findings[0]["message"]


def test_a_size_phrase_two_steps_from_the_statistics_is_flagged(stats):
    # Built-up covers 5% of the bottom left: "extra small", not "large".
    text = GOOD.replace(
        "an extra small fraction of developed", "a large portion of developed"
    )
    findings = only(check_caption(text, stats), "size_contradiction")
    assert [spanned(text, f) for f in findings] == ["large portion of developed area"]
    assert "5%" in findings[0]["message"]


def test_a_size_phrase_one_step_off_far_from_its_band_is_flagged(stats):
    # Water covers 30% of the top right: "medium"; "large" starts 20 points higher.
    # (One step off near a band's edge passes: tests/captions/test_size_checks.py.)
    text = GOOD.replace("a medium part of water", "a large part of water")
    findings = only(check_caption(text, stats), "size_contradiction")
    assert [spanned(text, f) for f in findings] == ["large part of water"]


def test_dominance_of_a_small_class_that_is_not_the_largest_is_flagged(stats):
    text = GOOD + " The bottom left is dominated by developed area."
    findings = only(check_caption(text, stats), "size_contradiction")
    assert [spanned(text, f) for f in findings] == ["dominated by developed area"]


@pytest.mark.parametrize(
    "sentence",
    [
        "There is no water in the top left.",
        "The top left has trees but not water.",
        "Water lies in the top right, not in the top left.",
        "The top left is forest, and water lies to the east of it.",
        "Water borders the top left.",
    ],
)
def test_negated_or_multi_region_sentences_are_not_judged_by_one_region(
    stats, sentence
):
    assert (
        only(check_caption(GOOD + " " + sentence, stats), "region_contradiction") == []
    )


def test_region_names_are_recognised_in_several_spellings(stats):
    for region in ("upper-left corner", "north-west", "northwestern part"):
        text = GOOD + f" Water fills the {region}."
        assert codes_of(check_caption(text, stats)) == ["region_contradiction"], region


# --- length, empty, cut off ----------------------------------------------------------


def test_an_empty_reply_gets_only_the_empty_finding(stats):
    assert check_caption("  \n", stats) == [
        {"check": "empty", "message": "The reply is empty.", "span": None}
    ]


def test_a_reply_under_the_minimum_length_is_too_short(stats):
    text = "Forest and crops."
    assert len(text) < MIN_CHARS
    assert codes_of(check_caption(text, stats)) == ["too_short"]


def test_a_reply_over_the_maximum_length_is_too_long(stats):
    text = " ".join([GOOD] * (MAX_CHARS // len(GOOD) + 1))
    assert codes_of(check_caption(text, stats)) == ["too_long"]


def test_a_reply_that_stops_mid_sentence_is_cut_off_with_the_fragment_as_span(stats):
    text = GOOD + " The bottom right also shows a"
    findings = check_caption(text, stats)
    assert codes_of(findings) == ["cut_off"]
    assert spanned(text, findings[0]) == "The bottom right also shows a"


def test_a_reply_that_hit_the_token_limit_is_cut_off_even_if_it_ends_well(stats):
    findings = check_caption(GOOD, stats, finish_reason="length")
    assert codes_of(findings) == ["cut_off"]
    assert findings[0]["span"] is None
    assert check_caption(GOOD, stats, finish_reason="stop") == []


def test_a_closing_quote_or_bracket_after_the_full_stop_is_a_proper_end(stats):
    assert check_caption(GOOD[:-1] + ' (a "patchwork".)', stats) == []


def test_findings_without_a_span_come_first_then_by_position(stats):
    text = "Green snow possibly lies here and"
    findings = check_caption(text, stats)
    assert codes_of(findings) == [
        "too_short",
        "dominant_missing",
        "colour_word",  # (0, 5)
        "cut_off",  # (0, 33): the whole text is the unfinished sentence
        "absent_class",
        "forbidden_word",
    ]
    spans = [f["span"] for f in findings if f["span"] is not None]
    assert spans == sorted(spans)


def test_statistics_of_an_all_nodata_patch_only_flag_named_classes():
    stats = landcover_stats(np.zeros((64, 64), dtype=np.uint8))
    text = "This image holds no mapped land cover large enough to describe."
    assert check_caption(text, stats) == []
    assert codes_of(check_caption(text + " Trees grow here.", stats)) == [
        "absent_class"
    ]


# --- near duplicates -----------------------------------------------------------------

LONG = (
    "This satellite image is dominated by forest, which covers most of the scene, "
    "mostly in the upper half. The top left is home to a large portion of trees and a "
    "small part of water. The top right looks much the same, with a vast expanse of "
    "woodland. In the bottom left, cropland takes up about half, while grassland "
    "covers roughly a third and developed land accounts for a tiny fraction. The "
    "bottom right consists of a medium amount of farmland, followed by a small share "
    "of grass. The middle is mostly forest, alongside a moderate portion of cropland. "
    "Overall, the scene is a patchwork of forest and farmland."
)


def test_a_paraphrase_with_one_word_changed_is_a_near_duplicate():
    paraphrase = LONG.replace("vast expanse", "huge expanse")
    assert text_similarity(LONG, paraphrase) >= 0.9
    assert near_duplicates({1: LONG, 2: paraphrase}) == {2: 1}


def test_two_different_captions_are_not_near_duplicates(stats):
    other = write_caption(stats, seed=3)
    assert near_duplicates({1: LONG, 2: other, 3: GOOD}) == {}


def test_a_near_duplicate_points_at_the_smallest_earlier_id_whatever_the_order():
    texts = {9: LONG, 4: LONG.replace("tiny", "very small"), 7: LONG + " Indeed."}
    assert near_duplicates(texts) == {7: 4, 9: 4}


def test_punctuation_and_case_do_not_matter_and_empty_captions_are_ignored():
    texts = {1: LONG, 2: LONG.upper().replace(",", ""), 3: "", 4: "  ...  "}
    assert near_duplicates(texts) == {2: 1}


def test_a_lower_threshold_accepts_looser_paraphrases():
    looser = LONG.replace("forest", "woods").replace("cropland", "fields")
    assert near_duplicates({1: LONG, 2: looser}) == {}
    assert near_duplicates({1: LONG, 2: looser}, threshold=0.5) == {2: 1}


def test_near_duplicate_finding_names_the_other_caption():
    assert near_duplicate_finding(12) == {
        "check": "near_duplicate",
        "message": "Nearly the same wording as caption 12.",
        "span": None,
    }


def test_near_duplicates_among_thousands_of_captions_finds_the_planted_copies():
    rng = np.random.default_rng(1)
    patches = [landcover_stats(random_patch(rng)) for _ in range(100)]
    texts = {i: write_caption(patches[i % 100], i) for i in range(3_000)}
    planted = {10_000 + i: texts[i * 53].upper() for i in range(50)}  # same words
    texts.update(planted)

    found = near_duplicates(texts)

    for later, earlier in found.items():
        assert earlier < later
        assert text_similarity(texts[later], texts[earlier]) >= 0.9
    assert all(later in found for later in planted)
