"""Shared pytest fixtures: signed deliveries, database-kind rules, users."""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection

from webhooks.verify import shopify_signature, stripe_signature

IN_CI = os.environ.get("CI", "").lower() == "true"
SHOPIFY_SECRET = "test-shopify-secret"
SHOPIFY_PREVIOUS_SECRET = "test-previous-secret"
STRIPE_SECRET = "whsec_test_secret"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A `postgres` test needs DATABASE_URL to point at PostgreSQL. Elsewhere it is skipped,
    except under CI=true, where a missing PostgreSQL must fail the run instead."""
    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            if IN_CI:
                item.add_marker(pytest.mark.usefixtures("_require_postgres_in_ci"))
            else:
                item.add_marker(pytest.mark.skip(reason="needs DATABASE_URL=postgres://... (fails under CI=true)"))


@pytest.fixture
def _require_postgres_in_ci() -> None:
    pytest.fail("this test needs PostgreSQL: set DATABASE_URL=postgres://...")


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture(autouse=True)
def webhook_secrets(settings: Any) -> None:
    settings.SHOPIFY_API_SECRET = SHOPIFY_SECRET
    settings.SHOPIFY_API_SECRET_PREVIOUS = SHOPIFY_PREVIOUS_SECRET
    settings.STRIPE_WEBHOOK_SECRET = STRIPE_SECRET


@pytest.fixture(autouse=True)
def fresh_route_cache() -> None:
    """Each test starts without the worker's cached list of routed topics: a test's routes
    are rolled back with its transaction, which no signal reports."""
    from webhooks import forwarding

    forwarding.forget_routed_topics()


def shopify_headers(
    body: bytes,
    *,
    topic: str = "orders/create",
    shop: str = "demo-shop.myshopify.com",
    webhook_id: str | None = None,
    secret: str = SHOPIFY_SECRET,
    api_version: str = "2025-10",
) -> dict[str, str]:
    return {
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-API-Version": api_version,
        "X-Shopify-Event-Id": str(uuid.uuid4()),
        "X-Shopify-Triggered-At": "2026-11-20T10:00:00.000Z",
        "X-Shopify-Hmac-Sha256": shopify_signature(body, secret),
        "Content-Type": "application/json",
    }


@pytest.fixture
def deliver(client: Any) -> Callable[..., Any]:
    """POST a correctly signed Shopify delivery through the test client."""

    def post(payload: dict[str, Any] | bytes, path: str = "/webhooks/shopify/", **kwargs: Any) -> Any:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = shopify_headers(body, **kwargs)
        return client.post(path, data=body, content_type="application/json", headers=headers)

    return post


def wsgi_request(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request through the production entry point (timedify_ops.wsgi.application),
    a plain WSGI call as gunicorn makes it: (status, response headers, body)."""
    from timedify_ops.wsgi import application

    environ: dict[str, Any] = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http", "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0), "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(body)),
    }
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        environ[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
    answer: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        answer["status"] = int(status.split()[0])
        answer["headers"] = dict(response_headers)

    # As Django's test client does: the request must not close the connection a test's
    # transaction runs on (request_started and request_finished would, CONN_MAX_AGE 0).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        chunks = application(environ, start_response)
        try:
            content = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return answer["status"], answer["headers"], content


def stripe_header(body: bytes, *, secret: str = STRIPE_SECRET, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={stripe_signature(body, secret, t)}"


@contextlib.contextmanager
def database_down() -> Iterator[None]:
    """Point the default connection where no database answers, then put it back."""
    original = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent-dir/timedify.sqlite3"
    else:
        connection.settings_dict["HOST"] = "127.0.0.1"
        connection.settings_dict["PORT"] = "1"
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(original)


@contextlib.contextmanager
def database_refuses(table: str, statement: str, message: str, *, when: str = "") -> Iterator[None]:
    """A trigger that makes the database itself refuse `statement` (INSERT, UPDATE) on
    `table`, for the rows where `when` holds (SQL over NEW and OLD; empty: every row), with
    `message`: a real failure of the database (a full disk, a lost server) where a test
    would otherwise patch our code. Dropped on the way out."""
    condition = f" WHEN ({when})" if when else ""
    if connection.vendor == "postgresql":
        create = [
            "CREATE FUNCTION test_refuse() RETURNS trigger AS $$ BEGIN "
            f"RAISE EXCEPTION '{message}'; END $$ LANGUAGE plpgsql",
            f"CREATE TRIGGER test_refuse BEFORE {statement} ON {table} FOR EACH ROW{condition} "
            "EXECUTE FUNCTION test_refuse()",
        ]
        drop = [f"DROP TRIGGER test_refuse ON {table}", "DROP FUNCTION test_refuse()"]
    else:
        create = [f"CREATE TRIGGER test_refuse BEFORE {statement} ON {table}{condition} "
                  f"BEGIN SELECT RAISE(ABORT, '{message}'); END"]
        drop = ["DROP TRIGGER test_refuse"]
    with connection.cursor() as cursor:
        for sql in create:
            cursor.execute(sql)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for sql in drop:
                cursor.execute(sql)


def run_concurrently(func: Callable[[], Any], copies: int = 2, *, timeout: float = 30) -> list[Any]:
    """Start `copies` threads that call `func` at the same moment; return what each
    returned. Each thread closes its own database connection when done."""
    import threading

    barrier = threading.Barrier(copies)
    results: list[Any] = []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(func())
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return results
