"""Settings for the Timedify Ops Console.

Twelve-factor: every value comes from an environment variable, with a default that works
on a laptop (SQLite file, ORM broker, DEBUG off unless `make run` turns it on). The
variables are listed in README.md, "Configuration".
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from timedify_ops.env import (
    envbool,
    envfloat,
    envfloats,
    envint,
    envlist,
    envpairs,
    envsecret,
    envstr,
    host_of,
    http_url,
    whole_in,
)

# Lets `ModelAdmin[Shop]`, `QuerySet[Event]` and friends be subscripted at run time.
django_stubs_ext.monkeypatch()

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
DATABASES = {"default": dj_database_url.parse(DATABASE_URL)}
SQLITE = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
# Persistent connections on PostgreSQL by default. With CONN_MAX_AGE 0 every request opened
# a new connection and django-q2's ORM broker closed it again before enqueueing (its
# close_old_connections), so one delivery cost two or three connection set-ups: the
# ingest benchmark went from 0.06 to 0.33 of the one-INSERT baseline's throughput
# (3 gunicorn workers, 2 cores). django-q2 closes every connection before it forks its
# workers, so the cluster is safe with them too. 0: a new connection per request.
DATABASES["default"]["CONN_MAX_AGE"] = envint("CONN_MAX_AGE", 0 if SQLITE else 60, minimum=0, maximum=86400)
if SQLITE:
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

Q_CLUSTER: dict[str, Any] = {
    "name": envstr("Q_CLUSTER_NAME", "timedify"),
    # Four workers on PostgreSQL: a worker spends most of an event waiting on commits, and
    # at 100 events/s with Redis two workers fell behind (backlog +25 events/s, p95 3.2 s)
    # where four kept up (+3.5 events/s, p95 1.1 s). SQLite keeps two: one writer at a time.
    "workers": envint("Q_WORKERS", 2 if SQLITE else 4, minimum=1, maximum=64),
    # One event task runs one attempt of a handler (forwarding: at most 5 s); a retry is
    # a new task written for its due time. timeout must stay below retry or a task runs twice.
    "timeout": envint("Q_TIMEOUT", 60, minimum=1, maximum=86400),
    "retry": envint("Q_RETRY", 90, minimum=2, maximum=172_800),
    "max_attempts": envint("Q_MAX_ATTEMPTS", 3, minimum=1, maximum=100),
    "queue_limit": envint("Q_QUEUE_LIMIT", 50, minimum=1, maximum=10000),
    # How long the ORM broker's pusher sleeps when the queue table is empty: the wait a
    # delivery arriving then has before a worker sees it (Redis blocks instead, no poll).
    # 0.05 s on PostgreSQL: at 30 deliveries/s, 0.2 s against 0.05 s gave ack-to-processed
    # p95 of 1.2 s and 6.7 s against 0.8 s and 0.17 s (docs/benchmarks.md). An idle poll
    # is a SELECT on the queue table and Django's SELECT 1 health check, on the kept
    # connection: keep CONN_MAX_AGE above 0 for the cluster (at 0 every poll reconnects).
    "poll": envfloat("Q_POLL", 0.2 if SQLITE else 0.05, minimum=0.01, maximum=60.0),
    "catch_up": False,
    "ack_failures": True,
    # Only scheduled jobs keep django-q2 results; event tasks are enqueued with save=False.
    "save_limit": envint("Q_SAVE_LIMIT", 250, minimum=-1, maximum=1_000_000),
    "recycle": envint("Q_RECYCLE", 500, minimum=1, maximum=1_000_000),
    "max_rss": envint("Q_MAX_RSS_KB", 256_000, minimum=1, maximum=64_000_000),
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
# TLS is terminated by the proxy in front of gunicorn; these are opt-in so a laptop over
# http keeps working. docs/deploy.md lists the production values (`check --deploy` clean).
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", False)
# Load balancers probe /health over plain http: no redirect for it.
SECURE_REDIRECT_EXEMPT = [r"^health/?$"]
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0, minimum=0, maximum=63_072_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
if envbool("SECURE_PROXY_SSL_HEADER", False):
    # Only behind a proxy that overwrites X-Forwarded-Proto: a client could fake it otherwise.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- I18N ------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
# The console speaks English only (no LocaleMiddleware): without the translation
# machinery every admin string, date and number renders the same, for about a tenth less
# CPU per admin page (each {% translate %}, gettext and date format asked the active
# language through a context-local lookup).
USE_I18N = False
USE_TZ = True

if TESTING:
    # Tests log in hundreds of users; the real hasher costs about a second each.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

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
STRIPE_TOLERANCE_SECONDS = envint("STRIPE_TOLERANCE_SECONDS", 300, minimum=1, maximum=86400)
# Shopify's largest payloads (orders with many lines) stay well below this.
WEBHOOK_MAX_BODY_BYTES = envint("WEBHOOK_MAX_BODY_BYTES", 1024 * 1024, minimum=1024, maximum=104_857_600)
# Deepest nesting of arrays and objects a delivery may have (400 above it). Shopify's real
# payloads nest under ten levels; every reader of a payload (redaction, exports, the admin)
# stays far inside Python's recursion limit at the 200 allowed at most.
WEBHOOK_MAX_JSON_DEPTH = envint("WEBHOOK_MAX_JSON_DEPTH", 64, minimum=2, maximum=200)
WEBHOOK_RETENTION_DAYS = envint("WEBHOOK_RETENTION_DAYS", 14, minimum=1, maximum=3650)
DEADLETTER_RETENTION_DAYS = envint("DEADLETTER_RETENTION_DAYS", 30, minimum=1, maximum=3650)
# Back-off before each retry of a failed handler, in seconds: 4 retries, 5 attempts.
# Empty: no retry (one attempt). Each delay 0 to 3600 s, at most 20 retries.
WEBHOOK_RETRY_DELAYS = envfloats("WEBHOOK_RETRY_DELAYS", "0.3,0.6,1.2,2.4", minimum=0.0, maximum=3600.0, most=20)
# How long a worker owns an event it claimed; past it the sweeper hands it to another.
WEBHOOK_LEASE_SECONDS = envint("WEBHOOK_LEASE_SECONDS", 120, minimum=1, maximum=86400)

# --- Processing pipeline: handlers, forwarding, shop tokens, Admin API -----------------
# The app's own endpoint for orders/create (and the default forward target).
APP_WEBHOOK_URL = envstr("APP_WEBHOOK_URL")
# Default routes, "topic=url,topic=url"; a TopicRoute in the admin wins over these.
WEBHOOK_FORWARD_ROUTES = envpairs("WEBHOOK_FORWARD_ROUTES", http_url)
# How long a worker trusts its list of routed topics: a route added or disabled in the
# admin reaches running workers within this many seconds.
WEBHOOK_ROUTE_CACHE_SECONDS = envfloat("WEBHOOK_ROUTE_CACHE_SECONDS", 2.0, minimum=0.0, maximum=3600.0)
FORWARD_CONNECT_TIMEOUT = envfloat("FORWARD_CONNECT_TIMEOUT", 1.0, minimum=0.01, maximum=300.0)
FORWARD_TIMEOUT = envfloat("FORWARD_TIMEOUT", 5.0, minimum=0.01, maximum=300.0)
# Consecutive failures that open a destination's circuit breaker, and the cool-down
# before one probe is let through.
FORWARD_BREAKER_THRESHOLD = envint("FORWARD_BREAKER_THRESHOLD", 5, minimum=1, maximum=1000)
FORWARD_BREAKER_COOLDOWN_SECONDS = envint("FORWARD_BREAKER_COOLDOWN_SECONDS", 60, minimum=1, maximum=86400)
# Events for a paused destination look again this often (resume releases them at once).
FORWARD_PAUSED_RECHECK_SECONDS = envint("FORWARD_PAUSED_RECHECK_SECONDS", 60, minimum=1, maximum=86400)
# The same for a topic whose handler keeps failing (an upstream outage): its events wait
# without burning attempts while the other topics flow.
TOPIC_BREAKER_THRESHOLD = envint("TOPIC_BREAKER_THRESHOLD", 20, minimum=1, maximum=1_000_000)
TOPIC_BREAKER_COOLDOWN_SECONDS = envint("TOPIC_BREAKER_COOLDOWN_SECONDS", 30, minimum=1, maximum=86400)
# Fernet key for offline tokens; required unless DEBUG (system check webhooks.E001).
TOKEN_ENCRYPTION_KEY = envsecret("TOKEN_ENCRYPTION_KEY")
SHOPIFY_ADMIN_API_BASE = envstr("SHOPIFY_ADMIN_API_BASE", "https://{domain}/admin/api/{version}")
SHOPIFY_ADMIN_API_VERSION = envstr("SHOPIFY_ADMIN_API_VERSION", "2025-10")
# The longest Retry-After the Admin API client honours before giving up on a call.
SHOPIFY_ADMIN_API_MAX_WAIT = envfloat("SHOPIFY_ADMIN_API_MAX_WAIT", 30.0, minimum=0.0, maximum=3600.0)
# The sweeper job indexes this many events stored before the subject index existed (or
# whose indexing failed) per run, in one transaction (webhooks.indexer.backfill).
SUBJECT_INDEX_BACKFILL_BATCH = envint("SUBJECT_INDEX_BACKFILL_BATCH", 2000, minimum=1, maximum=1_000_000)
# Extra handler modules to import (tests load a slow handler into a real worker this way).
WEBHOOK_EXTRA_HANDLER_MODULES = envlist("WEBHOOK_EXTRA_HANDLER_MODULES")

# --- Dead letters ----------------------------------------------------------------------
# How long a replay owns a dead letter it claimed; past it another replay may take it over
# (the replaying process died). One replay is one handler attempt: well under this.
DEADLETTER_REPLAY_LEASE_SECONDS = envint("DEADLETTER_REPLAY_LEASE_SECONDS", 300, minimum=1, maximum=86400)
# Replays of up to this many dead letters run in the admin request; more run as one
# background replay batch on the worker cluster.
DEADLETTER_INLINE_REPLAY_LIMIT = envint("DEADLETTER_INLINE_REPLAY_LIMIT", 50, minimum=1, maximum=10000)
# One run of a replay batch task works this long, then hands the rest to a fresh task:
# it must stay below Q_CLUSTER["timeout"] or the cluster kills the task half-way.
DEADLETTER_BATCH_TASK_SECONDS = envfloat("DEADLETTER_BATCH_TASK_SECONDS", 30.0, minimum=1.0, maximum=86400.0)
# A bulk replay's rate at confirmation, items started per second (0: as fast as possible);
# the operator may change it there. The rate is a ceiling: a batch never bursts to catch up.
DEADLETTER_BATCH_RATE = envfloat("DEADLETTER_BATCH_RATE", 10.0, minimum=0, maximum=10000.0)
# The automatic pause: a batch pauses itself when at least this share of the last
# DEADLETTER_BATCH_FAILURE_WINDOW replays failed (0 turns it off).
DEADLETTER_BATCH_FAILURE_RATIO = envfloat("DEADLETTER_BATCH_FAILURE_RATIO", 0.5, minimum=0, maximum=1.0)
DEADLETTER_BATCH_FAILURE_WINDOW = envint("DEADLETTER_BATCH_FAILURE_WINDOW", 20, minimum=1, maximum=10000)
# Bulk replays work in chunks of this many dead letters, each a short claim transaction and
# one work transaction (every handler of the chunk, then the bookkeeping). SQLite has one
# writer for the whole file and ingest waits while a chunk's work is open: smaller there.
DEADLETTER_REPLAY_CHUNK = envint("DEADLETTER_REPLAY_CHUNK", 20 if SQLITE else 100, minimum=1, maximum=10_000)

# --- Dashboard and metrics ---------------------------------------------------------------
# Shared key for /metrics and /api/metrics scrapers (header X-Metrics-Key). Empty: staff
# sessions only.
METRICS_KEY = envsecret("METRICS_KEY")
# How often the dashboard page reloads itself, in seconds.
OPS_DASHBOARD_REFRESH_SECONDS = envint("OPS_DASHBOARD_REFRESH_SECONDS", 30, minimum=5, maximum=86400)
# SLO figures over 7 and 30 days are the heaviest queries: keep them this long (0: never).
OPS_SLO_CACHE_SECONDS = envint("OPS_SLO_CACHE_SECONDS", 60, minimum=0, maximum=86400)
# An hour's traffic is rolled up (TrafficHour) this long after it ends.
OPS_ROLLUP_SETTLE_MINUTES = envint("OPS_ROLLUP_SETTLE_MINUTES", 15, minimum=0, maximum=1440)
# How far back the rollup reaches (the dashboard's longest window is 30 days).
OPS_ROLLUP_DAYS = envint("OPS_ROLLUP_DAYS", 31, minimum=1, maximum=366)

# --- Scheduled jobs, health and alerting (docs/operations.md) ----------------------------
# Schedules: minutes between runs, or a cron line (UTC) for the daily jobs.
SCHEDULE_RETENTION_CRON = envstr("SCHEDULE_RETENTION_CRON", "15 3 * * *")
SCHEDULE_DEADLETTER_CLEANUP_CRON = envstr("SCHEDULE_DEADLETTER_CLEANUP_CRON", "45 3 * * *")
SCHEDULE_Q_PRUNE_CRON = envstr("SCHEDULE_Q_PRUNE_CRON", "30 4 * * *")
SCHEDULE_HEALTH_MINUTES = envint("SCHEDULE_HEALTH_MINUTES", 5, minimum=1, maximum=1440)
SCHEDULE_ALERTING_MINUTES = envint("SCHEDULE_ALERTING_MINUTES", 5, minimum=1, maximum=1440)
SCHEDULE_SWEEPER_MINUTES = envint("SCHEDULE_SWEEPER_MINUTES", 1, minimum=1, maximum=1440)
# Retention deletes this many events per batch, each batch its own short transaction, and
# pauses this long between two batches so live ingest keeps its latency (docs/operations.md).
RETENTION_BATCH_SIZE = envint("RETENTION_BATCH_SIZE", 5000, minimum=1, maximum=100_000)
RETENTION_PAUSE_SECONDS = envfloat("RETENTION_PAUSE_SECONDS", 0.05, minimum=0.0, maximum=60.0)
# django-q2 result pruning: Failure rows and Success rows older than this many days.
Q_RESULT_RETENTION_DAYS = envint("Q_RESULT_RETENTION_DAYS", 7, minimum=1, maximum=3650)
# Job runs of our own are kept this long (pruned with django-q2's results).
JOBRUN_RETENTION_DAYS = envint("JOBRUN_RETENTION_DAYS", 30, minimum=1, maximum=3650)
# HTTP targets checked by the health job: "name=url,name=url" (e.g. app=http://127.0.0.1:3000/health).
HEALTH_TARGETS = envpairs("HEALTH_TARGETS", http_url, bare=host_of)
HEALTH_TARGET_TIMEOUT = envfloat("HEALTH_TARGET_TIMEOUT", 2.0, minimum=0.01, maximum=300.0)
HEALTH_TARGET_EXPECTED_STATUS = envint("HEALTH_TARGET_EXPECTED_STATUS", 200, minimum=100, maximum=599)
# A target answering slower than this (but within the timeout) makes health degraded.
HEALTH_TARGET_SLOW_MS = envint("HEALTH_TARGET_SLOW_MS", 1000, minimum=1, maximum=600_000)
HEALTH_QUEUE_DEPTH_MAX = envint("HEALTH_QUEUE_DEPTH_MAX", 500, minimum=1, maximum=1_000_000_000)
HEALTH_QUEUE_AGE_MAX_SECONDS = envint("HEALTH_QUEUE_AGE_MAX_SECONDS", 300, minimum=1, maximum=10_000_000)
# Events still "processing" this long after their lease lapsed are stuck (the sweeper missed them).
HEALTH_STUCK_GRACE_SECONDS = envint("HEALTH_STUCK_GRACE_SECONDS", 120, minimum=0, maximum=86400)
# Alerting: the window it looks back over, and the runbook's thresholds.
ALERT_WINDOW_MINUTES = envint("ALERT_WINDOW_MINUTES", 5, minimum=1, maximum=1440)
ALERT_ERROR_RATE_PCT = envfloat("ALERT_ERROR_RATE_PCT", 5.0, minimum=0.0, maximum=100.0)
ALERT_RESPONSE_MS = envfloat("ALERT_RESPONSE_MS", 3000.0, minimum=1.0, maximum=600000.0)
ALERT_DEADLETTERS_MAX = envint("ALERT_DEADLETTERS_MAX", 10, minimum=0, maximum=1_000_000_000)
# "Every webhook fails" needs at least this many events in the window, so one failure is not level 3.
ALERT_ALL_FAILING_MIN_EVENTS = envint("ALERT_ALL_FAILING_MIN_EVENTS", 3, minimum=1, maximum=1_000_000)
SLO_P95_MS = envfloat("SLO_P95_MS", 100.0, minimum=1.0, maximum=600000.0)
SLO_P99_MS = envfloat("SLO_P99_MS", 500.0, minimum=1.0, maximum=600000.0)
# Error-rate objective as a fraction (0.005 = 0.5 %).
SLO_ERROR_RATE = envfloat("SLO_ERROR_RATE", 0.005, minimum=0.0, maximum=1.0)
# Silence per topic: "topic=minutes,..." — a topic seen before but quiet for longer raises level 2.
ALERT_TOPIC_GAPS = envpairs("ALERT_TOPIC_GAPS", whole_in(1, 525_600))
# A health_check run younger than this is reused by alerting instead of probing again.
ALERT_HEALTH_MAX_AGE_SECONDS = envint("ALERT_HEALTH_MAX_AGE_SECONDS", 600, minimum=0, maximum=86400)
ALERT_EMAILS = envlist("ALERT_EMAILS")
ALERT_WEBHOOK_URL = envsecret("ALERT_WEBHOOK_URL")
ALERT_FROM_EMAIL = envstr("ALERT_FROM_EMAIL", "timedify-ops@localhost")

# --- Production: sessions, login throttling, logging ------------------------------------
# Admin sessions end after SESSION_COOKIE_AGE seconds (8 hours) and when the browser closes.
SESSION_COOKIE_AGE = envint("SESSION_COOKIE_AGE", 8 * 3600, minimum=60, maximum=31_536_000)
SESSION_EXPIRE_AT_BROWSER_CLOSE = envbool("SESSION_EXPIRE_AT_BROWSER_CLOSE", True)
SESSION_COOKIE_HTTPONLY = True

# django-axes: AXES_FAILURE_LIMIT failed admin logins for one username from one IP lock
# that pair out for AXES_COOLOFF_MINUTES; a correct password is refused meanwhile.
INSTALLED_APPS.append("axes")
# Last, so it turns the lockout flag set during authentication into a 429 page.
MIDDLEWARE.append("axes.middleware.AxesMiddleware")
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Off by default under pytest: Django's test Client.login() calls authenticate() without a
# request, which axes refuses. The login-throttling tests turn it on.
AXES_ENABLED = envbool("AXES_ENABLED", not TESTING)
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", 5, minimum=1, maximum=1000)
AXES_COOLOFF_TIME = timedelta(minutes=envint("AXES_COOLOFF_MINUTES", 15, minimum=1, maximum=525_600))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# No start-up banner on every process start (lock-outs themselves are still logged).
AXES_VERBOSE = envbool("AXES_VERBOSE", False)
# Behind a proxy the client address is the first X-Forwarded-For entry; AXES_IPWARE_PROXY_COUNT
# says how many proxies to trust (0: use REMOTE_ADDR).
AXES_IPWARE_PROXY_COUNT = envint("AXES_IPWARE_PROXY_COUNT", 0, minimum=0, maximum=10) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
# Never write the submitted password (or anything like it) into the access log tables.
AXES_SENSITIVE_PARAMETERS = ["password", "password1", "password2"]

# LOG_FORMAT=json: one JSON object per line (for a log shipper), with webhook_id and
# event_pk on every line written while an event is being ingested or processed.
LOG_FORMAT = envstr("LOG_FORMAT", "plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"Unexpected value LOG_FORMAT={LOG_FORMAT!r}: use plain or json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"webhook": {"()": "webhooks.logcontext.WebhookContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s%(webhook_suffix)s"},
        "json": {"()": "timedify_ops.jsonlog.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["webhook"]}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {"django-q": {"level": envstr("Q_LOG_LEVEL", "INFO"), "propagate": True}},
}
# Error reports hide HMAC headers, cookies and connection URLs as well as Django's defaults.
DEFAULT_EXCEPTION_REPORTER_FILTER = "timedify_ops.reporting.SecretsReporterFilter"
