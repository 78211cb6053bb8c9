"""verification/migrations/0003: the old plain-text token table goes."""

from collections.abc import Iterator

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("verification", "0002_api_token")]
AFTER = [("verification", "0003_drop_plaintext_tokens")]


@pytest.fixture
def latest_schema_afterwards(transactional_db) -> Iterator[None]:
    """The tests after this one expect every app's newest schema."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_the_table_of_plain_text_keys_is_dropped(latest_schema_afterwards):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    with connection.cursor() as cursor:
        # What rest_framework.authtoken left in a database of an earlier version.
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, user_id int)"
        )
        cursor.execute("INSERT INTO authtoken_token VALUES ('0123abcd', 1)")
    assert "authtoken_token" in connection.introspection.table_names()

    MigrationExecutor(connection).migrate(AFTER)

    assert "authtoken_token" not in connection.introspection.table_names()
