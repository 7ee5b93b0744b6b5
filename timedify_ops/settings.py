"""Settings for the Timedify Ops Console.

Twelve-factor: every value comes from an environment variable, with a default that works
on a laptop (SQLite file, ORM broker, DEBUG off unless `make run` turns it on). The
variables are listed in README.md, "Configuration".
"""

from __future__ import annotations

import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from timedify_ops.env import envbool, envfloat, envint, envlist, envsecret, envstr

BASE_DIR = Path(__file__).resolve().parent.parent
# Runtime files of the embedded setup (SQLite database, admin login, exports) live here.
VAR_DIR = Path(envstr("TIMEDIFY_VAR_DIR", str(BASE_DIR / "var")))
try:
    (VAR_DIR / "static").mkdir(parents=True, exist_ok=True)
except OSError:  # a read-only image: VAR_DIR must then point at a writable volume
    pass

DEBUG = envbool("DEBUG", False)
# pytest loads these settings before any conftest can set the environment.
TESTING = "pytest" in sys.modules or sys.argv[1:2] == ["test"]

SECRET_KEY = envsecret("SECRET_KEY")
if not SECRET_KEY:
    if DEBUG or TESTING:
        SECRET_KEY = "insecure-local-only-key-never-use-in-production"  # noqa: S105
    else:
        raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off (or set DEBUG=1 for a local console).")

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_q",
    "webhooks",
    "deadletters",
    "timedify_ops",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "timedify_ops.urls"
WSGI_APPLICATION = "timedify_ops.wsgi.application"

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

# --- Database -------------------------------------------------------------------------
DATABASE_URL = envstr("DATABASE_URL", f"sqlite:///{VAR_DIR / 'timedify.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=envint("CONN_MAX_AGE", 0, minimum=0))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the qcluster share one file: WAL lets readers run beside the
    # writer, IMMEDIATE takes the write lock at BEGIN (no upgrade deadlock), and the
    # timeout waits for the lock instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not Django's in-memory default: tests start real servers and workers in
    # other processes, which must see the same database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-timedify.sqlite3")}
else:
    # No psycopg pool: Django's pool breaks across the qcluster's fork (django-q2 #209).
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and django-q2 ---------------------------------------------------------------
REDIS_URL = envstr("REDIS_URL")
# django-q2's cluster stats (health check, qinfo) need a cache shared across processes.
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "timedify_cache"}
    }

Q_CLUSTER: dict[str, object] = {
    "name": envstr("Q_CLUSTER_NAME", "timedify"),
    "workers": envint("Q_WORKERS", 2, minimum=1),
    # One event task runs at most 5 attempts of a handler (forwarding: 5 s each) plus
    # 4.5 s of back-off; timeout must stay below retry or a task runs twice.
    "timeout": envint("Q_TIMEOUT", 60, minimum=1),
    "retry": envint("Q_RETRY", 90, minimum=2),
    "max_attempts": envint("Q_MAX_ATTEMPTS", 3, minimum=1),
    "queue_limit": envint("Q_QUEUE_LIMIT", 50, minimum=1),
    "poll": envfloat("Q_POLL", 0.2),
    "catch_up": False,
    "ack_failures": True,
    # Only scheduled jobs keep django-q2 results; event tasks are enqueued with save=False.
    "save_limit": envint("Q_SAVE_LIMIT", 250),
    "recycle": envint("Q_RECYCLE", 500, minimum=1),
    "max_rss": envint("Q_MAX_RSS_KB", 256_000, minimum=1),
    "label": "Django Q2",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    # Without an explicit broker key django-q2 assumes Redis, even in sync mode.
    Q_CLUSTER["orm"] = "default"

# --- Static files ----------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the apps' static folders when collectstatic has not been run.
WHITENOISE_USE_FINDERS = envbool("WHITENOISE_USE_FINDERS", True)
MEDIA_ROOT = VAR_DIR / "media"

# --- Security --------------------------------------------------------------------------
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", not DEBUG and not TESTING)
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", not DEBUG and not TESTING)
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0, minimum=0)
if envbool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- I18N ------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# --- Webhooks --------------------------------------------------------------------------
SHOPIFY_API_SECRET = envsecret("SHOPIFY_API_SECRET", "dev-shopify-secret" if DEBUG else "")
# The secret being rotated out: deliveries signed with it are still accepted.
SHOPIFY_API_SECRET_PREVIOUS = envsecret("SHOPIFY_API_SECRET_PREVIOUS")
STRIPE_WEBHOOK_SECRET = envsecret("STRIPE_WEBHOOK_SECRET", "whsec_dev" if DEBUG else "")
STRIPE_TOLERANCE_SECONDS = envint("STRIPE_TOLERANCE_SECONDS", 300, minimum=1)
# Shopify's largest payloads (orders with many lines) stay well below this.
WEBHOOK_MAX_BODY_BYTES = envint("WEBHOOK_MAX_BODY_BYTES", 1024 * 1024, minimum=1024)
WEBHOOK_RETENTION_DAYS = envint("WEBHOOK_RETENTION_DAYS", 14, minimum=1)
DEADLETTER_RETENTION_DAYS = envint("DEADLETTER_RETENTION_DAYS", 30, minimum=1)
# Back-off before each retry of a failed handler, in seconds: 4 retries, 5 attempts.
WEBHOOK_RETRY_DELAYS = [float(x) for x in envlist("WEBHOOK_RETRY_DELAYS", "0.3,0.6,1.2,2.4")]
# How long a worker owns an event it claimed; past it the sweeper hands it to another.
WEBHOOK_LEASE_SECONDS = envint("WEBHOOK_LEASE_SECONDS", 120, minimum=1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {"django-q": {"level": envstr("Q_LOG_LEVEL", "INFO"), "propagate": True}},
}

# --- Performance (benchmarks, docs/benchmarks.md) ---
# Persistent connections on PostgreSQL by default. With CONN_MAX_AGE 0 every request opened
# a new connection and django-q2's ORM broker closed it again before enqueueing (its
# close_old_connections), so one delivery cost two or three connection set-ups: the
# ingest benchmark went from 0.06 to 0.33 of the one-INSERT baseline's throughput
# (3 gunicorn workers, 2 cores). django-q2 closes every connection before it forks its workers, so the cluster
# is safe with them too; Django's psycopg pool stays off (django-q2 #209).
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = envint("CONN_MAX_AGE", 60, minimum=0)
    # Four workers on PostgreSQL: a worker spends most of an event waiting on commits, and
    # at 100 events/s with Redis two workers fell behind (backlog +25 events/s, p95 3.2 s)
    # where four kept up (+3.5 events/s, p95 1.1 s). SQLite keeps two: one writer at a time.
    Q_CLUSTER["workers"] = envint("Q_WORKERS", 4, minimum=1)
