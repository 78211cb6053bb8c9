"""The dashboard at `/`: progress, per-annotator numbers, classes, activity."""

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.verification.conftest import make_captions
from verification import queue, services
from verification.dashboard import annotator_numbers, dataset_progress
from verification.models import QualitySettings

pytestmark = pytest.mark.django_db


def review_some(alice, bob) -> None:
    # No second opinions or gold here: whether a verdict is sampled for QA depends
    # on the caption's id, and Bob would be handed Alice's caption blind.
    QualitySettings.objects.update_or_create(
        pk=QualitySettings.current().pk, defaults={"qa_rate": 0.0, "gold_rate": 0.0}
    )
    make_captions(4)
    for user, action in ((alice, "approve"), (alice, "edit"), (bob, "reject")):
        caption = queue.queue_claim_next(user=user)
        assert caption is not None
        if action == "approve":
            services.caption_approve(caption_id=caption.pk, user=user, version=1)
        elif action == "edit":
            services.caption_edit(
                caption_id=caption.pk, user=user, version=1,
                text="Tree cover fills the top, and water the bottom half.",
            )  # fmt: skip
        else:
            services.caption_reject(
                caption_id=caption.pk, user=user, version=1, reason="cut off"
            )


def test_progress_counts_captions_by_status(alice, bob):
    review_some(alice, bob)
    progress = dataset_progress()
    counts = {part["status"]: part["count"] for part in progress["parts"]}
    assert counts == {"approved": 1, "edited": 1, "rejected": 1, "pending": 1}
    assert progress["total"] == 4


def test_edit_rate_is_zero_for_approvals_and_positive_for_edits(alice, bob):
    review_some(alice, bob)
    people = {person["name"]: person for person in annotator_numbers()}
    assert people["alice"]["reviews"] == 2
    assert people["alice"]["edits"] == 1
    assert 0 < people["alice"]["edit_rate"] < 0.5  # half of two reviews changed a bit
    assert people["bob"]["edit_rate"] == 0
    assert sum(bar["count"] for bar in people["alice"]["bars"]) == 2


def test_an_annotator_sees_their_own_numbers_and_a_curator_everyones(alice, bob, carol):
    review_some(alice, bob)
    client = Client()
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert "Your numbers" in page
    assert ">bob<" not in page
    client.force_login(carol)
    page = client.get("/").content.decode()
    assert "Annotators" in page
    assert ">alice<" in page and ">bob<" in page
    # Verified patches by dominant class: tree dominates these patches.
    assert "tree" in page


def test_the_dashboard_needs_a_login(db):
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_dashboard_query_count_does_not_grow_with_reviews(alice, bob, carol):
    review_some(alice, bob)
    client = Client()
    client.force_login(carol)
    # The curator's page: progress, people (with QA and gold), classes, recent
    # activity, the prompts' and A/B tables (issue 12) and the session: a fixed
    # number whatever the reviews. The figures are cached: cleared, both compute.
    with CaptureQueriesContext(connection) as few:
        assert client.get("/").status_code == 200
    review_some(alice, bob)  # as many again, other captions and reasons
    cache.clear()
    with CaptureQueriesContext(connection) as more:
        assert client.get("/").status_code == 200
    assert len(more.captured_queries) == len(few.captured_queries) <= 18
