import importlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from celery.exceptions import Retry
from django.apps import apps as django_apps
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from playwright.sync_api import Browser, BrowserContext, sync_playwright

from captions import tasks
from tests.api_data import make_api_world
from tests.captions.export_data import ExportWorld, make_export_world
from tests.selection import mark_default_config
from tests.verification.conftest import make_user
from verification.models import QUALITY_CACHE_KEY, QualitySettings
from verification.roles import ANNOTATOR, CONSUMER, CURATOR

ROOT = Path(__file__).resolve().parent.parent
REAL_DATA = ROOT / "tests" / "data" / "real"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by the marks added here
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    mark_default_config(config, items)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path: Path) -> Path:
    """Every test writes previews into its own folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    """API throttles count in the cache: no test inherits another's requests.

    And no second opinions or gold unless a test asks for them: the QA draw is a
    hash of the caption id, which differs with the order tests run in on
    PostgreSQL, so at the product's 10% a verdict would now and then come back
    blind to another test's annotator. The rates are read through the cache
    (QualitySettings.current); a test that saves its own rates replaces these, and
    tests/verification/test_curation.py checks the product's defaults."""
    cache.clear()
    rates = QualitySettings(qa_rate=0.0, gold_rate=0.0, updated_at=timezone.now())
    cache.set(QUALITY_CACHE_KEY, rates, None)


@pytest.fixture(autouse=True)
def builtin_prompt_templates(request: pytest.FixtureRequest) -> None:
    """The rows a data migration wrote (the built-in prompt templates) are gone once
    a transactional test (a real worker, a live server) has flushed the tables: the
    next one gets them back, as a migrated database has them."""
    marker = request.node.get_closest_marker("django_db")
    if not (
        {"transactional_db", "live_server"} & set(request.fixturenames)
        or (marker is not None and marker.kwargs.get("transaction"))
    ):
        return
    request.getfixturevalue("transactional_db")
    migration = importlib.import_module(
        "captions.migrations.0008_builtin_prompt_templates"
    )
    migration.create_builtin_templates(django_apps)


@pytest.fixture(scope="session")
def real_data() -> Path:
    """Real rasters from rasterio's test data, CC0 (tests/data/real/README.md)."""
    if not (REAL_DATA / "RGB.byte.tif").exists():
        pytest.fail(f"real test rasters are missing: expected them in {REAL_DATA}")
    return REAL_DATA


def _database_url() -> str:
    """The URL of the database the tests run on, for a worker in another process."""
    params = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{params['NAME']}"
    user = params.get("USER") or ""
    host = params.get("HOST") or "127.0.0.1"
    port = params.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{params['NAME']}"


def _purge_broker() -> None:
    broker = django_settings.CELERY_BROKER_URL
    if broker.startswith("filesystem://"):
        options: dict = django_settings.CELERY_BROKER_TRANSPORT_OPTIONS
        queue = Path(options["data_folder_in"])
        shutil.rmtree(queue, ignore_errors=True)
        queue.mkdir(parents=True, exist_ok=True)
    else:
        from chatearthnet_site.celery import app

        app.control.purge()


@pytest.fixture
def start_worker(transactional_db, media_root: Path, tmp_path: Path) -> Iterator:
    """Start real `celery worker` processes on this test's database, broker and media.

    `start_worker(**env)` returns the process; each is stopped when the test ends.
    `beat=True` runs Celery beat inside it too (the periodic tasks).
    """
    _purge_broker()
    processes: list[subprocess.Popen] = []

    def start(
        pool: str = "solo", *, beat: bool = False, **extra_env: str
    ) -> subprocess.Popen:
        log_path = tmp_path / f"worker-{len(processes)}.log"
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "MEDIA_ROOT": str(media_root),
            "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
            **extra_env,
        }
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "chatearthnet_site", "worker",
                 f"--pool={pool}", "--loglevel=INFO", "--without-heartbeat",
                 "--without-mingle", "--without-gossip",
                 f"--hostname=test{len(processes)}@%h",
                 *(["--beat", f"--schedule={tmp_path}/beat-{len(processes)}"]
                   if beat else [])],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        process.log_path = log_path  # type: ignore[attr-defined]
        processes.append(process)
        return process

    yield start
    # The file-system transport polls, so a clean stop takes seconds; it holds no
    # unacknowledged message that a clean stop would give back, as Redis does.
    for process in processes:
        stop_worker(process, kill=not uses_redis_broker())


def stop_worker(process: subprocess.Popen, *, kill: bool = False) -> None:
    """Stop a worker and the pool processes it started (one process group)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL if kill else signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture
def celery_worker(start_worker) -> subprocess.Popen:
    """One real worker (solo pool) for this test."""
    return start_worker()


def uses_redis_broker() -> bool:
    return django_settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://"))


def wait_for(
    condition: Callable[[], bool], *, timeout: float = 60, what: str = "condition"
) -> None:
    """Poll until `condition()` holds; a hang fails the test instead of blocking CI."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# --- pages in a real browser: Debian's Chromium driven by Playwright ----------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Chromium for the whole session. Without it a test that uses it is skipped, or
    fails under CI=true, where a missing browser is a broken machine."""
    if not Path(CHROMIUM).exists():
        message = f"Debian's chromium is not at {CHROMIUM}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (CI=true: the browser tests need it)")
        pytest.skip(message)
    # Playwright's sync API runs an event loop in this thread; Django's ORM calls in
    # the test bodies would otherwise be refused as "called from an async context".
    allowed_before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()
    if allowed_before is None:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = allowed_before


@pytest.fixture
def new_context(
    browser: Browser, live_server
) -> Iterator[Callable[[], BrowserContext]]:
    """Fresh browser contexts (own cookies and storage) on the live server."""
    contexts: list[BrowserContext] = []

    def make() -> BrowserContext:
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": 1366, "height": 768}
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


# --- REST API personas and data (tests/api_data.py) ----------------------------------


@pytest.fixture(autouse=True)
def fast_passwords(settings) -> None:
    """The deliberately slow password hash costs 0.6 s a user, and no test checks a
    password's strength: a test that makes users (twenty, to claim from many
    threads) or logs in would otherwise spend most of its time hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def annotator(db, fast_passwords):
    """Anna annotates: she reviews captions, she does not read or export the data."""
    return make_user("anna", ANNOTATOR)


@pytest.fixture
def curator(db, fast_passwords):
    """Cora curates: everything, jobs included."""
    return make_user("cora", CURATOR)


@pytest.fixture
def consumer(db, fast_passwords):
    """Conrad trains models on the dataset: he reads and exports, he does not review."""
    return make_user("conrad", CONSUMER)


@pytest.fixture
def api_world(media_root: Path, annotator, curator):
    return make_api_world(media_root, annotator=annotator, curator=curator)


# --- Queues and releases, shared by the captions and security tests ---------------


@pytest.fixture
def enqueued_chunks(monkeypatch) -> list[tuple[int, int]]:
    """(job id, chunk index) sent to the generation task, instead of a broker."""
    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(
        tasks.generate_chunk,
        "delay",
        lambda job_id, index: sent.append((job_id, index)),
    )
    return sent


@pytest.fixture
def enqueued_builds(monkeypatch) -> list[tuple[int, bool]]:
    """(release id, rebuild) sent to the release build task, instead of a broker."""
    sent: list[tuple[int, bool]] = []
    monkeypatch.setattr(
        tasks.build_release,
        "delay",
        lambda release_id, rebuild=False: sent.append((release_id, rebuild)),
    )
    return sent


@pytest.fixture(autouse=True)
def releases_root(settings, tmp_path: Path) -> Path:
    """Every test builds its releases into its own folder."""
    settings.RELEASES_ROOT = tmp_path / "releases"
    return settings.RELEASES_ROOT


@pytest.fixture
def export_world(media_root: Path, annotator, curator) -> ExportWorld:
    """Verified, pending and rejected captions (tests/captions/export_data.py)."""
    return make_export_world(media_root, annotator=annotator, curator=curator)


def retries_recorded(task, monkeypatch) -> list[dict]:
    """The retries `task` asks for, instead of Celery scheduling them."""
    asked: list[dict] = []

    def retry(**options):
        asked.append(options)
        return Retry()

    monkeypatch.setattr(task, "retry", retry)
    return asked
