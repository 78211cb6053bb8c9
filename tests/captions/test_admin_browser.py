"""The admin's live progress pages in a real browser (fixtures in tests/conftest.py).

Cora curates: she opens a scene while it is ingested, a job while it runs and a release
while it builds. The rows are moved along here, in the database, as a worker would;
each page's module (static/captions/*_progress.js, through progress_poll.js) must show
the new counts without a reload, then reload once the row has ended.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db.models import Model
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import ConsoleMessage, Locator, Page, expect

from captions.generation.options import JobOptions
from captions.generation.templates import template_get
from captions.models import GenerationJob, Release, Scene


@pytest.fixture
def console_errors() -> list[str]:
    """What the page's console reports: script errors and failed requests."""
    return []


@pytest.fixture
def cora_page(new_context, curator, console_errors: list[str]) -> Page:
    """Cora's browser tab, logged in to the admin."""
    context = new_context()
    # Chromium asks for /favicon.ico, which the admin does not have; its 404 would
    # otherwise be an error in every console.
    context.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    page = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            console_errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: console_errors.append(str(error)))
    log_in(page, "cora")
    return page


def log_in(page: Page, username: str) -> None:
    page.goto(reverse("admin:login"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(f"pw-{username}-123")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))


def open_live(page: Page, record: Model, widget: str) -> Locator:
    """Open the record's admin page, find its progress widget and mark the document,
    so that a reload can be told from an update."""
    meta = record._meta
    page.goto(
        reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[record.pk])
    )
    expect(page.locator(widget)).to_have_count(1)
    page.evaluate("window.openedByTheTest = true")
    return page.locator(widget)


def still_the_same_document(page: Page) -> bool:
    return page.evaluate("window.openedByTheTest === true")


@contextmanager
def reloads(page: Page) -> Iterator[None]:
    """The page reloads after what the block does (polls come every 1.5 s)."""
    with page.expect_navigation():
        yield
    assert not still_the_same_document(page)


def test_the_scene_page_follows_the_ingest_and_reloads_once_ready(
    cora_page, console_errors
):
    scene = Scene.objects.create(
        name="live-scene",
        source_kind=Scene.SourceKind.GEOTIFF,
        image_path="/live.tif",
        status=Scene.Status.INGESTING,
        patches_total=10,
        patches_done=3,
    )
    page = cora_page
    widget = open_live(page, scene, "[data-scene-progress-url]")
    count = widget.locator("[data-scene-progress-count]")
    expect(count).to_have_text("3 / 10")

    Scene.objects.filter(pk=scene.pk).update(patches_done=7)

    expect(count).to_have_text("7 / 10")
    expect(widget.locator("progress")).to_have_js_property("value", 7)
    assert still_the_same_document(page)

    with reloads(page):
        Scene.objects.filter(pk=scene.pk).update(
            patches_done=10, patches_created=10, status=Scene.Status.READY
        )

    expect(page.locator(f'[data-scene-badge="{scene.pk}"]')).to_have_text("Ready")
    expect(widget).to_have_attribute("data-scene-status", "ready")
    expect(count).to_have_text("10 / 10")
    assert console_errors == []


def test_the_job_page_follows_the_workers_and_reloads_once_finished(
    cora_page, console_errors
):
    job = GenerationJob.objects.create(
        backend="offline",
        model="offline-1",
        template=template_get("chatearthnet-text"),
        selection={"scene_ids": [], "splits": [], "only_uncaptioned": True},
        options=JobOptions().as_json(),
        status=GenerationJob.Status.RUNNING,
        started_at=timezone.now(),
        total=10,
        done=4,
    )
    page = cora_page
    open_live(page, job, "[data-job-progress-url]")
    done = page.locator(f'[data-job-live="{job.pk}"][data-job-field="done"]')
    failed_note = page.locator(f'[data-job-live="{job.pk}"][data-job-failed-note]')
    expect(done).to_have_text("4")
    expect(failed_note).to_be_hidden()
    expect(page.get_by_role("button", name="Cancel job")).to_be_visible()

    GenerationJob.objects.filter(pk=job.pk).update(done=6, failed=1)

    expect(done).to_have_text("6")
    expect(failed_note).to_be_visible()
    assert still_the_same_document(page)

    with reloads(page):
        GenerationJob.objects.filter(pk=job.pk).update(
            done=10, failed=0, status=GenerationJob.Status.FINISHED
        )

    badge = page.locator(f'[data-job-badge="{job.pk}"]').first
    expect(badge).to_have_text("Finished")
    expect(done).to_have_text("10")
    expect(page.get_by_role("button", name="Cancel job")).to_have_count(0)
    assert console_errors == []


def test_the_release_page_follows_the_build_and_reloads_once_done(
    cora_page, console_errors, curator
):
    release = Release.objects.create(
        number=1,
        status=Release.Status.BUILDING,
        created_by=curator,
        started_at=timezone.now(),
    )
    page = cora_page
    widget = open_live(page, release, "[data-release-progress-url]")
    count = widget.locator("[data-release-progress-count]")
    expect(count).to_have_text("freezing the pairs")

    Release.objects.filter(pk=release.pk).update(
        frozen_at=timezone.now(), pairs_total=1200, images_total=40, images_done=15
    )

    expect(count).to_have_text("15 / 40 images, 0 / 1,200 pairs")
    assert still_the_same_document(page)

    with reloads(page):
        Release.objects.filter(pk=release.pk).update(
            status=Release.Status.DONE,
            finished_at=timezone.now(),
            images_done=40,
            pairs_done=1200,
            manifest={
                "manifest_bytes": 512,
                "files": [{"path": "train.jsonl", "bytes": 2048}],
                "images": {"count": 40, "bytes": 81920},
            },
        )

    expect(page.locator(f'[data-release-badge="{release.pk}"]')).to_have_text("Done")
    expect(count).to_have_text("40 / 40 images, 1,200 / 1,200 pairs")
    expect(page.get_by_role("link", name="train.jsonl")).to_be_visible()
    assert console_errors == []
