"""captions/migrations/0006: jobs from before endpoints had names."""

from collections.abc import Iterator

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("captions", "0005_release")]
AFTER = [("captions", "0006_generationjob_endpoint")]


@pytest.fixture
def latest_schema_afterwards(transactional_db) -> Iterator[None]:
    """The tests after this one expect every app's newest schema."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_openai_jobs_without_a_url_get_the_default_endpoint_others_none(
    latest_schema_afterwards,
):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    template = apps.get_model("captions", "PromptTemplate").objects.create(
        name="t", version=1, kind="text", system_template="s", user_template="u"
    )
    jobs = apps.get_model("captions", "GenerationJob").objects
    default = jobs.create(backend="openai", base_url="", model="m", template=template)
    typed = jobs.create(
        backend="openai", base_url="http://10.0.0.5:8000/v1", model="m",
        template=template,
    )  # fmt: skip
    offline = jobs.create(backend="offline", model="offline-1", template=template)

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)

    jobs = (
        executor.loader.project_state(AFTER)
        .apps.get_model("captions", "GenerationJob")
        .objects
    )
    endpoints = dict(jobs.values_list("pk", "endpoint"))
    assert endpoints == {default.pk: "openai", typed.pk: "", offline.pk: ""}
    assert jobs.get(pk=typed.pk).base_url == "http://10.0.0.5:8000/v1"
