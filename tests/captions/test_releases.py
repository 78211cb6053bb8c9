"""Releases: create, freeze, build, rebuild byte for byte, download, admin.

Anna annotates, Cora curates, Conrad consumes the dataset (tests/conftest.py); an
anonymous caller sends no token. Only curators create releases; consumers and
curators read and download them.
"""

import csv
import datetime as dt
import hashlib
import io
import json
from pathlib import Path

import pytest
from celery.exceptions import Retry
from django.core.exceptions import PermissionDenied
from django.db.models import ProtectedError
from django.test import Client
from django.utils import timezone

from captions import tasks
from captions.export import release_files, releases
from captions.export.filters import ExportFilters, export_filters_from
from captions.models import Caption, Release, ReleaseItem
from tests.api_data import token_client
from tests.captions.export_data import TRICKY_TEXT
from tests.conftest import retries_recorded, wait_for
from verification import services

DATA_FILES = sorted(
    [
        f"{prefix}{split}{suffix}"
        for split in ("train", "val", "test")
        for prefix, suffix in (
            ("", ".jsonl"), ("", ".csv"), ("chatearthnet_", ".json"),
            ("llava_", ".json"),
        )
    ]
    + ["README.md", "coverage.png"]
)  # fmt: skip


def create(user, *, django_capture_on_commit_callbacks, **filters) -> Release:
    with django_capture_on_commit_callbacks(execute=True):
        return releases.release_create(
            filters=export_filters_from(filters), user=user, description="First cut."
        )


def built(user, capture, **filters) -> Release:
    release = create(user, django_capture_on_commit_callbacks=capture, **filters)
    return releases.release_build(release_id=release.pk)


@pytest.fixture
def queued_release(
    export_world, curator, enqueued_builds, releases_root,
    django_capture_on_commit_callbacks,
) -> Release:  # fmt: skip
    """Cora's first release of the export world, queued and not built yet."""
    return create(
        curator, django_capture_on_commit_callbacks=django_capture_on_commit_callbacks
    )


@pytest.fixture
def done_release(
    export_world, curator, enqueued_builds, releases_root,
    django_capture_on_commit_callbacks,
) -> Release:  # fmt: skip
    """Cora's first release of the export world, built into `releases_root`."""
    return built(curator, django_capture_on_commit_callbacks)


def files_of(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


# --- Create -------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_curator_creates_numbered_releases_built_after_commit(
    export_world, curator, enqueued_builds, django_capture_on_commit_callbacks
):
    first = create(
        curator, django_capture_on_commit_callbacks=django_capture_on_commit_callbacks
    )
    second = create(
        curator, django_capture_on_commit_callbacks=django_capture_on_commit_callbacks,
        split="train",
    )  # fmt: skip
    assert (first.number, second.number) == (1, 2)
    assert first.status == Release.Status.QUEUED
    assert first.created_by == curator
    assert second.filters == {
        "status": None, "split": "train", "scene": None, "job": None,
        "reviewed_since": None,
    }  # fmt: skip
    assert enqueued_builds == [(first.pk, False), (second.pk, False)]


@pytest.mark.django_db
def test_only_curators_create_releases(export_world, annotator, consumer):
    for user in (annotator, consumer):
        with pytest.raises(PermissionDenied):
            releases.release_create(filters=ExportFilters(), user=user)
    assert not Release.objects.exists()


@pytest.mark.django_db
def test_a_release_of_nothing_is_refused(export_world, curator):
    with pytest.raises(release_files.ReleaseError, match="no verified pairs"):
        releases.release_create(
            filters=export_filters_from({"split": "test"}), user=curator
        )


# --- Build --------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_build_writes_images_every_format_per_split_card_and_manifest(
    done_release, releases_root, export_world, media_root
):
    assert done_release.status == Release.Status.DONE, done_release.error
    assert (done_release.pairs_total, done_release.images_total) == (6, 5)
    assert (done_release.pairs_done, done_release.images_done) == (6, 5)
    folder = releases_root / "1"
    files = files_of(folder)
    images = sorted(name for name in files if name.startswith("images/"))
    assert sorted(set(files) - set(images)) == sorted([*DATA_FILES, "manifest.json"])
    # Each verified patch's preview, once, byte for byte, under its export path.
    verified_patches = {caption.patch for caption in export_world.verified}
    assert len(images) == len(verified_patches) == 5
    for patch in verified_patches:
        extension = patch.rgb_preview.name.rsplit(".", 1)[1]
        copied = files[f"images/{patch.scene_id}/{patch.pk}.{extension}"]
        assert copied == (Path(media_root) / patch.rgb_preview.name).read_bytes()
    train = [json.loads(line) for line in files["train.jsonl"].splitlines()]
    assert [row["id"] for row in train] == export_world.ids("p0a", "p0b", "p4i", "p7i")
    assert all(row["image"] in files for row in train)
    assert train[0]["image_url"] == "/api/v1/releases/1/files/" + train[0]["image"]
    assert files["test.jsonl"] == b""  # every split has its files, even an empty one
    assert json.loads(files["chatearthnet_test.json"]) == []
    val = json.loads(files["llava_val.json"])
    assert [entry["id"] for entry in val] == [
        str(i) for i in export_world.ids("p2a", "p5i")
    ]
    rows = list(csv.reader(io.StringIO(files["train.csv"].decode(), newline="")))
    assert rows[0] == ["id", "image", "caption", "status", "split"]
    assert TRICKY_TEXT in [row[2] for row in rows]


@pytest.mark.django_db
def test_the_manifest_holds_a_sha256_for_every_other_file(done_release, releases_root):
    folder = releases_root / str(done_release.number)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["release"] == 1
    assert manifest["pairs"] == 6 and manifest["images"] == 5
    assert manifest["frozen_at"].endswith("Z")
    listed = {entry["path"]: entry for entry in manifest["files"]}
    on_disk = files_of(folder)
    on_disk.pop("manifest.json")
    assert set(listed) == set(on_disk)
    for path, content in on_disk.items():
        assert listed[path]["sha256"] == hashlib.sha256(content).hexdigest(), path
        assert listed[path]["bytes"] == len(content)
    # The row keeps the data files and the manifest's own hash; images as a count.
    manifest_bytes = (folder / "manifest.json").read_bytes()
    assert (
        done_release.manifest["manifest_sha256"]
        == hashlib.sha256(manifest_bytes).hexdigest()
    )
    assert [entry["path"] for entry in done_release.manifest["files"]] == DATA_FILES
    assert done_release.manifest["images"]["count"] == 5


@pytest.mark.django_db
def test_the_dataset_card_counts_splits_statuses_classes_edits_and_models(
    done_release, releases_root
):
    card = (releases_root / str(done_release.number) / "README.md").read_text()
    assert card.startswith("---\npretty_name: ChatEarthNet Studio release 1\n")
    assert "  - split: train\n    path: train.jsonl\n" in card
    assert "  - split: test" not in card  # no pairs: not a split to load
    assert "First cut." in card
    assert "| train | 2 | 2 | 4 | 3 |" in card
    assert "| val | 1 | 1 | 2 | 2 |" in card
    assert "| test | 0 | 0 | 0 | 0 |" in card
    assert "| **all** | 3 | 3 | 6 | 5 |" in card
    assert "| water | 80 |" in card and "| moss | 100 | 0.00 % | 0 |" in card
    assert "Edit rate: 3 of 6 pairs edited by a reviewer (50.0 %)." in card
    assert "Mean edit distance:" in card and "over the 6 pairs" in card
    assert "| offline-1 | chatearthnet-text | 1 | 3 |" in card
    assert "(imported)" in card
    assert "frozen at " + done_release.frozen_at.strftime("%Y-%m-%d") in card


@pytest.mark.django_db
def test_hugging_face_datasets_loads_a_release_folder(
    done_release, releases_root, tmp_path, monkeypatch
):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    import datasets

    loaded = datasets.load_dataset(
        str(releases_root / str(done_release.number)), cache_dir=str(tmp_path / "hf")
    )
    assert sorted(loaded) == ["train", "val"]  # the card's YAML names the splits
    assert loaded["train"].num_rows == 4 and loaded["val"].num_rows == 2
    assert "generated_caption" in loaded["train"].column_names


# --- Frozen, immutable, byte for byte ------------------------------------------------


@pytest.mark.django_db
def test_a_rebuild_gives_the_same_manifest_and_bytes_whatever_was_reviewed_since(
    done_release, releases_root, export_world, curator
):
    folder = releases_root / str(done_release.number)
    before = files_of(folder)
    # After the release: an approved caption is edited, a pending one approved, an
    # edited one rejected.
    captions = export_world.captions
    services.caption_edit(
        caption_id=captions["p0a"].pk, user=curator, version=captions["p0a"].version,
        text="Changed after the release.",
    )  # fmt: skip
    services.caption_approve(
        caption_id=captions["p3a"].pk, user=curator, version=captions["p3a"].version
    )
    services.caption_reject(
        caption_id=captions["p2a"].pk, user=curator, version=captions["p2a"].version,
        reason="cut off",
    )  # fmt: skip
    (folder / "train.jsonl").write_text("damaged")  # a file lost or corrupted
    (folder / "images").rename(folder.parent / "images-lost")
    tasks.build_release.run(done_release.pk, rebuild=True)
    assert files_of(folder) == before
    done_release.refresh_from_db()
    assert done_release.status == Release.Status.DONE
    assert not [p for p in releases_root.iterdir() if p.name.startswith(".")]


@pytest.mark.django_db
def test_a_rebuild_that_would_differ_is_refused_and_leaves_the_files(
    done_release, releases_root
):
    folder = releases_root / str(done_release.number)
    before = files_of(folder)
    ReleaseItem.objects.filter(release=done_release).update(text="Tampered with.")
    result = tasks.build_release.run(done_release.pk, rebuild=True)
    assert "rebuilt differently" in result["error"]
    assert files_of(folder) == before
    done_release.refresh_from_db()
    assert done_release.status == Release.Status.DONE


@pytest.mark.django_db
def test_two_releases_of_the_same_pairs_differ_only_in_number_and_time(
    export_world, curator, enqueued_builds, releases_root,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    first = built(curator, django_capture_on_commit_callbacks)
    second = built(curator, django_capture_on_commit_callbacks)
    one, two = files_of(releases_root / "1"), files_of(releases_root / "2")
    assert set(one) == set(two)
    for name in one:
        if name.startswith("images/") or name.endswith(".csv"):
            assert one[name] == two[name], name
    assert first.manifest["images"] == second.manifest["images"]


@pytest.mark.django_db
def test_the_task_is_safe_to_run_twice(queued_release, releases_root):
    assert tasks.build_release.run(queued_release.pk) == {
        "release_id": queued_release.pk,
        "status": "done",
    }
    manifest = (releases_root / "1" / "manifest.json").stat()
    assert tasks.build_release.run(queued_release.pk)["status"] == "done"
    assert (releases_root / "1" / "manifest.json").stat().st_mtime_ns == (
        manifest.st_mtime_ns
    )
    assert ReleaseItem.objects.filter(release=queued_release).count() == 6


@pytest.mark.django_db
def test_a_release_being_built_elsewhere_is_left_to_it_and_tried_again_later(
    queued_release, releases_root, monkeypatch
):
    Release.objects.filter(pk=queued_release.pk).update(status=Release.Status.BUILDING)
    asked = retries_recorded(tasks.build_release, monkeypatch)
    with pytest.raises(Retry):
        tasks.build_release.run(queued_release.pk)
    assert [options["countdown"] for options in asked] == [
        releases.STALE_BUILD_AFTER.total_seconds()
    ]
    queued_release.refresh_from_db()
    assert queued_release.status == Release.Status.BUILDING
    assert not releases_root.exists() or not any(releases_root.iterdir())


@pytest.mark.django_db
def test_a_build_abandoned_by_a_dead_worker_is_taken_over(
    queued_release, releases_root
):
    long_ago = timezone.now() - releases.STALE_BUILD_AFTER - dt.timedelta(seconds=1)
    Release.objects.filter(pk=queued_release.pk).update(
        status=Release.Status.BUILDING, updated_at=long_ago
    )
    assert tasks.build_release.run(queued_release.pk)["status"] == "done"
    assert (releases_root / "1" / "manifest.json").is_file()


@pytest.mark.django_db
def test_a_missing_preview_fails_the_build_with_its_name_and_a_retry_finishes_it(
    queued_release, releases_root, media_root, export_world, enqueued_builds,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    patch = export_world.patches[2]
    preview = Path(media_root) / patch.rgb_preview.name
    content = preview.read_bytes()
    preview.unlink()
    result = tasks.build_release.run(queued_release.pk)
    queued_release.refresh_from_db()
    assert queued_release.status == Release.Status.FAILED
    assert f"images/{patch.scene_id}/{patch.pk}.webp is missing" in queued_release.error
    assert "error" in result
    assert not any(releases_root.iterdir())  # no half-built release left behind
    preview.write_bytes(content)
    with django_capture_on_commit_callbacks(execute=True):
        assert releases.release_retry(release_id=queued_release.pk)
    assert enqueued_builds[-1] == (queued_release.pk, False)
    tasks.build_release.run(queued_release.pk)
    queued_release.refresh_from_db()
    assert queued_release.status == Release.Status.DONE
    assert queued_release.pairs_total == 6  # the pairs frozen the first time


@pytest.mark.django_db
def test_a_caption_in_a_release_cannot_be_deleted(
    export_world, curator, enqueued_builds, django_capture_on_commit_callbacks
):
    built(curator, django_capture_on_commit_callbacks)
    with pytest.raises(ProtectedError):
        export_world.job_b.delete()
    assert Caption.objects.filter(pk=export_world.captions["p0b"].pk).exists()


@pytest.mark.worker
def test_a_real_worker_builds_a_release(
    start_worker, export_world, curator, releases_root
):
    start_worker(RELEASES_ROOT=str(releases_root))
    release = releases.release_create(filters=ExportFilters(), user=curator)

    def status() -> str:
        release.refresh_from_db()
        return release.status

    wait_for(lambda: status() in ("done", "failed"), what="the worker to build")
    assert release.status == Release.Status.DONE, release.error
    folder = releases_root / str(release.number)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert len(manifest["files"]) == len(DATA_FILES) + 5
    assert (
        hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()
        == (release.manifest["manifest_sha256"])
    )


# --- API --------------------------------------------------------------------------


@pytest.fixture
def callers(annotator, curator, consumer) -> dict:
    return {"anonymous": None, "annotator": annotator, "curator": curator,
            "consumer": consumer}  # fmt: skip


READ = {"anonymous": 401, "annotator": 403, "consumer": 200, "curator": 200}
CREATE = {"anonymous": 401, "annotator": 403, "consumer": 403, "curator": 202}


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["anonymous", "annotator", "consumer", "curator"])
def test_each_role_gets_what_it_may_from_every_release_endpoint(
    role, callers, done_release, enqueued_builds
):
    client = token_client(callers[role])
    got = {
        "list": client.get("/api/v1/releases/").status_code,
        "detail": client.get("/api/v1/releases/1/").status_code,
        "card": client.get("/api/v1/releases/1/files/README.md").status_code,
        "create": client.post("/api/v1/releases/", {}, format="json").status_code,
    }
    assert got == {
        "list": READ[role], "detail": READ[role], "card": READ[role],
        "create": CREATE[role],
    }  # fmt: skip


@pytest.mark.django_db
def test_a_curator_creates_a_release_through_the_api(
    export_world, curator, enqueued_builds, django_capture_on_commit_callbacks
):
    client = token_client(curator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/releases/",
            {"split": "train", "status": "approved", "description": "Train only."},
            format="json",
        )
    assert response.status_code == 202
    assert response["Location"] == "http://testserver/api/v1/releases/1/"
    assert response.json()["status"] == "queued"
    assert response.json()["filters"]["split"] == "train"
    release = Release.objects.get()
    assert enqueued_builds == [(release.pk, False)]
    assert release.description == "Train only."


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"status": "pending"}, "status"),
        ({"split": "holdout"}, "split"),
        ({"scene": "abc"}, "scene"),
        ({"scene": 999999}, "no scene with id 999999"),
        ({"reviewed_since": "tomorrow"}, "ISO 8601"),
        ({"split": "test"}, "no verified pairs"),
        ({"splits": ["train"]}, "splits: unknown key"),
    ],
)
def test_bad_release_requests_get_a_json_400(
    export_world, curator, enqueued_builds, payload, message
):
    response = token_client(curator).post("/api/v1/releases/", payload, format="json")
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert not Release.objects.exists()


@pytest.mark.django_db
def test_the_list_and_detail_show_status_progress_and_manifest(
    done_release, consumer, enqueued_builds
):
    client = token_client(consumer)
    listed = client.get("/api/v1/releases/").json()
    assert [release["number"] for release in listed["results"]] == [1]
    detail = client.get("/api/v1/releases/1/").json()
    assert detail["status"] == "done"
    assert (detail["pairs_done"], detail["pairs_total"]) == (6, 6)
    assert detail["created_by"] == "cora"
    assert detail["files_url"] == "http://testserver/api/v1/releases/1/files/"
    assert detail["manifest"]["manifest_sha256"]
    assert client.get("/api/v1/releases/?sort=number").status_code == 400


@pytest.mark.django_db
def test_release_files_download_with_their_type(done_release, consumer, releases_root):
    client = token_client(consumer)
    base = "/api/v1/releases/1/files/"
    card = client.get(base + "README.md")
    assert card["Content-Type"] == "text/markdown"
    assert "attachment" in card["Content-Disposition"]
    jsonl = client.get(base + "train.jsonl")
    assert jsonl["Content-Type"] == "application/x-ndjson"
    first = json.loads(b"".join(jsonl.streaming_content).splitlines()[0])
    image = client.get(first["image_url"])
    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"
    assert (
        b"".join(image.streaming_content)
        == (releases_root / "1" / first["image"]).read_bytes()
    )
    manifest = client.get(base + "manifest.json")
    assert manifest["Content-Type"] == "application/json"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/releases/7/",
        "/api/v1/releases/7/files/README.md",
        "/api/v1/releases/99999999999999999999999/",
        "/api/v1/releases/one/",
        "/api/v1/releases/1/files/nope.txt",
        "/api/v1/releases/1/files/../1/README.md",
        "/api/v1/releases/1/files/%2e%2e/%2e%2e/secret",
        "/api/v1/releases/1/files/images",
        "/api/v1/releases/1/files/.images.tsv",
    ],
)
def test_unknown_releases_and_files_are_a_json_404(done_release, consumer, url):
    response = token_client(consumer).get(url)
    assert response.status_code == 404
    assert "error" in response.json()


@pytest.mark.django_db
def test_files_of_a_release_not_built_yet_are_a_409(
    export_world, curator, consumer, enqueued_builds, django_capture_on_commit_callbacks
):
    create(
        curator, django_capture_on_commit_callbacks=django_capture_on_commit_callbacks
    )
    response = token_client(consumer).get("/api/v1/releases/1/files/README.md")
    assert response.status_code == 409
    assert "is queued" in response.json()["error"]


# --- Admin --------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_curator_creates_a_release_in_the_admin_and_watches_it(
    export_world, curator, enqueued_builds, django_capture_on_commit_callbacks
):
    client = Client()
    client.force_login(curator)
    changelist = client.get("/admin/captions/release/")
    assert changelist.status_code == 200
    assert b"/admin/captions/release/create/" in changelist.content
    assert client.get("/admin/captions/release/create/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/captions/release/create/",
            {"split": "val", "description": "Validation set."},
        )
    release = Release.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/captions/release/{release.pk}/change/"
    assert enqueued_builds == [(release.pk, False)]
    page = client.get(response["Location"])
    assert b"data-release-progress-url" in page.content
    assert b"waiting for a worker" in page.content
    progress = client.get(f"/admin/captions/release/{release.pk}/progress/").json()
    assert progress["status"] == "queued"
    releases.release_build(release_id=release.pk)
    page = client.get(response["Location"])
    assert b"/api/v1/releases/1/files/README.md" in page.content
    assert b"2 images under" in page.content


@pytest.mark.django_db
def test_the_admin_form_says_why_a_release_cannot_be_made(export_world, curator):
    client = Client()
    client.force_login(curator)
    response = client.post("/admin/captions/release/create/", {"split": "test"})
    assert response.status_code == 200
    assert b"no verified pairs match these filters" in response.content
    assert not Release.objects.exists()


@pytest.mark.django_db
def test_only_curators_reach_the_release_admin(
    export_world, annotator, consumer, django_user_model
):
    staff = django_user_model.objects.create_user("sam", is_staff=True)
    for user in (annotator, consumer, staff):
        client = Client()
        client.force_login(user)
        response = client.get("/admin/captions/release/create/")
        assert response.status_code in (302, 403), user


@pytest.mark.django_db
def test_the_rebuild_action_queues_a_rebuild_of_done_releases(
    done_release, curator, enqueued_builds, django_capture_on_commit_callbacks
):
    client = Client()
    client.force_login(curator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/captions/release/",
            {"action": "rebuild", "_selected_action": [done_release.pk]},
        )
    assert response.status_code == 302
    assert enqueued_builds[-1] == (done_release.pk, True)
