"""What the zero-setup pass (`make pytest-default`: SQLite, file-system broker) runs.

`make test` runs the whole suite on PostgreSQL + Redis, then on the zero-setup default
only the tests that touch what differs there: the database, the broker, file storage,
the management commands, and one browser flow. The rest takes the same path on both
configurations, and once is enough. Which list a new test joins: docs/testing.md.

An entry is a node id, or the start of one: a module, a test with all its parameters,
or one parameter set. A test that starts a real Celery worker is selected wherever it
is (`WORKER_FIXTURES`): the worker is where the broker and the database meet.
"""

import pytest

MARKER = "default_config"

DEFAULT_CONFIG_TESTS = (
    # The database: migrations, JSON lookups (captions/json_lookups.py), the claims
    # (SKIP LOCKED on PostgreSQL, a fallback on SQLite), bulk loads (COPY or not).
    "tests/captions/test_migration_job_endpoint.py",
    "tests/captions/test_migration_patch_names.py",
    "tests/captions/test_migration_dominant_class.py",
    "tests/captions/test_prompt_templates.py",  # a data migration
    "tests/verification/test_migration_plaintext_tokens.py",
    "tests/captions/test_recipe_order.py::"  # a data migration reading previews
    + "test_the_migration_backfills_first_seen_from_the_preview_and_skips_the_rest",
    "tests/verification/test_services.py",  # the review queue's claims
    "tests/verification/test_area_filters.py",  # the queue's claims by area
    "tests/verification/test_dashboard.py",  # JSON key transforms
    "tests/captions/test_api_captions.py",  # filters by JSON lookups
    "tests/captions/test_api_patches.py",
    "tests/verification/test_api_map.py",  # the map's cells: SQL per database
    "tests/captions/test_generation.py",  # jobs' guarded updates, locks
    "tests/captions/test_chunk_claims.py",
    "tests/security/test_claims_and_limits.py",
    "tests/verification/test_benchmark_data.py",  # bulk loads
    # The quality loop: its queue (three kinds, guarded updates on SQLite), and
    # the release figures' raw SQL (one form per database).
    "tests/verification/test_second_opinions.py",
    "tests/captions/test_release_quality.py",
    # Ids past what the database stores on every route: SQLite overflows where
    # PostgreSQL answers. The curator reaches the most of them.
    "tests/test_fuzz_roles.py::test_no_hostile_request_gets_a_5xx[curator]",
    # The broker and the tasks it carries (and the workers, by their fixtures).
    "tests/captions/test_tasks.py",
    "tests/captions/test_lost_messages.py",  # reads the broker's queue
    # /readyz asks the database, the broker and storage of the configuration it runs on.
    "tests/chatearthnet_site/test_health.py",
    # /metrics counts in the database with filtered aggregates, one SQL per database.
    "tests/chatearthnet_site/test_metrics.py",
    # File storage: previews written by ingest, media served, release files.
    "tests/captions/test_ingest.py",
    "tests/captions/test_import_tiles.py",
    "tests/captions/test_releases.py",
    "tests/captions/test_chatearthnet_roundtrip.py",  # commands, files, a release
    "tests/captions/test_export_api.py",
    "tests/captions/test_area_export.py",  # a command, release files by area
    "tests/captions/test_geojson.py",  # newest-caption subqueries, a command
    # The management commands, on the default database and broker.
    "tests/captions/test_generate_captions_command.py",
    "tests/captions/test_captions_import.py",
    "tests/captions/test_demo_end_to_end.py",
    "tests/verification/test_create_user.py",
    # One browser flow: the page, its script and its images on a live server.
    "tests/verification/test_review_browser.py::"
    + "test_annotator_approves_with_a_and_the_next_caption_appears",
)

# Fixtures that start a real `celery worker` (tests/conftest.py).
WORKER_FIXTURES = frozenset({"start_worker", "celery_worker"})


def _selects(entry: str, node_id: str) -> bool:
    return node_id == entry or node_id.startswith((f"{entry}::", f"{entry}["))


def _uses_a_worker(item: pytest.Item) -> bool:
    fixtures = set(getattr(item, "fixturenames", ()))
    marked = item.get_closest_marker("worker") is not None
    return marked or bool(WORKER_FIXTURES & fixtures)


def mark_default_config(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests the zero-setup pass runs."""
    matched: set[str] = set()
    for item in items:
        entries = {
            entry for entry in DEFAULT_CONFIG_TESTS if _selects(entry, item.nodeid)
        }
        matched |= entries
        if entries or _uses_a_worker(item):
            item.add_marker(MARKER)
    if MARKER in (config.option.markexpr or ""):
        _refuse_stale_entries(config, items, matched)


def _refuse_stale_entries(
    config: pytest.Config, items: list[pytest.Item], matched: set[str]
) -> None:
    """An entry that names nothing (a file or a test renamed) stops the pass that
    selects by the mark, instead of leaving the test out without a word."""
    # A test is missing from a collected module only if the whole module was asked for.
    narrowed = any("::" in argument for argument in config.args)
    whole_files = set() if narrowed else {item.nodeid.split("::")[0] for item in items}
    for entry in DEFAULT_CONFIG_TESTS:
        path = entry.split("::")[0]
        missing_file = not (config.rootpath / path).is_file()
        missing_test = path in whole_files and entry not in matched
        if missing_file or missing_test:
            raise pytest.UsageError(
                f"tests/selection.py names {entry}, which is not there: "
                "rename or remove the entry"
            )
