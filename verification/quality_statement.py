"""What the second opinions and gold items say of a set of pairs (issue 12, item 5):
the figures a release's dataset card states, each pair's review record for the
JSONL export, and which land-cover classes lack second opinions.

The captions app asks for these through `captions/review_records.py` (this module
is registered there as its provider in `verification/apps.py`); the figures are
defined in `captions.review_records.QualityStatement`. "Accuracy" is kept simple:
the share of answered QA reviews whose second opinion agreed with the first reviewer
(state agreed). A disagreement counts against it even once a curator has
adjudicated it: the sample estimates how often a first review stands as it is.

A release holds up to 173,488 pairs, and the figures are read within seconds: the
ids go to the database a chunk at a time, as one array on PostgreSQL (`_IdIn`), and
the database does the counting; only the review records, one per pair, come back
row by row (values, never model instances).
"""

import datetime as dt
from collections import Counter
from collections.abc import Collection, Iterator
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Count, F, Func, Q

from captions.export.formats import iso_utc
from captions.landcover import CLASS_BY_CODE
from captions.models import Caption, Patch
from captions.proportions import wilson_interval
from captions.review_records import (
    Accuracy,
    ClassCoverage,
    QualityStatement,
    ReviewRecord,
    Shortfall,
)
from verification.models import QaReview

# Ids sent at once. SQLite takes at most 32,766 parameters. PostgreSQL takes a chunk
# as one array, and given 50,000 it plans hash joins where 10,000 had it probe an
# index per pair: the classes of 173,488 pairs in 2.2 s against 3.9 s (on a busy
# 2-core machine).
ID_CHUNK = 10_000
ID_CHUNK_POSTGRESQL = 50_000
AGREED = QaReview.State.AGREED
ADJUDICATED = QaReview.State.ADJUDICATED
# A QA review with a second opinion in it: the pair was second-reviewed.
ANSWERED = (AGREED, QaReview.State.DISAGREED, ADJUDICATED)
# A second opinion that, in the end, stands behind the pair.
CONFIRMED = (AGREED, ADJUDICATED)


class _IdIn(Func):
    """`column IN (ids)` as a filter (`_id_condition`)."""

    output_field = BooleanField()

    def __init__(self, column: str, ids: list[int]) -> None:
        super().__init__(F(column))
        self.ids = ids

    def as_sql(self, compiler: Any, connection: Any, *args: Any, **extra: Any) -> Any:
        column, params = compiler.compile(self.source_expressions[0])
        condition, id_params = _id_condition(connection.vendor, column, self.ids)
        return condition, (*params, *id_params)


def _id_condition(vendor: str, column: str, ids: list[int]) -> tuple[str, list[Any]]:
    """`column IN (ids)` in SQL, sent to PostgreSQL as one array (`= ANY(%s)`):
    building an `__in` of 10,000 values took Django longer than the database its
    query."""
    if vendor == "postgresql":
        return f"{column} = ANY(%s)", [ids]
    return f"{column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


def quality_statement(caption_ids: Collection[int]) -> QualityStatement:
    """The figures of these pairs (`captions.review_records.QualityStatement`)."""
    totals: Counter[str] = Counter()
    classes: dict[int, ClassCoverage] = {}
    for chunk in _chunks(caption_ids):
        totals.update(_totals(chunk))
        for code, pairs, reviewed in _class_counts(chunk):
            coverage = classes.setdefault(
                code, ClassCoverage(code=code, pairs=0, second_reviewed=0)
            )
            coverage["pairs"] += pairs
            coverage["second_reviewed"] += reviewed
    return {
        "pairs": totals["pairs"],
        "confirmed": totals["confirmed"],
        "gold": totals["gold"],
        "qa_answered": totals["qa_answered"],
        "qa_agreed": totals["qa_agreed"],
        "accuracy": _accuracy(totals["qa_agreed"], totals["qa_answered"]),
        "verdict_agreements": totals["verdict_agreements"],
        "classes": [classes[code] for code in sorted(classes)],
    }


def qa_coverage_shortfall(
    caption_ids: Collection[int], per_class: int
) -> list[Shortfall]:
    """The classes present in these pairs with fewer than `per_class` second-reviewed
    pairs (a QA review agreed, disagreed or adjudicated), in code order."""
    reviewed: dict[int, int] = {}
    for chunk in _chunks(caption_ids):
        for code, _pairs, second in _class_counts(chunk):
            reviewed[code] = reviewed.get(code, 0) + second
    return [
        Shortfall(code, CLASS_BY_CODE[code].worldcover_name, have, per_class)
        for code, have in sorted(reviewed.items())
        if have < per_class
    ]


def review_records(caption_ids: Collection[int]) -> dict[int, ReviewRecord]:
    """Each pair's review record by caption id: `reviewed_by`/`reviewed_at` are the
    caption's (whoever gave it its verdict last, a curator's adjudication included),
    the rest its QA review's and gold mark's."""
    fields = (
        "pk", "reviewed_by_id", "reviewed_at", "qa_review__state",
        "qa_review__second_reviewer_id", "gold__active",
    )  # fmt: skip
    found: dict[int, ReviewRecord] = {}
    for chunk in _chunks(caption_ids):
        rows = Caption.objects.filter(_IdIn("pk", chunk)).values_list(*fields)
        for caption_id, *review in rows.order_by():
            found[caption_id] = _record(*review)
    return found


def _record(
    reviewer: int | None,
    reviewed_at: dt.datetime | None,
    state: str | None,
    second_reviewer: int | None,
    gold_active: bool | None,
) -> ReviewRecord:
    return {
        "reviewed_by": reviewer,
        "reviewed_at": iso_utc(reviewed_at),
        "second_reviewer": second_reviewer,
        "agreed": state == AGREED if state in ANSWERED else None,
        "adjudicated": state == ADJUDICATED,
        "gold": bool(gold_active),
    }


def _accuracy(agreed: int, answered: int) -> Accuracy | None:
    if not answered:
        return None
    low, high = wilson_interval(agreed, answered)
    return {"share": agreed / answered, "low": low, "high": high}


def _chunks(caption_ids: Collection[int]) -> Iterator[list[int]]:
    size = ID_CHUNK_POSTGRESQL if connection.vendor == "postgresql" else ID_CHUNK
    ordered = sorted(set(caption_ids))
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def _totals(chunk: list[int]) -> dict[str, int]:
    answered = Q(qa_review__state__in=ANSWERED)
    gold = Q(gold__active=True)
    counts = Caption.objects.filter(_IdIn("pk", chunk)).aggregate(
        pairs=Count("pk"),
        confirmed=Count("pk", filter=gold | Q(qa_review__state__in=CONFIRMED)),
        # Not "gold": an aggregate of that name would hide the relation.
        gold_items=Count("pk", filter=gold),
        qa_answered=Count("pk", filter=answered),
        qa_agreed=Count("pk", filter=Q(qa_review__state=AGREED)),
        verdict_agreements=Count(
            "pk", filter=answered & Q(qa_review__verdict_agrees=True)
        ),
    )
    counts["gold"] = counts.pop("gold_items")
    return counts


# Pairs and second-reviewed pairs per class present, counted by the database over
# each patch's `landcover["overall"]` entries: decoding 173,488 patches' statistics
# in Python took seconds. The JSON array is read per database, as
# captions/json_lookups.py reads it.
_CLASS_COUNTS = """
    SELECT {code}, count(*), count(qa.id)
    FROM {caption} caption
    JOIN {patch} patch ON patch.id = caption.patch_id
    LEFT JOIN {qa} qa ON qa.caption_id = caption.id AND qa.state IN (%s, %s, %s)
    {entries}
    WHERE {ids}
    GROUP BY 1
"""
_JSON_ENTRIES = {
    "postgresql": (
        "(entry ->> 'code')::integer",
        "CROSS JOIN LATERAL jsonb_array_elements(patch.landcover -> 'overall') entry",
    ),
    "sqlite": (
        "json_extract(entry.value, '$.code')",
        "CROSS JOIN json_each(patch.landcover, '$.overall') entry",
    ),
}


def _class_counts(chunk: list[int]) -> list[tuple[int, int, int]]:
    """(WorldCover code, pairs, second-reviewed pairs) of each class in the chunk."""
    code_sql, entries = _JSON_ENTRIES[connection.vendor]
    ids, id_params = _id_condition(connection.vendor, "caption.id", chunk)
    sql = _CLASS_COUNTS.format(
        code=code_sql, entries=entries, ids=ids, caption=Caption._meta.db_table,
        patch=Patch._meta.db_table, qa=QaReview._meta.db_table,
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(sql, [*ANSWERED, *id_params])
        return [(int(code), pairs, reviewed) for code, pairs, reviewed in cursor]
