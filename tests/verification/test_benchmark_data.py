"""Benchmark data (captions/devdata/benchmark*.py, verification/devdata.py and its
command make_benchmark_data): realistic rows, fast.

Runs on SQLite (bulk_create) and PostgreSQL (COPY): `make test` runs both. The bench
reviewer is the one persona: the annotator `BenchmarkReviews` makes to have reviewed.
"""

import datetime as dt
import json
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone
from PIL import Image

from captions.devdata.benchmark import (
    BenchmarkDataError,
    BenchmarkDataSummary,
    benchmark_data_create,
    status_counts,
)
from captions.devdata.benchmark_run import BenchmarkRun
from captions.generation.checks import check_caption
from captions.ingest.splits import geotiff_split_key, ingested_patch_name, split_for
from captions.landcover import NODATA, landcover_stats
from captions.models import (
    Caption,
    GenerationJob,
    Patch,
    Release,
    ReleaseItem,
    Scene,
)
from verification.devdata import BenchmarkReviews
from verification.distance import word_edit_distance
from verification.models import Revision
from verification.queue import queue_claim_next
from verification.roles import ANNOTATOR
from verification.services import REJECT_REASONS, caption_approve

pytestmark = pytest.mark.django_db

PATCHES, FRACTION, TEMPLATES = 300, 0.4, 12
# 300 captions, 40% verified: 120 of which a fifth edited; 5% of the other 180
# rejected.
EXPECTED = {"approved": 96, "edited": 24, "rejected": 9, "pending": 171}


def make(**overrides) -> BenchmarkDataSummary:
    arguments = {
        "patches": PATCHES,
        "verified_fraction": FRACTION,
        "templates": TEMPLATES,
        "patches_per_scene": 128,  # three scenes: 128 + 128 + 44
        "batch_size": 50,  # several batches per scene, a short last one
    }
    return benchmark_data_create(reviews=BenchmarkReviews(), **(arguments | overrides))


@pytest.fixture
def made() -> BenchmarkDataSummary:
    return make()


def database_rows() -> dict[str, int]:
    return {
        "scenes": Scene.objects.count(),
        "patches": Patch.objects.count(),
        "captions": Caption.objects.count(),
        "revisions": Revision.objects.count(),
        "jobs": GenerationJob.objects.count(),
        "users": get_user_model().objects.count(),
    }


# --- What it makes -----------------------------------------------------------------


def test_status_counts_split_the_verified_fraction_between_approved_and_edited():
    assert status_counts(PATCHES, FRACTION) == EXPECTED
    assert status_counts(10, 0.0) == {
        "approved": 0, "edited": 0, "rejected": 0, "pending": 10,
    }  # fmt: skip
    assert status_counts(173_488, 1.0) == {
        "approved": 138_790, "edited": 34_698, "rejected": 0, "pending": 0,
    }  # fmt: skip


def test_captions_per_status_match_the_verified_fraction(made):
    in_database = {
        status: Caption.objects.filter(status=status).count() for status in EXPECTED
    }
    assert in_database == EXPECTED
    assert made.captions == EXPECTED
    assert made.patches == Patch.objects.count() == PATCHES
    assert Caption.objects.values("patch").distinct().count() == PATCHES


def test_every_verified_fraction_from_none_to_all_is_exact():
    for fraction, name in ((0.0, "none"), (1.0, "all")):
        make(patches=40, verified_fraction=fraction, scene_name=name)
        captions = Caption.objects.filter(patch__scene__name__startswith=f"{name}-")
        verified = captions.filter(status__in=["approved", "edited"]).count()
        assert verified == round(40 * fraction)


def test_statuses_are_spread_over_the_patches_not_in_blocks(made):
    statuses = list(
        Caption.objects.order_by("patch_id").values_list("status", flat=True)
    )
    first_half = statuses[: PATCHES // 2]
    assert 0.25 < first_half.count("approved") / EXPECTED["approved"] < 0.75
    assert 0.25 < first_half.count("pending") / EXPECTED["pending"] < 0.75


def test_every_caption_passes_the_checks_of_its_patch(made):
    captions = Caption.objects.select_related("patch")
    for caption in captions:
        assert check_caption(caption.text, caption.patch.landcover) == []
        assert check_caption(caption.generated_text, caption.patch.landcover) == []
        assert (caption.checks, caption.failed_checks) == ([], 0)
    # Written by the offline writer from each template's statistics, in several
    # wordings: more distinct texts than templates.
    assert captions.values("generated_text").distinct().count() > TEMPLATES


def test_edited_captions_differ_from_what_the_model_wrote_and_others_do_not(made):
    for caption in Caption.objects.all():
        if caption.status == "edited":
            assert caption.text != caption.generated_text
        else:
            assert caption.text == caption.generated_text


def test_statistics_are_landcover_outputs_of_the_label_in_the_preview(made):
    patches = Patch.objects.order_by("id")
    templates = {patch.landcover_preview.name: patch for patch in patches}
    assert len(templates) == TEMPLATES
    for name, patch in templates.items():
        codes = patch.label_codes()
        assert codes.shape == (256, 256)
        assert landcover_stats(codes) == patch.landcover
        invalid = float(np.count_nonzero(codes == NODATA)) / codes.size
        assert patch.invalid_fraction == pytest.approx(invalid, abs=1e-6)
        # Every patch of a template holds that template's statistics.
        assert all(
            other.landcover == patch.landcover
            for other in patches.filter(landcover_preview=name)
        )


def test_previews_are_real_files_written_once_per_template(made, media_root: Path):
    names = set(Patch.objects.values_list("rgb_preview", "landcover_preview"))
    assert len(names) == TEMPLATES
    for rgb_name, landcover_name in names:
        with Image.open(media_root / rgb_name) as rgb:
            assert (rgb.size, rgb.mode) == ((256, 256), "RGB")
        with Image.open(media_root / landcover_name) as landcover:
            assert (landcover.size, landcover.mode) == ((256, 256), "P")
    folder = media_root / made.media_dir
    assert len(list(folder.iterdir())) == 2 * TEMPLATES


def test_patches_lie_on_a_grid_of_footprints_inside_their_scenes(made):
    step = 256 / 12000
    scenes = list(Scene.objects.order_by("name"))
    assert [scene.name for scene in scenes] == ["bench-001", "bench-002", "bench-003"]
    assert [scene.patches_total for scene in scenes] == [128, 128, 44]
    for scene in scenes:
        assert scene.status == Scene.Status.READY
        for patch in scene.patches.all():
            assert patch.east - patch.west == pytest.approx(step)
            assert patch.north - patch.south == pytest.approx(step)
            assert scene.west - 1e-9 <= patch.west < patch.east <= scene.east + 1e-9
            assert scene.south - 1e-9 <= patch.south < patch.north <= scene.north + 1e-9
            column = patch.col_off // 256
            assert patch.west == pytest.approx(scene.west + column * step)
            key = geotiff_split_key(
                scene.name, patch.row_off, patch.col_off, patch_size=256,
                block=scene.split_block,
            )  # fmt: skip
            assert patch.split == split_for(key)
            assert patch.source_name == ingested_patch_name(
                scene.name, patch.row_off, patch.col_off
            )
    wests = {scene.west for scene in scenes}
    assert len(wests) == 3  # each scene in a cell of its own
    assert set(Patch.objects.values_list("split", flat=True)) == {
        "train", "val", "test",
    }  # fmt: skip


def test_reviewed_fields_and_one_revision_only_on_reviewed_captions(made):
    reviewer = get_user_model().objects.get(username="bench-reviewer")
    assert reviewer.groups.filter(name=ANNOTATOR).exists()
    assert not reviewer.has_usable_password()
    now = timezone.now()
    actions = {"approved": "approve", "edited": "edit", "rejected": "reject"}
    for caption in Caption.objects.prefetch_related("revisions"):
        revisions = list(caption.revisions.all())
        if caption.status == "pending":
            assert caption.reviewed_by_id is None
            assert caption.reviewed_at is None
            assert caption.version == 1
            assert revisions == []
            continue
        assert caption.reviewed_by_id == reviewer.pk
        assert caption.reviewed_at is not None
        assert now - dt.timedelta(days=14, seconds=60) < caption.reviewed_at <= now
        assert caption.version == 2
        [revision] = revisions
        assert revision.user_id == reviewer.pk
        assert revision.action == actions[caption.status]
        assert (revision.status_before, revision.status_after) == (
            "pending",
            caption.status,
        )
        assert revision.text_before == caption.generated_text
        assert revision.text_after == caption.text
        assert revision.version_after == caption.version
        assert revision.created_at == caption.reviewed_at
        assert revision.edit_distance == word_edit_distance(
            caption.generated_text, caption.text
        )
        assert (revision.edit_distance > 0) == (caption.status == "edited")
        assert (revision.reason in REJECT_REASONS) == (caption.status == "rejected")
    assert made.revisions == Revision.objects.count() == PATCHES - EXPECTED["pending"]


def test_a_finished_offline_job_with_the_builtin_text_prompt_made_the_captions(made):
    job = GenerationJob.objects.get()
    assert job.pk == made.job_id
    assert (job.status, job.backend, job.model) == ("finished", "offline", "offline-1")
    assert (job.template.name, job.template.is_builtin) == ("chatearthnet-text", True)
    assert job.total == job.done == PATCHES
    assert job.failed == 0
    assert job.started_at <= job.finished_at
    assert sorted(job.selection["scene_ids"]) == sorted(
        Scene.objects.values_list("id", flat=True)
    )
    captions = Caption.objects.filter(job=job)
    assert captions.count() == PATCHES
    assert job.tokens_in == sum(captions.values_list("prompt_tokens", flat=True))
    assert job.tokens_out == sum(captions.values_list("completion_tokens", flat=True))
    caption = captions.first()
    assert caption.template_id == job.template_id
    assert [message["role"] for message in caption.messages] == ["system", "user"]
    assert caption.finish_reason == "stop"


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data():
    def contents() -> list[tuple]:
        return list(
            Caption.objects.order_by(
                "patch__scene__name", "patch__row_off", "patch__col_off"
            ).values_list("status", "text", "patch__landcover", "patch__split")
        )

    make(patches=60, seed=7)
    first = contents()
    make(patches=60, seed=7, replace=True)
    assert contents() == first
    make(patches=60, seed=8, replace=True)
    assert contents() != first


def test_progress_is_reported_after_every_batch() -> None:
    seen: list[tuple[int, int]] = []
    make(
        patches=120,
        batch_size=50,
        patches_per_scene=100,
        on_progress=lambda *p: seen.append(p),
    )
    assert seen == [(50, 120), (100, 120), (120, 120)]


def test_anna_reviews_the_benchmark_queue_with_the_real_review_service(annotator):
    """Anna annotates: the pending benchmark captions are her queue."""
    make()
    caption = queue_claim_next(user=annotator)
    assert caption is not None
    assert (caption.status, caption.version) == ("pending", 1)
    approved = caption_approve(
        caption_id=caption.pk, user=annotator, version=caption.version
    )
    assert (approved.status, approved.reviewed_by) == ("approved", annotator)
    assert Caption.objects.filter(status="approved").count() == EXPECTED["approved"] + 1


# --- All or nothing ----------------------------------------------------------------


def test_a_run_that_fails_half_way_leaves_no_rows_and_no_files(monkeypatch, media_root):
    def fail(run) -> None:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(BenchmarkRun, "finish", fail)
    with pytest.raises(RuntimeError, match="disk is full"):
        make()
    assert database_rows() == dict.fromkeys(database_rows(), 0)
    assert not any((media_root / "benchmark").iterdir())


def test_replace_deletes_the_earlier_run_with_its_job_and_previews(media_root: Path):
    first = make(patches=50)
    second = make(patches=80, replace=True)
    assert Patch.objects.count() == 80
    assert list(GenerationJob.objects.values_list("id", flat=True)) == [second.job_id]
    assert not (media_root / first.media_dir).exists()
    assert (media_root / second.media_dir).is_dir()


# --- The command -------------------------------------------------------------------


def test_command_makes_the_data_and_prints_a_json_summary():
    out = StringIO()
    call_command(
        "make_benchmark_data", "--patches", "30", "--verified-fraction", "0.5",
        "--seed", "3", "--scene-name", "cmd", "--templates", "4", "--json",
        "--no-progress", stdout=out,
    )  # fmt: skip
    summary = json.loads(out.getvalue())
    assert summary["scenes"] == ["cmd-001"]
    assert summary["patches"] == 30
    assert summary["captions"] == {
        "approved": 12, "edited": 3, "rejected": 1, "pending": 14,
    }  # fmt: skip
    assert summary["revisions"] == 16
    assert summary["rows_per_s"] > 0
    assert Scene.objects.get().name == "cmd-001"


def test_command_without_json_says_what_it_made_and_how_fast():
    out = StringIO()
    call_command(
        "make_benchmark_data", "--patches", "10", "--verified-fraction", "1",
        "--templates", "2", "--no-progress", stdout=out,
    )  # fmt: skip
    assert "10 patches in 1 scene(s) bench-001" in out.getvalue()
    assert "8 approved, 2 edited, 0 rejected, 0 pending" in out.getvalue()
    assert "rows/s" in out.getvalue()


VALID = ["--patches", "10", "--verified-fraction", "0.5"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--patches", "0", "--verified-fraction", "0.5"],
            "--patches must be at least 1",
        ),
        (
            ["--patches", "-5", "--verified-fraction", "0.5"],
            "--patches must be at least 1",
        ),
        (["--patches", "10", "--verified-fraction", "1.5"], "within 0..1, got 1.5"),
        (["--patches", "10", "--verified-fraction", "-0.1"], "within 0..1, got -0.1"),
        (["--patches", "10", "--verified-fraction", "nan"], "within 0..1, got nan"),
        ([*VALID, "--scene-name", "../x"], "--scene-name '../x' must be"),
        ([*VALID, "--scene-name", ""], "--scene-name '' must be"),
        ([*VALID, "--templates", "0"], "--templates must be within 1..4096"),
        (
            [*VALID, "--patches-per-scene", "20000"],
            "--patches-per-scene must be within 1..16384",
        ),
        ([*VALID, "--batch-size", "0"], "--batch-size must be at least 1"),
        (["--patches", "ten", "--verified-fraction", "0.5"], "invalid int value"),
    ],
)
def test_command_refuses_bad_arguments_clearly_and_creates_nothing(
    arguments, message, media_root: Path
):
    with pytest.raises(CommandError, match=message.replace(".", r"\.")):
        call_command("make_benchmark_data", *arguments, "--no-progress")
    assert database_rows() == dict.fromkeys(database_rows(), 0)
    assert not (media_root / "benchmark").exists()


def test_command_refuses_a_scene_name_taken_by_an_earlier_run_unless_replace():
    make(patches=20, scene_name="taken")
    before = database_rows()
    with pytest.raises(CommandError, match=r"scenes of --scene-name 'taken' exist"):
        call_command(
            "make_benchmark_data", "--patches", "5", "--verified-fraction", "0",
            "--scene-name", "taken", "--no-progress",
        )  # fmt: skip
    assert database_rows() == before
    # Another name whose scenes merely start the same is free.
    call_command(
        "make_benchmark_data", "--patches", "5", "--verified-fraction", "0",
        "--scene-name", "take", "--templates", "2", "--no-progress", stdout=StringIO(),
    )  # fmt: skip
    assert Scene.objects.filter(name="take-001").exists()


def test_replace_never_deletes_a_scene_that_make_benchmark_data_did_not_make():
    """Alice ingested a real GeoTIFF scene and happened to call it bench-001."""
    Scene.objects.create(
        name="bench-001", source_kind="geotiff", image_path="/data/alice.tif",
        status="ready",
    )  # fmt: skip
    with pytest.raises(CommandError, match="'bench-001' was not made by"):
        call_command(
            "make_benchmark_data", "--patches", "5", "--verified-fraction", "0",
            "--replace", "--no-progress",
        )  # fmt: skip
    assert list(Scene.objects.values_list("name", "image_path")) == [
        ("bench-001", "/data/alice.tif")
    ]
    assert Patch.objects.count() == 0


def test_replace_refuses_scenes_whose_captions_a_release_holds(media_root: Path):
    first = make(patches=20)
    caption = Caption.objects.filter(status="approved").earliest("id")
    release = Release.objects.create(number=1, status=Release.Status.DONE)
    ReleaseItem.objects.create(
        release=release, caption=caption, split=caption.patch.split,
        status=caption.status, text=caption.text,
    )  # fmt: skip
    before = database_rows()
    with pytest.raises(CommandError, match="'bench-001' cannot be replaced"):
        call_command(
            "make_benchmark_data", "--patches", "5", "--verified-fraction", "0",
            "--replace", "--no-progress",
        )  # fmt: skip
    assert database_rows() == before
    assert (media_root / first.media_dir).is_dir()
    assert len(list((media_root / "benchmark").iterdir())) == 1


def test_service_errors_are_benchmark_data_errors():
    with pytest.raises(BenchmarkDataError):
        benchmark_data_create(
            patches=1, verified_fraction=2.0, reviews=BenchmarkReviews()
        )
