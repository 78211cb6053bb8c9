"""A JSON-array lookup that runs on SQLite as well as PostgreSQL.

Patches keep their classes (`landcover["overall"]`) and captions their failed checks
(`checks`) as JSON arrays of objects. "Has an element whose `code` is 80" is
`@>` on PostgreSQL, but Django's `__contains` on a JSONField is not supported on
SQLite, the zero-setup default; this expression is one filter for both.
"""

import json
from typing import Any, NoReturn

from django.db import NotSupportedError
from django.db.models import BooleanField, F, Func, Value


class ArrayHasElement(Func):
    """True where the JSON array at `field` holds an object with `key` == `value`.

    `key` is part of the SQL (a JSON path), so it must come from the code, never from
    a request; `value` is always a query parameter.
    """

    output_field = BooleanField()

    def __init__(self, field: str, *, key: str, value: int | str) -> None:
        if not key.isidentifier():
            raise ValueError(f"not a plain JSON key: {key!r}")
        super().__init__(F(field))
        self.key = key
        self.value = value

    def as_sql(
        self, compiler: Any, connection: Any, *args: Any, **extra: Any
    ) -> NoReturn:
        raise NotSupportedError(
            f"ArrayHasElement knows PostgreSQL and SQLite, not {connection.vendor}"
        )

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        array_sql, array_params = compiler.compile(self.source_expressions[0])
        element = json.dumps([{self.key: self.value}])
        return f"({array_sql} @> %s::jsonb)", (*array_params, element)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        array_sql, array_params = compiler.compile(self.source_expressions[0])
        value_sql, value_params = compiler.compile(Value(self.value))
        sql = (
            f"EXISTS (SELECT 1 FROM json_each({array_sql}) "
            f"WHERE json_extract(json_each.value, '$.{self.key}') = {value_sql})"
        )
        return sql, (*array_params, *value_params)
