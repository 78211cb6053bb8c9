"""Which verified pairs an export holds: its filters, checked once for every caller.

Plain Python, no Django. The API's query string, `export_dataset`'s options, the
admin's release form and a stored release all become an `ExportFilters` here, and
every caller refuses the same wrong values with the same words (`ExportError`),
naming the option as its user writes it.
"""

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from captions.export.formats import SPLITS, ExportError, iso_utc
from captions.geo.bbox import BadBoundingBox, BoundingBox, parse_bbox

# Caption.Status values of a verified pair (a test pins them to the model's).
VERIFIED_STATUSES = ("approved", "edited")
UNVERIFIED_STATUSES = ("pending", "rejected")
FILTER_NAMES = ("status", "split", "scene", "job", "reviewed_since", "bbox")


@dataclass(frozen=True)
class ExportFilters:
    """Which verified pairs to export; every filter is optional."""

    status: str | None = None  # approved or edited; both when None
    split: str | None = None
    scene: int | None = None  # scene id
    job: int | None = None  # generation job id
    reviewed_since: dt.datetime | None = None  # aware; reviewed at or after
    bbox: BoundingBox | None = None  # patches whose footprint meets it

    @property
    def statuses(self) -> tuple[str, ...]:
        return (self.status,) if self.status else VERIFIED_STATUSES

    def as_json(self) -> dict:
        filters = {
            "status": self.status,
            "split": self.split,
            "scene": self.scene,
            "job": self.job,
            "reviewed_since": iso_utc(self.reviewed_since),
        }
        # Only when given: the releases made before there was a bbox keep their
        # stored filters and manifest, so rebuilding one gives the same bytes.
        if self.bbox is not None:
            filters["bbox"] = self.bbox.as_text()
        return filters


def export_filters_from(values: Mapping[str, Any]) -> ExportFilters:
    """Filters from query parameters, command options or a stored release.

    Missing, None and empty values mean "no filter"; anything else must be valid,
    and a name that is not a filter is refused (a typo would otherwise export
    everything). Raises `ExportError`.
    """
    unknown = sorted(set(values) - set(FILTER_NAMES))
    if unknown:
        raise ExportError(
            f"unknown filter {', '.join(unknown)}; filters are "
            f"{', '.join(FILTER_NAMES)}"
        )
    given = {name: value for name, value in values.items() if value not in (None, "")}
    return ExportFilters(
        status=_status(given.get("status")),
        split=_choice("split", given.get("split"), SPLITS),
        scene=_id("scene", given.get("scene")),
        job=_id("job", given.get("job")),
        reviewed_since=_moment("reviewed_since", given.get("reviewed_since")),
        bbox=_bbox("bbox", given.get("bbox")),
    )


def _status(value: Any) -> str | None:
    if value is None:
        return None
    if value in UNVERIFIED_STATUSES:
        raise ExportError(
            f"status {value!r} is never exported: only verified pairs are "
            f"({' or '.join(VERIFIED_STATUSES)})"
        )
    return _choice("status", value, VERIFIED_STATUSES)


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    if value not in choices:
        raise ExportError(f"{name} {value!r} is not one of {', '.join(choices)}")
    return str(value)


def _id(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ExportError(f"{name} must be a positive integer id")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        number = int(value)
    else:
        raise ExportError(f"{name} {value!r} is not an id (a positive integer)")
    if not 1 <= number < 2**63:
        raise ExportError(f"{name} {value!r} is not an id (a positive integer)")
    return number


def _bbox(name: str, value: Any) -> BoundingBox | None:
    """`west,south,east,north`, read as the patches API reads its bbox."""
    if value is None or isinstance(value, BoundingBox):
        return value
    try:
        return parse_bbox(str(value))
    except BadBoundingBox as error:
        raise ExportError(f"{name} {str(value)[:60]!r}: {error}") from None


def _moment(name: str, value: Any) -> dt.datetime | None:
    """An ISO 8601 date or date-time; a date is midnight UTC, no offset means UTC."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time())
    else:
        text = str(value).strip()
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ExportError(
                f"{name} {value!r} is not an ISO 8601 date or date-time, e.g. "
                "2026-11-27 or 2026-11-27T08:30:00Z (in a URL, write + as %2B)"
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise ExportError(f"{name} {value!r} is out of range") from None


def export_format_check(
    export_format: str,
    filters: ExportFilters,
    *,
    format_option: str,
    split_option: str,
) -> None:
    """Refuse a format that these filters do not suit (`ExportError`).

    The options are named as the caller's user writes them: `format` and `split` in
    the API's query string, `--format` and `--split` on the command line.
    """
    if export_format == "chatearthnet" and filters.split is None:
        raise ExportError(
            f"{format_option} chatearthnet needs {split_option} "
            f"({', '.join(SPLITS[:-1])} or {SPLITS[-1]}): ChatEarthNet's files hold "
            "one split each"
        )
