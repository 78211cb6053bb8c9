"""Each person's figures (issue 12, item 4): reviews, edit rate, time per item,
agreement with second reviewers and gold accuracy, with Wilson intervals; on the
dashboard and through `GET /api/v1/quality/annotators/`.

Alice and Bob annotate, Carol curates, Dave consumes. Alice approved or edited six
captions; Bob answered four of her verdicts blind (three agreed, one disagreed, then
adjudicated), and one more waits for him; Alice answered three gold items (two with
the gold verdict). An older second opinion, three weeks back, is outside the
dashboard's 14 days but in the API's all time.
"""

import datetime as dt
import re

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from captions.proportions import wilson_interval
from tests.api_data import token_client
from tests.verification.conftest import make_captions
from verification import dashboard
from verification.annotator_quality import annotator_quality
from verification.models import GoldAnswer, GoldCaption, QaReview, Revision

pytestmark = pytest.mark.django_db

GOLD_TEXT = "Goldword marshes border a goldword lagoon in the east."


def review(caption, user, action: str, *, seconds: float, distance: float) -> Revision:
    status = {"approve": "approved", "edit": "edited", "reject": "rejected"}[action]
    return Revision.objects.create(
        caption=caption, user=user, action=action, status_before="pending",
        status_after=status, text_before=caption.text, text_after=caption.text,
        version_after=2, seconds_spent=seconds, edit_distance=distance,
    )  # fmt: skip


def second_opinion(revision: Revision, second, state: str, *, days_ago: float = 1):
    """A QA review of `revision`'s verdict: open, or answered by `second`."""
    answer = {}
    if state != "open":
        agrees = state == "agreed"
        answer = {
            "second_reviewer": second,
            "action": revision.action if agrees else "reject",
            "verdict_agrees": agrees,
            "answered_at": timezone.now() - dt.timedelta(days=days_ago),
        }
    return QaReview.objects.create(
        caption=revision.caption, state=state, shown_text=revision.text_before,
        first_revision=revision, first_reviewer=revision.user,
        first_action=revision.action, first_text=revision.text_after, **answer,
    )  # fmt: skip


def gold_answer(
    caption, user, gold_action: str, action: str, distance=None, *, days_ago=1.0
):
    gold = GoldCaption.objects.create(
        caption=caption, action=gold_action, text=GOLD_TEXT, shown_text=caption.text
    )
    return GoldAnswer.objects.create(
        gold=gold, user=user, action=action, text=caption.text,
        verdict_agrees=action == gold_action, text_distance=distance,
        seconds_spent=30.0,
        answered_at=timezone.now() - dt.timedelta(days=days_ago),
    )  # fmt: skip


@pytest.fixture
def world(alice, bob, carol):
    captions = make_captions(11)
    verdicts = [
        review(caption, alice, action, seconds=seconds, distance=distance)
        for caption, action, seconds, distance in zip(
            captions[:6],
            ["approve", "approve", "approve", "edit", "edit", "approve"],
            [10.0, 20.0, 30.0, 40.0, 50.0, 30.0],
            [0.0, 0.0, 0.0, 0.3, 0.6, 0.0],
            strict=True,
        )
    ]
    review(captions[6], bob, "reject", seconds=5.0, distance=0.0)
    # Not a review: a curator's revert is not counted.
    Revision.objects.create(
        caption=captions[6], user=carol, action="revert", status_before="rejected",
        status_after="pending", text_before="t", text_after="t", version_after=3,
    )  # fmt: skip
    for revision, state in zip(
        verdicts, ["agreed", "agreed", "agreed", "adjudicated", "open"], strict=False
    ):
        second_opinion(revision, bob, state)
    second_opinion(verdicts[5], bob, "disagreed", days_ago=21)
    gold_answer(captions[7], alice, "approve", "approve")
    gold_answer(captions[8], alice, "edit", "edit", distance=0.1)
    gold_answer(captions[9], alice, "approve", "edit", distance=0.3)


def rows_by_name(rows: list[dict]) -> dict[str, dict]:
    return {row["username"]: row for row in rows}


def test_each_person_gets_reviews_agreement_and_gold_figures(world):
    people = rows_by_name(annotator_quality())
    alice, bob = people["alice"], people["bob"]

    assert (alice["reviews"], alice["edits"]) == (6, 2)
    assert alice["edit_rate"] == pytest.approx(0.9 / 6)
    assert alice["seconds_per_item"] == pytest.approx(30.0)
    # Five answered second opinions of her verdicts (the open one waits): 3 agreed.
    assert (alice["agreement_n"], alice["agreement_agreed"]) == (5, 3)
    assert alice["agreement"] == pytest.approx(0.6)
    assert alice["agreement_interval"] == pytest.approx(list(wilson_interval(3, 5)))
    assert (alice["gold_answers"], alice["gold_correct"]) == (3, 2)
    assert alice["gold_accuracy"] == pytest.approx(2 / 3)
    assert alice["gold_accuracy_interval"] == pytest.approx(list(wilson_interval(2, 3)))
    assert alice["gold_text_distance"] == pytest.approx(0.2)  # of her two edits
    assert alice["second_opinions"] == 0
    # Bob gave the second opinions; nobody second-reviewed him, he answered no gold.
    assert (bob["reviews"], bob["second_opinions"]) == (1, 5)
    assert bob["agreement"] is None and bob["agreement_interval"] is None
    assert bob["gold_accuracy"] is None and bob["gold_answers"] == 0
    # Carol's revert is no review, and she did nothing else.
    assert "carol" not in people


def test_the_dashboard_window_counts_answers_of_the_last_14_days(world, alice):
    since = timezone.now() - dt.timedelta(days=14)
    (mine,) = annotator_quality(only_user=alice, since=since)

    assert mine["username"] == "alice"
    # The disagreement of three weeks ago is out: 3 of 4 agreed.
    assert (mine["agreement_n"], mine["agreement_agreed"]) == (4, 3)
    assert mine["agreement_interval"] == pytest.approx(list(wilson_interval(3, 4)))


def percents(successes: int, trials: int) -> str:
    low, high = wilson_interval(successes, trials)
    share = round(100 * successes / trials)
    return f"{share} % ({round(100 * low)}–{round(100 * high)} %) of {trials}"


def test_a_curator_sees_everyones_agreement_and_gold_accuracy(world, carol):
    client = Client()
    client.force_login(carol)
    page = client.get("/").content.decode()

    assert ">alice<" in page and ">bob<" in page
    assert percents(3, 4) in page  # 75 %, within the 14 days
    assert percents(2, 3) in page
    assert "as of <time" in page


def test_an_annotator_sees_only_their_own_row_and_never_a_gold_text(world, alice):
    client = Client()
    client.force_login(alice)
    page = client.get("/").content.decode()

    assert "Your numbers" in page
    assert ">alice<" in page and ">bob<" not in page
    assert percents(3, 4) in page and percents(2, 3) in page
    assert "Goldword" not in page


def test_a_person_with_no_answers_gets_a_dash(world, bob):
    client = Client()
    client.force_login(bob)
    page = client.get("/").content.decode()

    assert '<td class="agreement">—</td>' in page
    assert '<td class="gold">—</td>' in page


def test_the_api_gives_curators_everyone_and_annotators_their_own_row(
    world, alice, carol
):
    everyone = token_client(carol).get("/api/v1/quality/annotators/").json()
    assert sorted(row["username"] for row in everyone["results"]) == ["alice", "bob"]

    response = token_client(alice).get("/api/v1/quality/annotators/")
    (mine,) = response.json()["results"]
    assert mine["username"] == "alice"
    assert (mine["agreement_n"], mine["agreement_agreed"]) == (5, 3)  # all time
    assert mine["gold_accuracy_interval"] == pytest.approx(list(wilson_interval(2, 3)))
    assert "Goldword" not in response.content.decode()


def test_consumers_and_anonymous_callers_are_refused(world, dave):
    assert token_client(dave).get("/api/v1/quality/annotators/").status_code == 403
    assert token_client().get("/api/v1/quality/annotators/").status_code == 401


def curator_page(carol) -> str:
    client = Client()
    client.force_login(carol)
    return client.get("/").content.decode()


def reviews_shown(page: str, name: str) -> int:
    """The Reviews cell of `name`'s row (after the name and the sparkline)."""
    found = re.search(
        rf">{name}</td>\s*<td><svg.*?</svg></td>\s*<td>(\d+)</td>", page, re.S
    )
    assert found, f"no row for {name}"
    return int(found.group(1))


def test_the_curators_figures_are_computed_at_most_once_a_minute(world, carol, bob):
    assert reviews_shown(curator_page(carol), "bob") == 1
    review(make_captions(1)[0], bob, "approve", seconds=5.0, distance=0.0)
    # Within the minute: the copy of the figures, with the time it is as of.
    assert reviews_shown(curator_page(carol), "bob") == 1
    # A minute on, they are computed again.
    key = dashboard.figures_key(dashboard.CURATOR_FIGURES)
    cached = cache.get(key)
    cached["as_of"] -= dt.timedelta(seconds=dashboard.FIGURES_FRESH_SECONDS)
    cache.set(key, cached)
    assert reviews_shown(curator_page(carol), "bob") == 2


def test_while_one_request_computes_the_others_get_the_older_copy(world, carol):
    old = (timezone.now() - dt.timedelta(minutes=5)).replace(microsecond=0)
    key = dashboard.figures_key(dashboard.CURATOR_FIGURES)
    cache.set(key, {"people": [], "prompts": [], "ab_jobs": [], "as_of": old})
    cache.set(f"{key}:computing", True)

    page = curator_page(carol)

    assert 'id="people"' in page and "<td>alice</td>" not in page  # the old copy
    assert f'datetime="{old.isoformat()}"' in page
    assert cache.get(key)["as_of"] == old


def test_an_annotators_own_gold_figures_leave_out_todays_answers(world, alice, carol):
    """Counts that moved with each answer would tell them which item was gold."""
    gold_answer(make_captions(1)[0], alice, "approve", "reject", days_ago=0)
    (mine,) = token_client(alice).get("/api/v1/quality/annotators/").json()["results"]
    assert (mine["gold_answers"], mine["gold_correct"]) == (3, 2)
    everyone = token_client(carol).get("/api/v1/quality/annotators/").json()
    theirs = rows_by_name(everyone["results"])["alice"]
    assert (theirs["gold_answers"], theirs["gold_correct"]) == (4, 2)
    client = Client()
    client.force_login(alice)
    assert percents(2, 3) in client.get("/").content.decode()
