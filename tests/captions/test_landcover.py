import numpy as np
import pytest

from captions.landcover import (
    CLASS_BY_CODE,
    CLASSES,
    CODES,
    LandCoverError,
    landcover_stats,
    palette_to_worldcover,
    satlas_to_worldcover,
)


def brute_force_list(area: np.ndarray, nodata: int = 0) -> list[dict]:
    """DOMAIN.md section 4 read literally, one pixel at a time."""
    counts: dict[int, int] = {}
    for value in area.ravel().tolist():
        if value != nodata:
            counts[value] = counts.get(value, 0) + 1
    valid = sum(counts.values())
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [
        {
            "code": code,
            "name": CLASS_BY_CODE[code].term,
            "pixels": pixels,
            "fraction": round(pixels / valid, 4),
        }
        for code, pixels in ordered
    ]


def brute_force_first_seen(codes: np.ndarray, nodata: int = 0) -> list[int]:
    """Every class once, in the order a row-by-row walk of the patch meets it."""
    seen: list[int] = []
    for row in codes.tolist():
        for value in row:
            if value != nodata and value not in seen:
                seen.append(value)
    return seen


def brute_force_stats(codes: np.ndarray, nodata: int = 0) -> dict:
    h, w = codes.shape
    regions = {
        "top_left": codes[: h // 2, : w // 2],
        "top_right": codes[: h // 2, w // 2 :],
        "bottom_left": codes[h // 2 :, : w // 2],
        "bottom_right": codes[h // 2 :, w // 2 :],
        "middle": codes[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4],
    }
    return {
        "height": h,
        "width": w,
        "valid_pixels": int(np.count_nonzero(codes != nodata)),
        "overall": brute_force_list(codes, nodata),
        "first_seen": brute_force_first_seen(codes, nodata),
        "regions": {name: brute_force_list(a, nodata) for name, a in regions.items()},
    }


@pytest.mark.parametrize("seed", range(12))
def test_stats_match_brute_force_on_random_maps_of_odd_sizes(seed):
    rng = np.random.default_rng(seed)
    height, width = rng.integers(5, 90, size=2)
    # A few classes per map, with plenty of nodata, so ties and absences occur.
    palette = rng.choice(np.array((0, *CODES), dtype=np.uint8), size=4, replace=False)
    codes = rng.choice(palette, size=(height, width))
    assert landcover_stats(codes) == brute_force_stats(codes)


def test_stats_on_a_blocky_256_patch_match_brute_force():
    rng = np.random.default_rng(7)
    small = rng.choice(np.array((0, *CODES), dtype=np.uint8), size=(8, 8))
    codes = np.kron(small, np.ones((32, 32), dtype=np.uint8))
    assert landcover_stats(codes) == brute_force_stats(codes)


def test_ties_are_broken_by_the_lower_code():
    codes = np.array([[80, 10], [10, 80]], dtype=np.uint8)
    overall = landcover_stats(codes)["overall"]
    assert [entry["code"] for entry in overall] == [10, 80]
    assert [entry["fraction"] for entry in overall] == [0.5, 0.5]


def test_nodata_is_excluded_from_counts_and_fractions():
    codes = np.zeros((10, 10), dtype=np.uint8)
    codes[:, :4] = 10  # 40 tree pixels, 60 nodata
    stats = landcover_stats(codes)
    assert stats["valid_pixels"] == 40
    assert stats["overall"] == [
        {"code": 10, "name": "tree", "pixels": 40, "fraction": 1.0}
    ]
    # The right half holds only nodata: an empty list, not a division by zero.
    assert stats["regions"]["top_right"] == []


def test_small_classes_are_kept_in_statistics_below_the_prompt_threshold():
    # The 20-pixel rule belongs to the prompt; the statistics keep every class so the
    # prompt builder and the caption checks can both apply it.
    codes = np.full((64, 64), 30, dtype=np.uint8)
    codes[0, :19] = 80
    overall = landcover_stats(codes)["overall"]
    assert overall[1] == {
        "code": 80,
        "name": "water",
        "pixels": 19,
        "fraction": round(19 / 4096, 4),
    }


def test_a_custom_nodata_value_is_excluded():
    codes = np.full((4, 4), 255, dtype=np.uint8)
    codes[0, 0] = 50
    stats = landcover_stats(codes, nodata=255)
    assert stats["valid_pixels"] == 1
    assert stats["overall"][0]["name"] == "developed area"
    assert stats["first_seen"] == [50]


def test_first_seen_reads_a_transposed_view_row_by_row():
    # Ingest may hand over a view, not a C-ordered copy: the order is still the
    # rows of the patch as it is, not the memory underneath.
    stored = np.array([[10, 20], [30, 40]], dtype=np.uint8)
    assert landcover_stats(stored.T)["first_seen"] == [10, 30, 20, 40]
    assert landcover_stats(stored[:, ::-1])["first_seen"] == [20, 10, 40, 30]


def test_values_that_are_not_worldcover_codes_are_refused_by_name():
    codes = np.full((8, 8), 10, dtype=np.uint8)
    codes[3, 3] = 15
    codes[4, 4] = 200
    with pytest.raises(LandCoverError, match=r"not WorldCover codes: \[15, 200\]"):
        landcover_stats(codes)


def test_wider_integer_labels_are_accepted_when_in_range_and_refused_otherwise():
    codes = np.full((4, 4), 40, dtype=np.uint16)
    assert landcover_stats(codes)["overall"][0]["code"] == 40
    codes[0, 0] = 266  # would wrap to 10 if cast blindly
    with pytest.raises(LandCoverError, match="266"):
        landcover_stats(codes)


def test_a_three_dimensional_array_is_refused():
    with pytest.raises(ValueError, match="2-D"):
        landcover_stats(np.zeros((2, 2, 3), dtype=np.uint8))


def test_satlas_indices_decode_to_worldcover_codes():
    indices = np.arange(12, dtype=np.uint8).reshape(3, 4)
    codes = satlas_to_worldcover(indices)
    expected = [0] + [
        next(c.code for c in CLASSES if c.satlas_index == i) for i in range(1, 12)
    ]
    assert codes.ravel().tolist() == expected
    assert codes.ravel().tolist()[1:4] == [80, 50, 10]  # water, built-up, tree


def test_satlas_index_outside_the_classes_is_refused():
    with pytest.raises(LandCoverError, match=r"not Satlas indices: \[12\]"):
        satlas_to_worldcover(np.array([[1, 12]], dtype=np.uint8))


def test_prompt_palette_decodes_to_worldcover_codes_with_black_as_nodata():
    colours = [(0, 0, 0), *(c.prompt_rgb for c in CLASSES)]
    rgb = np.array(colours, dtype=np.uint8).reshape(1, len(colours), 3)
    assert palette_to_worldcover(rgb).ravel().tolist() == [0, *CODES]


def test_a_colour_outside_the_palette_is_refused_with_the_colour_named():
    rgb = np.zeros((2, 2, 3), dtype=np.uint8)
    rgb[1, 1] = (1, 192, 0)  # a JPEG-shifted tree colour
    with pytest.raises(LandCoverError, match=r"\(1,192,0\)"):
        palette_to_worldcover(rgb)


def test_a_class_colour_is_its_official_legend_colour_in_css_hex():
    assert CLASS_BY_CODE[10].hex_colour == "#006400"  # tree cover, ESA's dark green
    assert CLASS_BY_CODE[80].hex_colour == "#0064c8"
    for land_cover_class in CLASSES:
        hex_digits = land_cover_class.hex_colour.removeprefix("#")
        assert bytes.fromhex(hex_digits) == bytes(land_cover_class.official_rgb)
