"""Reading ChatEarthNet / SatlasPretrain tiles without a database (tiles.py)."""

import math

import numpy as np
import pytest
from PIL import Image

from captions.ingest.input_files import InputPolicy
from captions.ingest.tiles import (
    TileError,
    TilePair,
    cut_tile,
    decode_label,
    discover_tile_pairs,
    footprint_for_tile_name,
    read_tile_pair,
    read_tile_patches,
    web_mercator_footprint,
)
from captions.landcover import CLASS_BY_CODE, NODATA, satlas_to_worldcover
from tests.captions.tile_fixtures import (
    BUILT,
    CROP,
    TREE,
    WATER,
    write_palette_label,
    write_rgb,
    write_satlas_label,
)

# Tests of reading, not of where from (tests/captions/test_input_files.py).
ANYWHERE = InputPolicy(allowed_roots=(), protected_roots=())


def blocks(size: int = 256) -> np.ndarray:
    """Top half tree, bottom left water, bottom right crop."""
    codes = np.full((size, size), TREE, np.uint8)
    codes[size // 2 :, : size // 2] = WATER
    codes[size // 2 :, size // 2 :] = CROP
    return codes


# --- discover_tile_pairs ---------------------------------------------------------


def test_labels_folder_pairs_each_image_with_the_label_of_the_same_name(tmp_path):
    for name in ("b.png", "a.png"):
        write_rgb(tmp_path / "images" / name)
        write_satlas_label(tmp_path / "labels" / name, blocks())

    discovery = discover_tile_pairs(tmp_path)

    assert discovery.pairs == (
        TilePair(tmp_path / "images/a.png", tmp_path / "labels/a.png"),
        TilePair(tmp_path / "images/b.png", tmp_path / "labels/b.png"),
    )
    assert discovery.unlabelled == ()


@pytest.mark.parametrize(
    ("image_folder", "label_folder"),
    [("rgb", "landcover"), ("tci", "worldcover"), ("tci", "land_cover")],
)
def test_other_sibling_folder_names_are_paired_too(
    tmp_path, image_folder, label_folder
):
    write_rgb(tmp_path / image_folder / "4297_2867.png")
    write_satlas_label(tmp_path / label_folder / "4297_2867.png", blocks())

    (pair,) = discover_tile_pairs(tmp_path).pairs

    assert pair.label_path == tmp_path / label_folder / "4297_2867.png"


@pytest.mark.parametrize("suffix", ["_label", "_landcover"])
def test_a_label_beside_its_image_is_found_by_its_suffix(tmp_path, suffix):
    write_rgb(tmp_path / "tile.png")
    write_satlas_label(tmp_path / f"tile{suffix}.png", blocks())

    discovery = discover_tile_pairs(tmp_path)

    assert discovery.pairs == (
        TilePair(tmp_path / "tile.png", tmp_path / f"tile{suffix}.png"),
    )


def test_an_image_without_label_is_listed_not_paired(tmp_path):
    write_rgb(tmp_path / "images/a.png")
    write_satlas_label(tmp_path / "labels/a.png", blocks())
    write_rgb(tmp_path / "images/lonely.png")

    discovery = discover_tile_pairs(tmp_path)

    assert [pair.name for pair in discovery.pairs] == ["a.png"]
    assert discovery.unlabelled == (tmp_path / "images/lonely.png",)


def test_hidden_files_such_as_macos_resource_forks_are_ignored(tmp_path):
    write_rgb(tmp_path / "images/a.png")
    write_satlas_label(tmp_path / "labels/a.png", blocks())
    (tmp_path / "images/._a.png").write_bytes(b"\x00\x05\x16\x07 resource fork")

    discovery = discover_tile_pairs(tmp_path)

    assert [pair.name for pair in discovery.pairs] == ["a.png"]
    assert discovery.unlabelled == ()


def test_a_missing_folder_is_refused_naming_it(tmp_path):
    with pytest.raises(TileError, match=r"nowhere: no such directory"):
        discover_tile_pairs(tmp_path / "nowhere")


def test_a_file_given_as_folder_is_refused(tmp_path):
    write_rgb(tmp_path / "a.png")

    with pytest.raises(TileError, match=r"a\.png: not a directory"):
        discover_tile_pairs(tmp_path / "a.png")


def test_a_folder_without_png_tiles_is_refused_with_the_layouts_expected(tmp_path):
    (tmp_path / "notes.txt").write_text("no tiles here")

    with pytest.raises(TileError, match=r"no PNG tiles found \(expected images/"):
        discover_tile_pairs(tmp_path)


def test_two_images_with_the_same_file_name_are_refused(tmp_path):
    write_rgb(tmp_path / "images/a.png")
    write_rgb(tmp_path / "rgb/a.png")

    with pytest.raises(TileError, match=r"has the same file name"):
        discover_tile_pairs(tmp_path)


def test_an_image_with_two_labels_is_refused_naming_both(tmp_path):
    write_rgb(tmp_path / "a.png")
    write_satlas_label(tmp_path / "a_label.png", blocks())
    write_satlas_label(tmp_path / "a_landcover.png", blocks())

    with pytest.raises(TileError, match=r"more than one label.*a_label.*a_landcover"):
        discover_tile_pairs(tmp_path)


# --- reading labels --------------------------------------------------------------


def test_a_satlas_index_label_is_decoded_to_worldcover_codes(tmp_path):
    rgb = write_rgb(tmp_path / "a.png")
    codes = blocks()
    codes[:10, :10] = NODATA
    write_satlas_label(tmp_path / "a_label.png", codes)

    read_rgb, read_codes = read_tile_pair(
        TilePair(tmp_path / "a.png", tmp_path / "a_label.png"), policy=ANYWHERE
    )

    np.testing.assert_array_equal(read_rgb, rgb)
    np.testing.assert_array_equal(read_codes, codes)


def test_a_prompt_palette_label_is_decoded_with_black_as_nodata(tmp_path):
    write_rgb(tmp_path / "a.png")
    codes = blocks()
    codes[:, :5] = BUILT
    codes[-3:, -3:] = NODATA
    write_palette_label(tmp_path / "a_label.png", codes)

    _, read_codes = read_tile_pair(
        TilePair(tmp_path / "a.png", tmp_path / "a_label.png"), policy=ANYWHERE
    )

    np.testing.assert_array_equal(read_codes, codes)


def test_a_palette_mode_label_with_a_grey_palette_is_read_as_satlas_indices():
    indices = np.array([[0, 1], [3, 11]], np.uint8)
    label = Image.fromarray(indices, mode="P")
    label.putpalette([v for i in range(256) for v in (i, i, i)])

    np.testing.assert_array_equal(decode_label(label), satlas_to_worldcover(indices))


def test_a_palette_mode_label_in_prompt_colours_is_read_by_its_colours():
    # Indices in no particular order, as an image editor would save a colour map.
    label = Image.fromarray(np.array([[0, 1], [2, 2]], np.uint8), mode="P")
    label.putpalette([*CLASS_BY_CODE[WATER].prompt_rgb, 0, 0, 0, 0, 192, 0])

    np.testing.assert_array_equal(
        decode_label(label), np.array([[WATER, NODATA], [TREE, TREE]])
    )


def test_transparent_pixels_of_an_rgba_palette_label_are_nodata():
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[...] = (*CLASS_BY_CODE[CROP].prompt_rgb, 255)
    rgba[0, 0] = (12, 34, 56, 0)  # any colour, fully transparent

    codes = decode_label(Image.fromarray(rgba))

    np.testing.assert_array_equal(codes, np.array([[NODATA, CROP], [CROP, CROP]]))


def test_label_kind_satlas_refuses_a_colour_label_with_a_hint():
    label = Image.fromarray(np.zeros((2, 2, 3), np.uint8))

    with pytest.raises(ValueError, match=r"mode RGB; try --label-kind palette"):
        decode_label(label, "satlas")


def test_label_kind_palette_refuses_a_single_channel_label_with_a_hint():
    label = Image.fromarray(np.zeros((2, 2), np.uint8))

    with pytest.raises(ValueError, match=r"mode L; try --label-kind satlas"):
        decode_label(label, "palette")


def test_a_colour_outside_the_prompt_palette_is_refused_naming_file_and_colour(
    tmp_path,
):
    write_rgb(tmp_path / "a.png")
    colours = np.zeros((256, 256, 3), np.uint8)
    colours[0, 0] = (1, 2, 3)
    Image.fromarray(colours).save(tmp_path / "a_label.png")

    with pytest.raises(TileError, match=r"a_label\.png: .*palette: \(1,2,3\)"):
        read_tile_pair(
            TilePair(tmp_path / "a.png", tmp_path / "a_label.png"), policy=ANYWHERE
        )


def test_a_satlas_index_above_11_is_refused_naming_file_and_value(tmp_path):
    write_rgb(tmp_path / "a.png")
    indices = np.zeros((256, 256), np.uint8)
    indices[5, 5] = 12
    Image.fromarray(indices).save(tmp_path / "a_label.png")

    with pytest.raises(TileError, match=r"a_label\.png: .*not Satlas indices: \[12\]"):
        read_tile_pair(
            TilePair(tmp_path / "a.png", tmp_path / "a_label.png"), policy=ANYWHERE
        )


def test_a_label_of_another_size_than_its_image_is_refused(tmp_path):
    write_rgb(tmp_path / "a.png", size=512)
    write_satlas_label(tmp_path / "a_label.png", blocks(256))

    with pytest.raises(
        TileError, match=r"a_label\.png: label is 256x256 but its image a\.png is 512"
    ):
        read_tile_pair(
            TilePair(tmp_path / "a.png", tmp_path / "a_label.png"), policy=ANYWHERE
        )


def test_an_unreadable_png_is_refused_naming_it(tmp_path):
    (tmp_path / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    write_satlas_label(tmp_path / "a_label.png", blocks())

    with pytest.raises(TileError, match=r"a\.png: not a readable PNG"):
        read_tile_pair(
            TilePair(tmp_path / "a.png", tmp_path / "a_label.png"), policy=ANYWHERE
        )


def test_a_tile_neither_256_nor_512_is_refused(tmp_path):
    write_rgb(tmp_path / "a.png", size=300)
    write_satlas_label(tmp_path / "a_label.png", np.zeros((300, 300), np.uint8))

    with pytest.raises(TileError, match=r"a\.png: tile is 300x300, expected 256x256"):
        read_tile_pair(
            TilePair(tmp_path / "a.png", tmp_path / "a_label.png"), policy=ANYWHERE
        )


# --- cutting and footprints ------------------------------------------------------


def test_a_512_tile_is_cut_into_four_quarters_named_row_then_column():
    rgb = np.random.default_rng(1).integers(0, 256, (512, 512, 3), np.uint8)
    codes = blocks(512)

    patches = cut_tile("scene.png", rgb, codes)

    assert [(p.source_name, p.row_in_tile, p.col_in_tile) for p in patches] == [
        ("scene_patch00.png", 0, 0),
        ("scene_patch01.png", 0, 256),
        ("scene_patch10.png", 256, 0),
        ("scene_patch11.png", 256, 256),
    ]
    for patch in patches:
        window = np.s_[
            patch.row_in_tile : patch.row_in_tile + 256,
            patch.col_in_tile : patch.col_in_tile + 256,
        ]
        np.testing.assert_array_equal(patch.rgb, rgb[window])
        np.testing.assert_array_equal(patch.codes, codes[window])
    assert [np.unique(p.codes).tolist() for p in patches] == [
        [TREE], [TREE], [WATER], [CROP]
    ]  # fmt: skip


def test_a_256_tile_is_one_patch_keeping_its_file_name():
    (patch,) = cut_tile("berlin.png", np.zeros((256, 256, 3), np.uint8), blocks())

    assert (patch.source_name, patch.row_in_tile, patch.col_in_tile) == (
        "berlin.png",
        0,
        0,
    )
    assert patch.footprint is None


def test_invalid_fraction_is_the_share_of_nodata_pixels():
    codes = blocks()
    codes[:64, :] = NODATA  # a quarter of the rows

    (patch,) = cut_tile("a.png", np.zeros((256, 256, 3), np.uint8), codes)

    assert patch.invalid_fraction == 0.25


def _mercator_row(latitude: float, zoom: int) -> float:
    """The forward web-mercator projection, to check the inverse used in the code."""
    phi = math.radians(latitude)
    return (1 - math.log(math.tan(phi) + 1 / math.cos(phi)) / math.pi) / 2 * 2**zoom


def test_a_satlas_tile_name_gives_the_zoom_13_web_mercator_footprint():
    footprint = footprint_for_tile_name("4297_2867.png")

    assert footprint is not None
    assert footprint.west == 4297 / 2**13 * 360 - 180
    assert footprint.east == 4298 / 2**13 * 360 - 180
    assert _mercator_row(footprint.north, 13) == pytest.approx(2867, abs=1e-9)
    assert _mercator_row(footprint.south, 13) == pytest.approx(2868, abs=1e-9)
    assert footprint.north == pytest.approx(47.428087, abs=1e-6)  # near Zurich


def test_quarters_of_a_satlas_tile_split_it_in_half_in_mercator_metres():
    tile = web_mercator_footprint(4297, 2867, 13)
    quarters = {
        f"{r}{c}": footprint_for_tile_name(f"4297_2867_patch{r}{c}.png")
        for r in (0, 1)
        for c in (0, 1)
    }

    assert quarters["00"] == web_mercator_footprint(2 * 4297, 2 * 2867, 14)
    assert quarters["11"] == web_mercator_footprint(2 * 4297 + 1, 2 * 2867 + 1, 14)
    assert (quarters["00"].west, quarters["00"].north) == (tile.west, tile.north)
    assert (quarters["11"].east, quarters["11"].south) == (tile.east, tile.south)
    assert quarters["01"].west == quarters["00"].east == (tile.west + tile.east) / 2
    middle = quarters["10"].north
    assert _mercator_row(middle, 13) == pytest.approx(2867.5, abs=1e-9)


def test_cutting_a_satlas_tile_gives_each_quarter_its_footprint():
    patches = cut_tile("4297_2867.png", np.zeros((512, 512, 3), np.uint8), blocks(512))

    assert [p.footprint for p in patches] == [
        web_mercator_footprint(2 * 4297 + c, 2 * 2867 + r, 14)
        for r in (0, 1)
        for c in (0, 1)
    ]


@pytest.mark.parametrize(
    "name", ["berlin.png", "12_34_extra.png", "4297-2867.png", "9000_1.png"]
)
def test_other_names_and_cells_outside_the_zoom_13_grid_have_no_footprint(name):
    assert footprint_for_tile_name(name) is None


def test_read_tile_patches_reads_and_cuts_a_tile_pair(tmp_path):
    write_rgb(tmp_path / "images/4297_2867.png", size=512)
    write_palette_label(tmp_path / "labels/4297_2867.png", blocks(512))
    (pair,) = discover_tile_pairs(tmp_path).pairs

    patches = read_tile_patches(pair, "palette", policy=ANYWHERE)

    assert [p.source_name for p in patches] == [
        f"4297_2867_patch{q}.png" for q in ("00", "01", "10", "11")
    ]


def test_a_256_tile_already_named_as_a_quarter_keeps_the_quarter_footprint():
    (patch,) = cut_tile(
        "4297_2867_patch01.png", np.zeros((256, 256, 3), np.uint8), blocks()
    )

    assert patch.source_name == "4297_2867_patch01.png"
    assert patch.footprint == web_mercator_footprint(2 * 4297 + 1, 2 * 2867, 14)
