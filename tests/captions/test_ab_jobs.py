"""A/B jobs (issue 12, items 3 and 4): a job splits its patches at random between
two templates or models, each caption records its arm, and the dashboard and the API
compare the arms with an interval."""

import io
import json

import pytest
from django.core.management import call_command
from django.test import Client

from captions.generation.options import ABTest, GenerationError, JobOptions, Selection
from captions.generation.plans import job_plan
from captions.generation.recording import ab_draw as _draw
from captions.models import Caption, PromptTemplate
from captions.proportions import difference_interval
from tests.api_data import token_client
from tests.captions.generation_fixtures import launch, make_patches, run_all_chunks
from verification import services
from verification.quality import ab_comparisons

pytestmark = pytest.mark.django_db


@pytest.fixture
def second_template(curator) -> PromptTemplate:
    base = PromptTemplate.objects.get(name="chatearthnet-text", version=1)
    return PromptTemplate.objects.create(
        name="terse", version=1, kind=base.kind, system_template=base.system_template,
        user_template=base.user_template + "\nBe brief.", parameters=base.parameters,
        created_by=curator,
    )  # fmt: skip


def test_an_ab_job_draws_each_patch_s_arm_and_records_it(
    second_template, enqueued_chunks
):
    make_patches(60)
    job = launch(ab=ABTest("terse", "offline-1", share=0.5))
    run_all_chunks(job)

    captions = list(job.captions.select_related("template"))
    arms = {c.arm for c in captions}
    assert arms == {"a", "b"}
    for caption in captions:
        expected = "terse" if caption.arm == "b" else "chatearthnet-text"
        assert caption.template.name == expected
    b_count = sum(c.arm == "b" for c in captions)
    assert 15 <= b_count <= 45  # half of 60, drawn
    b_text = next(c for c in captions if c.arm == "b").messages[-1]["content"]
    assert b_text.endswith("Be brief.")
    # The draw is fixed by job and patch: every worker and retry gives the same arm.
    for caption in captions:
        expected_arm = "b" if _draw(job.pk, caption.patch_id) < 0.5 else "a"
        assert caption.arm == expected_arm
    assert (job.template_b, job.model_b, job.b_share) == (
        second_template, "offline-1", 0.5
    )  # fmt: skip


@pytest.mark.parametrize(
    ("ab", "message"),
    [
        (ABTest("chatearthnet-text", "offline-1"), "the same template and model"),
        (ABTest("terse", "offline-1", share=1.0), "strictly between 0 and 1"),
        (ABTest("nope", "offline-1"), "nope"),
    ],
)
def test_a_bad_second_arm_is_refused_before_anything_is_written(
    second_template, ab, message
):
    make_patches(3)
    with pytest.raises(GenerationError, match=message):
        job_plan(
            selection=Selection(), backend="offline", model="offline-1",
            template="chatearthnet-text", options=JobOptions(), ab=ab,
        )  # fmt: skip


def review_arms(job, curator, keep_a: int, keep_b: int) -> None:
    """Approve the first `keep_*` captions of each arm, reject the rest."""
    for arm, keep in (("a", keep_a), ("b", keep_b)):
        for number, caption in enumerate(job.captions.filter(arm=arm).order_by("id")):
            if number < keep:
                services.caption_approve(caption_id=caption.pk, user=curator, version=1)
            else:
                services.caption_reject(
                    caption_id=caption.pk, user=curator, version=1, reason="No."
                )


def test_the_comparison_gives_each_arm_and_the_difference_with_its_interval(
    second_template, curator, enqueued_chunks
):
    make_patches(40)
    job = launch(ab=ABTest("terse", "offline-1", share=0.5))
    run_all_chunks(job)
    counts = {arm: job.captions.filter(arm=arm).count() for arm in "ab"}
    review_arms(job, curator, keep_a=counts["a"] - 2, keep_b=counts["b"])

    (comparison,) = ab_comparisons()

    assert comparison["job"] == job.pk
    assert (comparison["a"]["kept"], comparison["a"]["reviewed"]) == (
        counts["a"] - 2, counts["a"]
    )  # fmt: skip
    assert comparison["b"]["kept_rate"] == 1.0
    expected = difference_interval(
        counts["a"] - 2, counts["a"], counts["b"], counts["b"]
    )
    assert comparison["difference"]["interval"] == pytest.approx(list(expected))
    assert comparison["difference"]["kept_rate_b_minus_a"] == pytest.approx(
        2 / counts["a"]
    )


def test_no_difference_until_both_arms_have_reviews(second_template, enqueued_chunks):
    make_patches(20)
    run_all_chunks(launch(ab=ABTest("terse", "offline-1")))
    (comparison,) = ab_comparisons()
    assert comparison["difference"] is None
    assert comparison["a"]["kept_interval"] is None


def test_launching_an_ab_job_from_the_command_the_api_and_the_admin(
    second_template, curator, annotator, enqueued_chunks
):
    make_patches(10)
    out = io.StringIO()
    call_command(
        "generate_captions", "--ab-template", "terse", "--ab-share", "0.3",
        "--json", stdout=out,
    )  # fmt: skip
    from_command = json.loads(out.getvalue())
    body = {"backend": "offline", "only_uncaptioned": False, "ab_template": "terse"}
    from_api = token_client(curator).post(
        "/api/v1/jobs/launch/", body, content_type="application/json"
    )
    refused = token_client(annotator).post(
        "/api/v1/jobs/launch/", body, content_type="application/json"
    )
    client = Client()
    client.force_login(curator)
    page = client.get("/admin/captions/generationjob/launch/")

    assert (from_command["template_b"], from_command["b_share"]) == ("terse v1", 0.3)
    assert from_api.status_code == 201
    assert (from_api.json()["template_b"], from_api.json()["model_b"]) == (
        "terse v1", "offline-1"
    )  # fmt: skip
    assert refused.status_code == 403
    assert b"A/B: template B" in page.content


def test_the_dashboard_and_the_api_compare_the_arms_for_curators(
    second_template, curator, consumer, enqueued_chunks
):
    make_patches(20)
    job = launch(ab=ABTest("terse", "offline-1"))
    run_all_chunks(job)
    review_arms(job, curator, keep_a=1, keep_b=1)
    client = Client()
    client.force_login(curator)

    page = client.get("/").content.decode()
    answer = token_client(curator).get("/api/v1/quality/ab/")
    refused = token_client(consumer).get("/api/v1/quality/ab/")

    assert 'id="ab-jobs"' in page and "terse v1 · offline-1" in page
    assert answer.status_code == 200
    assert answer.json()["results"] == ab_comparisons()
    assert refused.status_code == 403
    assert Caption.objects.filter(job=job, arm="").count() == 0
