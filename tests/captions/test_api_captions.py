"""Captions through the API: filters, revisions, the detail's prompt, query counts.

In the world (tests/api_data.py) Anna approved one caption, Cora edited one and
rejected one, two are pending; Conrad reads them with his token.
"""

import pytest
from django.urls import reverse

from captions.models import Caption
from tests.api_data import hand_to, make_caption, token_client
from verification import services

pytestmark = pytest.mark.django_db

CAPTIONS = reverse("api-caption-list")


def ids(response) -> set[int]:
    assert response.status_code == 200, response.json()
    return {row["id"] for row in response.json()["results"]}


def test_a_caption_carries_its_provenance_and_revisions(consumer, api_world):
    response = token_client(consumer).get(CAPTIONS, {"status": "edited"})
    [row] = response.json()["results"]
    assert row["id"] == api_world.edited.pk
    assert row["text"] == "Grassland covers it all."
    assert row["generated_text"] == "Grass everywhere, possibly."
    assert row["reviewed_by"] == "cora"
    assert row["version"] == 2
    [revision] = row["revisions"]
    assert revision["action"] == "edit"
    assert revision["user"] == "cora"
    assert revision["text_before"] == "Grass everywhere, possibly."
    assert revision["version_after"] == 2
    assert "messages" not in row


def test_the_detail_adds_the_prompt_as_sent(consumer, api_world):
    caption = api_world.approved
    response = token_client(consumer).get(
        reverse("api-caption-detail", args=[caption.pk])
    )
    assert response.status_code == 200
    body = response.json()
    assert body["messages"] == [{"role": "user", "content": "Describe the patch."}]
    assert body["template"] == "chatearthnet-text v1"
    assert body["job"] == api_world.ended_job.pk
    assert [r["action"] for r in body["revisions"]] == ["approve"]


def test_revisions_come_newest_first(consumer, curator, api_world):
    caption = api_world.pending
    hand_to(caption, curator)
    services.caption_edit(caption_id=caption.pk, user=curator, version=1, text="One.")
    services.caption_approve(caption_id=caption.pk, user=curator, version=2)
    response = token_client(consumer).get(
        reverse("api-caption-detail", args=[caption.pk])
    )
    assert [r["action"] for r in response.json()["revisions"]] == ["approve", "edit"]


def test_captions_filter(consumer, api_world):
    client = token_client(consumer)
    world = api_world
    assert ids(client.get(CAPTIONS, {"status": "pending"})) == {
        world.pending.pk,
        world.also_pending.pk,
    }
    assert ids(client.get(CAPTIONS, {"job": world.ended_job.pk})) == {
        world.pending.pk,
        world.also_pending.pk,
        world.approved.pk,
    }
    assert ids(client.get(CAPTIONS, {"reviewer": "anna"})) == {world.approved.pk}
    assert ids(client.get(CAPTIONS, {"reviewer": "cora"})) == {
        world.edited.pk,
        world.rejected.pk,
    }
    assert ids(client.get(CAPTIONS, {"reviewer": "nobody"})) == set()
    assert ids(client.get(CAPTIONS, {"patch": world.patches[2].pk})) == {
        world.edited.pk,
        world.also_pending.pk,
    }
    assert ids(client.get(CAPTIONS, {"scene": world.scenes[0].pk})) == {
        world.pending.pk,
        world.approved.pk,
    }


def test_captions_filter_by_failed_check(consumer, api_world):
    failed = {finding["check"] for finding in api_world.pending.checks}
    assert failed, "the world's pending caption should fail a check"
    for check in failed:
        expected = {
            caption.pk
            for caption in api_world.captions
            if any(finding["check"] == check for finding in caption.checks)
        }
        response = token_client(consumer).get(CAPTIONS, {"check": check})
        assert ids(response) == expected
        assert api_world.pending.pk in expected


@pytest.mark.parametrize(
    "query",
    [
        {"status": "accepted"},
        {"check": "spelling"},
        {"job": "first"},
        {"job": -1},
        {"reviewer": "x" * 151},
        {"reviewed_by": "anna"},  # not a filter: refused, not ignored
    ],
)
def test_a_bad_filter_is_a_400(consumer, api_world, query):
    response = token_client(consumer).get(CAPTIONS, query)
    assert response.status_code == 400
    assert "error" in response.json()


def test_a_page_of_captions_costs_the_same_queries_whatever_its_size(
    consumer, curator, api_world, django_assert_max_num_queries
):
    client = token_client(consumer)
    # token and user, roles, the page, and the revisions with their users
    with django_assert_max_num_queries(4):
        small = client.get(CAPTIONS, {"page_size": 100})
    for patch in api_world.patches:
        for n in range(3):
            caption = make_caption(patch, f"Caption {n}.", source=f"import-{n}")
            services.caption_approve(caption_id=caption.pk, user=curator, version=1)
    with django_assert_max_num_queries(4):
        large = client.get(CAPTIONS, {"page_size": 100})
    assert len(large.json()["results"]) == len(small.json()["results"]) + 12
    assert Caption.objects.count() == 17
