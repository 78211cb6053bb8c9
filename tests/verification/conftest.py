import numpy as np
import pytest
from django.contrib.auth import get_user_model

from captions.generation.checks import check_caption
from captions.landcover import landcover_stats
from captions.models import Caption, Patch, Scene
from verification.roles import ANNOTATOR, CONSUMER, CURATOR, ensure_groups


def make_user(username: str, role: str | None):
    user = get_user_model().objects.create_user(username, password=f"pw-{username}-123")
    if role:
        user.groups.add(ensure_groups()[role])
        user.is_staff = role == CURATOR
        user.save()
    return user


@pytest.fixture
def alice(db):
    """Alice annotates."""
    return make_user("alice", ANNOTATOR)


@pytest.fixture
def bob(db):
    """Bob annotates too, beside Alice."""
    return make_user("bob", ANNOTATOR)


@pytest.fixture
def carol(db):
    """Carol is a curator."""
    return make_user("carol", CURATOR)


@pytest.fixture
def dave(db):
    """Dave consumes the dataset through the API; he does not review."""
    return make_user("dave", CONSUMER)


TEXT = "Tree cover fills the top of the image, and water lies in the bottom half."


def make_captions(count: int, *, failing: int = 0) -> list[Caption]:
    """Pending captions on fresh patches; the first `failing` have failed checks."""
    scene, _ = Scene.objects.get_or_create(
        name="review-scene",
        defaults={"source_kind": "geotiff", "image_path": "/r.tif", "status": "ready"},
    )
    codes = np.full((64, 64), 10, np.uint8)
    codes[32:] = 80
    stats = landcover_stats(codes)
    start = Patch.objects.filter(scene=scene).count()
    patches = Patch.objects.bulk_create(
        [
            Patch(
                scene=scene, row_off=(start + n) * 64, col_off=0, width=64, height=64,
                rgb_preview=f"r/{n}.webp", landcover_preview=f"r/{n}.png",
                landcover=stats, invalid_fraction=0.0, split="train",
            )
            for n in range(count)
        ]
    )  # fmt: skip
    findings = check_caption(TEXT, stats)
    captions = [
        Caption(
            patch=patch, source="test", generated_text=TEXT, text=TEXT,
            checks=findings + ([{"check": "x", "message": "x", "span": None}]
                               if n < failing else []),
            failed_checks=len(findings) + (1 if n < failing else 0),
        )
        for n, patch in enumerate(patches)
    ]  # fmt: skip
    return Caption.objects.bulk_create(captions)
