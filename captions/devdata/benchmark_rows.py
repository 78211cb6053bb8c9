"""Inserting many generated rows fast: COPY on PostgreSQL, `bulk_create` elsewhere.

Made for the benchmark data (`benchmark.py`), whose rows repeat a few large JSON
values (a template's statistics, prompt and checks) over thousands of rows.
"""

import json
from collections.abc import Collection
from typing import Any

from django.db import connection, models, reset_queries
from django.utils import timezone


def insert_rows(model: type[models.Model], rows: list[dict]) -> list[int]:
    """Insert `rows` (attname -> value, the same keys in each); return their ids.

    On PostgreSQL through COPY: `bulk_create` there has psycopg bind every value
    into the SQL text on the client (Django's default binding), and on these rows of
    JSON and long texts it measured 4-5 times slower than COPY
    (docs/benchmark_data.md). Elsewhere `bulk_create`.
    """
    if not rows:
        return []
    if connection.vendor == "postgresql":
        return _copy_rows(model, rows)
    created = model._default_manager.bulk_create([model(**row) for row in rows])
    # Every INSERT's SQL would otherwise stay in memory under DEBUG.
    reset_queries()
    return [instance.pk for instance in created]


def _copy_rows(model: type[models.Model], rows: list[dict]) -> list[int]:
    """COPY `rows` into `model`'s table, with ids taken from its sequence first."""
    meta = model._meta
    fields = [
        model_field for model_field in meta.concrete_fields if model_field != meta.pk
    ]
    missing = _missing_values(fields, given=rows[0].keys())
    names = [model_field.attname for model_field in fields]
    is_json = [isinstance(model_field, models.JSONField) for model_field in fields]
    as_json = _JsonOnce()
    pk_column = str(meta.pk.column)
    columns = [pk_column, *(str(model_field.column) for model_field in fields)]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) "
            "FROM generate_series(1, %s)",
            [meta.db_table, pk_column, len(rows)],
        )
        ids = [found for (found,) in cursor.fetchall()]
        statement = (
            f"COPY {quote(meta.db_table)} ({', '.join(map(quote, columns))}) FROM STDIN"
        )
        with cursor.copy(statement) as copy:
            for pk, row in zip(ids, rows, strict=True):
                values = (row[name] if name in row else missing[name] for name in names)
                copy.write_row(
                    (
                        pk,
                        *(
                            as_json(value) if json_column else value
                            for value, json_column in zip(values, is_json, strict=True)
                        ),
                    )
                )
    return ids


def _missing_values(
    fields: list[models.Field], given: Collection[str]
) -> dict[str, Any]:
    """What `bulk_create` gives the fields a row leaves out: their default, or now
    for `auto_now` / `auto_now_add` dates."""
    now = timezone.now()
    return {
        model_field.attname: (
            now
            if getattr(model_field, "auto_now", False)
            or getattr(model_field, "auto_now_add", False)
            else model_field.get_default()
        )
        for model_field in fields
        if model_field.attname not in given
    }


class _JsonOnce:
    """JSON text of values the rows share, each serialised once, keyed by the object
    (which the rows keep alive)."""

    def __init__(self) -> None:
        self.serialised: dict[int, str] = {}

    def __call__(self, value: object) -> str:
        key = id(value)
        if key not in self.serialised:
            self.serialised[key] = json.dumps(value)
        return self.serialised[key]
