"""Previews and releases in an S3-compatible store: moto's server on loopback.

Every test gets a bucket of its own behind a `StoreProxy` (tests/object_store.py),
which passes requests to the real server until a test makes it refuse writes
halfway, refuse the credentials, or drop every connection. Anna annotates, Cora
curates, Conrad consumes (tests/conftest.py).
"""

import copy
import hashlib
import json
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.config import Config
from django.contrib.auth import get_user_model
from django.core.management import CommandError
from django.test import Client
from playwright.sync_api import expect

from captions import storage
from captions.export import releases
from captions.export.filters import export_filters_from
from captions.export.release_io import ReleaseError
from captions.models import Patch, Release, Scene
from tests.api_data import token_client
from tests.captions.raster_fixtures import write_rgb_geotiff, write_worldcover_for
from tests.captions.test_ingest import ingest
from tests.chatearthnet_site.test_health import failing, fresh_heartbeat
from tests.object_store import ACCESS_KEY, REGION, SECRET_KEY, MotoServer, StoreProxy

pytestmark = pytest.mark.django_db

S3 = "captions.s3_storage.PrivateS3Storage"


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    server = MotoServer(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


@pytest.fixture
def store_proxy(moto_server):
    proxy = StoreProxy(moto_server.port)
    yield proxy
    proxy.stop()


class Bucket:
    def __init__(self, server: MotoServer, proxy: StoreProxy, name: str) -> None:
        self.server, self.proxy, self.name = server, proxy, name

    def keys(self, prefix: str = "") -> list[str]:
        return self.server.keys(self.name, prefix)

    def get(self, key: str) -> bytes:
        return self.server.client().get_object(Bucket=self.name, Key=key)["Body"].read()

    def put(self, key: str, content: bytes) -> None:
        self.server.client().put_object(Bucket=self.name, Key=key, Body=content)


def use_bucket(settings, endpoint_url: str, name: str) -> None:
    """Point the site's storages at bucket `name` as settings.py does for the AWS_*
    variables (STORAGES last: changing it makes Django build the storages anew)."""
    settings.AWS_STORAGE_BUCKET_NAME = name
    settings.AWS_S3_ENDPOINT_URL = endpoint_url
    settings.AWS_ACCESS_KEY_ID = ACCESS_KEY
    settings.AWS_SECRET_ACCESS_KEY = SECRET_KEY
    settings.AWS_S3_REGION_NAME = REGION
    settings.AWS_DEFAULT_ACL = None
    settings.AWS_QUERYSTRING_AUTH = True
    settings.AWS_QUERYSTRING_EXPIRE = 300
    settings.AWS_S3_FILE_OVERWRITE = True
    settings.AWS_S3_CLIENT_CONFIG = Config(
        s3={"addressing_style": "path"}, signature_version="s3v4",
        connect_timeout=2, read_timeout=5, retries={"max_attempts": 1},
    )  # fmt: skip
    settings.MEDIA_THROUGH_APP = False
    policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
    policy["DIRECTIVES"]["img-src"].append(endpoint_url)
    settings.CONTENT_SECURITY_POLICY = policy
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": S3, "OPTIONS": {"location": "media"}},
        "releases": {"BACKEND": S3, "OPTIONS": {"location": "releases"}},
    }


@pytest.fixture
def bucket(settings, moto_server, store_proxy) -> Bucket:
    name = f"t-{uuid.uuid4().hex[:16]}"
    moto_server.client().create_bucket(Bucket=name)
    use_bucket(settings, store_proxy.url, name)
    return Bucket(moto_server, store_proxy, name)


@pytest.fixture
def small_pair(tmp_path: Path) -> tuple[Path, Path]:
    image = write_rgb_geotiff(tmp_path / "small.tif", width=256, height=256)
    return image, write_worldcover_for(tmp_path / "small_wc.tif", image)


def files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def with_role(username: str, role: str):
    from verification.roles import ensure_groups

    user = get_user_model().objects.create_user(username, password="pw-" + username)
    user.groups.add(ensure_groups()[role])
    return user


# --- Ingest ---------------------------------------------------------------------------


def test_ingest_writes_every_preview_to_the_bucket_and_none_to_a_local_folder(
    bucket, small_pair, media_root
):
    result = ingest(*small_pair, "--patch-size", "64")

    scene = Scene.objects.get(pk=result["scene_id"])
    assert scene.status == Scene.Status.READY
    patches = list(Patch.objects.filter(scene=scene))
    assert len(patches) == 16
    expected = sorted(
        f"media/{name}"
        for patch in patches
        for name in (patch.rgb_preview.name, patch.landcover_preview.name)
    )
    assert bucket.keys(f"media/scenes/{scene.pk}/") == expected
    assert files_under(media_root) == []
    # What the bucket holds is the preview: a PNG land-cover map of the patch.
    assert bucket.get(f"media/{patches[0].landcover_preview.name}")[:8] == (
        b"\x89PNG\r\n\x1a\n"
    )


def test_a_store_refusing_writes_halfway_fails_the_scene_and_leaves_nothing(
    bucket, small_pair
):
    bucket.proxy.puts_allowed = 9  # 4 patches and a half, then AccessDenied

    with pytest.raises(CommandError) as error:
        ingest(*small_pair, "--patch-size", "64")

    message = str(error.value)
    assert "the object store answered 403 AccessDenied" in message
    assert "\n" not in message and ACCESS_KEY not in message
    scene = Scene.objects.get()
    assert scene.status == Scene.Status.FAILED
    assert "403 AccessDenied" in scene.error
    assert not Patch.objects.exists()
    assert bucket.proxy.puts == 9 and bucket.proxy.refused >= 1
    assert bucket.keys("media/") == []  # the 9 written are deleted again


def test_wrong_credentials_fail_the_ingest_with_a_clear_reason(bucket, small_pair):
    bucket.proxy.mode = "bad_credentials"
    with pytest.raises(CommandError, match="403 InvalidAccessKeyId"):
        ingest(*small_pair, "--patch-size", "128")
    assert Scene.objects.get().status == Scene.Status.FAILED
    assert not Patch.objects.exists()


def test_a_store_that_does_not_answer_fails_the_ingest_saying_so(bucket, small_pair):
    bucket.proxy.mode = "down"
    with pytest.raises(CommandError, match="the object store does not answer"):
        ingest(*small_pair, "--patch-size", "128")
    assert Scene.objects.get().status == Scene.Status.FAILED
    assert not Patch.objects.exists()


# --- Serving previews -----------------------------------------------------------------


@pytest.fixture
def stored_patch(bucket, small_pair) -> Patch:
    scene_id = ingest(*small_pair, "--patch-size", "128")["scene_id"]
    return Patch.objects.filter(scene_id=scene_id).order_by("id")[0]


def test_a_preview_is_a_redirect_to_a_short_lived_signed_url(
    stored_patch, bucket, annotator
):
    client = Client()
    client.force_login(annotator)
    name = stored_patch.rgb_preview.name
    # Pages keep this site's URL: it checks who asks before the store is named.
    assert stored_patch.rgb_preview.url == f"/media/{name}"

    response = client.get(f"/media/{name}")

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}" == bucket.proxy.url
    assert location.path == f"/{bucket.name}/media/{name}"
    query = parse_qs(location.query)
    assert query["X-Amz-Expires"] == ["300"]
    assert query["X-Amz-Signature"][0]
    assert "max-age=150" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]
    status, content = fetch(response["Location"])
    assert status == 200
    assert content == bucket.get(f"media/{name}")


def test_the_bucket_holds_no_public_object(stored_patch, bucket):
    grants = bucket.server.client().get_object_acl(
        Bucket=bucket.name, Key=f"media/{stored_patch.rgb_preview.name}"
    )["Grants"]
    everyone = "http://acs.amazonaws.com/groups/global/AllUsers"
    assert not [g for g in grants if g["Grantee"].get("URI") == everyone]


def test_who_may_not_see_previews_never_gets_a_signed_url(stored_patch, bucket):
    name = stored_patch.rgb_preview.name
    anonymous = Client().get(f"/media/{name}")
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/")
    nobody = get_user_model().objects.create_user("norole", password="pw-norole")
    client = Client()
    client.force_login(nobody)
    refused = client.get(f"/media/{name}")
    assert refused.status_code == 403
    assert "Location" not in refused


@pytest.mark.parametrize(
    "name", ["../releases/1/manifest.json", "scenes/../../etc/passwd", "", "scenes/"]
)
def test_a_name_out_of_the_media_storage_is_a_404(stored_patch, annotator, name):
    client = Client()
    client.force_login(annotator)
    assert client.get(f"/media/{name}").status_code == 404


def test_through_the_app_the_preview_comes_from_this_site(
    stored_patch, bucket, annotator, settings
):
    settings.MEDIA_THROUGH_APP = True
    client = Client()
    client.force_login(annotator)
    name = stored_patch.landcover_preview.name

    response = client.get(f"/media/{name}")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == bucket.get(f"media/{name}")
    assert client.get(f"/media/{name}.missing").status_code == 404


def test_a_store_that_is_down_is_a_clear_503_through_the_app(
    stored_patch, bucket, annotator, settings
):
    settings.MEDIA_THROUGH_APP = True
    bucket.proxy.mode = "down"
    client = Client()
    client.force_login(annotator)

    response = client.get(f"/media/{stored_patch.rgb_preview.name}")

    assert response.status_code == 503
    error = response.json()["error"]
    assert error.startswith("previews are unavailable: reading scenes/")
    assert "Traceback" not in error and SECRET_KEY not in error


def test_readyz_is_red_naming_storage_when_the_store_is_down_or_refuses(bucket, client):
    fresh_heartbeat()
    assert client.get("/readyz").status_code == 200
    for mode in ("down", "bad_credentials"):
        bucket.proxy.mode = mode
        response = client.get("/readyz")
        assert response.status_code == 503, mode
        body = response.json()
        assert set(failing(body)) == {"storage"}, mode
        assert SECRET_KEY not in json.dumps(body) and ACCESS_KEY not in json.dumps(body)


def review_page_of_anna(stored_patch, new_context):
    """Anna's review page on the live server, on the caption of `stored_patch`."""
    from captions.models import Caption
    from verification.roles import ANNOTATOR

    Caption.objects.create(
        patch=stored_patch, source="s3-test",
        generated_text="Tree cover fills the image.",
        text="Tree cover fills the image.",
    )  # fmt: skip
    with_role("anna-s3", ANNOTATOR)
    page = new_context().new_page()
    from_store: list[int] = []
    page.on("response", lambda r: from_store.append(r.status) if "/t-" in r.url else 0)
    page.goto("/accounts/login/?next=/review/next/")
    page.fill("input[name=username]", "anna-s3")
    page.fill("input[name=password]", "pw-anna-s3")
    page.click("button[type=submit], input[type=submit]")
    expect(page.locator("img[alt='RGB preview']")).to_be_visible()
    return page, from_store


def test_the_review_page_shows_the_previews_from_the_store(
    stored_patch, bucket, new_context, transactional_db
):
    page, from_store = review_page_of_anna(stored_patch, new_context)
    page.wait_for_function(
        "() => [...document.querySelectorAll('img[data-swap-image]')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    image = page.locator("img[alt='RGB preview']")
    assert image.get_attribute("src") == f"/media/{stored_patch.rgb_preview.name}"
    # The images came from the bucket (its name starts /t-), by signed URL.
    assert from_store.count(200) >= 2
    expect(page.locator("[data-notices]")).to_be_empty()


def test_the_review_page_says_so_when_the_store_is_down(
    stored_patch, bucket, new_context, transactional_db
):
    bucket.proxy.mode = "down"
    page, _ = review_page_of_anna(stored_patch, new_context)
    expect(page.locator("[data-notices]")).to_contain_text(
        "A preview could not be loaded: the image store may be unavailable."
    )
    # The caption is there to read and review all the same.
    expect(page.locator("[data-caption-text]")).to_have_text(
        "Tree cover fills the image."
    )


# --- Export and releases ------------------------------------------------------------


def upload_media(bucket: Bucket, media_root: Path) -> None:
    """The export world's previews, moved from the local folder into the bucket."""
    for path in files_under(media_root):
        bucket.put(
            f"media/{path.relative_to(media_root).as_posix()}", path.read_bytes()
        )
        path.unlink()


def test_an_exported_image_comes_from_the_store(
    export_world, bucket, media_root, consumer
):
    upload_media(bucket, media_root)
    client = token_client(consumer)
    export = client.get("/api/v1/export/", {"format": "jsonl"})
    assert export.status_code == 200
    record = json.loads(b"".join(export.streaming_content).splitlines()[0])

    response = client.get(record["image_url"])

    assert response.status_code == 302
    status, content = fetch(response["Location"])
    assert status == 200 and content[:4] in (b"\x89PNG", b"RIFF")


def build_release(curator, capture) -> Release:
    with capture(execute=True):
        release = releases.release_create(
            filters=export_filters_from({}), user=curator, description="S3 cut."
        )
    return releases.release_build(release_id=release.pk)


@pytest.mark.parametrize("streamed", [False, True], ids=["one-request", "streamed"])
def test_a_release_is_built_into_the_store_and_downloaded_by_signed_url(
    export_world, bucket, media_root, releases_root, curator, consumer,
    enqueued_builds, django_capture_on_commit_callbacks, settings, tmp_path,
    monkeypatch, streamed,
):  # fmt: skip
    if streamed:  # every file as a large one: through the storage API, streamed
        monkeypatch.setattr(storage, "SMALL_FILE_BYTES", 0)
    settings.VAR_DIR = tmp_path / "var"
    upload_media(bucket, media_root)

    release = build_release(curator, django_capture_on_commit_callbacks)

    assert release.status == Release.Status.DONE
    keys = bucket.keys(f"releases/{release.number}/")
    manifest = json.loads(bucket.get(f"releases/{release.number}/manifest.json"))
    listed = {entry["path"]: entry for entry in manifest["files"]}
    assert "coverage.png" in listed  # the card's map goes the way of every file
    assert sorted(keys) == sorted(
        [f"releases/{release.number}/{path}" for path in listed]
        + [f"releases/{release.number}/manifest.json"]
    )
    for path, entry in listed.items():
        content = bucket.get(f"releases/{release.number}/{path}")
        assert hashlib.sha256(content).hexdigest() == entry["sha256"], path
    assert not releases_root.exists() or files_under(releases_root) == []
    assert files_under(tmp_path / "var") == []  # the scratch build is gone

    client = token_client(consumer)
    base = f"/api/v1/releases/{release.number}/files/"
    card = client.get(base + "README.md")
    assert card.status_code == 302
    query = parse_qs(urlsplit(card["Location"]).query)
    assert query["response-content-disposition"] == ['attachment; filename="README.md"']
    status, content = fetch(card["Location"])
    assert status == 200
    assert hashlib.sha256(content).hexdigest() == listed["README.md"]["sha256"]
    assert client.get(base + "nope.jsonl").status_code == 404
    assert client.get(base + "../1/manifest.json").status_code == 404
    assert Client().get(base + "README.md").status_code in (401, 403)

    bucket.proxy.mode = "down"
    down = client.get(base + "README.md")
    assert down.status_code == 503
    assert "unavailable" in down.json()["error"]


def test_a_store_refusing_the_release_upload_fails_it_and_takes_back_what_it_sent(
    export_world, bucket, media_root, curator, enqueued_builds,
    django_capture_on_commit_callbacks, settings, tmp_path,
):  # fmt: skip
    settings.VAR_DIR = tmp_path / "var"
    upload_media(bucket, media_root)
    bucket.proxy.puts_allowed = 5

    with pytest.raises(ReleaseError, match="403 AccessDenied"):
        build_release(curator, django_capture_on_commit_callbacks)

    release = Release.objects.get()
    assert release.status == Release.Status.FAILED
    assert "403 AccessDenied" in release.error
    assert bucket.keys("releases/") == []
    assert files_under(tmp_path / "var") == []


# --- Several machines: a worker and the web share the bucket, not a folder -----------


@pytest.mark.worker
def test_a_worker_with_its_own_folders_ingests_previews_the_web_then_serves(
    bucket, start_worker, tmp_path, media_root, annotator
):
    from captions.ingest import scenes
    from captions.tasks import ingest_scene
    from tests.conftest import wait_for

    elsewhere = tmp_path / "worker-machine"
    start_worker(
        AWS_STORAGE_BUCKET_NAME=bucket.name, AWS_S3_ENDPOINT_URL=bucket.proxy.url,
        AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_S3_REGION_NAME=REGION, MEDIA_ROOT=str(elsewhere / "media"),
        RELEASES_ROOT=str(elsewhere / "releases"),
    )  # fmt: skip
    image = write_rgb_geotiff(tmp_path / "far.tif", width=256, height=256)
    scene = scenes.scene_create(
        name="far",
        image_path=image,
        landcover_path=write_worldcover_for(tmp_path / "far_wc.tif", image),
        options=scenes.IngestOptions(patch_size=128),
    )
    ingest_scene.delay(scene.pk)

    def ended() -> bool:
        scene.refresh_from_db()
        return scene.status in (Scene.Status.READY, Scene.Status.FAILED)

    wait_for(ended, what="the worker to ingest into the bucket")
    assert scene.status == Scene.Status.READY, scene.error
    assert len(bucket.keys(f"media/scenes/{scene.pk}/")) == 8
    assert files_under(elsewhere) == [] and files_under(media_root) == []
    client = Client()
    client.force_login(annotator)
    patch = Patch.objects.filter(scene=scene)[0]
    response = client.get(patch.landcover_preview.url)
    assert response.status_code == 302
    status, content = fetch(response["Location"])
    assert status == 200 and content[:4] == b"\x89PNG"


def run_python(code: str, **env: str) -> str:
    import os
    import subprocess
    import sys

    from tests.services import ROOT

    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **env},
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


ROUTE = (
    "import django; django.setup(); from chatearthnet_site.celery import app; "
    "print(app.amqp.router.route({}, 'captions.{task}')['queue'].name)"
)


def test_ingest_goes_to_its_own_queue_for_the_workers_that_see_the_imagery():
    assert run_python(ROUTE.replace("{task}", "ingest_scene")) == "celery"
    routed = {"INGEST_QUEUE": "ingest"}
    assert run_python(ROUTE.replace("{task}", "ingest_scene"), **routed) == "ingest"
    # The rest needs no imagery: any worker takes it.
    assert run_python(ROUTE.replace("{task}", "generate_chunk"), **routed) == "celery"
