"""The size phrase of a class in an area, exactly as ChatEarthNet's recipe computes
it (DOMAIN.md 4): from the pixel counts, p = int(round(pixels / valid, 2) * 100),
then its band; never from the stored fraction, which is rounded to four places."""

import re

import numpy as np
import pytest

from captions.generation.builtin_prompts import builtin_template
from captions.generation.prompts import render_messages
from captions.generation.vocabulary import SIZE_PHRASES, exact_shares, size_phrase
from captions.landcover import landcover_stats

QUADRANT = 128 * 128  # a full region of a 256×256 patch


def recipe_phrase(pixels: int, valid: int) -> str:
    """The recipe, written out: its rounding and its bands."""
    p = int(round(pixels / valid, 2) * 100)
    bands = [(80, "extra large"), (50, "large"), (20, "medium"), (10, "small")]
    return next((phrase for lower, phrase in bands if p >= lower), "extra small")


def test_every_pixel_count_of_a_full_region_gets_the_recipes_phrase():
    wrong = [
        pixels
        for pixels in range(1, QUADRANT + 1)
        if size_phrase(pixels / QUADRANT) != recipe_phrase(pixels, QUADRANT)
    ]
    assert wrong == []


@pytest.mark.parametrize(
    ("pixels", "phrase", "from_the_stored_fraction"),
    # The counts where the stored fraction (rounded to 4 places, then to a percent)
    # gave one band too many.
    [
        (1556, "extra small", "small"),
        (8110, "medium", "large"),
        (13025, "large", "extra large"),
    ],
)
def test_the_edge_counts_take_the_recipes_band_not_the_stored_fractions(
    pixels, phrase, from_the_stored_fraction
):
    stored = round(pixels / QUADRANT, 4)
    assert SIZE_PHRASES[_band(round(stored * 100))] == from_the_stored_fraction
    assert size_phrase(pixels / QUADRANT) == phrase == recipe_phrase(pixels, QUADRANT)


def _band(p: int) -> int:
    return sum(p >= lower for lower in (10, 20, 50, 80))


def test_the_prompt_sizes_a_region_from_its_pixel_counts():
    """1556 water pixels in the top-left quadrant: 'extra small', as the recipe says
    (the stored fraction, 0.095, would have said 'small')."""
    label = np.full((256, 256), 10, np.uint8)
    label[0:128, 0:128].flat[:1556] = 80
    stats = landcover_stats(label)
    water = next(e for e in stats["regions"]["top_left"] if e["code"] == 80)
    assert water["pixels"] == 1556
    user = render_messages(builtin_template("chatearthnet-text"), stats)[-1]["content"]
    top_left = next(line for line in user.splitlines() if "top left" in line.lower())
    assert re.search(r"\ban extra small \w+ of water\b", top_left), top_left


def test_shares_come_from_the_counts_of_the_whole_area():
    entries = [{"code": 10, "pixels": 14828}, {"code": 80, "pixels": 1556}]
    shares = [entry["share"] for entry in exact_shares(entries)]
    assert shares == [14828 / QUADRANT, 1556 / QUADRANT]


def test_a_region_lists_equal_counts_with_the_higher_satlas_index_first():
    """Built-up area (50, SatlasPretrain 2) and bare ground (60, index 7) cover 8192
    pixels each of the top left: the stored list keeps the lower code first, the
    prompt the recipe's order, bare ground first."""
    label = np.full((256, 256), 10, np.uint8)
    label[0:64, 0:128] = 50
    label[64:128, 0:128] = 60
    stats = landcover_stats(label)
    assert [e["code"] for e in stats["regions"]["top_left"]] == [50, 60]
    user = render_messages(builtin_template("chatearthnet-text"), stats)[-1]["content"]
    top_left = next(line for line in user.splitlines() if "top left" in line.lower())
    names = {e["code"]: e["name"] for e in stats["regions"]["top_left"]}
    bare, built = f"of {names[60]}", f"of {names[50]}"
    assert top_left.index(bare) < top_left.index(built), top_left
