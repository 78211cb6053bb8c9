"""The order the prompt lists the overall classes in, as ChatEarthNet's recipe does
(DOMAIN.md 4): most pixels first, equal counts in the order the classes first appear
in the patch read row by row. The statistics record that order as ``first_seen``
(captions/landcover.py); migration 0010 backfills it from the previews."""

from collections.abc import Iterator

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from captions.generation.builtin_prompts import builtin_template
from captions.generation.lexicon import class_mentions, scan
from captions.generation.prompts import (
    describe_statistics,
    overall_recipe_order,
    render_messages,
)
from captions.ingest.previews import encode_landcover_png
from captions.landcover import NODATA, REGION_NAMES, landcover_stats
from captions.llm.offline import write_caption
from tests.captions.patch_fixtures import BUILT, CROP, GRASS, TREE, WATER

# --- first_seen -----------------------------------------------------------------------


def test_first_seen_follows_the_rows_so_late_in_row_0_beats_early_in_row_1():
    codes = np.full((3, 4), NODATA, dtype=np.uint8)
    codes[0, 3] = WATER  # the last pixel of row 0
    codes[1, 0] = TREE  # the first pixel of row 1
    codes[2, 0] = CROP
    codes[1, 1] = CROP
    assert landcover_stats(codes)["first_seen"] == [WATER, TREE, CROP]


def test_first_seen_leaves_nodata_out_even_when_it_comes_first():
    codes = np.array([[NODATA, GRASS], [BUILT, GRASS]], dtype=np.uint8)
    stats = landcover_stats(codes)
    assert stats["first_seen"] == [GRASS, BUILT]
    assert landcover_stats(np.zeros((4, 4), dtype=np.uint8))["first_seen"] == []


def test_first_seen_names_each_present_class_once_and_no_other():
    rng = np.random.default_rng(3)
    codes = rng.choice(np.array((NODATA, TREE, WATER, CROP), np.uint8), (50, 70))
    stats = landcover_stats(codes)
    assert sorted(stats["first_seen"]) == sorted(e["code"] for e in stats["overall"])


# --- the prompt's overall list --------------------------------------------------------


def tied_patch() -> np.ndarray:
    """120 px of tree and 120 px of water. Water's first pixel ends row 0; tree
    starts row 1, ahead of water's other pixels and of every one of its own columns'
    water: stored order (lower code first) is tree, water; the recipe's is water,
    tree. Read column by column, tree would come first."""
    codes = np.zeros((16, 16), dtype=np.uint8)
    codes[0, 15] = WATER
    codes[1:, :8] = TREE
    codes[1:, 8:] = WATER
    codes[15, 15] = NODATA
    return codes


def test_equal_counts_go_in_first_appearance_order_not_the_stored_one():
    stats = landcover_stats(tied_patch())
    assert [(e["code"], e["pixels"]) for e in stats["overall"]] == [
        (TREE, 120),
        (WATER, 120),
    ]
    assert stats["first_seen"] == [WATER, TREE]
    assert [e["code"] for e in overall_recipe_order(stats)] == [WATER, TREE]
    pieces = describe_statistics(stats)
    assert pieces["overall"] == "water, tree"
    assert pieces["dominant"].startswith("water ")


def test_the_rendered_prompts_carry_the_recipes_order():
    stats = landcover_stats(tied_patch())
    text_user = render_messages(builtin_template("chatearthnet-text"), stats)[-1]
    assert "from most to least: water, tree." in text_user["content"]
    vision = render_messages(
        builtin_template("chatearthnet-vision"),
        stats,
        landcover_png=b"\x89PNG\r\n\x1a\n",
    )
    legend = vision[-1]["content"][0]["text"]
    assert legend.index(": water, ") < legend.index(": tree, ")


def test_more_pixels_still_come_first_whatever_appears_first():
    codes = tied_patch()
    codes[15, 15] = TREE  # 121 tree, 120 water
    assert describe_statistics(landcover_stats(codes))["overall"] == "tree, water"


def test_statistics_without_first_seen_keep_their_stored_order():
    stats = landcover_stats(tied_patch())
    del stats["first_seen"]
    assert [e["code"] for e in overall_recipe_order(stats)] == [TREE, WATER]
    assert describe_statistics(stats)["overall"] == "tree, water"


def test_a_class_missing_from_first_seen_follows_its_equals_in_stored_order():
    stats = landcover_stats(tied_patch())
    stats["first_seen"] = [WATER]  # hand-made: tree left out
    assert [e["code"] for e in overall_recipe_order(stats)] == [WATER, TREE]
    stats["first_seen"] = [GRASS]  # neither listed: the stored order stays
    assert [e["code"] for e in overall_recipe_order(stats)] == [TREE, WATER]


def test_hand_made_statistics_without_first_seen_render():
    stats = {
        "height": 5, "width": 8, "valid_pixels": 40,
        "overall": [
            {"code": TREE, "name": "tree", "pixels": 20, "fraction": 0.5},
            {"code": WATER, "name": "water", "pixels": 20, "fraction": 0.5},
        ],
        "regions": {name: [] for name in REGION_NAMES},
    }  # fmt: skip
    assert describe_statistics(stats)["overall"] == "tree, water"


@pytest.mark.parametrize("seed", range(8))
def test_the_offline_writer_names_tied_classes_in_the_prompts_order(seed):
    stats = landcover_stats(tied_patch())
    caption = write_caption(stats, seed)
    first_sentence = caption[: caption.index(".") + 1]
    words, hits = scan(first_sentence)
    named = [m.code for m in class_mentions(first_sentence, words, hits)]
    assert named[:2] == [WATER, TREE], first_sentence


# --- migration 0010: first_seen for patches made before ------------------------------

BEFORE = [("captions", "0009_patch_names_and_splits")]
AFTER = [("captions", "0010_landcover_first_seen")]


@pytest.fixture
def latest_schema_afterwards(transactional_db) -> Iterator[None]:
    """The tests after this one expect every app's newest schema."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def old_statistics(codes: np.ndarray) -> dict:
    """The statistics as they were stored before first_seen."""
    stats = landcover_stats(codes)
    del stats["first_seen"]
    return stats


def test_the_migration_backfills_first_seen_from_the_preview_and_skips_the_rest(
    latest_schema_afterwards,
):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    scene = apps.get_model("captions", "Scene").objects.create(
        name="s", source_kind="geotiff", image_path="s.tif"
    )
    patches = apps.get_model("captions", "Patch").objects
    label = tied_patch()
    preview = default_storage.save(
        "landcover/tied.png", ContentFile(encode_landcover_png(label))
    )
    other = np.full((16, 16), CROP, dtype=np.uint8)

    def patch(col_off: int, landcover_preview: str, landcover: dict):
        return patches.create(
            scene=scene, row_off=0, col_off=col_off, width=16, height=16,
            rgb_preview="rgb/x.webp", landcover_preview=landcover_preview,
            landcover=landcover, invalid_fraction=0.0, split="train",
        )  # fmt: skip

    with_preview = patch(0, preview, old_statistics(label))
    missing = patch(16, "landcover/gone.png", old_statistics(label))
    # A preview that is not the label these statistics came from: no order from it.
    mismatched = patch(32, preview, old_statistics(other))

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    patches = (
        executor.loader.project_state(AFTER).apps.get_model("captions", "Patch").objects
    )
    backfilled = patches.get(pk=with_preview.pk).landcover
    assert backfilled["first_seen"] == [WATER, TREE]
    assert backfilled == landcover_stats(label)
    assert "first_seen" not in patches.get(pk=missing.pk).landcover
    assert patches.get(pk=mismatched.pk).landcover == old_statistics(other)

    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    patches = (
        executor.loader.project_state(BEFORE)
        .apps.get_model("captions", "Patch")
        .objects
    )
    assert patches.get(pk=with_preview.pk).landcover == old_statistics(label)
