"""Settings come from the environment and fail loudly on a bad value."""

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from chatearthnet_site.environment import env_bool, env_choice, env_int, env_list
from tests.conftest import ROOT


def settings_in_subprocess(**env: str) -> subprocess.CompletedProcess:
    """Import the settings in a fresh interpreter with `env` on top of a clean one."""
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DEBUG")}
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.DATABASES['default']['ENGINE'], settings.CELERY_BROKER_URL)"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "chatearthnet_site.settings", **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_booleans_accept_the_usual_spellings_and_refuse_typos(monkeypatch):
    monkeypatch.setenv("FLAG", "yes")
    assert env_bool("FLAG", False) is True
    monkeypatch.setenv("FLAG", "0")
    assert env_bool("FLAG", True) is False
    monkeypatch.setenv("FLAG", "flase")
    with pytest.raises(ImproperlyConfigured, match="FLAG='flase' is not a boolean"):
        env_bool("FLAG", True)


def test_integers_refuse_garbage_and_values_below_the_minimum(monkeypatch):
    monkeypatch.setenv("SIZE", "5OO")
    with pytest.raises(ImproperlyConfigured, match="SIZE='5OO' is not an integer"):
        env_int("SIZE", 1)
    monkeypatch.setenv("SIZE", "0")
    with pytest.raises(ImproperlyConfigured, match="SIZE=0 must be at least 1"):
        env_int("SIZE", 1, minimum=1)
    monkeypatch.delenv("SIZE")
    assert env_int("SIZE", 7) == 7


def test_lists_and_choices(monkeypatch):
    monkeypatch.setenv("HOSTS", " a.example , b.example,,")
    assert env_list("HOSTS", []) == ["a.example", "b.example"]
    monkeypatch.setenv("FORMAT", "gif")
    with pytest.raises(ImproperlyConfigured, match="FORMAT='gif' is not one of"):
        env_choice("FORMAT", "webp", ("webp", "png"))


def test_the_default_configuration_needs_no_server():
    result = settings_in_subprocess(CELERY_BROKER_URL="filesystem://")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "filesystem://"]


def test_a_postgres_url_selects_postgresql():
    result = settings_in_subprocess(DATABASE_URL="postgres://u@db.example:5432/studio")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "django.db.backends.postgresql"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not a boolean"),
        ({"DATABASE_URL": "nonsense://x"}, "DATABASE_URL is not a database URL"),
        ({"DEBUG": "0"}, "SECRET_KEY must be set when DEBUG is off"),
        ({"PREVIEW_FORMAT": "bmp"}, "PREVIEW_FORMAT='bmp' is not one of"),
        ({"INGEST_BATCH_SIZE": "many"}, "INGEST_BATCH_SIZE='many' is not an integer"),
    ],
)
def test_a_bad_setting_stops_start_up_naming_the_variable(env, message):
    result = settings_in_subprocess(**env)
    assert result.returncode != 0
    assert message in result.stderr
