"""Claiming long-running work: one guarded update, the same for every kind.

Scene ingest, tile import, generation chunks and release builds are each a row with a
`status` and an `updated_at` that the worker doing the work touches as it goes (its
heartbeat). A worker takes the row with one `UPDATE … WHERE status IN (…)`: exactly
one of two workers that try at once wins, so work delivered twice is done once. A row
that says "working" but whose heartbeat is older than `stale_after` belonged to a
worker that died: the next worker to try takes it over, the same way for every kind.
"""

import datetime as dt
import enum
from typing import Any

from django.db.models import Model, Q
from django.utils import timezone


class Claim(enum.Enum):
    TAKEN = "taken"  # this worker now does the work
    BUSY = "busy"  # another worker is doing it and is alive: try again later
    NOT_CLAIMABLE = "not claimable"  # done, cancelled, or gone: nothing to do


def claim(
    model: type[Model],
    pk: Any,
    *,
    ready: tuple[str, ...],
    working: str,
    stale_after: dt.timedelta,
    **changes: Any,
) -> Claim:
    """Take the row `pk` of `model` if its status is one of `ready`, or `working`
    with no heartbeat for `stale_after`; set it to `working` with `changes`."""
    now = timezone.now()
    guard = Q(status__in=ready) | Q(status=working, updated_at__lt=now - stale_after)
    rows = model._default_manager.filter(pk=pk)
    taken = rows.filter(guard).update(status=working, updated_at=now, **changes)
    if taken == 1:
        return Claim.TAKEN
    if rows.filter(status=working).exists():
        return Claim.BUSY
    return Claim.NOT_CLAIMABLE


def heartbeat(
    model: type[Model],
    pk: Any,
    *,
    working: str,
    holder: dict[str, Any] | None = None,
    **changes: Any,
) -> bool:
    """Say "still working" (and record progress): `updated_at` is the heartbeat
    `claim` reads. False if the row is no longer ours to work on: it left `working`,
    or, with `holder` (fields the claim set, e.g. an attempt count), another worker
    took it over, which leaves it `working`."""
    rows = model._default_manager.filter(pk=pk, status=working, **(holder or {}))
    return rows.update(updated_at=timezone.now(), **changes) == 1
