"""captions/migrations/0009: patches cut from GeoTIFFs before names existed get theirs;
scenes split per patch before blocks say so; imported tiles keep their own names."""

from collections.abc import Iterator

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from captions.ingest.splits import ingested_patch_name

BEFORE = [("captions", "0008_builtin_prompt_templates")]
AFTER = [("captions", "0009_patch_names_and_splits")]


@pytest.fixture
def latest_schema_afterwards(transactional_db) -> Iterator[None]:
    """The tests after this one expect every app's newest schema."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_geotiff_patches_get_their_stable_names_and_tiles_keep_theirs(
    latest_schema_afterwards,
):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    scenes = apps.get_model("captions", "Scene").objects
    geotiff = scenes.create(
        name="S2 Venice/2021", source_kind="geotiff", image_path="a"
    )
    tiles = scenes.create(name="tiles", source_kind="tiles", image_path="b")
    patches = apps.get_model("captions", "Patch").objects
    common = dict(
        width=256, height=256, rgb_preview="r.webp", landcover_preview="l.png",
        landcover={}, invalid_fraction=0.0, split="train",
    )  # fmt: skip
    cut = patches.create(scene=geotiff, row_off=256, col_off=512, **common)
    tile = patches.create(
        scene=tiles, row_off=0, col_off=0, source_name="4353_2917_patch00.png",
        **common,
    )  # fmt: skip

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)

    after = executor.loader.project_state(AFTER).apps
    names = dict(
        after.get_model("captions", "Patch").objects.values_list("pk", "source_name")
    )
    assert names == {
        cut.pk: ingested_patch_name("S2 Venice/2021", 256, 512),
        tile.pk: "4353_2917_patch00.png",
    }
    assert names[cut.pk] == "S2-Venice-2021_r256_c512.png"
    sources = set(
        after.get_model("captions", "Patch").objects.values_list(
            "split_source", flat=True
        )
    )
    assert sources == {"computed"}
    blocks = after.get_model("captions", "Scene").objects.values_list(
        "split_block", flat=True
    )
    assert set(blocks) == {1}  # split per patch before blocks
