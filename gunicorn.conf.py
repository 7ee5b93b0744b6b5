"""gunicorn settings for the console: `gunicorn -c gunicorn.conf.py timedify_ops.wsgi`.

Every value can be overridden by an environment variable (GUNICORN_*), the usual
GUNICORN_CMD_ARGS, or a command-line flag. Shopify abandons a delivery after 5 s, so a
request that has not answered in WEB_TIMEOUT (4 s) is cut off and its worker replaced:
the delivery is retried by Shopify rather than hanging a worker.
"""

from __future__ import annotations

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


bind = os.environ.get("GUNICORN_BIND", f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}")
# The usual (2 x cores) + 1 sync workers: ingest is one INSERT, bound by the database.
workers = _int("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1)
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
threads = _int("GUNICORN_THREADS", 1)
# Below Shopify's 5 s: a stuck request is killed before Shopify gives up on it.
timeout = _int("WEB_TIMEOUT", 4)
# On SIGTERM/SIGHUP, workers finish the request in hand for up to this long.
graceful_timeout = _int("WEB_GRACEFUL_TIMEOUT", 10)
keepalive = _int("WEB_KEEPALIVE", 5)
# Recycle workers now and then (jitter avoids all restarting at once) against slow leaks.
max_requests = _int("WEB_MAX_REQUESTS", 5000)
max_requests_jitter = _int("WEB_MAX_REQUESTS_JITTER", 500)
# Load the app before forking: a broken deploy fails at start, not on the first request.
preload_app = os.environ.get("GUNICORN_PRELOAD", "1") == "1"
# Gunicorn's heartbeat files in RAM, not on a possibly slow or read-only disk.
_shm = "/dev/shm"  # noqa: S108 - gunicorn heartbeat files, not data
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR", _shm if os.path.isdir(_shm) else None)
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
proc_name = "timedify-web"

# Access log to stdout, with the latency: %(D)s microseconds, %(M)s milliseconds.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
if os.environ.get("LOG_FORMAT") == "json":
    # gunicorn's own messages as JSON too (the access lines are JSON by their format).
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "timedify_ops.jsonlog.JsonFormatter"}, "raw": {"format": "%(message)s"}},
        "handlers": {
            "error_console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
            "console": {"class": "logging.StreamHandler", "formatter": "raw", "stream": "ext://sys.stdout"},
        },
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False, "qualname": "gunicorn.error"},
            "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False, "qualname": "gunicorn.access"},
        },
    }
    access_log_format = (
        '{"ts": "%(t)s", "logger": "gunicorn.access", "remote": "%(h)s", "method": "%(m)s", '
        '"path": "%(U)s", "status": %(s)s, "bytes": "%(B)s", "duration_us": %(D)s, "duration_ms": %(M)s, '
        '"webhook_id": "%({x-shopify-webhook-id}i)s", "user_agent": "%(a)s"}'
    )
else:
    access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms %(D)sus webhook_id=%({x-shopify-webhook-id}i)s'

# gunicorn's control socket (`gunicornc`) defaults to ~/.gunicorn/gunicorn.ctl, shared by
# every gunicorn of the user and unwritable under ProtectHome/a read-only image: off
# unless GUNICORN_CONTROL_SOCKET names a path of its own.
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")
if not control_socket_disable:
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
