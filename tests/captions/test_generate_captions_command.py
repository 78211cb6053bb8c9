"""`manage.py generate_captions`: launch, wait with a real worker, report."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from captions.models import Caption, GenerationJob
from tests.captions.generation_fixtures import make_patches
from tests.fake_openai import FakeOpenAI


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("generate_captions", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.worker
def test_wait_shows_the_job_through_to_the_end_with_a_real_worker(celery_worker):
    make_patches(30)
    job = json.loads(
        run("--backend", "offline", "--wait", "--json", "--chunk-size", "7")
    )
    assert job["status"] == "finished"
    assert (job["done"], job["failed"], job["total"]) == (30, 0, 30)
    assert job["template"] == "chatearthnet-text v1"
    assert job["tokens_in"] > 0
    assert Caption.objects.count() == 30


@pytest.mark.django_db
def test_without_wait_the_job_is_queued_and_reported(monkeypatch):
    from captions import tasks

    monkeypatch.setattr(tasks.generate_chunk, "delay", lambda *args: None)
    make_patches(5, scene_name="valley")
    text = run("--scene", "valley", "--split", "train", "--limit", "1")
    job = GenerationJob.objects.get()
    assert f"Job {job.pk} (offline/offline-1" in text
    assert job.total == 1
    assert job.selection["splits"] == ["train"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scene", "atlantis"], "no scene named 'atlantis'"),
        (["--template", "haiku"], "unknown template 'haiku'"),
        (["--split", "val", "--limit", "0"], "no patches to caption"),
        (["--backend", "openai", "--endpoint", "azure"], "unknown endpoint 'azure'"),
        (
            ["--backend", "openai", "--base-url", "http://127.0.0.1:9/v1"],
            "not the URL of a configured endpoint",
        ),
        (
            ["--allow-empty", "--base-url", "http://127.0.0.1:9/v1"],
            "not the URL of a configured endpoint",
        ),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_queued(args, message, settings):
    settings.LLM_ENDPOINTS = {
        "local": {"base_url": "http://127.0.0.1:8000/v1", "key_variable": ""}
    }
    make_patches(3)
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert GenerationJob.objects.count() == 0


@pytest.mark.django_db
def test_allow_empty_exits_quietly_when_everything_is_captioned(monkeypatch):
    from captions import tasks

    monkeypatch.setattr(tasks.generate_chunk, "delay", lambda *args: None)
    assert "Nothing to caption" in run("--allow-empty")
    assert GenerationJob.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["--endpoint", "--base-url"])
def test_an_openai_job_goes_to_the_endpoint_named_or_to_the_one_its_url_is(
    monkeypatch, llm_endpoint, how
):
    from captions import tasks

    monkeypatch.setattr(tasks.generate_chunk, "delay", lambda *args: None)
    make_patches(2)
    with FakeOpenAI(api_key="sk-command") as server:
        endpoint = llm_endpoint(server, "vllm")
        given = endpoint if how == "--endpoint" else server.base_url
        run("--backend", "openai", "--model", "llama3", how, given)
    job = GenerationJob.objects.get()
    assert (job.endpoint, job.base_url) == ("vllm", server.base_url)
