"""captions/migrations/0017: patches ingested before the map get their dominant class
from their stored statistics; a patch with no valid pixel gets none."""

from collections.abc import Iterator

import numpy as np
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from captions.landcover import dominant_class, landcover_stats

BEFORE = [("captions", "0016_llm_batches")]
AFTER = [("captions", "0017_patch_dominant_class")]


@pytest.fixture
def latest_schema_afterwards(transactional_db) -> Iterator[None]:
    """The tests after this one expect every app's newest schema."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_existing_patches_get_the_class_with_most_pixels(latest_schema_afterwards):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    scene = apps.get_model("captions", "Scene").objects.create(
        name="before the map", source_kind="geotiff", image_path="a"
    )
    codes = np.full((8, 8), 80, dtype=np.uint8)
    codes[:3] = 10  # 24 tree pixels against 40 water
    water = landcover_stats(codes)
    nodata = landcover_stats(np.zeros((8, 8), dtype=np.uint8))
    patches = apps.get_model("captions", "Patch").objects
    common = dict(
        scene=scene, width=8, height=8, rgb_preview="r.webp",
        landcover_preview="l.png", invalid_fraction=0.0, split="train",
    )  # fmt: skip
    mostly_water = patches.create(row_off=0, col_off=0, landcover=water, **common)
    empty = patches.create(row_off=0, col_off=8, landcover=nodata, **common)

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)

    after = executor.loader.project_state(AFTER).apps
    found = dict(
        after.get_model("captions", "Patch").objects.values_list("pk", "dominant_class")
    )
    assert found == {mostly_water.pk: 80, empty.pk: None}
    assert dominant_class(water) == 80


def test_ties_go_to_the_lower_code():
    codes = np.full((4, 4), 30, dtype=np.uint8)
    codes[:2] = 40
    assert dominant_class(landcover_stats(codes)) == 30
