"""The API keeps the promises of its OpenAPI schema (/api/schema/): schemathesis
generates requests for every operation, valid ones and broken ones, and no answer may
be a 5xx, an undocumented status, or a body the schema does not describe.

Bounded (a few examples per operation, derandomized) so it runs in `make test`; Cora
the curator calls, so every operation gets past its permission check, on a small
dataset (tests/api_data.py) so lists and details have rows to show. The schema is
read through WSGI in this process: the requests see this test's transaction, and a
launched job's chunks are never queued (nothing commits).

The dataset is written once for the module, in a transaction of its own that each
operation's test runs inside (as a savepoint, rolled back after it, so no test sees
another's rows) and that is rolled back when the module ends.
"""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections, transaction
from django.test import override_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from captions.llm.openai_backend import OpenAIBackend
from chatearthnet_site.wsgi import application
from tests.api_data import make_api_world
from tests.verification.conftest import make_user
from verification.roles import ANNOTATOR, CURATOR
from verification.tokens import token_create

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

CONFIG = schemathesis.Config.from_dict(
    {
        "suppress-health-check": ["all"],
        "generation": {
            "mode": "all",  # valid requests and broken ones
            "max-examples": 12,
            "deterministic": True,
            "database": "none",
        },
        "phases": {"stateful": {"enabled": False}},
    }
)


# Loaded once, when the module is collected: making the schema reads no table.
# (`schemathesis.pytest.from_fixture` would load it per test, but its lazy loader
# does not run on pytest 9.)
schema = schemathesis.openapi.from_wsgi("/api/schema/", application, config=CONFIG)


@pytest.fixture(scope="module")
def shared_world(
    django_db_setup, django_db_blocker, tmp_path_factory
) -> Iterator[tuple[Path, str]]:
    """The dataset's preview files and Cora's token; a password hash as fast as
    `fast_passwords` makes it (that fixture is per test)."""
    media = tmp_path_factory.mktemp("media")
    fast = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with (
        django_db_blocker.unblock(),
        override_settings(PASSWORD_HASHERS=fast),
        transaction.atomic(),
    ):
        annotator, curator = make_user("anna", ANNOTATOR), make_user("cora", CURATOR)
        make_api_world(media, annotator=annotator, curator=curator)
        yield media, token_create(user=curator)[1]
        transaction.set_rollback(True)


@pytest.fixture
def curator_token(shared_world, media_root: Path) -> str:
    """Cora's token; the previews are copied into this test's own media folder."""
    media, token = shared_world
    shutil.copytree(media, media_root, dirs_exist_ok=True)
    return token


@pytest.fixture(autouse=True)
def keep_the_test_connection() -> Iterator[None]:
    """Django closes the database connection when a request ends, and this test's
    transaction with it; its own test client unhooks the same handler."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def no_network(monkeypatch) -> None:
    # A launch with the OpenAI backend checks that its server answers; here nothing
    # may leave the machine, so the check passes without asking.
    monkeypatch.setattr(OpenAIBackend, "check", lambda backend: None)


@pytest.mark.django_db
@schema.parametrize()
def test_every_answer_matches_the_schema(case, curator_token):
    case.call_and_validate(
        headers={"Authorization": f"Token {curator_token}"}, checks=CHECKS
    )
