"""Settings come from the environment and fail loudly on a bad value."""

import os
import re
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from chatearthnet_site.environment import (
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_llm_endpoints,
    env_rate,
)
from tests.conftest import ROOT

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "a-production-key-that-is-long-and-random-enough-0123456789",
    "INGEST_ROOTS": "/srv/imagery",
}


def settings_in_subprocess(
    code: str = "", *, debug: str | None = "1", **env: str
) -> subprocess.CompletedProcess:
    """Import the settings in a fresh interpreter with `env` on top of a clean one.

    `debug=None` leaves DEBUG unset, as a forgotten variable would.
    """
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "DEBUG", "INGEST_ROOTS", "LLM_ENDPOINTS")
    }
    if debug is not None:
        clean["DEBUG"] = debug
    code = "import django; django.setup(); from django.conf import settings; " + (
        code
        or "print(settings.DATABASES['default']['ENGINE'], settings.CELERY_BROKER_URL)"
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


def test_rates_take_a_number_per_period_and_refuse_anything_else(monkeypatch):
    monkeypatch.setenv("RATE", "30/minute")
    assert env_rate("RATE", "1/second") == "30/minute"
    for wrong in ("30 per minute", "0/minute", "30/fortnight", "-1/day"):
        monkeypatch.setenv("RATE", wrong)
        with pytest.raises(ImproperlyConfigured, match="is not a rate"):
            env_rate("RATE", "1/second")


def test_llm_endpoints_are_a_name_a_url_and_the_variable_holding_the_key(
    monkeypatch,
):
    monkeypatch.setenv(
        "ENDPOINTS",
        "openai https://api.openai.com/v1 OPENAI_API_KEY, "
        "local http://10.0.0.5:8000/v1",
    )
    assert env_llm_endpoints("ENDPOINTS", {}) == {
        "openai": {
            "base_url": "https://api.openai.com/v1",
            "key_variable": "OPENAI_API_KEY",
        },
        "local": {"base_url": "http://10.0.0.5:8000/v1", "key_variable": ""},
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("local", "is not 'NAME URL [KEY_VARIABLE]'"),
        ("local file:///etc/passwd", "is not an http(s) URL"),
        ("local http://h/v1 sk-the-key-itself!", "is not an environment variable"),
        ("a http://h/v1, a http://i/v1", "'a' is named twice"),
        ("../x http://h/v1", "is not an endpoint name"),
        (" , ", "names no endpoint"),
    ],
)
def test_llm_endpoints_refuse_what_is_not_an_endpoint(monkeypatch, value, message):
    monkeypatch.setenv("ENDPOINTS", value)
    with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
        env_llm_endpoints("ENDPOINTS", {})


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


def test_debug_is_off_unless_switched_on():
    unset = {k: v for k, v in PRODUCTION.items() if k != "DEBUG"}
    result = settings_in_subprocess("print(settings.DEBUG)", debug=None, **unset)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_a_forgotten_secret_key_stops_start_up_when_debug_is_not_set():
    result = settings_in_subprocess(debug=None, INGEST_ROOTS="/srv/imagery")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_ingest_roots_are_required_with_debug_off():
    env = {**PRODUCTION, "INGEST_ROOTS": ""}
    result = settings_in_subprocess(debug=None, **env)
    assert result.returncode != 0
    assert "INGEST_ROOTS must be set when DEBUG is off" in result.stderr


@pytest.mark.parametrize("variable", ["MEDIA_ROOT", "RELEASES_ROOT", "VAR_DIR"])
def test_an_ingest_root_holding_the_products_own_files_is_refused(tmp_path, variable):
    elsewhere = {
        "VAR_DIR": str(tmp_path / "var"),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "RELEASES_ROOT": str(tmp_path / "releases"),
    }
    own = tmp_path / "studio" / "inside"
    result = settings_in_subprocess(
        debug=None,
        **{
            **PRODUCTION,
            **elsewhere,
            "INGEST_ROOTS": str(tmp_path / "studio"),
            variable: str(own),
        },
    )
    assert result.returncode != 0
    assert f"holds {variable}" in result.stderr


def test_relative_ingest_roots_are_refused():
    result = settings_in_subprocess(INGEST_ROOTS="imagery")
    assert result.returncode != 0
    assert "INGEST_ROOTS: 'imagery' is not an absolute path" in result.stderr


def test_the_deploy_settings_are_read_from_the_environment():
    code = (
        "print(settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS, "
        "settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE, "
        "settings.SECURE_PROXY_SSL_HEADER, settings.CSRF_TRUSTED_ORIGINS)"
    )
    result = settings_in_subprocess(
        code,
        debug=None,
        **PRODUCTION,
        SECURE_SSL_REDIRECT="1",
        SECURE_HSTS_SECONDS="3600",
        SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
        CSRF_TRUSTED_ORIGINS="https://studio.example.org",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "True 3600 True True ('HTTP_X_FORWARDED_PROTO', 'https') "
        "['https://studio.example.org']"
    )
