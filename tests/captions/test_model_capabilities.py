"""A vision template sends the land-cover map as an image: a model known to read text
only is refused, an unknown one needs the launcher's word (issue 11, item 5), in the
service and in each of its adapters: the admin's launch form, the API and the command.
"""

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from captions.generation.options import (
    KNOWN_MODELS,
    GenerationError,
    JobOptions,
    Selection,
)
from captions.generation.plans import job_plan
from captions.generation.templates import template_get
from captions.models import GenerationJob
from tests.api_data import token_client
from tests.captions.test_admin import make_patch, make_scene

pytestmark = pytest.mark.django_db

VISION = "chatearthnet-vision"
TEXT_ONLY = next(name for name, info in KNOWN_MODELS.items() if not info.reads_images)


@pytest.fixture
def patches(media_root):
    """Two patches with their preview files: a vision prompt reads the map."""
    scene = make_scene()
    return [make_patch(scene, media_root, row_off=row * 32) for row in range(2)]


def plan(model: str, template: str = VISION, **options):
    return job_plan(
        selection=Selection(), backend="offline", model=model, template=template,
        options=JobOptions(**options),
    )  # fmt: skip


def test_a_vision_template_with_a_text_only_model_is_refused_naming_the_readers(
    patches,
):
    with pytest.raises(GenerationError, match=f"{TEXT_ONLY} reads text only") as error:
        plan(TEXT_ONLY)
    assert "gpt-4o" in str(error.value)
    # The launcher's word does not override what the product knows.
    with pytest.raises(GenerationError, match="reads text only"):
        plan(TEXT_ONLY, model_reads_images=True)


def test_an_unknown_model_takes_a_vision_template_only_when_confirmed(patches):
    with pytest.raises(GenerationError, match="whether 'my-vlm' reads images"):
        plan("my-vlm")
    assert plan("my-vlm", model_reads_images=True).patch_count == 2


@pytest.mark.parametrize("model", ["gpt-4o-mini", "offline-1"])
def test_a_model_that_reads_images_takes_a_vision_template(patches, model):
    assert plan(model).patch_count == 2


@pytest.mark.parametrize("model", [TEXT_ONLY, "my-llm"])
def test_a_text_template_takes_any_model(patches, model):
    assert plan(model, template="chatearthnet-text").patch_count == 2


def test_the_api_refuses_it_with_a_400_and_takes_the_confirmation(curator, api_world):
    client = token_client(curator)
    jobs_before = GenerationJob.objects.count()
    body = {"only_uncaptioned": False, "template": VISION, "model": TEXT_ONLY}
    response = client.post(reverse("api-job-plan"), body, format="json")
    assert response.status_code == 400
    assert "reads text only" in response.json()["error"]
    body["model"] = "my-vlm"
    refused = client.post(reverse("api-job-launch"), body, format="json")
    assert refused.status_code == 400
    assert "reads images is not known" in refused.json()["error"]
    assert GenerationJob.objects.count() == jobs_before
    body["model_reads_images"] = True
    planned = client.post(reverse("api-job-plan"), body, format="json")
    assert planned.status_code == 200, planned.json()


def test_the_command_refuses_it_and_takes_the_confirmation(patches, enqueued_chunks):
    args = ["--backend", "offline", "--template", VISION, "--model", "my-vlm"]
    with pytest.raises(CommandError, match="reads images is not known"):
        call_command("generate_captions", *args)
    assert not GenerationJob.objects.exists()
    call_command("generate_captions", *args, "--model-reads-images", "--json")
    job = GenerationJob.objects.get()
    assert (job.model, job.options["model_reads_images"]) == ("my-vlm", True)


def test_the_admin_launch_form_refuses_it_and_takes_the_confirmation(
    curator, patches, enqueued_chunks
):
    client = Client()
    client.force_login(curator)
    form = {
        "only_uncaptioned": "on", "backend": "offline", "endpoint": "",
        "model": TEXT_ONLY, "template": str(template_get(VISION).pk),
        "in_flight_per_worker": "4", "chunk_size": "256", "_launch": "1",
    }  # fmt: skip
    url = reverse("admin:captions_generationjob_launch")
    response = client.post(url, form)
    assert response.status_code == 200
    assert "reads text only" in response.content.decode()
    assert not GenerationJob.objects.exists()
    response = client.post(url, {**form, "model": "my-vlm", "model_reads_images": "on"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert GenerationJob.objects.get().model == "my-vlm"
