"""The ingest baseline: a WSGI app whose only work is one INSERT of the body.

It runs on the same gunicorn settings as the console and keeps one psycopg connection per
worker, so it is the physical limit of a durable acknowledgement on this machine: read the
body, commit one row, answer 200.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import psycopg

SCRATCH_TABLE = "bench_baseline_scratch"
_connection: psycopg.Connection[Any] | None = None


def _conn() -> psycopg.Connection[Any]:
    global _connection
    if _connection is None or _connection.closed:
        _connection = psycopg.connect(os.environ["BENCH_BASELINE_DSN"], autocommit=True)
    return _connection


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    # Autocommit: the row is durable when execute() returns, as in the console.
    _conn().execute(f"INSERT INTO {SCRATCH_TABLE} (body) VALUES (%s)", (body,))  # noqa: S608
    answer = b'{"status": "stored"}'
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))])
    return [answer]
