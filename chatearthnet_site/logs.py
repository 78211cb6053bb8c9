"""How log lines look: `LOG_FORMAT=text` for people, `json` (one object a line) for
a log collector. Either way a line carries the ids of the request or task it was
written for (captions/log_context.py); settings.LOGGING wires these in.
"""

import datetime as dt
import logging
import time
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from captions.log_context import LOG_ID_NAMES, current_log_ids


class LogIdsFilter(logging.Filter):
    """Copies the current ids onto the record. Attached to the handler, not to a
    logger, so the lines of every logger get them, Django's and Celery's too."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in current_log_ids().items():
            # An id given explicitly (`extra=`) wins over the context's.
            record.__dict__.setdefault(name, value)
        if "request_id" not in record.__dict__:
            # Django logs a 4xx or 5xx answer that no exception caused once the
            # middleware has returned, outside the request's context; the record
            # still has the request, and the request its id (request_id.py).
            request_id = getattr(getattr(record, "request", None), "request_id", None)
            if isinstance(request_id, str):
                record.request_id = request_id
        return True


class TextFormatter(logging.Formatter):
    """`2025-06-01 12:00:00,123 INFO captions.x [job_id=3 chunk_id=7] message`, in UTC;
    only the ids the line has."""

    @staticmethod
    def converter(seconds: float | None) -> time.struct_time:
        return time.gmtime(seconds)

    def formatMessage(self, record: logging.LogRecord) -> str:
        ids = " ".join(
            f"{name}={record.__dict__[name]}"
            for name in LOG_ID_NAMES
            if name in record.__dict__
        )
        prefix = f"{record.asctime} {record.levelname} {record.name}"
        return (
            f"{prefix} [{ids}] {record.message}"
            if ids
            else f"{prefix} {record.message}"
        )

    def usesTime(self) -> bool:
        return True


class JsonLineFormatter(JsonFormatter):
    """One JSON object a line: time (ISO 8601, UTC), level, logger, message, the ids,
    any `extra=` fields, and a traceback as the `exception` string (JSON escapes its
    newlines, so a line stays one line)."""

    def __init__(self) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={
                "levelname": "level",
                "name": "logger",
                "exc_info": "exception",
                "stack_info": "stack",
            },
            # Django's request lines pass the request object itself: its repr says
            # no more than the message does.
            reserved_attrs=[*RESERVED_ATTRS, "request"],
        )

    def add_fields(
        self,
        log_data: dict[str, Any],
        record: logging.LogRecord,
        message_dict: dict[str, Any],
    ) -> None:
        # First, so that a reader's eye (and `sort`) finds it at the start of a line.
        created = dt.datetime.fromtimestamp(record.created, tz=dt.UTC)
        log_data["time"] = created.isoformat(timespec="milliseconds").replace(
            "+00:00", "Z"
        )
        super().add_fields(log_data, record, message_dict)
