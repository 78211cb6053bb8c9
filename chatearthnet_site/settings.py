"""Settings for ChatEarthNet Studio, read from the environment.

The defaults run on a fresh checkout with no server at all: SQLite and a Celery broker
on the file system, both under `var/`. Production sets DATABASE_URL (PostgreSQL) and
CELERY_BROKER_URL (Redis); see the configuration table in README.md.

`DEBUG` is off unless switched on (`make demo`, `make serve` and the tests do): a
forgotten variable must not show Django's technical pages on a network. With it off,
SECRET_KEY and INGEST_ROOTS must be set; docs/security.md lists the rest.
"""

import datetime as dt
import importlib.util
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from chatearthnet_site.environment import (
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_llm_endpoints,
    env_networks,
    env_paths,
    env_rate,
    env_str,
    env_tile_url,
    store_origins,
    tile_origin,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var"))).resolve()

DEBUG = env_bool("DEBUG", False)
# The fallback key only exists so that a fresh checkout runs; production must set one.
_DEV_SECRET_KEY = "dev-only-insecure-key-set-SECRET_KEY-in-production"
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET_KEY)
# Empty (`SECRET_KEY=`, as deploy/chatearthnet.env.example ships it) counts as unset.
if not DEBUG and SECRET_KEY in (_DEV_SECRET_KEY, ""):
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])

# --- Behind HTTPS (what `manage.py check --deploy` asks for) ------------------------
# Cookies are HTTPS-only whenever DEBUG is off; the redirect and HSTS are the
# operator's to switch on, as they lock out a site served over plain HTTP.
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Probes (load balancer, Kubernetes, systemd) ask over plain HTTP from inside; the
# health answers hold no secret (chatearthnet_site/health.py). Prometheus scrapes
# /metrics from inside the same way, with its token or from an allowed address.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# "HTTP_X_FORWARDED_PROTO,https" behind a proxy that sets that header (and strips a
# client's own); empty: the connection itself says whether it is HTTPS.
_proxy_ssl_header = env_list("SECURE_PROXY_SSL_HEADER", [])
if _proxy_ssl_header:
    if len(_proxy_ssl_header) != 2:
        raise ImproperlyConfigured(
            "SECURE_PROXY_SSL_HEADER must be 'HEADER,value', e.g. "
            "HTTP_X_FORWARDED_PROTO,https"
        )
    SECURE_PROXY_SSL_HEADER = (_proxy_ssl_header[0], _proxy_ssl_header[1])
# How many proxies of the operator's stand in front of the web processes. 0: the
# client's address is the connection's; n: the n-th address from the right of
# X-Forwarded-For. Lockouts and throttles count per address, so a header a client
# can forge must never be read when no proxy sets it.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "csp",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "captions",
    "verification",
]

MIDDLEWARE = [
    # First: every line logged while a request is handled carries its id.
    "chatearthnet_site.request_id.RequestIdMiddleware",
    # Request latency by view (django-prometheus), from here to the last middleware.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "chatearthnet_site.middleware.ServerTimingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files from gunicorn itself, no second server (docs/deployment.md).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its answer.
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

# --- Content-Security-Policy (django-csp) -------------------------------------------
# Scripts and styles only from this site, never inline, never a third party. Inline
# style *attributes* stay allowed: the pages colour land-cover swatches and bars with
# them, and an attribute cannot run code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

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
    # Connections are kept for a minute, and checked before a request reuses one: a
    # connection a database restart broke is replaced instead of failing the request
    # (docs/operations.md, Faults).
    DATABASES = {
        "default": dj_database_url.parse(
            env_str("DATABASE_URL", _default_sqlite),
            conn_max_age=60,
            conn_health_checks=True,
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

# Throttle counts; a local-memory cache counts per process, Redis across all of them.
_cache_url = env_str("CACHE_URL", "")
if _cache_url and not _cache_url.startswith(("redis://", "rediss://")):
    raise ImproperlyConfigured(f"CACHE_URL={_cache_url!r} is not a redis:// URL")
_CACHE_BACKENDS = "django.core.cache.backends"
CACHES = {
    "default": (
        {"BACKEND": f"{_CACHE_BACKENDS}.redis.RedisCache", "LOCATION": _cache_url}
        if _cache_url
        else {"BACKEND": f"{_CACHE_BACKENDS}.locmem.LocMemCache"}
    )
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

# --- Password guessing (django-axes) ------------------------------------------------
# Failed logins, on the login page, the admin's and /api/v1/auth/token/ alike, are
# counted per username *and* address: after LOGIN_FAILURE_LIMIT of them that pair is
# refused for LOGIN_LOCKOUT_MINUTES (0: until an admin unlocks it, see
# docs/security.md). Counting per pair keeps one attacker from locking everyone out.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
_lockout_minutes = env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=0)
AXES_COOLOFF_TIME = dt.timedelta(minutes=_lockout_minutes) if _lockout_minutes else None
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# A JSON 429 under /api/, else the login page again with the reason.
AXES_LOCKOUT_CALLABLE = "verification.lockout.lockout_response"
AXES_USERNAME_CALLABLE = "verification.lockout.attempted_username"
AXES_IPWARE_PROXY_COUNT = TRUSTED_PROXY_COUNT or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR") if TRUSTED_PROXY_COUNT else ("REMOTE_ADDR",)
)
AXES_IPWARE_PROXY_ORDER = "right-most"
# Logins that succeed are not logged a second time: the admin's log has them.
AXES_DISABLE_ACCESS_LOG = True

# API tokens (verification/tokens.py): stored hashed, dead when the password changes,
# and expired after this many days (0: never).
API_TOKEN_TTL_DAYS = env_int("API_TOKEN_TTL_DAYS", 90, minimum=0)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Leaflet for the map page comes from django-leaflet, its static files only
# (`leaflet/...`). Not an installed app: the admin would import its `admin` module,
# which needs GeoDjango and so a system GDAL library (rasterio brings its own).
_leaflet = importlib.util.find_spec("leaflet")
if _leaflet is None or _leaflet.origin is None:
    raise ImproperlyConfigured("django-leaflet is not installed (pyproject.toml)")
STATICFILES_DIRS = [BASE_DIR / "static", Path(_leaflet.origin).parent / "static"]
# Where `collectstatic` puts them and WhiteNoise serves them from.
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
# With DEBUG on, WhiteNoise serves the source folders, looked up at each request. Read
# here, not from settings.DEBUG at start-up: the test runner turns that off.
WHITENOISE_USE_FINDERS = WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
# Where previews ("default") and built releases ("releases") live: local folders, or an
# S3-compatible object store once AWS_STORAGE_BUCKET_NAME is set (see Object storage
# below).
STORAGES: dict[str, dict] = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        # A patch's previews keep their names when its scene is ingested again.
        "OPTIONS": {"allow_overwrite": True},
    },
    # With DEBUG off, names with a hash of the content (cached for a year) and gzip
    # copies, from `collectstatic`; a page naming a file it did not collect fails.
    # With DEBUG on, the files as they are in the source folders.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage",
    },
}

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# --- REST API (captions/api/common.py, errors.py) ----------------------------------
# Tokens for scripts and training code, the session for the browsable docs page; no
# endpoint answers anonymously except the schema and its docs page.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "verification.tokens.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Per user once signed in, per address before (the token endpoint has its own,
    # stricter scope). Counts live in the cache: set CACHE_URL to share them between
    # web processes.
    "DEFAULT_THROTTLE_CLASSES": [
        "verification.throttles.AddressRateThrottle",
        "verification.throttles.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "address": env_rate("API_THROTTLE_ANON", "120/minute"),
        "user": env_rate("API_THROTTLE_USER", "1200/minute"),
        "auth": env_rate("API_THROTTLE_AUTH", "20/minute"),
    },
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "captions.api.common.IdCursorPagination",
    "PAGE_SIZE": env_int("API_PAGE_SIZE", 50, minimum=1),
    "DEFAULT_FILTER_BACKENDS": ["captions.api.common.StrictFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "captions.api.errors.json_exception_handler",
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
        "SplitSourceEnum": "captions.models.Patch.SplitSource",
        "VerdictEnum": "verification.models.Verdict",
        "ReviewActionEnum": ("approve", "edit", "reject", "skip"),
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "captions.api.errors.document_error_responses",
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
# A scene being ingested whose worker has not beaten for this long (it beats every
# second) belonged to a worker that died: the next delivery of its task takes it over.
SCENE_INGEST_STALE_AFTER_S = env_int("SCENE_INGEST_STALE_AFTER_S", 600, minimum=1)
# Patches (GeoTIFF) or SatlasPretrain tiles per side of a block that shares a split
# (captions/ingest/splits.py): 4 keeps neighbours of up to ~10 km together. 1 splits
# per patch (or per tile), which lets test pairs sit next to training pairs.
SPLIT_BLOCK = env_int("SPLIT_BLOCK", 4, minimum=1)
# Folders that ingest, tile import, the admin form and the commands may read rasters
# from (captions/ingest/input_files.py). Required with DEBUG off; empty in development:
# any
# folder but the product's own. A root may not hold the product's own files.
INGEST_ROOTS = env_paths("INGEST_ROOTS")
# GDAL's block cache defaults to 5% of RAM; a fixed cap keeps an ingest's memory flat
# whatever the size of the scene.
GDAL_CACHEMAX_MB = env_int("GDAL_CACHEMAX_MB", 64, minimum=8)
# Built dataset releases (captions/export/releases.py). Not under MEDIA_ROOT: the media
# view
# serves previews to anyone with a role, releases go out only through the API.
RELEASES_ROOT = Path(env_str("RELEASES_ROOT", str(VAR_DIR / "releases")))
if not DEBUG and not INGEST_ROOTS:
    raise ImproperlyConfigured(
        "INGEST_ROOTS must be set when DEBUG is off: the folders (comma-separated, "
        "absolute) that imagery may be ingested from"
    )
for _root in INGEST_ROOTS:
    for _own, _what in (
        (MEDIA_ROOT, "MEDIA_ROOT"),
        (RELEASES_ROOT, "RELEASES_ROOT"),
        (VAR_DIR, "VAR_DIR"),
    ):
        if _own.resolve().is_relative_to(_root):
            raise ImproperlyConfigured(
                f"INGEST_ROOTS: {_root} holds {_what} ({_own}); ingest roots must "
                "hold imagery only, not the product's own files"
            )

# --- Object storage (captions/storage.py, docs/deployment.md) ----------------------
# Previews and built releases in local folders (MEDIA_ROOT, RELEASES_ROOT) by default;
# with AWS_STORAGE_BUCKET_NAME set, in that bucket of any S3-compatible store
# (django-storages with boto3), under `media/` and `releases/`, so web processes and
# workers on several machines share them with no shared folder. The bucket stays
# private: pages and the API keep this site's URLs, which check who asks, then send
# the browser on to a signed URL valid for AWS_QUERYSTRING_EXPIRE seconds (or, with
# MEDIA_THROUGH_APP, stream the file themselves, for a store browsers cannot reach).
STORAGES["releases"] = {
    "BACKEND": "captions.storage.LocalReleasesStorage",  # RELEASES_ROOT
    "OPTIONS": {"allow_overwrite": True},
}
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME", "")
MEDIA_THROUGH_APP = env_bool("MEDIA_THROUGH_APP", False)
if AWS_STORAGE_BUCKET_NAME:
    from botocore.config import Config as _BotoConfig

    AWS_S3_ENDPOINT_URL = env_str("AWS_S3_ENDPOINT_URL", "") or None
    AWS_S3_REGION_NAME = env_str("AWS_S3_REGION_NAME", "") or None
    AWS_ACCESS_KEY_ID = env_str("AWS_ACCESS_KEY_ID", "") or None
    AWS_SECRET_ACCESS_KEY = env_str("AWS_SECRET_ACCESS_KEY", "") or None
    AWS_DEFAULT_ACL = None  # the bucket's own (private) policy, never public-read
    AWS_QUERYSTRING_AUTH = True
    AWS_QUERYSTRING_EXPIRE = env_int("AWS_QUERYSTRING_EXPIRE", 300, minimum=10)
    AWS_S3_FILE_OVERWRITE = True
    # A store that is down fails a request in seconds, not boto3's minute. MinIO,
    # Ceph and most stores on an endpoint of your own want path-style addresses;
    # signed URLs are Signature Version 4 (version 2 is refused by newer regions).
    AWS_S3_CLIENT_CONFIG = _BotoConfig(
        s3={
            "addressing_style": env_choice(
                "AWS_S3_ADDRESSING_STYLE",
                "path" if AWS_S3_ENDPOINT_URL else "auto",
                ("auto", "path", "virtual"),
            )
        },
        signature_version="s3v4",
        connect_timeout=env_int("AWS_S3_CONNECT_TIMEOUT_S", 5, minimum=1),
        read_timeout=env_int("AWS_S3_READ_TIMEOUT_S", 30, minimum=1),
        retries={"max_attempts": 3, "mode": "standard"},
        max_pool_connections=32,
    )
    for _alias, _prefix in (("default", "media"), ("releases", "releases")):
        STORAGES[_alias] = {
            "BACKEND": "captions.s3_storage.PrivateS3Storage",
            "OPTIONS": {"location": _prefix},
        }
    # The browser follows the media view's redirect to the store: its pages may show
    # images from there (and only there).
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["img-src"] += store_origins(
        AWS_S3_ENDPOINT_URL
    )

# --- The map's basemap (verification/map_views.py, docs/map.md) --------------------
# Tiles from this server when set, a URL template such as
# https://tile.example.org/{z}/{x}/{y}.png, credited with MAP_TILE_ATTRIBUTION (plain
# text); unset, the map draws the bundled world outline and needs no network. Set, the
# pages may show images from the tile server's origin too.
MAP_TILE_URL = env_tile_url("MAP_TILE_URL")
MAP_TILE_ATTRIBUTION = env_str("MAP_TILE_ATTRIBUTION", "").strip()
if MAP_TILE_URL:
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["img-src"].append(tile_origin(MAP_TILE_URL))

# Imagery to ingest is read from INGEST_ROOTS by the worker that runs the ingest. On
# several machines, give ingest a queue of its own (INGEST_QUEUE=ingest) and start the
# workers that see the imagery with `-Q celery,ingest`; the others need no imagery
# (docs/deployment.md). Empty: every worker takes ingest too.
INGEST_QUEUE = env_str("INGEST_QUEUE", "")
if INGEST_QUEUE:
    CELERY_TASK_ROUTES = {"captions.ingest_scene": {"queue": INGEST_QUEUE}}

# --- LLM endpoints ------------------------------------------------------------------
# Where caption jobs may send requests, and which variable holds each one's key; a job
# names an endpoint, never a URL (captions/llm/endpoints.py). The default: OpenAI's
# API, or OPENAI_BASE_URL, with OPENAI_API_KEY (or OPENAI_API_KEY_FILE).
LLM_ENDPOINTS = env_llm_endpoints(
    "LLM_ENDPOINTS",
    {
        "openai": {
            "base_url": env_str("OPENAI_BASE_URL", "https://api.openai.com/v1"),
            "key_variable": "OPENAI_API_KEY",
        }
    },
)
# A generation chunk whose worker has not beaten for this long belonged to a worker
# that died: the next delivery of its task takes it over
# (captions/generation/runner.py).
GENERATION_CHUNK_STALE_AFTER_S = env_int(
    "GENERATION_CHUNK_STALE_AFTER_S", 300, minimum=1
)
# Batch jobs (captions/generation/batches.py): Celery beat asks the provider about open
# batches this often, and ingests those that ended.
GENERATION_BATCH_POLL_S = env_int("GENERATION_BATCH_POLL_S", 60, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "poll-llm-batches": {
        "task": "captions.poll_batches",
        "schedule": float(GENERATION_BATCH_POLL_S),
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# /readyz and the jobs page call the workers down when none has written its heartbeat
# (captions/workers.py) for this long; each worker beats at least every 15 s.
WORKER_HEARTBEAT_MAX_AGE_S = env_int("WORKER_HEARTBEAT_MAX_AGE_S", 60, minimum=1)

# --- Metrics (chatearthnet_site/metrics.py, docs/operations.md) ---------------------
# /metrics answers a request with `Authorization: Bearer <METRICS_TOKEN>` (empty: no
# token is accepted) or from an address in METRICS_ALLOWED_IPS, which is the
# connection's own (REMOTE_ADDR), never X-Forwarded-For. Loopback is allowed by
# default only with DEBUG on: behind a proxy on the same machine, every visitor
# arrives from loopback.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
METRICS_ALLOWED_IPS = env_networks(
    "METRICS_ALLOWED_IPS", ["127.0.0.1", "::1"] if DEBUG else []
)

VAR_DIR.mkdir(parents=True, exist_ok=True)

# --- Logs (docs/operations.md) -----------------------------------------------------
# `text` for people, `json` (one object a line) for a log collector. The filter sits on
# the handler, so the lines of every logger carry the request's or the task's ids.
LOG_FORMAT = env_choice("LOG_FORMAT", "text", ("text", "json"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"log_ids": {"()": "chatearthnet_site.logs.LogIdsFilter"}},
    "formatters": {
        "text": {"()": "chatearthnet_site.logs.TextFormatter"},
        "json": {"()": "chatearthnet_site.logs.JsonLineFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["log_ids"],
            "formatter": LOG_FORMAT,
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # Django's own handlers go (its console one prints a second, plain copy of each
    # line when DEBUG is on): its lines reach the root's handler like any other.
    "loggers": {"django": {"handlers": [], "propagate": True}},
}
