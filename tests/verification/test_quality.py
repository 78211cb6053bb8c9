"""Per template version and model: approve, edit, reject, kept with its Wilson
interval, the commonest reject reasons (issue 12, item 4); on the dashboard for
curators and through the API."""

import pytest
from django.test import Client

from captions.models import Caption
from captions.proportions import wilson_interval
from tests.api_data import token_client
from tests.captions.generation_fixtures import launch, make_patches, run_all_chunks
from verification import services
from verification.quality import prompt_quality

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviewed(curator, enqueued_chunks):
    """Ten offline captions and two imported ones, reviewed: of the offline ones 5
    approved, 1 edited, 3 rejected (two for one reason), 1 pending."""
    patches = make_patches(12)
    run_all_chunks(launch())
    generated = list(Caption.objects.filter(job__isnull=False).order_by("id"))
    imported = [
        Caption.objects.create(patch=patch, source="ChatEarthNet_caps_35",
                               generated_text="t", text="t")
        for patch in patches[:2]
    ]  # fmt: skip

    def act(caption, action, **extra):
        getattr(services, f"caption_{action}")(
            caption_id=caption.pk, user=curator, version=1, **extra
        )

    for caption in generated[:5]:
        act(caption, "approve")
    act(generated[5], "edit", text="Trees, mostly.")
    act(generated[6], "reject", reason="Names a river.")
    act(generated[7], "reject", reason="Names a river.")
    act(generated[8], "reject", reason="Cut off.")
    act(imported[0], "reject", reason="Names a river.")
    act(imported[1], "approve")


def test_each_source_gets_its_counts_rates_interval_and_reasons(reviewed):
    rows = {row["label"]: row for row in prompt_quality()}

    assert list(rows) == [
        "chatearthnet-text v1 · offline-1",
        "imported: ChatEarthNet_caps_35",
    ]
    offline = rows["chatearthnet-text v1 · offline-1"]
    assert (offline["reviewed"], offline["approved"], offline["edited"]) == (9, 5, 1)
    assert offline["rejected"] == 3
    assert offline["kept_rate"] == pytest.approx(6 / 9)
    assert offline["reject_rate"] == pytest.approx(3 / 9)
    assert offline["kept_interval"] == pytest.approx(list(wilson_interval(6, 9)))
    assert offline["reject_reasons"] == [
        {"reason": "Names a river.", "count": 2}, {"reason": "Cut off.", "count": 1},
    ]  # fmt: skip
    imported = rows["imported: ChatEarthNet_caps_35"]
    assert (imported["reviewed"], imported["rejected"]) == (2, 1)
    assert imported["reject_reasons"] == [{"reason": "Names a river.", "count": 1}]


def test_a_caption_rejected_then_approved_no_longer_counts_its_reason(
    reviewed, curator
):
    rejected = Caption.objects.filter(status="rejected", job__isnull=False).first()
    assert rejected is not None
    services.caption_approve(caption_id=rejected.pk, user=curator, version=2)

    offline = prompt_quality()[0]
    assert (offline["approved"], offline["rejected"]) == (6, 2)
    assert sum(r["count"] for r in offline["reject_reasons"]) == 2


def test_curators_see_the_table_on_the_dashboard_annotators_do_not(
    reviewed, curator, annotator
):
    pages = {}
    for user in (curator, annotator):
        client = Client()
        client.force_login(user)
        pages[user.username] = client.get("/").content.decode()

    assert "Prompts and models" in pages["cora"]
    assert "chatearthnet-text v1 · offline-1" in pages["cora"]
    assert "67 % (35–88 %)" in pages["cora"]  # 6 of 9 kept
    assert "Names a river. (2)" in pages["cora"]
    assert "Prompts and models" not in pages["anna"]


def test_the_api_gives_the_same_figures_to_curators(reviewed, curator, consumer):
    answer = token_client(curator).get("/api/v1/quality/prompts/")
    refused = token_client(consumer).get("/api/v1/quality/prompts/")

    assert answer.status_code == 200
    assert answer.json()["results"] == prompt_quality()
    assert refused.status_code == 403
