"""Regenerating rejected captions (issue 12, item 3): the selection, the correction
hint in the prompt, the lineage of the new caption, and the three ways to launch it."""

import io
import json

import pytest
from django.core.management import call_command
from django.test import Client

from captions.generation.options import GenerationError, JobOptions, Selection
from captions.generation.plans import job_plan, selected_patches
from captions.generation.prompts import CORRECTION_HINT, with_correction
from captions.models import Caption, GenerationJob
from tests.api_data import token_client
from tests.captions.generation_fixtures import (
    KEY,
    launch,
    make_patches,
    run_all_chunks,
)
from tests.fake_openai import FakeOpenAI
from verification import services
from verification.models import Revision

REASON = 'Says "forest" in the top left,\nwhere there is only water.'


# --- The hint ---------------------------------------------------------------------


def test_the_hint_follows_the_user_text_with_the_reason_on_one_line():
    text = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    vision = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": [{"type": "text", "text": "U"}, {"type": "x"}]},
    ]

    hinted = with_correction(text, REASON)
    hinted_vision = with_correction(vision, REASON)

    expected = CORRECTION_HINT.format(
        because=" because: \"Says 'forest' in the top left, where there is only "
        'water."'
    )
    assert hinted == [text[0], {"role": "user", "content": f"U\n\n{expected}"}]
    assert hinted_vision[1]["content"] == [
        {"type": "text", "text": f"U\n\n{expected}"},
        {"type": "x"},
    ]
    assert text[1]["content"] == "U"  # the messages given are left as they were
    assert with_correction(text, "  ")[1]["content"].endswith(
        "rejected an earlier caption of this image. Write a new caption that does "
        "not repeat that mistake."
    )


# --- Selection and jobs -------------------------------------------------------------


@pytest.fixture
def reviewed(db, curator, enqueued_chunks):
    """Four patches captioned offline, then: one rejected with a reason, one
    rejected without a usable one, one approved, one left pending."""
    patches = make_patches(4)
    run_all_chunks(launch())
    captions = {c.patch_id: c for c in Caption.objects.all()}
    first, second, third, _ = (captions[p.pk] for p in patches)
    services.caption_reject(caption_id=first.pk, user=curator, version=1, reason=REASON)
    services.caption_reject(caption_id=second.pk, user=curator, version=1, reason="x")
    services.caption_approve(caption_id=third.pk, user=curator, version=1)
    return patches, first, second


def test_the_selection_holds_the_patches_with_an_unreplaced_rejection(reviewed):
    patches, _, _ = reviewed
    chosen = list(selected_patches(Selection(rejected_only=True)))
    assert chosen == [patches[0], patches[1]]


def test_a_regeneration_job_sends_the_reason_and_records_the_lineage(
    reviewed, enqueued_chunks, llm_endpoint
):
    patches, first, second = reviewed
    with FakeOpenAI(api_key=KEY) as server:
        job = launch(
            selection=Selection(rejected_only=True), backend="openai",
            model="gpt-4o-mini", endpoint=llm_endpoint(server),
        )  # fmt: skip
        run_all_chunks(job)
        bodies = list(server.requests)

    assert job.status == GenerationJob.Status.FINISHED
    assert len(bodies) == 2
    sent = "\n".join(body["messages"][-1]["content"] for body in bodies)
    assert "Says 'forest' in the top left, where there is only water." in sent
    assert 'because: "x"' in sent
    new = {c.patch_id: c for c in job.captions.all()}
    assert (new[patches[0].pk].replaces_id, new[patches[0].pk].replace_reason) == (
        first.pk, REASON
    )  # fmt: skip
    assert new[patches[1].pk].replaces_id == second.pk
    assert {c.status for c in new.values()} == {Caption.Status.PENDING}
    assert "where there is only water" in new[patches[0].pk].messages[-1]["content"]
    # In each replaced caption's history: a revision by whoever launched the job.
    regenerated = Revision.objects.filter(action="regenerate").order_by("caption_id")
    assert [(r.caption_id, r.user_id) for r in regenerated] == [
        (first.pk, job.created_by_id), (second.pk, job.created_by_id)
    ]  # fmt: skip
    assert regenerated[0].reason == (
        f"replaced by caption {new[patches[0].pk].pk} of job {job.pk}: {REASON}"
    )
    assert regenerated[0].status_after == regenerated[0].status_before == "rejected"
    # Replaced now: nothing is left to regenerate.
    with pytest.raises(GenerationError, match="holds no patches"):
        job_plan(
            selection=Selection(rejected_only=True), backend="offline",
            model="offline-1", template="chatearthnet-text", options=JobOptions(),
        )  # fmt: skip


def test_a_caption_of_a_regenerated_patch_rejected_again_can_be_regenerated(
    reviewed, curator, enqueued_chunks
):
    patches, first, _ = reviewed
    run_all_chunks(launch(selection=Selection(rejected_only=True)))
    again = Caption.objects.get(replaces=first)
    services.caption_reject(
        caption_id=again.pk, user=curator, version=1, reason="Still wrong."
    )

    job = launch(selection=Selection(rejected_only=True))
    run_all_chunks(job)

    newest = job.captions.get()
    assert (newest.patch_id, newest.replaces_id) == (patches[0].pk, again.pk)
    assert newest.replace_reason == "Still wrong."
    assert "Still wrong." in newest.messages[-1]["content"]


def test_the_plan_shows_the_hint_in_its_example(reviewed):
    plan = job_plan(
        selection=Selection(rejected_only=True), backend="offline", model="offline-1",
        template="chatearthnet-text", options=JobOptions(),
    )  # fmt: skip
    assert plan.patch_count == 2
    assert "where there is only water" in plan.example_messages[-1]["content"]


# --- Launching it: the command, the API, the admin ------------------------------------


def test_the_command_regenerates_rejected_captions(reviewed):
    out = io.StringIO()
    call_command(
        "generate_captions", "--rejected", "--backend", "offline", "--json",
        stdout=out,
    )  # fmt: skip
    job = GenerationJob.objects.get(pk=json.loads(out.getvalue())["id"])
    assert job.selection["rejected_only"] is True
    assert job.total == 2


def test_the_api_launches_a_regeneration_for_curators_only(
    reviewed, curator, annotator
):
    body = {"backend": "offline", "rejected_only": True}
    refused = token_client(annotator).post(
        "/api/v1/jobs/launch/", body, content_type="application/json"
    )
    launched = token_client(curator).post(
        "/api/v1/jobs/launch/", body, content_type="application/json"
    )
    assert refused.status_code == 403
    assert launched.status_code == 201
    assert launched.json()["selection"]["rejected_only"] is True
    assert launched.json()["total"] == 2


def test_the_api_and_the_admin_show_the_lineage(reviewed, curator, consumer):
    _, first, _ = reviewed
    run_all_chunks(launch(selection=Selection(rejected_only=True)))
    new = Caption.objects.get(replaces=first)

    detail = token_client(consumer).get(f"/api/v1/captions/{new.pk}/").json()
    client = Client()
    client.force_login(curator)
    page = client.get(f"/admin/captions/caption/{new.pk}/change/")

    assert (detail["replaces"], detail["replace_reason"]) == (first.pk, REASON)
    assert page.status_code == 200
    # The reason as the reviewer wrote it (the prompt's copy has single quotes).
    assert "Says &quot;forest&quot; in the top left" in page.content.decode()


def test_the_admin_launch_page_offers_regeneration(reviewed, curator):
    client = Client()
    client.force_login(curator)
    page = client.get("/admin/captions/generationjob/launch/")
    assert page.status_code == 200
    assert b"Regenerate rejected captions" in page.content


# --- Any captions a curator chooses --------------------------------------------------


def test_chosen_captions_are_regenerated_with_a_hint_only_for_rejected_ones(
    reviewed, curator, enqueued_chunks
):
    patches, first, _ = reviewed
    approved = Caption.objects.get(patch=patches[2], job__isnull=False)
    job = launch(selection=Selection(caption_ids=(approved.pk, first.pk)))
    run_all_chunks(job)

    new = {c.replaces_id: c for c in job.captions.all()}
    assert set(new) == {approved.pk, first.pk}
    assert "rejected an earlier caption" not in new[approved.pk].messages[-1]["content"]
    assert new[approved.pk].replace_reason == ""
    assert "where there is only water" in new[first.pk].messages[-1]["content"]
    approved.refresh_from_db()
    assert approved.status == Caption.Status.APPROVED  # kept until reviewed again


def test_the_caption_list_action_opens_the_launch_page_with_the_captions(
    reviewed, curator, annotator
):
    _, first, second = reviewed
    client = Client()
    client.force_login(curator)
    changelist = "/admin/captions/caption/"
    chosen = {"action": "regenerate", "_selected_action": [first.pk, second.pk]}

    moved = client.post(changelist, chosen)
    refused = Client()
    refused.force_login(annotator)
    not_curator = refused.post(changelist, chosen)

    assert moved.status_code == 302
    path, query = moved["Location"].split("?")
    assert path == "/admin/captions/generationjob/launch/"
    ids = query.removeprefix("captions=")
    assert sorted(map(int, ids.split(","))) == sorted([first.pk, second.pk])
    page = client.get(moved["Location"])
    assert page.status_code == 200
    assert f'name="caption_ids" value="{ids}"' in page.content.decode()
    assert not_curator.status_code in (302, 403)
    assert "generationjob/launch" not in not_curator.get("Location", "")


def test_the_api_and_the_command_take_chosen_captions_and_refuse_unknown_ones(
    reviewed, curator
):
    _, first, _ = reviewed
    client = token_client(curator)
    body = {"backend": "offline", "caption_ids": [first.pk, 999999]}
    unknown = client.post("/api/v1/jobs/launch/", body, content_type="application/json")
    launched = client.post(
        "/api/v1/jobs/launch/", {"backend": "offline", "caption_ids": [first.pk]},
        content_type="application/json",
    )  # fmt: skip
    out = io.StringIO()
    call_command("generate_captions", "--captions", str(first.pk), "--json", stdout=out)

    assert unknown.status_code == 400 and "999999" in unknown.json()["error"]
    assert launched.status_code == 201
    assert launched.json()["selection"]["caption_ids"] == [first.pk]
    assert json.loads(out.getvalue())["total"] == 1
