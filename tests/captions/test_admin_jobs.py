"""The admin of generation jobs, prompt templates and captions.

Alice curates the data: staff with the captions app's permissions. Bob has an account
but is not staff. Carol is not logged in. Dave is staff with no captions permission
(tests/captions/conftest.py).
"""

import re

import pytest
from django.urls import reverse

from captions.generation.options import JobOptions
from captions.generation.runner import job_run_chunk
from captions.generation.templates import template_get
from captions.models import (
    Caption,
    GenerationFailure,
    GenerationJob,
    JobChunk,
    Patch,
    PromptTemplate,
    Scene,
)
from captions.selectors import job_summary
from tests.captions.test_admin import LOGIN_URL, make_patch, make_scene
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.django_db

LAUNCH_URL = reverse("admin:captions_generationjob_launch")


# --- rows -----------------------------------------------------------------------------


@pytest.fixture
def patches(media_root) -> list[Patch]:
    scene = make_scene()
    return [make_patch(scene, media_root, row_off=row * 32) for row in range(3)]


@pytest.fixture
def text_template() -> PromptTemplate:
    return template_get("chatearthnet-text")


def make_job(template: PromptTemplate, **fields) -> GenerationJob:
    values = {
        "backend": "offline",
        "model": "offline-1",
        "template": template,
        "selection": {"scene_ids": [], "splits": [], "only_uncaptioned": True},
        "options": JobOptions().as_json(),
        "total": 10,
        **fields,
    }
    return GenerationJob.objects.create(**values)


@pytest.fixture
def job(text_template) -> GenerationJob:
    return make_job(text_template, status=GenerationJob.Status.RUNNING, done=4)


def make_caption(patch: Patch, job: GenerationJob | None = None, **fields) -> Caption:
    text = "Tree cover fills the top left, and water lies along the right edge."
    values = {
        "source": "job" if job else "import.json",
        "template": job.template if job else None,
        "generated_text": text,
        "text": text,
        "model": "offline-1",
        "messages": [
            {"role": "system", "content": "You write captions."},
            {"role": "user", "content": "Land-cover classes: tree, water."},
        ],
        "parameters": {"max_tokens": 300},
        "prompt_tokens": 412,
        "completion_tokens": 187,
        "latency_ms": 1234,
        **fields,
    }
    return Caption.objects.create(patch=patch, job=job, **values)


@pytest.fixture
def caption(patches, job) -> Caption:
    return make_caption(
        patches[0],
        job,
        text="A green forest appears across the scene.",
        checks=[
            {
                "check": "colour_word",
                "message": "'green' is a colour; name the land-cover class instead.",
                "span": [2, 7],
            },
            {
                "check": "forbidden_word",
                "message": "'appears' (a form of 'appear') is a hedging or meta word "
                "that captions must not use.",
                "span": [15, 22],
            },
        ],
        failed_checks=2,
    )


def launch_form(prompt_template: PromptTemplate, **fields) -> dict:
    return {
        "scenes": [],
        "splits": [],
        "only_uncaptioned": "on",
        "limit": "",
        "backend": "offline",
        "endpoint": "",
        "model": "offline-1",
        "template": str(prompt_template.pk),
        "in_flight_per_worker": "4",
        "chunk_size": "256",
        "requests_per_minute": "",
        "tokens_per_minute": "",
        "price_in_per_million": "",
        "price_out_per_million": "",
        **fields,
    }


def launch_in_chunks_of_two(client, prompt_template, capture_on_commit):
    """Launch on the launch page; the chunks are queued as the launch commits."""
    with capture_on_commit(execute=True):
        return client.post(
            LAUNCH_URL,
            {**launch_form(prompt_template, chunk_size="2"), "_launch": "1"},
        )


# --- who may see what -----------------------------------------------------------------

PAGES = [
    "job_changelist",
    "job_change",
    "job_progress",
    "job_launch",
    "failure_changelist",
    "template_changelist",
    "template_change",
    "template_new_version",
    "caption_changelist",
    "caption_change",
]


def page_url(page: str, job: GenerationJob, caption: Caption) -> str:
    return {
        "job_changelist": reverse("admin:captions_generationjob_changelist"),
        "job_change": reverse("admin:captions_generationjob_change", args=[job.pk]),
        "job_progress": reverse("admin:captions_generationjob_progress", args=[job.pk]),
        "job_launch": LAUNCH_URL,
        "failure_changelist": reverse("admin:captions_generationfailure_changelist"),
        "template_changelist": reverse("admin:captions_prompttemplate_changelist"),
        "template_change": reverse(
            "admin:captions_prompttemplate_change", args=[job.template_id]
        ),
        "template_new_version": reverse(
            "admin:captions_prompttemplate_new_version", args=[job.template_id]
        ),
        "caption_changelist": reverse("admin:captions_caption_changelist"),
        "caption_change": reverse("admin:captions_caption_change", args=[caption.pk]),
    }[page]


@pytest.mark.parametrize("page", PAGES)
def test_alice_may_open_every_job_template_and_caption_page(
    alice_client, job, caption, page
):
    response = alice_client.get(page_url(page, job, caption))
    assert response.status_code == 200


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("persona", ["bob_client", "carol_client"])
def test_bob_and_carol_are_sent_to_the_login_page(request, persona, job, caption, page):
    client = request.getfixturevalue(persona)
    response = client.get(page_url(page, job, caption))
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN_URL)


@pytest.mark.parametrize("page", PAGES)
def test_staff_without_captions_permissions_are_refused(
    dave_client, job, caption, page
):
    response = dave_client.get(page_url(page, job, caption))
    assert response.status_code == 403


def refused(response) -> bool:
    if response.status_code == 302:
        return response["Location"].startswith(LOGIN_URL)
    return response.status_code == 403


OTHERS = ["bob_client", "carol_client", "dave_client"]


@pytest.mark.parametrize("persona", OTHERS)
def test_only_alice_may_launch_a_job(
    request, persona, patches, text_template, enqueued_chunks
):
    client = request.getfixturevalue(persona)
    response = client.post(LAUNCH_URL, {**launch_form(text_template), "_launch": "1"})
    assert refused(response)
    assert not GenerationJob.objects.exists()
    assert enqueued_chunks == []


@pytest.mark.parametrize("persona", OTHERS)
def test_only_alice_may_cancel_a_job(request, persona, job):
    client = request.getfixturevalue(persona)
    response = client.post(
        reverse("admin:captions_generationjob_cancel", args=[job.pk])
    )
    assert refused(response)
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.RUNNING


@pytest.mark.parametrize("persona", OTHERS)
def test_only_alice_may_retry_failures(
    request, persona, patches, text_template, enqueued_chunks
):
    ended = make_job(text_template, status=GenerationJob.Status.FINISHED, failed=1)
    GenerationFailure.objects.create(
        job=ended, patch=patches[0], reason="timeout", message="read timed out"
    )
    client = request.getfixturevalue(persona)
    response = client.post(
        reverse("admin:captions_generationjob_retry_failed", args=[ended.pk])
    )
    assert refused(response)
    assert ended.failures.count() == 1
    assert enqueued_chunks == []


@pytest.mark.parametrize("persona", OTHERS)
def test_only_alice_may_write_a_template_version(request, persona, text_template):
    client = request.getfixturevalue(persona)
    response = client.post(
        reverse("admin:captions_prompttemplate_new_version", args=[text_template.pk]),
        {
            "system_template": "Describe the image.",
            "user_template": "{overall}",
            "parameters": "{}",
        },
    )
    assert refused(response)
    assert PromptTemplate.objects.filter(name="chatearthnet-text").count() == 1


def test_cancel_and_retry_take_only_post(alice_client, job):
    for name in ("cancel", "retry_failed"):
        url = reverse(f"admin:captions_generationjob_{name}", args=[job.pk])
        assert alice_client.get(url).status_code == 405
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.RUNNING


def test_progress_of_a_missing_job_is_404(alice_client):
    url = reverse("admin:captions_generationjob_progress", args=[999])
    assert alice_client.get(url).status_code == 404


# --- the launch page ------------------------------------------------------------------


def test_the_launch_form_offers_ready_scenes_and_sensible_defaults(alice_client):
    ready = make_scene("ready-scene")
    make_scene("busy-scene", status=Scene.Status.INGESTING)
    html = alice_client.get(LAUNCH_URL).content.decode()
    assert f'<option value="{ready.pk}">ready-scene</option>' in html
    assert "busy-scene" not in html
    for split in ("train", "val", "test"):
        assert f'type="checkbox" name="splits" value="{split}"' in html
    assert re.search(r'name="only_uncaptioned"[^>]*checked', html)
    assert 'name="model" value="offline-1"' in html
    newest = template_get("chatearthnet-text")
    assert f'<option value="{newest.pk}" selected>chatearthnet-text v1' in html
    assert 'name="_preview"' in html
    assert 'name="_launch"' in html
    assert "captions/job_launch.js" in html


def test_the_launch_form_offers_the_configured_endpoints_and_no_url_field(
    alice_client, settings
):
    settings.LLM_ENDPOINTS = {
        "openai": {"base_url": "https://api.openai.com/v1", "key_variable": "K"},
        "vllm": {"base_url": "http://10.0.0.5:8000/v1", "key_variable": ""},
    }
    html = alice_client.get(LAUNCH_URL).content.decode()
    options = re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', html)
    assert ("openai", "openai (https://api.openai.com/v1)") in options
    assert ("vllm", "vllm (http://10.0.0.5:8000/v1)") in options
    assert 'name="base_url"' not in html


def test_launching_on_an_endpoint_stores_its_name_and_url_and_shows_them(
    alice_client, patches, text_template, enqueued_chunks, llm_endpoint
):
    with FakeOpenAI(api_key="sk-alice") as server:
        endpoint = llm_endpoint(server, "vllm")
        form = launch_form(
            text_template, backend="openai", endpoint=endpoint, model="llama3"
        )
        response = alice_client.post(LAUNCH_URL, {**form, "_launch": "1"})
    job = GenerationJob.objects.get()
    assert response["Location"] == reverse(
        "admin:captions_generationjob_change", args=[job.pk]
    )
    assert (job.endpoint, job.base_url) == ("vllm", server.base_url)
    html = alice_client.get(response["Location"]).content.decode()
    assert f"vllm ({server.base_url})" in html
    changelist = reverse("admin:captions_generationjob_changelist")
    assert "openai at vllm" in alice_client.get(changelist).content.decode()


def test_an_endpoint_that_is_not_configured_is_refused_by_the_form(
    alice_client, patches, text_template, enqueued_chunks
):
    form = launch_form(text_template, backend="openai", endpoint="elsewhere")
    response = alice_client.post(LAUNCH_URL, {**form, "_launch": "1"})
    assert "Select a valid choice. elsewhere is not one of" in response.content.decode()
    assert not GenerationJob.objects.exists()


def test_the_job_list_leads_to_the_launch_page(alice_client):
    html = alice_client.get(
        reverse("admin:captions_generationjob_changelist")
    ).content.decode()
    assert LAUNCH_URL in html
    assert "Add generation job" not in html
    response = alice_client.get(reverse("admin:captions_generationjob_add"))
    assert response["Location"] == LAUNCH_URL


def test_preview_shows_the_count_one_prompt_and_the_estimate_without_a_job(
    alice_client, patches, text_template, enqueued_chunks
):
    response = alice_client.post(
        LAUNCH_URL, {**launch_form(text_template), "_preview": "1"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert re.search(r"data-job-preview-count>3<", html)
    # One prompt, its statistics read from the patch: tree cover and water.
    assert html.count('class="chat-message chat-message--user"') == 1
    assert 'class="chat-message chat-message--system"' in html
    user_message = html.split("chat-message--user")[1]
    assert "tree" in user_message
    assert "water" in user_message
    assert "Estimated tokens in" in html
    assert re.search(r"data-job-preview-cost>\$0\.0000<", html)  # offline is free
    assert not GenerationJob.objects.exists()
    assert enqueued_chunks == []


def test_preview_of_a_model_without_a_price_says_so(
    alice_client, patches, text_template
):
    response = alice_client.post(
        LAUNCH_URL,
        {
            **launch_form(text_template, backend="openai", model="my-local-llama"),
            "_preview": "1",
        },
    )
    assert re.search(r"data-job-preview-cost>unknown price<", response.content.decode())


def test_preview_with_prices_given_estimates_the_cost(
    alice_client, patches, text_template
):
    form = launch_form(
        text_template,
        backend="openai",
        model="my-local-llama",
        price_in_per_million="1000000",
        price_out_per_million="0",
    )
    response = alice_client.post(LAUNCH_URL, {**form, "_preview": "1"})
    html = response.content.decode()
    tokens_in = re.search(r"Estimated tokens in</dt><dd>([\d,]+)<", html).group(1)
    # A dollar per input token: the cost in dollars is the token count.
    assert f"${int(tokens_in.replace(',', '')):,}.00" in html


def test_a_vision_preview_shows_the_land_cover_map_as_an_image(alice_client, patches):
    vision = template_get("chatearthnet-vision")
    response = alice_client.post(
        LAUNCH_URL, {**launch_form(vision, include_rgb="on"), "_preview": "1"}
    )
    html = response.content.decode()
    # The land-cover map and the RGB preview, inline as data URLs.
    assert (
        len(re.findall(r'<img class="chat-message__image" src="data:image/', html)) == 2
    )


def test_launching_queues_a_job_and_its_chunks_after_commit(
    alice,
    alice_client,
    patches,
    text_template,
    enqueued_chunks,
    django_capture_on_commit_callbacks,
):
    response = launch_in_chunks_of_two(
        alice_client, text_template, django_capture_on_commit_callbacks
    )
    job = GenerationJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "admin:captions_generationjob_change", args=[job.pk]
    )
    assert (job.status, job.total, job.created_by) == ("queued", 3, alice)
    assert (job.backend, job.model, job.template) == (
        "offline",
        "offline-1",
        text_template,
    )
    assert job.options["in_flight_per_worker"] == 4
    assert list(job.chunks.order_by("index").values_list("patch_ids", flat=True)) == [
        [patches[0].pk, patches[1].pk],
        [patches[2].pk],
    ]
    assert enqueued_chunks == [(job.pk, 0), (job.pk, 1)]


def test_an_empty_model_takes_the_backends_default(
    alice_client, patches, text_template, enqueued_chunks
):
    alice_client.post(
        LAUNCH_URL, {**launch_form(text_template, model=""), "_launch": "1"}
    )
    assert GenerationJob.objects.get().model == "offline-1"


def test_the_selection_narrows_to_scenes_splits_and_a_limit(
    alice_client, patches, media_root, text_template, enqueued_chunks
):
    other = make_scene("other")
    make_patch(other, media_root)
    validation = make_patch(other, media_root, row_off=32)
    Patch.objects.filter(pk=validation.pk).update(split=Patch.Split.VAL)
    form = launch_form(text_template, scenes=[other.pk], splits=["val"], limit="5")
    alice_client.post(LAUNCH_URL, {**form, "_launch": "1"})
    job = GenerationJob.objects.get()
    assert job.total == 1
    assert job.selection == {
        "scene_ids": [other.pk],
        "splits": ["val"],
        "only_uncaptioned": True,
        "limit": 5,
        "rejected_only": False,
        "caption_ids": [],
    }


def test_launching_an_empty_selection_shows_why_and_creates_nothing(
    alice_client, patches, text_template, enqueued_chunks
):
    for patch in patches:
        make_caption(patch)  # all captioned already
    response = alice_client.post(
        LAUNCH_URL, {**launch_form(text_template), "_launch": "1"}
    )
    assert response.status_code == 200
    assert "the selection holds no patches to caption" in response.content.decode()
    assert not GenerationJob.objects.exists()
    assert enqueued_chunks == []


def test_launching_with_an_unknown_template_shows_why_and_creates_nothing(
    alice_client, patches, text_template, enqueued_chunks
):
    form = launch_form(text_template, template="9999")
    response = alice_client.post(LAUNCH_URL, {**form, "_launch": "1"})
    html = response.content.decode()
    assert "Select a valid choice" in html
    assert not GenerationJob.objects.exists()
    assert enqueued_chunks == []


def test_a_remote_backend_that_does_not_answer_creates_no_job(
    alice_client, patches, text_template, enqueued_chunks, settings
):
    settings.LLM_ENDPOINTS = {  # the discard port: nothing listens
        "gone": {"base_url": "http://127.0.0.1:9/v1", "key_variable": ""}
    }
    form = launch_form(
        text_template, backend="openai", model="gpt-3.5-turbo", endpoint="gone"
    )
    response = alice_client.post(LAUNCH_URL, {**form, "_launch": "1"})
    assert response.status_code == 200
    assert "This job cannot be launched." in response.content.decode()
    assert not GenerationJob.objects.exists()
    assert enqueued_chunks == []


def test_the_queued_chunks_run_the_job_to_finished_and_its_page_says_so(
    alice_client,
    patches,
    text_template,
    enqueued_chunks,
    django_capture_on_commit_callbacks,
):
    response = launch_in_chunks_of_two(
        alice_client, text_template, django_capture_on_commit_callbacks
    )
    page = response["Location"]
    assert "job-status--queued" in alice_client.get(page).content.decode()

    for job_id, index in enqueued_chunks:  # what the workers do with the messages
        job_run_chunk(job_id=job_id, index=index)

    job = GenerationJob.objects.get()
    assert (job.status, job.done, job.failed, job.total) == ("finished", 3, 0, 3)
    assert job.captions.count() == 3
    html = alice_client.get(page).content.decode()
    assert "job-status--finished" in html
    assert re.search(r'data-job-field="done">3<', html)
    assert re.search(r'data-job-field="total">3<', html)
    assert 'data-job-bar="done" style="width: 100.00%"' in html
    assert "Cancel job" not in html


# --- the job page ---------------------------------------------------------------------


def test_the_job_page_shows_progress_settings_and_a_live_endpoint(
    alice_client, job, text_template
):
    html = alice_client.get(
        reverse("admin:captions_generationjob_change", args=[job.pk])
    ).content.decode()
    progress_url = reverse("admin:captions_generationjob_progress", args=[job.pk])
    assert f'data-job-progress-url="{progress_url}"' in html
    assert 'data-job-status="running"' in html
    assert "captions/job_progress.js" in html
    assert 'data-job-bar="done" style="width: 40.00%"' in html
    assert "offline-1" in html
    assert (
        reverse("admin:captions_prompttemplate_change", args=[text_template.pk]) in html
    )
    assert "in flight per worker" in html
    assert "scenes: all ready; splits: all; only uncaptioned" in html
    assert "none (the offline backend sends no request)" in html
    # Read-only: the job's counters belong to its workers.
    assert 'name="_save"' not in html


def test_the_job_page_of_a_running_job_offers_cancel_not_retry(alice_client, job):
    html = alice_client.get(
        reverse("admin:captions_generationjob_change", args=[job.pk])
    ).content.decode()
    cancel_url = reverse("admin:captions_generationjob_cancel", args=[job.pk])
    assert f'action="{cancel_url}"' in html
    assert 'form="job-cancel-form"' in html
    assert 'form="job-retry-form"' not in html


def test_cancelling_a_running_job_stops_it_after_its_running_chunk(alice_client, job):
    JobChunk.objects.create(job=job, index=0, patch_ids=[1], status="running")
    JobChunk.objects.create(job=job, index=1, patch_ids=[2])
    response = alice_client.post(
        reverse("admin:captions_generationjob_cancel", args=[job.pk]), follow=True
    )
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.CANCELLING
    assert job.chunks.get(index=1).status == JobChunk.Status.DONE
    assert "is cancelling" in response.content.decode()
    assert "Cancel job" not in response.content.decode()


def test_cancelling_a_job_no_worker_has_started_ends_it(alice_client, text_template):
    queued = make_job(text_template)
    JobChunk.objects.create(job=queued, index=0, patch_ids=[1])
    alice_client.post(reverse("admin:captions_generationjob_cancel", args=[queued.pk]))
    queued.refresh_from_db()
    assert queued.status == GenerationJob.Status.CANCELLED


def test_cancelling_an_ended_job_changes_nothing(alice_client, text_template):
    ended = make_job(text_template, status=GenerationJob.Status.FINISHED)
    response = alice_client.post(
        reverse("admin:captions_generationjob_cancel", args=[ended.pk]), follow=True
    )
    ended.refresh_from_db()
    assert ended.status == GenerationJob.Status.FINISHED
    assert "is not running" in response.content.decode()


def test_an_ended_job_shows_its_failures_by_reason_and_a_retry_button(
    alice_client, patches, text_template
):
    ended = make_job(text_template, status=GenerationJob.Status.FINISHED, failed=3)
    for patch, reason in zip(patches, ["timeout", "timeout", "malformed"], strict=True):
        GenerationFailure.objects.create(
            job=ended, patch=patch, reason=reason, message=f"{reason} of {patch.pk}"
        )
    html = alice_client.get(
        reverse("admin:captions_generationjob_change", args=[ended.pk])
    ).content.decode()
    assert re.search(r"<code>timeout</code></a></td>\s*<td[^>]*>2</td>", html)
    assert re.search(r"<code>malformed</code></a></td>\s*<td[^>]*>1</td>", html)
    assert f"timeout of {patches[0].pk}" in html
    failures_url = reverse("admin:captions_generationfailure_changelist")
    assert f"{failures_url}?job__id__exact={ended.pk}" in html
    assert 'form="job-retry-form"' in html
    assert 'form="job-cancel-form"' not in html
    failure_list = alice_client.get(f"{failures_url}?job__id__exact={ended.pk}")
    assert failure_list.content.decode().count('class="patch-thumbs"') == 3


def test_retry_failed_queues_the_failed_patches_again(
    alice_client,
    patches,
    text_template,
    enqueued_chunks,
    django_capture_on_commit_callbacks,
):
    ended = make_job(text_template, status=GenerationJob.Status.FINISHED, failed=2)
    JobChunk.objects.create(job=ended, index=0, patch_ids=[p.pk for p in patches])
    JobChunk.objects.filter(job=ended).update(status=JobChunk.Status.DONE)
    for patch in patches[:2]:
        GenerationFailure.objects.create(
            job=ended, patch=patch, reason="timeout", message="read timed out"
        )
    for patch in patches[2:]:
        make_caption(patch, ended)
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(
            reverse("admin:captions_generationjob_retry_failed", args=[ended.pk]),
            follow=True,
        )
    ended.refresh_from_db()
    assert (ended.status, ended.failed) == ("running", 0)
    assert not ended.failures.exists()
    assert ended.chunks.get(index=1).patch_ids == [patches[0].pk, patches[1].pk]
    assert enqueued_chunks == [(ended.pk, 1)]
    assert "2 failed or unfinished patches" in response.content.decode()


def test_retry_failed_refuses_a_running_job(alice_client, job, enqueued_chunks):
    response = alice_client.post(
        reverse("admin:captions_generationjob_retry_failed", args=[job.pk]),
        follow=True,
    )
    assert "still running" in response.content.decode()
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.RUNNING
    assert enqueued_chunks == []


def test_a_job_launched_with_a_free_url_shows_it_and_is_not_retried(
    alice_client, patches, text_template, enqueued_chunks, settings
):
    settings.LLM_ENDPOINTS = {
        "openai": {"base_url": "https://api.openai.com/v1", "key_variable": "K"}
    }
    # Before endpoints had names (captions/migrations/0006): a typed base URL.
    legacy = make_job(
        text_template, backend="openai", base_url="http://10.0.0.5:8000/v1",
        status=GenerationJob.Status.FAILED,
    )  # fmt: skip
    JobChunk.objects.create(job=legacy, index=0, patch_ids=[patches[0].pk])
    page = reverse("admin:captions_generationjob_change", args=[legacy.pk])
    assert "none: launched with the base URL http://10.0.0.5:8000/v1" in (
        alice_client.get(page).content.decode()
    )
    response = alice_client.post(
        reverse("admin:captions_generationjob_retry_failed", args=[legacy.pk]),
        follow=True,
    )
    assert "launch a new job choosing an endpoint: openai" in (
        response.content.decode()
    )
    assert enqueued_chunks == []


def test_a_failed_job_shows_its_error_prominently(alice_client, text_template):
    failed = make_job(
        text_template,
        status=GenerationJob.Status.FAILED,
        error="auth: Incorrect API key provided",
    )
    html = alice_client.get(
        reverse("admin:captions_generationjob_change", args=[failed.pk])
    ).content.decode()
    assert '<div class="errornote job-error">' in html
    assert "auth: Incorrect API key provided" in html


def test_progress_reports_the_job_summary_and_the_texts_of_its_page_as_json(
    alice_client, job
):
    response = alice_client.get(
        reverse("admin:captions_generationjob_progress", args=[job.pk])
    )
    summary = response.json()
    page_texts = {
        "status_label": "Running",
        "active": True,
        # What job_progress.js writes into the page: formatted here, as on the page.
        "texts": {
            "done": "4",
            "failed": "0",
            "total": "10",
            "rate": "—",
            "eta": "—",
            "tokens_in": "0",
            "tokens_out": "0",
            "actual_cost": "unknown price",
        },
        "bars": {"done": "40.00", "failed": "0.00"},
    }
    assert summary == job_summary(job) | page_texts | {
        "created_at": summary["created_at"]
    }
    for key in ("status", "done", "failed", "total", "rate_per_s", "eta_s"):
        assert key in summary
    for key in ("tokens_in", "tokens_out", "estimated_cost", "actual_cost"):
        assert key in summary
    assert (summary["status"], summary["done"], summary["total"]) == ("running", 4, 10)


def test_the_job_page_is_read_only(alice_client, job):
    url = reverse("admin:captions_generationjob_change", args=[job.pk])
    assert alice_client.post(url, {"status": "finished"}).status_code == 403
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.RUNNING


def test_a_running_job_may_not_be_deleted(alice_client, job, text_template):
    delete_url = reverse("admin:captions_generationjob_delete", args=[job.pk])
    assert alice_client.post(delete_url, {"post": "yes"}).status_code == 403
    ended = make_job(text_template, status=GenerationJob.Status.FINISHED)
    response = alice_client.post(
        reverse("admin:captions_generationjob_changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [job.pk, ended.pk],
            "post": "yes",
        },
        follow=True,
    )
    assert "still running" in response.content.decode()
    assert GenerationJob.objects.count() == 2


def test_an_ended_job_may_be_deleted_with_the_bulk_action(alice_client, text_template):
    ended = make_job(text_template, status=GenerationJob.Status.CANCELLED)
    alice_client.post(
        reverse("admin:captions_generationjob_changelist"),
        {"action": "delete_selected", "_selected_action": [ended.pk], "post": "yes"},
    )
    assert not GenerationJob.objects.exists()


# --- the job list ---------------------------------------------------------------------


def test_the_job_list_shows_status_progress_tokens_and_cost(alice, alice_client, job):
    GenerationJob.objects.filter(pk=job.pk).update(
        failed=1,
        tokens_in=12345,
        tokens_out=678,
        estimated_cost=0.02,
        actual_cost=0.0081,
        created_by=alice,
    )
    html = alice_client.get(
        reverse("admin:captions_generationjob_changelist")
    ).content.decode()
    assert 'class="job-status job-status--running"' in html
    assert "offline<br>offline-1" in html
    assert "chatearthnet-text v1" in html
    assert 'data-job-bar="failed" style="width: 10.00%"' in html
    assert re.search(r'data-job-field="tokens_in">12,345<', html)
    assert "$0.0200" in html
    assert re.search(r'data-job-field="actual_cost">\$0.0081<', html)
    assert ">alice<" in html


def test_job_list_queries_do_not_grow_with_jobs(
    alice, alice_client, text_template, django_assert_max_num_queries
):
    for _ in range(20):
        make_job(text_template, created_by=alice)
    # One of them reads the workers' heartbeats (shown above the list).
    with django_assert_max_num_queries(9):
        response = alice_client.get(reverse("admin:captions_generationjob_changelist"))
    assert response.content.count(b'class="job-progress"') == 20


# --- prompt templates -----------------------------------------------------------------


def test_the_template_list_always_shows_the_builtin_templates(alice_client):
    # Written by the data migration 0008, not by this page.
    assert PromptTemplate.objects.filter(is_builtin=True).count() == 2
    html = alice_client.get(
        reverse("admin:captions_prompttemplate_changelist")
    ).content.decode()
    assert "chatearthnet-text v1" in html
    assert "chatearthnet-vision v1" in html


def test_a_template_page_shows_its_text_and_parameters_read_only(
    alice_client, text_template
):
    html = alice_client.get(
        reverse("admin:captions_prompttemplate_change", args=[text_template.pk])
    ).content.decode()
    assert "{overall}" in html  # a placeholder of the user template
    assert "region by region" in html  # the system template
    assert "&quot;max_tokens&quot;: 300" in html
    assert 'name="_save"' not in html
    new_version_url = reverse(
        "admin:captions_prompttemplate_new_version", args=[text_template.pk]
    )
    assert new_version_url in html


def test_a_template_is_never_changed_in_place(alice_client, text_template):
    url = reverse("admin:captions_prompttemplate_change", args=[text_template.pk])
    response = alice_client.post(
        url, {"system_template": "changed", "user_template": "changed"}
    )
    assert response.status_code == 403
    text_template.refresh_from_db()
    assert text_template.system_template.startswith("You write captions")
    assert (
        alice_client.get(reverse("admin:captions_prompttemplate_add")).status_code
        == 403
    )


def test_a_new_version_starts_from_the_template_and_leaves_it_unchanged(
    alice, alice_client, text_template
):
    url = reverse("admin:captions_prompttemplate_new_version", args=[text_template.pk])
    form_html = alice_client.get(url).content.decode()
    assert "region by region" in form_html  # pre-filled with the current text
    response = alice_client.post(
        url,
        {
            "system_template": text_template.system_template + "\nBe brief.",
            "user_template": text_template.user_template,
            "parameters": '{"max_tokens": 200}',
        },
    )
    created = PromptTemplate.objects.get(name="chatearthnet-text", version=2)
    assert response["Location"] == reverse(
        "admin:captions_prompttemplate_change", args=[created.pk]
    )
    assert created.system_template.endswith("Be brief.")
    assert (created.parameters, created.created_by) == ({"max_tokens": 200}, alice)
    assert created.kind == text_template.kind
    old = PromptTemplate.objects.get(pk=text_template.pk)
    assert (old.version, old.system_template, old.parameters) == (
        1,
        text_template.system_template,
        text_template.parameters,
    )
    # The launch form now proposes the newest version.
    html = alice_client.get(LAUNCH_URL).content.decode()
    assert f'<option value="{created.pk}" selected>chatearthnet-text v2' in html


def test_the_new_version_action_opens_the_form_of_the_selected_template(
    alice_client, text_template
):
    response = alice_client.post(
        reverse("admin:captions_prompttemplate_changelist"),
        {"action": "new_version", "_selected_action": [text_template.pk]},
    )
    assert response["Location"] == reverse(
        "admin:captions_prompttemplate_new_version", args=[text_template.pk]
    )


@pytest.mark.parametrize(
    ("user_template", "error"),
    [
        (
            "{overall} and {colour}",
            "unknown placeholder(s) in the user template: colour",
        ),
        ("{overall", "malformed user template"),
        (None, "Nothing changed"),
    ],
)
def test_a_new_version_that_cannot_render_or_changes_nothing_is_refused(
    alice_client, text_template, user_template, error
):
    url = reverse("admin:captions_prompttemplate_new_version", args=[text_template.pk])
    response = alice_client.post(
        url,
        {
            "system_template": text_template.system_template,
            "user_template": user_template or text_template.user_template,
            "parameters": '{"max_tokens": 300, "temperature": 0.7}',
        },
    )
    assert response.status_code == 200
    assert error in response.content.decode()
    assert PromptTemplate.objects.filter(name="chatearthnet-text").count() == 1


# --- captions -------------------------------------------------------------------------


def test_the_caption_list_shows_thumbnail_text_checks_and_provenance(
    alice_client, caption
):
    html = alice_client.get(
        reverse("admin:captions_caption_changelist")
    ).content.decode()
    assert f'src="{caption.patch.rgb_preview.url}"' in html
    assert "A green forest appears across the scene." in html
    assert 'class="caption-failed-checks caption-failed-checks--some">2<' in html
    job_url = reverse("admin:captions_generationjob_change", args=[caption.job_id])
    assert f'<a href="{job_url}" title="{caption.job}">#{caption.job_id}</a>' in html
    assert "offline-1" in html


def test_caption_list_queries_do_not_grow_with_captions(
    alice_client, media_root, job, django_assert_max_num_queries
):
    scene = make_scene("many")
    for row in range(12):
        make_caption(make_patch(scene, media_root, row_off=row * 32), job)
    with django_assert_max_num_queries(8):
        response = alice_client.get(reverse("admin:captions_caption_changelist"))
    assert response.content.count(b'class="patch-thumbs"') == 12


def test_the_caption_page_shows_text_checks_messages_and_usage(alice_client, caption):
    html = alice_client.get(
        reverse("admin:captions_caption_change", args=[caption.pk])
    ).content.decode()
    assert "Uses a colour name" in html
    assert "&#x27;green&#x27; is a colour; name the land-cover class instead." in html
    assert re.search(r'<mark title="[^"]*colour[^"]*">green</mark>', html)
    assert '<pre class="chat-message__text">You write captions.</pre>' in html
    assert "Land-cover classes: tree, water." in html
    assert "412" in html
    assert "187" in html
    assert "1,234 ms" in html
    assert "&quot;max_tokens&quot;: 300" in html
    assert 'name="_save"' not in html


def test_captions_are_read_only(alice_client, caption):
    change_url = reverse("admin:captions_caption_change", args=[caption.pk])
    assert alice_client.post(change_url, {"text": "edited"}).status_code == 403
    assert alice_client.get(reverse("admin:captions_caption_add")).status_code == 403
    delete_url = reverse("admin:captions_caption_delete", args=[caption.pk])
    assert alice_client.post(delete_url, {"post": "yes"}).status_code == 403
    caption.refresh_from_db()
    assert caption.text == "A green forest appears across the scene."


def test_a_remote_image_in_stored_messages_is_not_fetched(alice_client, patches, job):
    tracked = make_caption(
        patches[1],
        job,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}
                ],
            }
        ],
    )
    html = alice_client.get(
        reverse("admin:captions_caption_change", args=[tracked.pk])
    ).content.decode()
    assert 'src="https://x.test/a.png"' not in html
    assert "[image: https://x.test/a.png]" in html


# --- what users and the LLM wrote -----------------------------------------------------

MARKUP = '<img src=x onerror="alert(1)">'
ESCAPED = "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"


def test_what_an_llm_or_a_user_wrote_is_escaped_on_every_page_that_shows_it(
    alice_client, patches, job
):
    caption = make_caption(
        patches[0],
        job,
        text=f"Tree cover {MARKUP}",
        generated_text=f"Water {MARKUP}",
        checks=[{"check": "colour_word", "message": MARKUP, "span": [0, 4]}],
        failed_checks=1,
        parameters={"note": MARKUP},
        messages=[{"role": "user", "content": MARKUP}],
    )
    GenerationFailure.objects.create(
        job=job, patch=patches[1], reason="bad_json", message=MARKUP
    )
    template = PromptTemplate.objects.create(
        name="markup", version=1, kind="text", system_template=MARKUP,
        user_template=MARKUP, parameters={"note": MARKUP},
    )  # fmt: skip
    pages = {
        "caption list": reverse("admin:captions_caption_changelist"),
        "caption page": reverse("admin:captions_caption_change", args=[caption.pk]),
        "job page": reverse("admin:captions_generationjob_change", args=[job.pk]),
        "failure list": reverse("admin:captions_generationfailure_changelist"),
        "template page": reverse(
            "admin:captions_prompttemplate_change", args=[template.pk]
        ),
    }
    for name, url in pages.items():
        html = alice_client.get(url).content.decode()
        assert "<img src=x" not in html, name
        assert ESCAPED in html, name
