"""Releases that state their quality (issue 12, item 5): the dataset card's Quality
section, the minimum of second-reviewed pairs per class a release may ask for, and
the review records a JSONL export adds on request.

Anna reviewed every pair first; Ben gave the second opinions; Cora curates; Conrad
consumes the dataset. The quality world, twelve approved pairs in one scene:

    pairs     classes            second opinion (QA review)        gold
    q0..q6    tree, water        agreed
    q7        tree, water        disagreed (another verdict)
    q8        snow, tree         agreed
    q9        mangroves, water   adjudicated (same verdict, other text)
    q10       tree, grass        open: no answer yet
    q11       tree, grass        none                               gold

So 10 answered, 8 of them agreed (80 %), 9 with the first verdict; confirmed: the 8
agreed, the adjudicated one and the gold one (10 of 12); snow and mangroves have one
second-reviewed pair each.
"""

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from captions import review_records
from captions.export import releases
from captions.export.dataset_card import ClassTotals, dataset_card_lines
from captions.export.filters import export_filters_from
from captions.models import Caption, Release
from captions.proportions import wilson_interval
from tests.api_data import (
    CROP,
    GRASS,
    TREE,
    WATER,
    make_caption,
    make_scene,
    token_client,
)
from tests.api_data import two_class_codes as codes_of
from tests.captions.export_data import make_export_patch
from tests.verification.conftest import make_user
from verification import quality_statement
from verification.models import GoldCaption, QaReview
from verification.roles import ANNOTATOR

SNOW, MANGROVES = 70, 95
REVIEWED_AT = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
EXPORT = "/api/v1/export/"
SHORT_OF_TWO = (
    "QA coverage too low: Snow and ice 1 of 2, Mangroves 1 of 2 second-reviewed "
    "pairs; have curators sample QA by class (manage.py sample_qa --per-class 2) and "
    "review them"
)
# (classes, QA state or None, the second verdict agrees, gold)
WORLD = [
    *[((TREE, WATER), "agreed", True, False)] * 7,
    ((TREE, WATER), "disagreed", False, False),
    ((SNOW, TREE), "agreed", True, False),
    ((MANGROVES, WATER), "adjudicated", True, False),
    ((TREE, GRASS), "open", None, False),
    ((TREE, GRASS), None, None, True),
]


@dataclass
class QualityWorld:
    captions: list[Caption]
    anna: object
    ben: object

    @property
    def ids(self) -> list[int]:
        return [caption.pk for caption in self.captions]


@pytest.fixture
def world(media_root: Path, annotator, curator) -> QualityWorld:
    ben = make_user("ben", ANNOTATOR)
    scene = make_scene("alps")
    captions = []
    for number, (classes, state, agrees, gold) in enumerate(WORLD):
        patch = make_export_patch(
            scene, media_root, codes_of(*classes), row_off=32 * number, split="train"
        )
        caption = make_caption(patch, f"Pair {number}: {classes[0]} and {classes[1]}.")
        Caption.objects.filter(pk=caption.pk).update(
            status="approved", reviewed_by=annotator, reviewed_at=REVIEWED_AT
        )
        if state is not None:
            _qa_review(caption, state, agrees, first=annotator, second=ben)
        if gold:
            GoldCaption.objects.create(
                caption=caption, action="approve", text=caption.text,
                shown_text=caption.text, marked_by=curator,
            )  # fmt: skip
        captions.append(caption)
    return QualityWorld(captions, annotator, ben)


def _qa_review(caption: Caption, state: str, agrees, *, first, second) -> QaReview:
    answered = state != "open"
    return QaReview.objects.create(
        caption=caption, state=state, shown_text=caption.text, first_reviewer=first,
        first_action="approve", first_text=caption.text,
        second_reviewer=second if answered else None,
        action="approve" if agrees else ("reject" if answered else ""),
        verdict_agrees=agrees, answered_at=REVIEWED_AT if answered else None,
    )  # fmt: skip


def built(curator, capture, **options) -> Release:
    with capture(execute=True):
        release = releases.release_create(
            filters=export_filters_from({}), user=curator, **options
        )
    return releases.release_build(release_id=release.pk)


def card_of(release: Release, releases_root: Path) -> str:
    return (releases_root / str(release.number) / "README.md").read_text()


# --- The statement -------------------------------------------------------------------


@pytest.mark.django_db
def test_the_statement_counts_confirmed_pairs_the_qa_sample_and_classes(world):
    low, high = wilson_interval(8, 10)
    assert quality_statement.quality_statement(world.ids) == {
        "pairs": 12,
        "confirmed": 10,
        "gold": 1,
        "qa_answered": 10,
        "qa_agreed": 8,
        "accuracy": {"share": 0.8, "low": low, "high": high},
        "verdict_agreements": 9,
        "classes": [
            {"code": TREE, "pairs": 11, "second_reviewed": 9},
            {"code": GRASS, "pairs": 2, "second_reviewed": 0},
            {"code": SNOW, "pairs": 1, "second_reviewed": 1},
            {"code": WATER, "pairs": 9, "second_reviewed": 9},
            {"code": MANGROVES, "pairs": 1, "second_reviewed": 1},
        ],
    }


@pytest.mark.django_db
def test_the_statement_reads_the_ids_in_chunks_with_two_queries_each(
    world, monkeypatch, django_assert_num_queries
):
    monkeypatch.setattr(quality_statement, "ID_CHUNK", 5)
    monkeypatch.setattr(quality_statement, "ID_CHUNK_POSTGRESQL", 5)
    with django_assert_num_queries(6):  # 12 ids: 3 chunks, totals and classes
        statement = quality_statement.quality_statement(world.ids)
    assert (statement["pairs"], statement["qa_agreed"]) == (12, 8)


@pytest.mark.django_db
def test_a_set_without_second_opinions_has_no_accuracy(world):
    statement = quality_statement.quality_statement(world.ids[-2:])
    assert statement["qa_answered"] == 0 and statement["accuracy"] is None
    assert statement["confirmed"] == 1  # the gold one


@pytest.mark.django_db
def test_the_shortfall_names_each_class_below_the_minimum_with_its_count(world):
    assert quality_statement.qa_coverage_shortfall(world.ids, 2) == [
        (GRASS, "Grassland", 0, 2),
        (SNOW, "Snow and ice", 1, 2),
        (MANGROVES, "Mangroves", 1, 2),
    ]
    assert quality_statement.qa_coverage_shortfall(world.ids[:10], 1) == []


# --- The dataset card ----------------------------------------------------------------


@pytest.mark.django_db
def test_the_card_states_the_quality_frozen_with_the_pairs(
    world, curator, enqueued_builds, releases_root, django_capture_on_commit_callbacks
):
    release = built(curator, django_capture_on_commit_callbacks)
    card = card_of(release, releases_root)
    low, high = wilson_interval(8, 10)
    assert f"(95% CI {100 * low:.1f}-{100 * high:.1f}%)" == "(95% CI 49.0-94.3%)"
    assert "## Quality\n" in card
    assert "- Confirmed: 10 of 12 pairs (83.3 %) by a second reviewer" in card
    assert "or held as gold items (1)." in card
    assert "- QA sample: 10 pairs reviewed again by a second annotator" in card
    assert (
        "- Estimated caption accuracy: 80.0 % (95% CI 49.0-94.3%): 8 of the 10 "
        "second opinions agreed with the first reviewer." in card
    )
    assert "- Verdict agreement: 9 of 10 (90.0 %) gave the first reviewer's" in card
    assert "| class | WorldCover code | pairs | second-reviewed pairs |" in card
    for row in ("| tree | 10 | 11 | 9 |", "| grass | 30 | 2 | 0 |",
                "| snow | 70 | 1 | 1 |", "| mangroves | 95 | 1 | 1 |"):  # fmt: skip
        assert row + "\n" in card
    assert f"| crop | {CROP} |" not in card.split("## Quality")[1]  # absent class
    assert release.quality == quality_statement.quality_statement(world.ids)


@pytest.mark.django_db
def test_a_rebuild_states_what_was_frozen_whatever_was_reviewed_since(
    world, curator, enqueued_builds, releases_root, django_capture_on_commit_callbacks
):
    release = built(curator, django_capture_on_commit_callbacks)
    before = card_of(release, releases_root)
    QaReview.objects.filter(state="open").update(state="disagreed")
    GoldCaption.objects.update(active=False)
    releases.release_build(release_id=release.pk, rebuild=True)  # checks every byte
    assert card_of(release, releases_root) == before


@pytest.mark.django_db
def test_a_release_frozen_before_quality_statements_keeps_its_card(
    world, curator, enqueued_builds, releases_root, django_capture_on_commit_callbacks
):
    release = built(curator, django_capture_on_commit_callbacks)
    stated = list(dataset_card_lines(release, ClassTotals()))
    release.quality = {}  # as a release frozen before there were statements
    without = list(dataset_card_lines(release, ClassTotals()))
    quality, after = stated.index("## Quality"), stated.index("## Models and prompts")
    assert without == stated[:quality] + stated[after:]


@pytest.mark.django_db
def test_a_release_with_a_minimum_met_says_so_on_its_card(
    world, curator, enqueued_builds, releases_root, django_capture_on_commit_callbacks
):
    release = built(curator, django_capture_on_commit_callbacks, min_qa_per_class=0)
    assert "Created only with at least" not in card_of(release, releases_root)
    Caption.objects.filter(pk__in=world.ids[-2:]).update(status="rejected")
    release = built(curator, django_capture_on_commit_callbacks, min_qa_per_class=1)
    assert release.min_qa_per_class == 1
    assert (
        "- Created only with at least 1 second-reviewed pairs in every land-cover "
        "class present." in card_of(release, releases_root)
    )


# --- The minimum of QA coverage ------------------------------------------------------


@pytest.mark.django_db
def test_a_release_short_of_qa_coverage_is_refused_naming_every_short_class(
    world, curator, enqueued_builds
):
    Caption.objects.filter(pk__in=world.ids[-2:]).update(status="rejected")  # grass
    with pytest.raises(releases.QaCoverageTooLow) as refused:
        releases.release_create(
            filters=export_filters_from({}), user=curator, min_qa_per_class=2
        )
    assert str(refused.value) == SHORT_OF_TWO
    assert not Release.objects.exists() and enqueued_builds == []


@pytest.mark.django_db
@pytest.mark.parametrize("minimum", [-1, 10_001])
def test_a_minimum_out_of_range_is_refused_by_the_service(world, curator, minimum):
    with pytest.raises(releases.ReleaseError, match="not between 0 and 10,000"):
        releases.release_create(
            filters=export_filters_from({}), user=curator, min_qa_per_class=minimum
        )
    assert not Release.objects.exists()


@pytest.mark.django_db
def test_the_api_refuses_thin_coverage_with_a_400_naming_the_classes(
    world, curator, enqueued_builds
):
    Caption.objects.filter(pk__in=world.ids[-2:]).update(status="rejected")
    response = token_client(curator).post(
        "/api/v1/releases/", {"min_qa_per_class": 2}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": f"min_qa_per_class: {SHORT_OF_TWO}",
        "fields": {"min_qa_per_class": SHORT_OF_TWO},
    }
    assert not Release.objects.exists() and enqueued_builds == []


@pytest.mark.django_db
def test_the_api_creates_a_release_whose_minimum_is_met_and_shows_it(
    world, curator, enqueued_builds, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = token_client(curator).post(
            "/api/v1/releases/",
            {"min_qa_per_class": 0, "description": "All of it."},
            format="json",
        )
    assert response.status_code == 202
    assert response.json()["min_qa_per_class"] == 0
    assert response.json()["quality"] == {}  # not frozen yet
    releases.release_build(release_id=Release.objects.get().pk)
    detail = token_client(curator).get("/api/v1/releases/1/").json()
    assert detail["quality"]["qa_agreed"] == 8


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("value", "message"),
    [(-1, "greater than or equal to 0"), (10_001, "less than or equal to 10000"),
     ("many", "valid integer")],
)  # fmt: skip
def test_the_api_checks_the_minimum(world, curator, enqueued_builds, value, message):
    response = token_client(curator).post(
        "/api/v1/releases/", {"min_qa_per_class": value}, format="json"
    )
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert not Release.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["annotator", "consumer"])
def test_only_curators_create_releases_with_a_minimum(
    world, annotator, consumer, enqueued_builds, role
):
    user = {"annotator": annotator, "consumer": consumer}[role]
    response = token_client(user).post(
        "/api/v1/releases/", {"min_qa_per_class": 1}, format="json"
    )
    assert response.status_code == 403
    assert not Release.objects.exists()


@pytest.mark.django_db
def test_the_admin_form_refuses_thin_coverage_naming_the_classes(
    world, curator, enqueued_builds
):
    Caption.objects.filter(pk__in=world.ids[-2:]).update(status="rejected")
    client = Client()
    client.force_login(curator)
    page = client.get("/admin/captions/release/create/")
    assert b'name="min_qa_per_class"' in page.content
    response = client.post("/admin/captions/release/create/", {"min_qa_per_class": "2"})
    assert response.status_code == 200
    assert SHORT_OF_TWO.encode() in response.content
    assert not Release.objects.exists() and enqueued_builds == []
    response = client.post("/admin/captions/release/create/", {"min_qa_per_class": "1"})
    assert response.status_code == 302
    assert Release.objects.get().min_qa_per_class == 1


# --- Review records in the JSONL export ----------------------------------------------


def _lines(response) -> list[dict]:
    return [json.loads(line) for line in response.getvalue().splitlines()]


@pytest.mark.django_db
def test_the_jsonl_export_adds_review_records_when_asked(world, consumer):
    client = token_client(consumer)
    lines = _lines(client.get(EXPORT, {"format": "jsonl", "review_records": "true"}))
    by_id = {line["id"]: line for line in lines}
    anna, ben = world.anna.pk, world.ben.pk
    record = {
        "reviewed_by": anna, "reviewed_at": "2026-03-02T08:00:00Z",
        "second_reviewer": ben, "agreed": True, "adjudicated": False, "gold": False,
    }  # fmt: skip
    q = world.ids
    assert by_id[q[0]]["review"] == record
    assert by_id[q[7]]["review"] == {**record, "agreed": False}
    assert by_id[q[9]]["review"] == {**record, "agreed": False, "adjudicated": True}
    assert by_id[q[10]]["review"] == {**record, "second_reviewer": None, "agreed": None}
    assert by_id[q[11]]["review"] == {
        **record, "second_reviewer": None, "agreed": None, "gold": True,
    }  # fmt: skip
    assert list(lines[0])[-2:] == ["review", "landcover"]


@pytest.mark.django_db
def test_without_the_flag_the_jsonl_is_as_before(world, consumer):
    client = token_client(consumer)
    plain = client.get(EXPORT, {"format": "jsonl"}).getvalue()
    assert (
        client.get(EXPORT, {"format": "jsonl", "review_records": "false"}).getvalue()
        == plain
    )
    assert b'"review"' not in plain
    with_records = client.get(EXPORT, {"format": "jsonl", "review_records": "true"})
    stripped = [
        {key: value for key, value in line.items() if key != "review"}
        for line in _lines(with_records)
    ]
    assert stripped == [json.loads(line) for line in plain.splitlines()]


@pytest.mark.django_db
def test_review_records_cost_a_query_a_batch_not_a_query_a_pair(
    world, consumer, django_assert_max_num_queries
):
    client = token_client(consumer)
    # token, roles, the pairs, and their review records
    with django_assert_max_num_queries(4):
        lines = _lines(
            client.get(EXPORT, {"format": "jsonl", "review_records": "true"})
        )
    assert len(lines) == 12


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"format": "csv", "review_records": "true"},
            "review_records needs format jsonl",
        ),
        (
            {"format": "jsonl", "review_records": "yes"},
            "review_records is true or false",
        ),
    ],
)
def test_bad_review_record_requests_are_a_400(world, consumer, params, message):
    response = token_client(consumer).get(EXPORT, params)
    assert response.status_code == 400
    assert message in response.json()["error"]


@pytest.mark.django_db
def test_the_command_adds_review_records_with_its_flag(world, tmp_path):
    out = tmp_path / "all.jsonl"
    call_command("export_dataset", "--format=jsonl", "--review-records", f"--out={out}")
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["review"]["gold"] for line in lines] == [False] * 11 + [True]
    call_command("export_dataset", "--format=jsonl", f"--out={out}")
    assert '"review"' not in out.read_text()
    with pytest.raises(CommandError, match="--review-records needs --format jsonl"):
        call_command(
            "export_dataset", "--format=csv", "--review-records", f"--out={out}"
        )


# --- Nothing registered --------------------------------------------------------------


@pytest.mark.django_db
def test_without_a_provider_captions_get_neutral_answers(
    world, curator, enqueued_builds, releases_root, monkeypatch,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    monkeypatch.setattr(review_records, "_provider", None)
    assert review_records.quality_statement(world.ids) is None
    assert review_records.review_records(world.ids) == {}
    assert review_records.qa_coverage_shortfall(world.ids, 50) == []
    release = built(curator, django_capture_on_commit_callbacks, min_qa_per_class=50)
    assert release.quality == {}
    assert "## Quality" not in card_of(release, releases_root)
