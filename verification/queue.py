"""The review queue: what a person reviews next, held for them alone.

Three kinds of item share one queue (issue 12): pending captions; QA reviews (a
verified caption offered blind to a second annotator); gold captions (a verified
caption whose answer is known, mixed in unannounced). Each is a lease on its own row
(`claimed_by`, `claim_expires_at`) under the same rules: never two holders (on
PostgreSQL `SELECT ... FOR UPDATE SKIP LOCKED`, elsewhere a guarded update) and at
most `MAX_CLAIMS_PER_PERSON` held by one person, counted over all three kinds. Every
item is named by its caption's id, so the page's address and the API's answers look
the same whatever the kind.

Annotators (curators and consumers read every verdict, in the admin or the dataset
API, so they cannot be blind: roles.reads_every_verdict) get,
on each new claim: a gold item with probability `gold_rate`; else the oldest open QA
review that is not of their own first verdict; else the next pending caption.
"""

import datetime as dt
import functools
import random
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Exists, F, Field, Model, OuterRef, Q, QuerySet
from django.utils import timezone

from captions.geo.bbox import BoundingBox
from captions.json_lookups import ArrayHasElement
from captions.landcover import CLASS_BY_CODE
from captions.models import Caption
from captions.selectors import footprint_meets
from verification.errors import NotYourClaim
from verification.models import GoldCaption, QaReview, QualitySettings
from verification.roles import reads_every_verdict

CLAIM_TTL = dt.timedelta(minutes=5)
# The caption on screen and the one claimed ahead of it (docs/review.md).
MAX_CLAIMS_PER_PERSON = 2
QUEUE_ORDER = (F("failed_checks").desc(), "job_id", "patch_id")
VERIFIED = (Caption.Status.APPROVED, Caption.Status.EDITED)
_SQLITE_TRIES = 20


@dataclass(frozen=True)
class QueueFilter:
    """A curator's narrowing of the queue; empty: everything pending."""

    scene_id: int | None = None
    job_id: int | None = None
    check: str = ""
    class_code: int | None = None
    bbox: BoundingBox | None = None  # patches whose footprint meets it

    def apply(self, captions: QuerySet[Caption]) -> QuerySet[Caption]:
        if self.scene_id:
            captions = captions.filter(patch__scene_id=self.scene_id)
        if self.job_id:
            captions = captions.filter(job_id=self.job_id)
        # ArrayHasElement, not JSON __contains: the latter is PostgreSQL-only and the
        # zero-setup default runs on SQLite.
        if self.check:
            captions = captions.filter(
                ArrayHasElement("checks", key="check", value=self.check)
            )
        if self.class_code:
            captions = captions.filter(
                ArrayHasElement(
                    "patch__landcover__overall", key="code", value=self.class_code
                )
            )
        if self.bbox is not None:
            captions = captions.filter(footprint_meets(self.bbox, patch="patch__"))
        return captions

    def described(self) -> list[str]:
        """What narrows the queue, in words for the page (empty: nothing does)."""
        words = []
        if self.scene_id:
            words.append(f"scene {self.scene_id}")
        if self.job_id:
            words.append(f"job {self.job_id}")
        if self.check:
            words.append(f"failing check {self.check}")
        if self.class_code:
            known = CLASS_BY_CODE.get(self.class_code)
            words.append(f"class {known.worldcover_name if known else self.class_code}")
        if self.bbox is not None:
            words.append(f"area {self.bbox.as_text()}")
        return words


@dataclass(frozen=True)
class Kind:
    """One kind of queue item: its rows, the field naming its caption, and which
    rows are still work to do (one field's value)."""

    model: type[Model]
    caption_field: str
    open_field: str
    open_value: Any

    @property
    def open(self) -> Q:
        return Q(**{self.open_field: self.open_value})

    def held_sql(self, index: int, one_caption: bool) -> str:
        """SQL for the items of this kind a person holds, as (caption id, expiry,
        `index`); parameters: the person, the time, the open value, and the
        caption's id if `one_caption`."""
        meta = self.model._meta

        def column(name: str) -> str:
            field = meta.pk if name == "pk" else meta.get_field(name)
            assert isinstance(field, Field) and field.column
            return connection.ops.quote_name(field.column)

        caption, table = column(self.caption_field), meta.db_table
        sql = (
            f"SELECT {caption}, {column('claim_expires_at')}, {index} "
            f"FROM {connection.ops.quote_name(table)} "
            f"WHERE {column('claimed_by')} = %s AND {column('claim_expires_at')} >= %s "
            f"AND {column(self.open_field)} = %s"
        )
        return f"{sql} AND {caption} = %s" if one_caption else sql


PENDING = Kind(Caption, "pk", "status", Caption.Status.PENDING)
QA = Kind(QaReview, "caption_id", "state", QaReview.State.OPEN)
GOLD = Kind(GoldCaption, "caption_id", "active", True)


def kinds_for(user) -> tuple[Kind, ...]:
    return (PENDING,) if reads_every_verdict(user) else (PENDING, QA, GOLD)


def free(now: dt.datetime) -> Q:
    """Items no one holds at `now` (never claimed, or the lease ran out)."""
    return Q(claimed_by__isnull=True) | Q(claim_expires_at__lt=now)


def held(now: dt.datetime) -> Q:
    """Items someone holds at `now`: the complement of `free`."""
    return Q(claimed_by__isnull=False, claim_expires_at__gte=now)


@dataclass(frozen=True)
class Held:
    kind: Kind
    caption_id: int
    expires: dt.datetime


def held_claims(user, now: dt.datetime) -> list[Held]:
    """The items `user` holds now, of every kind, by caption id (one query)."""
    kinds = kinds_for(user)
    found = [
        Held(kinds[index], caption, expires)
        for caption, expires, index in held_rows(kinds, user, now)
    ]
    return sorted(found, key=lambda item: item.caption_id)


@functools.cache
def _held_sql(kinds: tuple[Kind, ...], one_caption: bool) -> str:
    return " UNION ALL ".join(
        kind.held_sql(index, one_caption) for index, kind in enumerate(kinds)
    )


def held_rows(
    kinds: tuple[Kind, ...], user, now: dt.datetime, caption_id: int | None = None
) -> list[tuple[int, dt.datetime, int]]:
    """(caption id, expiry, index in `kinds`) of each item of `kinds` that `user`
    holds now (of that caption only, if given), in one query. Written as SQL:
    every claim and every review page asks, and building the ORM's union took
    five times as long as the database took to answer it."""
    one = caption_id is not None
    sql = _held_sql(kinds, one)
    at = connection.ops.adapt_datetimefield_value(now)
    params: list[Any] = []
    for kind in kinds:
        params += [user.pk, at, kind.open_value, *([caption_id] if one else [])]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    # SQLite hands back naive text or datetimes; PostgreSQL aware datetimes.
    convert = getattr(connection.ops, "convert_datetimefield_value", None)
    if convert is None:
        return rows
    return [(pk, convert(expires, None, connection), i) for pk, expires, i in rows]


def queue_claim_next(
    *, user, queue_filter: QueueFilter | None = None, skip_ids: tuple[int, ...] = ()
) -> Caption | None:
    """The caption this person should review now, claimed for them (with its patch);
    None: all done. See `claim_next_id`."""
    caption_id = claim_next_id(user=user, queue_filter=queue_filter, skip_ids=skip_ids)
    return None if caption_id is None else _caption(caption_id)


def claim_next_id(
    *, user, queue_filter: QueueFilter | None = None, skip_ids: tuple[int, ...] = ()
) -> int | None:
    """The id of the caption this person should review now, claimed for them; None:
    all done. (The page's redirect needs no more than the id.)

    An item they still hold and do not skip comes first, so a reload never takes a
    second one. A person holds at most `MAX_CLAIMS_PER_PERSON`: the item on screen
    and the one claimed ahead of it (the page skips the first to get the second).
    Asking for another at the cap gives back the skipped claim that would expire
    first: skipping an item hands it back, whatever the client keeps.
    """
    now = timezone.now()
    with transaction.atomic():
        _lock_claims_of(user)
        held = held_claims(user, now)
        skipped = set(skip_ids)
        kept = next((item for item in held if item.caption_id not in skipped), None)
        if kept is not None:
            _lease(kept.kind, kept.caption_id, user, now)
            return kept.caption_id
        surplus = len(held) - (MAX_CLAIMS_PER_PERSON - 1)
        for item in sorted(held, key=lambda h: (h.expires, h.caption_id))[:surplus]:
            _release(item.kind, item.caption_id, user)
        return _claim_first(user, queue_filter, skipped, now)


def _caption(caption_id: int) -> Caption:
    return Caption.objects.select_related("patch").get(pk=caption_id)


def _lock_claims_of(user) -> None:
    """Serialise one person's claims, so two requests at once cannot both see one
    claim held and each take another. On PostgreSQL the person's row is locked
    until the claim commits; SQLite's transactions here begin IMMEDIATE, which
    already serialises every writer."""
    if connection.vendor == "postgresql":
        get_user_model().objects.select_for_update().filter(pk=user.pk).values_list(
            "pk", flat=True
        ).first()


def _claim_first(
    user, queue_filter: QueueFilter | None, skipped: set[int], now: dt.datetime
) -> int | None:
    """Claim the first item this person should get (inside the caller's
    transaction): its caption's id."""
    if queue_filter is None and not reads_every_verdict(user):
        for kind, candidates in _blind_candidates(user, skipped, now):
            caption_id = _take(kind, candidates, user, now)
            if caption_id is not None:
                return caption_id
    pending = Caption.objects.filter(PENDING.open, free(now)).exclude(pk__in=skipped)
    if queue_filter is not None:
        pending = queue_filter.apply(pending)
    return _take(PENDING, pending.order_by(*QUEUE_ORDER), user, now)


def _blind_candidates(user, skipped: set[int], now: dt.datetime):
    """Gold (at the gold rate) then QA items this person may get, in order. Never
    their own first verdict, never a gold item they answered, marked or reviewed,
    never a QA review of a gold caption."""
    if random.random() < QualitySettings.current().gold_rate:
        yield (
            GOLD,
            (
                GoldCaption.objects.filter(GOLD.open, free(now))
                .exclude(caption_id__in=skipped)
                .exclude(marked_by=user)
                .exclude(answers__user=user)
                .exclude(caption__revisions__user=user)
                .order_by("pk")
            ),
        )
    # A gold caption is an answer, not a verdict to check: its QA review waits
    # (and one item per caption is ever out at a time).
    gold = GoldCaption.objects.filter(caption_id=OuterRef("caption_id"), active=True)
    yield (
        QA,
        (
            QaReview.objects.filter(QA.open, free(now), caption__status__in=VERIFIED)
            .exclude(caption_id__in=skipped)
            .exclude(first_reviewer=user)
            .exclude(Exists(gold))
            .order_by("created_at", "pk")
        ),
    )


def _take(kind: Kind, candidates: QuerySet, user, now: dt.datetime) -> int | None:
    """Lease the first of `candidates` to `user`: its caption's id, or None."""
    lease = {"claimed_by": user, "claim_expires_at": now + CLAIM_TTL}
    rows = kind.model._default_manager
    if connection.vendor == "postgresql":
        first = (
            candidates.select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", kind.caption_field)
            .first()
        )
        if first is None:
            return None
        rows.filter(pk=first[0]).update(**lease)
        return first[1]
    # Without SKIP LOCKED: a guarded update of each candidate in turn; if someone
    # else took it in between, the update changes nothing and the next is tried.
    for pk, caption_id in candidates.values_list("pk", kind.caption_field)[
        :_SQLITE_TRIES
    ]:
        if rows.filter(kind.open, free(now), pk=pk).update(**lease):
            return caption_id
    return None


def _lease(kind: Kind, caption_id: int, user, now: dt.datetime) -> int:
    return (
        kind.model._default_manager.filter(kind.open, claimed_by=user)
        .filter(**{kind.caption_field: caption_id})
        .update(claim_expires_at=now + CLAIM_TTL)
    )


def _release(kind: Kind, caption_id: int, user) -> None:
    kind.model._default_manager.filter(claimed_by=user).filter(
        **{kind.caption_field: caption_id}
    ).update(claimed_by=None, claim_expires_at=None)


def claim_renew(*, caption_id: int, user) -> dt.datetime:
    """Extend a lease while the review page is open."""
    now = timezone.now()
    if any(_lease(kind, caption_id, user, now) for kind in kinds_for(user)):
        return now + CLAIM_TTL
    raise NotYourClaim(f"caption {caption_id} is not claimed by you")


def claim_release(*, caption_id: int, user) -> None:
    """Give an item back to the queue (skip)."""
    for kind in kinds_for(user):
        _release(kind, caption_id, user)
