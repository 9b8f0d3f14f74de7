"""Settings, read from the environment in this one place (12-factor).

Environment variables:
- ``DATABASE_URL``: unset -> embedded SQLite file ``db.sqlite3`` in the project;
  ``postgres://user@host:port/name`` -> PostgreSQL through psycopg 3.
- ``DJANGO_SECRET_KEY``: required unless ``DJANGO_DEBUG`` is on.
- ``DJANGO_DEBUG``: ``1``/``true`` turns debug on; off by default.
- ``DJANGO_ALLOWED_HOSTS``: comma-separated host names.
- ``REDIS_URL``: when set, django-q2 uses Redis as its broker instead of the ORM.
- ``Q_SYNC``: run django-q2 tasks inline (tests, demos without a cluster).
- ``BINANCE_BASE_URL``, ``COINGECKO_BASE_URL``, ``COINGECKO_API_KEY``,
  ``DEFILLAMA_BASE_URL``, ``LUNARCRUSH_BASE_URL``, ``LUNARCRUSH_API_KEY``, ``FEAR_GREED_BASE_URL``: data providers.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if DEBUG:
        SECRET_KEY = "django-insecure-development-key-do-not-use-in-production"
    else:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set it in the environment, or set DJANGO_DEBUG=1 "
            "for local development (never in production)."
        )

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

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
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from our static files: the docs work offline
    "django_q",
    "core",
    "marketdata",
    "strategies",
    "backtests",
    "analytics",
    "interfaces",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "interfaces.api.safety.ApiInputGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"

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

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes share the file (queue workers, the web process, research's strategy processes): readers
    # never wait for a writer (WAL), a writer takes the lock when its transaction begins (no deadlocked upgrade)
    # and waits up to 30 s for another instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=30, transaction_mode="IMMEDIATE",
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# Reports written by the research pipeline.
REPORTS_DIR = Path(os.environ.get("REPORTS_DIR", BASE_DIR / "reports"))

# A folder of your own strategy files (``*.py``), registered next to the built-in strategies at start-up
# (see strategies.discovery and ``manage.py new_strategy``); empty: none.
STRATEGIES_DIR = os.environ.get("STRATEGIES_DIR", "")

# Production hardening: on unless DEBUG is on.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
# Trust X-Forwarded-Proto only behind a proxy that sets it (and strips it from clients): otherwise any client
# could claim https.
if env_bool("DJANGO_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = 1 * 1024 * 1024  # 1 MiB: the API takes small JSON bodies only.

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["interfaces.api.safety.SafeJSONParser", "rest_framework.parsers.FormParser",
                               "rest_framework.parsers.MultiPartParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "interfaces.api.pagination.PageSizePagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Reads are throttled per user (or per address when anonymous); starting work has its own, lower rate.
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle",
                                 "rest_framework.throttling.AnonRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"write": os.environ.get("API_WRITE_THROTTLE", "60/min"),
                               "user": os.environ.get("API_READ_THROTTLE", "600/min"),
                               "anon": os.environ.get("API_ANON_THROTTLE", "60/min")},
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Crypto strategy research API",
    "DESCRIPTION": "Ingest market data, run backtests and research analyses.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The schema and its docs describe the whole API: signed-in users only unless API_DOCS_PUBLIC=1.
    "SERVE_PERMISSIONS": (["rest_framework.permissions.AllowAny"] if env_bool("API_DOCS_PUBLIC", False)
                          else ["rest_framework.permissions.IsAuthenticated"]),
}

# django-q2: the ORM broker by default, Redis when REDIS_URL is set.
REDIS_URL = os.environ.get("REDIS_URL", "")

# One cache shared by every process (throttle counters must hold across gunicorn workers and queue workers):
# Redis when REDIS_URL is set, else a database table (created by the core migrations), never per-process memory.
CACHES = {
    "default": ({"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
                if REDIS_URL else
                {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "platform_cache"}),
}
Q_CLUSTER: dict = {
    "name": os.environ.get("Q_CLUSTER_NAME", "research"),
    "workers": int(os.environ.get("Q_WORKERS", "2")),
    "timeout": int(os.environ.get("Q_TIMEOUT", "3600")),  # a long research run
    "retry": int(os.environ.get("Q_RETRY", "3700")),  # must exceed timeout
    "max_attempts": int(os.environ.get("Q_MAX_ATTEMPTS", "2")),
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "sync": env_bool("Q_SYNC", False),
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# Data providers: base URLs are settings so tests and users can point them elsewhere.
BINANCE_BASE_URL = os.environ.get("BINANCE_BASE_URL", "https://api.binance.com")
COINGECKO_BASE_URL = os.environ.get("COINGECKO_BASE_URL", "https://pro-api.coingecko.com/api/v3")
COINGECKO_API_KEY = os.environ.get("COINGECKO_API_KEY", "")
DEFILLAMA_BASE_URL = os.environ.get("DEFILLAMA_BASE_URL", "https://api.llama.fi")
DEFILLAMA_STABLECOINS_BASE_URL = os.environ.get("DEFILLAMA_STABLECOINS_BASE_URL", "https://stablecoins.llama.fi")
LUNARCRUSH_BASE_URL = os.environ.get("LUNARCRUSH_BASE_URL", "https://lunarcrush.com/api4")
LUNARCRUSH_API_KEY = os.environ.get("LUNARCRUSH_API_KEY", "")
FEAR_GREED_BASE_URL = os.environ.get("FEAR_GREED_BASE_URL", "https://api.alternative.me")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
    # the queue workers say what they do (start, each task taken and finished) unless Q_LOG_LEVEL says otherwise
    "loggers": {"django-q": {"level": os.environ.get("Q_LOG_LEVEL", "INFO")}},
}
