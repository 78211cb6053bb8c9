"""What the reviews say about a set of pairs, told by whoever keeps the reviews.

The captions app writes releases, their cards and the export, but the second
opinions and gold items that say how good the pairs are belong to `verification`,
which captions never imports (docs/architecture.md). So, as with the abilities of
`captions/access.py`, verification registers a provider when it starts
(`verification/apps.py`; `verification/quality_statement.py` is the provider) and
captions asks through the functions here.

With no provider registered they answer as if no pair had been reviewed a second
time: no quality statement (the card leaves its section out), no review records, and
no shortfall (a minimum of QA coverage cannot be checked, so it is not enforced).
"""

from collections.abc import Collection, Iterable, Iterator
from dataclasses import replace
from itertools import islice
from typing import NamedTuple, Protocol, TypedDict

from captions.export.formats import ExportRecord

# Pairs whose review records are read at once while an export streams: the export
# reads its rows in chunks of this size too (captions/selectors.py).
RECORD_BATCH = 2000


class ClassCoverage(TypedDict):
    code: int  # WorldCover code
    pairs: int  # pairs whose patch holds the class
    second_reviewed: int  # of those, pairs a second reviewer answered on


class Accuracy(TypedDict):
    share: float
    low: float  # the 95% Wilson interval (captions/proportions.py)
    high: float


class QualityStatement(TypedDict):
    """How much of a set of pairs a second person looked at, and what they found.

    `confirmed`: pairs a second reviewer agreed on (QA review agreed or adjudicated)
    or that are gold. `qa_answered`: pairs whose QA review has a second opinion
    (agreed, disagreed or adjudicated); `qa_agreed`: of those, the ones whose second
    opinion agreed outright, and `accuracy` their share (None without answers);
    `verdict_agreements`: answers that gave the first reviewer's verdict, whatever
    the text. `classes`: each WorldCover class present, in code order.
    """

    pairs: int
    confirmed: int
    gold: int
    qa_answered: int
    qa_agreed: int
    accuracy: Accuracy | None
    verdict_agreements: int
    classes: list[ClassCoverage]


class ReviewRecord(TypedDict):
    """One pair's review: who gave it its verdict and when, and what a second
    reviewer (or a gold mark) says of it."""

    reviewed_by: int | None  # user id
    reviewed_at: str | None  # ISO 8601, UTC
    second_reviewer: int | None
    agreed: bool | None  # None until a second opinion is in
    adjudicated: bool
    gold: bool


class Shortfall(NamedTuple):
    """A class with fewer second-reviewed pairs than asked for."""

    code: int
    name: str
    have: int
    need: int


class ReviewProvider(Protocol):
    def quality_statement(self, caption_ids: Collection[int]) -> QualityStatement: ...

    def review_records(
        self, caption_ids: Collection[int]
    ) -> dict[int, ReviewRecord]: ...

    def qa_coverage_shortfall(
        self, caption_ids: Collection[int], per_class: int
    ) -> list[Shortfall]: ...


_provider: ReviewProvider | None = None


def register(provider: ReviewProvider) -> None:
    global _provider
    _provider = provider


def quality_statement(caption_ids: Collection[int]) -> QualityStatement | None:
    """The quality statement of these pairs; None if no one keeps reviews."""
    return None if _provider is None else _provider.quality_statement(caption_ids)


def review_records(caption_ids: Collection[int]) -> dict[int, ReviewRecord]:
    """Each pair's review record, by caption id (pairs without one are left out)."""
    return {} if _provider is None else _provider.review_records(caption_ids)


def qa_coverage_shortfall(
    caption_ids: Collection[int], per_class: int
) -> list[Shortfall]:
    """The classes of these pairs with fewer than `per_class` second-reviewed pairs."""
    if _provider is None or per_class <= 0:
        return []
    return _provider.qa_coverage_shortfall(caption_ids, per_class)


def with_review_records(records: Iterable[ExportRecord]) -> Iterator[ExportRecord]:
    """The records, each with its `review`, read a batch at a time as they stream."""
    pending = iter(records)
    while batch := list(islice(pending, RECORD_BATCH)):
        found = review_records([record.id for record in batch])
        for record in batch:
            yield replace(record, review=found.get(record.id, {}))
