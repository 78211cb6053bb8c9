"""Settings for ChatEarthNet Studio, read from the environment.

The defaults run on a fresh checkout with no server at all: SQLite and a Celery broker
on the file system, both under `var/`. Production sets DATABASE_URL (PostgreSQL) and
CELERY_BROKER_URL (Redis); see the configuration table in README.md.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from chatearthnet_site.environment import (
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", True)
# The fallback key only exists so that a fresh checkout runs; production must set one.
_DEV_SECRET_KEY = "dev-only-insecure-key-set-SECRET_KEY-in-production"
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET_KEY)
if not DEBUG and SECRET_KEY == _DEV_SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "captions",
    "verification",
]

MIDDLEWARE = [
    "chatearthnet_site.middleware.ServerTimingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "chatearthnet_site.urls"
WSGI_APPLICATION = "chatearthnet_site.wsgi.application"
ASGI_APPLICATION = "chatearthnet_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

_default_sqlite = f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
try:
    DATABASES = {
        "default": dj_database_url.parse(
            env_str("DATABASE_URL", _default_sqlite), conn_max_age=60
        )
    }
except ValueError as error:
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {error}") from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not ":memory:", for tests too: a Celery worker started by a test must
    # see the rows the test wrote. WAL lets the web server read while a worker writes.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# --- REST API (chatearthnet_site/api.py) ------------------------------------------
# Tokens for scripts and training code, the session for the browsable docs page; no
# endpoint answers anonymously except the schema and its docs page.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "chatearthnet_site.api.IdCursorPagination",
    "PAGE_SIZE": env_int("API_PAGE_SIZE", 50, minimum=1),
    "DEFAULT_FILTER_BACKENDS": ["chatearthnet_site.api.StrictFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "chatearthnet_site.api.json_exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ChatEarthNet Studio API",
    "DESCRIPTION": "Scenes, patches, captions, review, jobs, export and releases of "
    "verified image-text datasets of the Earth.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # The docs page's Swagger UI from the installed package, not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name per choice set, whichever serializer or filter shows it.
    "ENUM_NAME_OVERRIDES": {
        "SceneStatusEnum": "captions.models.Scene.Status",
        "CaptionStatusEnum": "captions.models.Caption.Status",
        "JobStatusEnum": "captions.models.GenerationJob.Status",
        "SplitEnum": "captions.models.Patch.Split",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "chatearthnet_site.api.document_error_responses",
    ],
}

# --- Celery -----------------------------------------------------------------------
# Zero-setup default: a broker on the file system, so `make worker` runs a real worker
# with no server. Production: CELERY_BROKER_URL=redis://host:6379/0.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = Path(env_str("CELERY_BROKER_DIR", str(VAR_DIR / "broker")))
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
else:
    # A task taken by a worker that dies (SIGKILL, power loss) goes back to the queue
    # after this long; acks_late tasks here are safe to run twice, so a short value
    # only costs repeated work. It must exceed the longest chunk's run time.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT_S", 3600, minimum=1)
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Ingest -----------------------------------------------------------------------
PREVIEW_FORMAT = env_choice("PREVIEW_FORMAT", "webp", ("webp", "png", "jpeg"))
INGEST_BATCH_SIZE = env_int("INGEST_BATCH_SIZE", 256, minimum=1)
# Folders the admin's "Ingest a scene" form may read from; empty: any path the server
# can read (staff only). Set it where curators should not reach the whole disk.
INGEST_ROOTS = env_list("INGEST_ROOTS", [])
# GDAL's block cache defaults to 5% of RAM; a fixed cap keeps an ingest's memory flat
# whatever the size of the scene.
GDAL_CACHEMAX_MB = env_int("GDAL_CACHEMAX_MB", 64, minimum=8)
# Built dataset releases (captions/releases.py). Not under MEDIA_ROOT: the media view
# serves previews to anyone logged in, releases go out only through the API.
RELEASES_ROOT = Path(env_str("RELEASES_ROOT", str(VAR_DIR / "releases")))

VAR_DIR.mkdir(parents=True, exist_ok=True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
